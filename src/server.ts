import type { FastifyInstance } from 'fastify';
import { buildApp } from './api/app';
import { applyDirectory, dirLabel, formatPlan } from './as-code/apply';
import type { AuditContext } from './audit/audit-log';
import type { Config } from './config';
import { seedDemo } from './demo/seed-demo';
import { Jobs } from './jobs/jobs';
import { DEMO_SCHEMA, openRuntime, type Runtime } from './runtime';
import { operationsOf } from './api/ops/ops-routes';
import type { LogDestination } from './observability/logger';

export interface RunningService {
  app: FastifyInstance;
  runtime: Runtime;
  jobs: Jobs;
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the service: metadata store (embedded Postgres unless DATABASE_URL), migrations,
 * the demo warehouse and `segments/` when in demo mode, then the API.
 */
export async function startService(config: Config, options: { log?: (line: string) => void; logDestination?: LogDestination } = {}): Promise<RunningService> {
  const log = options.log ?? ((line: string) => console.log(line));
  const started = Date.now();
  const runtime = await openRuntime(config, { log, cacheDefinitions: true, ...(options.logDestination ? { logDestination: options.logDestination } : {}) });
  const jobs = new Jobs({ databaseUrl: runtime.databaseUrl, db: runtime.db, syncs: runtime.syncs, refresh: runtime.refresh, logger: runtime.logger.child({ component: 'jobs' }) });
  try {
    if (config.demo) {
      const seed = await seedDemo(runtime.warehouse, { schema: DEMO_SCHEMA, customers: config.demoCustomers });
      log(seed.seeded
        ? `seeded demo warehouse: ${seed.customers} customers, ${seed.orders} orders, ${seed.events} events (schema "${DEMO_SCHEMA}")`
        : `demo warehouse already seeded: ${seed.customers} customers (schema "${DEMO_SCHEMA}")`);
      // The demo's model, segments, file destination and syncs, as `audiences apply` would (never pruning).
      const plan = await applyDirectory({ dir: config.segmentsDir, services: runtime, defaultSchema: runtime.warehouse.defaultSchema, audit: { actor: { tokenId: null, name: 'demo:apply' } } });
      log(formatPlan(plan, { dryRun: false, dir: dirLabel(config.segmentsDir) }).split('\n').pop()!);
      if (plan.some((e) => e.kind === 'sync' && e.action === 'create')) log(`demo syncs write hashed files under ${config.fileDestinationRoot}`);
    }
    await announceTokens(runtime, { log, offerDemoToken: config.demo });
    await jobs.start({ workers: config.workers });
    const app = await buildApp({
      limits: config.limits,
      services: runtime,
      logger: runtime.logger,
      operations: operationsOf(runtime, jobs),
      logLevel: config.logLevel,
      bodyLimitBytes: config.bodyLimitBytes,
      serverUrl: `http://${config.host}:${config.port}`,
    });
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    log(`audiences is ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    log(`  API:      ${url}/v1/segments`);
    log(`  API docs: ${url}/docs`);
    log(`  workers:  ${config.workers ? 'on (scheduled syncs and refreshes run here)' : 'off (run `audiences worker` elsewhere)'}`);
    log(`  metadata: ${runtime.embedded ? `embedded Postgres in ${config.dataDir}` : 'DATABASE_URL'}; warehouse: ${config.warehouseUrl ? 'WAREHOUSE_URL' : `schema "${DEMO_SCHEMA}" of the metadata database`}`);
    let stopping: Promise<void> | undefined;
    return {
      app, runtime, jobs, url,
      stop: () => (stopping ??= (async () => {
        await closeGracefully(app);
        await jobs.stop();
        await runtime.close();
      })()),
    };
  } catch (error) {
    await jobs.stop().catch(() => {});
    await runtime.close();
    throw error;
  }
}

const BOOTSTRAP_AUDIT: AuditContext = { actor: { tokenId: null, name: 'bootstrap' } };

/**
 * AUDIENCES_BOOTSTRAP_TOKEN is registered as an admin token. Without it, a demo with no tokens
 * creates one and prints it this once; otherwise the operator is told how to make one.
 */
async function announceTokens(runtime: Runtime, options: { log: (line: string) => void; offerDemoToken: boolean }): Promise<void> {
  if (runtime.config.bootstrapToken) {
    const { created } = await runtime.tokens.ensureBootstrap(runtime.config.bootstrapToken, { audit: BOOTSTRAP_AUDIT });
    options.log(created ? 'registered AUDIENCES_BOOTSTRAP_TOKEN as the admin token "bootstrap"' : 'AUDIENCES_BOOTSTRAP_TOKEN is registered');
    return;
  }
  if (await runtime.tokens.activeCount()) return;
  if (!options.offerDemoToken) {
    options.log('no API tokens exist yet: create one with `audiences token create --name admin --scopes admin`');
    return;
  }
  const token = await runtime.tokens.create({ name: 'demo-admin', scopes: ['admin'], createdBy: 'bootstrap' }, { audit: BOOTSTRAP_AUDIT });
  options.log(`admin token (shown this once; store it): ${token.token}`);
  options.log(`  export AUDIENCES_TOKEN=${token.token}`);
  options.log('  curl -H "Authorization: Bearer $AUDIENCES_TOKEN" …');
}

/** Workers only: scheduled and queued syncs and refreshes, no API. */
export async function startWorker(config: Config, options: { log?: (line: string) => void } = {}): Promise<{ jobs: Jobs; runtime: Runtime; stop(): Promise<void> }> {
  const log = options.log ?? ((line: string) => console.log(line));
  const runtime = await openRuntime(config, { log, attachToRunningEmbedded: true });
  const jobs = new Jobs({ databaseUrl: runtime.databaseUrl, db: runtime.db, syncs: runtime.syncs, refresh: runtime.refresh, logger: runtime.logger.child({ component: 'jobs' }) });
  try {
    await jobs.start({ workers: true });
  } catch (error) {
    await runtime.close();
    throw error;
  }
  log('audiences worker is running: scheduled and queued syncs and refreshes');
  let stopping: Promise<void> | undefined;
  return {
    jobs, runtime,
    stop: () => (stopping ??= (async () => {
      await jobs.stop();
      await runtime.close();
    })()),
  };
}

/**
 * Stops accepting requests and lets in-flight ones finish. Keep-alive connections that go idle
 * after the close began would otherwise hold it open for the keep-alive timeout (72 s), so idle
 * ones are closed as they appear; after `graceMs` the rest are cut.
 */
async function closeGracefully(app: FastifyInstance, graceMs = 10_000): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
}
