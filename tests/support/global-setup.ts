import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/store/embedded-postgres';
import { freePort } from './free-port';


declare module 'vitest' {
  export interface ProvidedContext {
    /** Maintenance-database URL of the Postgres the tests share; each test file makes its own database. */
    adminUrl: string;
  }
}


let server: RunningPostgres | undefined;
let dir: string | undefined;

/** One Postgres per test run: the embedded one, or TEST_DATABASE_URL when set. */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.TEST_DATABASE_URL) {
    project.provide('adminUrl', process.env.TEST_DATABASE_URL);
    return;
  }
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-test-pg-'));
  await fs.chmod(dir, 0o755);
  server = await startEmbeddedPostgres({ databaseDir: path.join(dir, 'pg'), port: await freePort(), persistent: false });
  project.provide('adminUrl', server.adminUrl);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}
