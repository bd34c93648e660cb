/**
 * An embedded Postgres tuned for a benchmark on this machine (2 cores, 24 GiB), started with the
 * service's own startEmbeddedPostgres. It passes a fixed set of postgresFlags, so the settings go
 * through ALTER SYSTEM (postgresql.auto.conf) and the server is restarted once, which also
 * applies the restart-only ones (shared_buffers, wal_level). The cluster lives in a temporary
 * directory deleted on stop. Each suite brings its own settings, with the reason for each.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/store/embedded-postgres';
import { freePort } from '../support/free-port';

/** Server settings: name, value, why. */
export type PgSettings = ReadonlyArray<readonly [name: string, value: string, why: string]>;

export interface BenchPostgres {
  url: string;
  /** The data directory. */
  dir: string;
  stop(): Promise<void>;
}

export async function startBenchPostgres(options: { settings: PgSettings; tempPrefix: string; log: (message: string) => void }): Promise<BenchPostgres> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), options.tempPrefix));
  await fs.chmod(dir, 0o755); // as root, Postgres runs as `postgres` and must reach the data directory
  const databaseDir = path.join(dir, 'pg');
  const removeDir = () => fs.rm(dir, { recursive: true, force: true });
  let server: RunningPostgres | undefined;
  try {
    // First start: initialise, write the settings, stop (keeping the directory).
    server = await startEmbeddedPostgres({ databaseDir, port: await freePort(), persistent: true });
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    try {
      for (const [name, value] of options.settings) await admin.query(`alter system set ${name} = '${value}'`);
    } finally {
      await admin.end();
    }
    await server.stop();
    // Second start on the same directory: settings in effect; the directory goes on stop.
    server = await startEmbeddedPostgres({ databaseDir, port: await freePort(), persistent: false });
    const running = server;
    options.log(`embedded Postgres ready in ${databaseDir}`);
    return {
      url: running.url,
      dir: databaseDir,
      stop: async () => {
        await running.stop();
        await removeDir();
      },
    };
  } catch (error) {
    await server?.stop().catch(() => {});
    await removeDir();
    throw error;
  }
}

/** The settings as the server reports them (to prove they took effect), after its version. */
export async function effectiveSettings(url: string, names: readonly string[]): Promise<Array<{ name: string; setting: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `select name, current_setting(name) as setting from pg_settings where name = any($1) order by array_position($1, name)`, [names]);
    const version = (await client.query<{ version: string }>('select version()')).rows[0]?.version ?? '';
    return [{ name: 'server_version', setting: version.split(' on ')[0]! }, ...rows];
  } finally {
    await client.end();
  }
}
