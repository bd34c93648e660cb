import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { AttributeSchema, AttributeTypeSchema, ConsentSchema, IdentifiersSchema, ModelDefinitionSchema, ModelSchema, RelationshipSchema } from '../models/model-schema';
import type { ModelsService } from '../models/models-service';
import { RuleSchema, SegmentDefinitionSchema, SegmentPatchSchema, SegmentSchema, SegmentVersionSchema } from '../segments/segment-schema';
import type { RefreshService } from '../audiences/refresh-service';
import type { SegmentQueries } from '../segments/segment-queries';
import type { SegmentsService } from '../segments/segments-service';
import type { Warehouse } from '../warehouse/warehouse';
import { ModelPageSchema, modelRoutes } from './models/model-routes';
import { swaggerOptions } from './openapi';
import { ProblemDetailSchema, ProblemSchema, registerProblemHandlers } from './problem';
import { SegmentPageSchema, SegmentVersionPageSchema, segmentRoutes } from './segments/segment-routes';
import { CompiledSegmentSchema, EvaluateRequestSchema, EvaluationSchema, PreviewRequestSchema, PreviewSchema, SegmentCountSchema, segmentQueryRoutes } from './segments/query-routes';
import { ChangePageSchema, HistorySchema, MemberPageSchema, RefreshRunPageSchema, RefreshRunSchema, refreshRoutes } from './segments/refresh-routes';
import { registerValidators } from './validation';
import { ConnectionCheckSchema, DestinationDefinitionSchema, DestinationKindInfoSchema, DestinationKindListSchema, DestinationSchema } from '../destinations/destination-schema';
import type { DestinationsService } from '../destinations/destinations-service';
import type { DestinationRegistry } from '../destinations/registry';
import { DestinationPageSchema, destinationRoutes } from './destinations/destination-routes';
import { LookalikeRequestSchema, LookalikeSchema, SyncDefinitionSchema, SyncOptionsSchema, SyncPlanSchema, SyncRejectionSchema, SyncRunSchema, SyncScheduleSchema, SyncSchema } from '../syncs/sync-schema';
import type { SyncsService } from '../syncs/syncs-service';
import { LookalikeListSchema, SyncPageSchema, SyncRejectionPageSchema, SyncRunPageSchema, syncRoutes } from './syncs/sync-routes';
import { TableDraftSchema, WarehouseTableListSchema, warehouseRoutes } from './warehouse/warehouse-routes';
import type { Logger } from '../observability/logger';
import { registerOperations, type OperationsOptions } from './ops/ops-routes';
import type { TokensService } from '../auth/tokens-service';
import type { AuditLog } from '../audit/audit-log';
import { registerAccessControl, type AccessLimits } from './access/access-control';
import { lazyChildLoggerFactory } from '../observability/request-logger';
import { AuditEventPageSchema, AuditEventSchema, auditRoutes } from './audit/audit-routes';
import { CreatedTokenSchema, TokenPageSchema, TokenRequestSchema, TokenSchema, tokenRoutes } from './tokens/token-routes';
import type { Knex } from 'knex';
import { SharedRateLimitCounts } from './access/shared-rate-limit';
import { registerCancellationFix } from './request-cancellation';

/** Every named schema, registered once: routes refer to them by $id, the spec lists them as components. */
export const SHARED_SCHEMAS = [
  ProblemDetailSchema, ProblemSchema,
  AttributeTypeSchema, AttributeSchema, IdentifiersSchema, ConsentSchema, RelationshipSchema, ModelDefinitionSchema, ModelSchema, ModelPageSchema,
  RuleSchema, SegmentDefinitionSchema, SegmentPatchSchema, SegmentSchema, SegmentVersionSchema, SegmentPageSchema, SegmentVersionPageSchema,
  CompiledSegmentSchema, PreviewRequestSchema, PreviewSchema, SegmentCountSchema, EvaluateRequestSchema, EvaluationSchema,
  RefreshRunSchema, RefreshRunPageSchema, MemberPageSchema, ChangePageSchema, HistorySchema,
  WarehouseTableListSchema, TableDraftSchema,
  DestinationDefinitionSchema, DestinationSchema, DestinationPageSchema, ConnectionCheckSchema, DestinationKindInfoSchema, DestinationKindListSchema,
  SyncOptionsSchema, SyncScheduleSchema, SyncDefinitionSchema, SyncSchema, SyncPageSchema, SyncPlanSchema, SyncRunSchema, SyncRunPageSchema,
  SyncRejectionSchema, SyncRejectionPageSchema, LookalikeRequestSchema, LookalikeSchema, LookalikeListSchema,
  TokenSchema, CreatedTokenSchema, TokenRequestSchema, TokenPageSchema, AuditEventSchema, AuditEventPageSchema,
];

