import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { applyDirectory } from '../../src/as-code/apply';
import { loadConfig } from '../../src/config';
import { seedDemo } from '../../src/demo/seed-demo';
import { DEMO_SCHEMA, openRuntime, type Runtime } from '../../src/runtime';
import { createTestDatabase } from './test-database';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SEGMENTS_DIR = path.join(REPO_ROOT, 'segments');

export interface TestService {
  app: FastifyInstance;
  runtime: Runtime;
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * The service as `npm start` assembles it, on a database of its own: migrated, with a small demo
 * warehouse and (unless told otherwise) the definitions of `segments/` applied.
 */
export async function startTestService(options: { customers?: number; applySegments?: boolean; env?: Record<string, string> } = {}): Promise<TestService> {
  const database = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...options.env }, REPO_ROOT);
  const runtime = await openRuntime(config, { log: () => {} });
  await seedDemo(runtime.warehouse, { schema: DEMO_SCHEMA, customers: options.customers ?? 300, anchor: new Date('2026-11-01T00:00:00Z') });
  if (options.applySegments ?? true) {
    await applyDirectory({ dir: SEGMENTS_DIR, dryRun: false, models: runtime.models, segments: runtime.segments, defaultSchema: runtime.warehouse.defaultSchema });
  }
  const app = await buildApp({ services: runtime, logLevel: 'silent' });
  await app.ready();
  return {
    app, runtime, databaseUrl: database.url,
    close: async () => {
      await app.close();
      await runtime.close();
      await database.drop();
    },
  };
}
