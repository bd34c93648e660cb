import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { AppError } from '../../errors';
import type { Jobs } from '../../jobs/jobs';
import { Metrics } from '../../observability/metrics';
import { checkReadiness, databaseCheck, jobsCheck, warehouseCheck, type ReadinessCheck } from '../../observability/readiness';
import type { Warehouse } from '../../warehouse/warehouse';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { stringEnum } from '../schema-helpers';

export interface OperationsOptions {
  /** The runtime's registry; without one the app keeps its own (HTTP and process metrics only). */
  metrics?: Metrics;
  /** What /readyz checks (metadata database, warehouse, job queue). */
  readiness?: ReadinessCheck[];
  /** Per check; a dependency slower than this is not ready (default 2 s). */
  checkTimeoutMs?: number;
}

/** What a running service reports: its runtime's registry (with the queue depths of its jobs) and its three dependencies. */
export function operationsOf(runtime: { db: Knex; warehouse: Warehouse; metrics: Metrics }, jobs: Jobs): OperationsOptions {
  runtime.metrics.observeQueueDepth(() => jobs.queueDepth());
  return { metrics: runtime.metrics, readiness: [databaseCheck(runtime.db), warehouseCheck(runtime.warehouse), jobsCheck(jobs)] };
}

const HealthSchema = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false, description: 'The process is alive.' });

const CheckSchema = Type.Object({
  status: stringEnum(['ok', 'failed'] as const),
  latencyMs: Type.Integer({ minimum: 0 }),
  detail: Type.Optional(Type.String({ description: 'A note (the job queue says whether this process runs workers), or why the check failed.' })),
}, { additionalProperties: false });

const ReadinessSchema = Type.Object({
  status: Type.Literal('ready'),
  checks: Type.Object({}, { additionalProperties: CheckSchema, description: 'Per dependency: `database`, `warehouse`, `jobs`.' }),
}, { additionalProperties: false, description: 'Every dependency answered in time.' });

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4';

documentExamples('getHealth', { responses: { 200: { status: 'ok' } } });
documentExamples('getReadiness', {
  responses: {
    200: {
      status: 'ready',
      checks: {
        database: { status: 'ok', latencyMs: 2 },
        warehouse: { status: 'ok', latencyMs: 3 },
        jobs: { status: 'ok', latencyMs: 4, detail: 'workers on; queued: sync 0, refresh 0' },
      },
    },
  },
});

/** Public by design (probes and scrapers carry no token): the spec says so with `security: []`. */
const PUBLIC: Array<Record<string, string[]>> = [];

/**
 * Liveness, readiness and Prometheus metrics, outside /v1; and the hook that times every request
 * by its route pattern (never the raw URL: ids in paths would explode the label's cardinality).
 */
export async function registerOperations(app: FastifyInstance, options: OperationsOptions = {}): Promise<void> {
  const metrics = options.metrics ?? new Metrics();
  const checks = options.readiness ?? [];
  const timeoutMs = options.checkTimeoutMs ?? 2_000;

  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest({ method: request.method, route: request.routeOptions.url ?? 'unmatched', statusCode: reply.statusCode, seconds: reply.elapsedTime / 1000 });
  });

  app.get('/healthz', {
    schema: {
      operationId: 'getHealth', tags: ['operations'], summary: 'Liveness', security: PUBLIC,
      description: 'Answers 200 while the process serves HTTP; checks no dependency (see getReadiness). No authentication.',
      response: { 200: { description: 'Alive.', content: { 'application/json': { schema: HealthSchema } } }, ...problemResponses() },
    },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      operationId: 'getReadiness', tags: ['operations'], summary: 'Readiness',
      description: `Checks the metadata database, the warehouse (a trivial query) and the job queue, each within ${timeoutMs} ms, and reports each with its latency. A process without workers is ready and says so. 503 when a check fails; \`errors\` names each failed check. No authentication.`,
      security: PUBLIC,
      response: { 200: { description: 'Ready.', content: { 'application/json': { schema: ReadinessSchema } } }, ...problemResponses(503) },
    },
  }, async (request) => {
    const readiness = await checkReadiness(checks, { timeoutMs, logger: request.log });
    const failed = Object.entries(readiness.checks).filter(([, r]) => r.status === 'failed');
    if (failed.length) {
      throw new AppError(503, 'Service unavailable', `Not ready: ${failed.map(([name]) => name).join(', ')} failed.`,
        failed.map(([name, r]) => ({ message: `${name}: ${r.detail ?? 'failed'} (${r.latencyMs} ms)` })));
    }
    return { status: 'ready' as const, checks: readiness.checks };
  });

  app.get('/metrics', {
    schema: {
      operationId: 'getMetrics', tags: ['operations'], summary: 'Prometheus metrics',
      description: 'Metrics in the Prometheus text format: process metrics, HTTP request durations by route pattern, refresh and sync runs by status and duration, rows sent / confirmed / rejected per destination, platform errors by class, job queue depths. No authentication (restrict it at the network if needed).',
      security: PUBLIC,
      response: { 200: { description: 'The exposition text.', content: { [PROMETHEUS_TEXT]: { schema: Type.String() } } }, ...problemResponses() },
    },
  }, async (_request, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.type(contentType).send(body);
  });
}