export const DEFAULT_ACCESS_LIMITS: AccessLimits = {
  requestsPerMinute: 600, expensivePerMinute: 60, handlerTimeoutMs: 30_000, waitTimeoutMs: 15 * 60_000, rateLimitSyncMs: 1_000,
};

export interface AppServices {
  models: ModelsService;
  segments: SegmentsService;
  queries: SegmentQueries;
  refresh: RefreshService;
  warehouse: Warehouse;
  destinations: DestinationsService;
  registry: DestinationRegistry;
  syncs: SyncsService;
  tokens: TokensService;
  audit: AuditLog;
  /** The metadata database: rate-limit counts are shared through it (absent: counted per process). */
  db?: Knex;
}

export interface AppOptions {
  services: AppServices;
  logLevel?: string;
  bodyLimitBytes?: number;
  /** Rate limits and time limits (defaults: DEFAULT_ACCESS_LIMITS). */
  limits?: Partial<AccessLimits>;
  /** Server URL written into the OpenAPI document. */
  serverUrl?: string;
  /** Where logs go (default stdout); tests read them. */
  logStream?: NodeJS.WritableStream;
  /** The runtime's root logger: HTTP and run logs on one stream (logLevel and logStream are then unused). */
  logger?: Logger;
  /** /metrics registry and /readyz checks. */
  operations?: OperationsOptions;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const limits = { ...DEFAULT_ACCESS_LIMITS, ...options.limits };
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: options.logLevel === 'silent' ? false : {
      level: options.logLevel ?? 'info',
      ...(options.logStream ? { stream: options.logStream } : {}),
      // Bodies are never logged (they may carry identifiers); neither are credentials.
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    } }),
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // The key runs, audit events and problem responses use too: one filter finds all a request caused.
    requestIdLogLabel: 'requestId',
    routerOptions: { ignoreTrailingSlash: true },
    childLoggerFactory: lazyChildLoggerFactory,
    handlerTimeout: limits.handlerTimeoutMs,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // The API speaks JSON only: anything else is a 415, not a string handed to the validator.
  app.removeContentTypeParser('text/plain');

  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  registerValidators(app, SHARED_SCHEMAS);
  registerProblemHandlers(app);
  registerCancellationFix(app);

  // Before the routes (and the spec generator) so every /v1 route gets its scope and limits.
  const services = options.services;
  const sharedCounts = services.db ? new SharedRateLimitCounts({ db: services.db, syncIntervalMs: limits.rateLimitSyncMs, logger: app.log.child({ component: 'rate-limit' }) as never }) : undefined;
  if (sharedCounts) {
    // Reachable from the instance so a caller can wait for a sync (tests of the shared budget do).
    app.decorate('rateLimitCounts', sharedCounts);
    app.addHook('onReady', async () => { sharedCounts.start(); });
    app.addHook('onClose', async () => { await sharedCounts.stop(); });
  }
  await registerAccessControl(app, { tokens: services.tokens, limits, ...(sharedCounts ? { sharedCounts } : {}) });

  await app.register(fastifySwagger, swaggerOptions({ serverUrl: options.serverUrl ?? 'http://127.0.0.1:3000', limits, bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024 }));
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs'));

  const { models, segments, queries, refresh, warehouse } = options.services;
  await app.register(modelRoutes, { models });
  await app.register(segmentRoutes, { segments });
  await app.register(segmentQueryRoutes, { queries });
  await app.register(refreshRoutes, { refresh });
  await app.register(warehouseRoutes, { models, warehouse });
  await app.register(destinationRoutes, { destinations: options.services.destinations, registry: options.services.registry });
  await app.register(syncRoutes, { syncs: options.services.syncs });
  await app.register(tokenRoutes, { tokens: services.tokens });
  await app.register(auditRoutes, { audit: services.audit });
  await registerOperations(app, options.operations);
  return app;
}
