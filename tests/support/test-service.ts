import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import type { AccessLimits } from '../../src/api/access/access-control';
import { applyDirectory } from '../../src/as-code/apply';
import { loadConfig } from '../../src/config';
import { seedDemo } from '../../src/demo/seed-demo';
import { DEMO_SCHEMA, openRuntime, type Runtime } from '../../src/runtime';
import { createTestDatabase } from './test-database';
import { injectAsAdmin } from './auth';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SEGMENTS_DIR = path.join(REPO_ROOT, 'segments');
/**
 * The demo model and segments only: tests create the destinations and syncs they need (the demo's
 * file destination and syncs run in tests/demo/, as `npm start` assembles them).
 */
export const DEMO_KINDS = ['model', 'segment'] as const;

export interface TestService {
  app: FastifyInstance;
  runtime: Runtime;
  databaseUrl: string;
  /** An admin token; `app.inject` sends it unless a test sets its own Authorization header. */
  adminToken: string;
  close(): Promise<void>;
}

/**
 * The service as `npm start` assembles it, on a database of its own: migrated, with a small demo
 * warehouse and (unless told otherwise) the definitions of `segments/` applied.
 */
export async function startTestService(options: { customers?: number; applySegments?: boolean; env?: Record<string, string>; limits?: Partial<AccessLimits> } = {}): Promise<TestService> {
  const database = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...options.env }, REPO_ROOT);
  const runtime = await openRuntime(config, { log: () => {}, cacheDefinitions: true });
  await seedDemo(runtime.warehouse, { schema: DEMO_SCHEMA, customers: options.customers ?? 300, anchor: new Date('2026-11-01T00:00:00Z') });
  if (options.applySegments ?? true) {
    await applyDirectory({ dir: SEGMENTS_DIR, services: runtime, defaultSchema: runtime.warehouse.defaultSchema, kinds: DEMO_KINDS });
  }
  const app = await buildApp({ services: runtime, logLevel: 'silent', ...(options.limits ? { limits: options.limits } : {}) });
  await app.ready();
  const adminToken = await injectAsAdmin(app, runtime.tokens);
  return {
    app, runtime, databaseUrl: database.url, adminToken,
    close: async () => {
      await app.close();
      await runtime.close();
      await database.drop();
    },
  };
}
