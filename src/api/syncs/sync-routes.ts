import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SyncsService } from '../../syncs/syncs-service';
import {
  LookalikeRequestSchema, LookalikeSchema, SyncDefinitionSchema, SyncPlanSchema, SyncRejectionSchema, SyncRunSchema, SyncSchema,
} from '../../syncs/sync-schema';
import { etagOf } from '../../store/etag';
import { CreatedHeaders, ETagHeader, IfMatchHeaders, PaginationQuery, pageOf } from '../common-schemas';
import { timestamps } from '../examples';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref } from '../schema-helpers';
import { auditContextOf, writeOptionsOf } from '../audit/write-options';

export const SyncPageSchema = pageOf(ref(SyncSchema), 'SyncPage', 'A page of syncs, ordered by slug.');
export const SyncRunPageSchema = pageOf(ref(SyncRunSchema), 'SyncRunPage', 'A page of runs of a sync, newest first.');
export const SyncRejectionPageSchema = pageOf(ref(SyncRejectionSchema), 'SyncRejectionPage', 'Rows of a run that were not sent or that the platform refused.');
export const LookalikeListSchema = Type.Object({ data: Type.Array(ref(LookalikeSchema)) }, { $id: 'LookalikeList', additionalProperties: false });

const definitionExample = {
  slug: 'vip-to-meta', name: 'VIP customers → Meta', segment: 'us-high-value', destination: 'meta-main',
  mapping: { email: 'email', phone: 'phone', external_id: 'external_id' },
  options: { mode: 'mirror', removalThreshold: 0.2 }, schedule: { type: 'cron', cron: '0 6 * * *', timezone: 'Europe/Berlin' },
};
const syncExample = {
  id: '3f1d2c4b-5a6e-4f70-8a9b-0c1d2e3f4a5b', slug: 'vip-to-meta', name: 'VIP customers → Meta',
  segmentId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', segment: 'us-high-value', destinationId: '6a3c1f0e-2b7d-4e59-9c1a-0d2e3f4a5b6c', destination: 'meta-main',
  remoteAudienceId: '23851234567890123', mapping: definitionExample.mapping,
  options: { mode: 'mirror', removalThreshold: 0.2, removalFloor: 10, defaultRegion: 'US', maxStalenessMinutes: 60 },
  schedule: definitionExample.schedule, enabled: true, version: 1, ...timestamps,
};
const runExample = {
  id: '9b2e7c1a-3d4f-4a5b-8c6d-7e8f9a0b1c2d', syncId: syncExample.id, status: 'succeeded', trigger: 'api', reason: null,
  refreshRunId: '1e2d3c4b-5a6f-4789-9abc-def012345678', normalizerVersion: 'identity-2026.12.1',
  planned: { adds: 1200, removes: 35, changes: 4 }, sent: 1243, confirmed: 1236, rejected: 7, failed: 0, requests: 2, retries: 0,
  identifierRejections: { invalid_phone: 12 }, timings: { refresh: 180, plan: 45, send: 2100, commit: 30, total: 2360 }, error: null,
  createdAt: '2026-11-24T06:00:00.000Z', startedAt: '2026-11-24T06:00:00.050Z', approvedAt: null, finishedAt: '2026-11-24T06:00:02.410Z',
};
documentExamples('listSyncs', { responses: { 200: { data: [syncExample], nextCursor: null } } });
documentExamples('createSync', { request: definitionExample, responses: { 201: syncExample } });
documentExamples('getSync', { responses: { 200: syncExample } });
documentExamples('replaceSync', { request: definitionExample, responses: { 200: { ...syncExample, version: 2 } } });
documentExamples('planSync', {
  responses: {
    200: {
      adds: 1200, removes: 35, changes: 4, expectedRejections: 7, identifierRejections: { invalid_phone: 12 }, destinationSize: 48210, segmentSize: 49379,
      snapshotAt: '2026-11-24T05:59:59.000Z', needsApproval: null,
      samples: [{ op: 'add', memberKey: '1042', identifiers: { email: '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b' } }],
    },
  },
});
documentExamples('startSyncRun', { responses: { 200: runExample, 202: { ...runExample, status: 'running', planned: null, sent: 0, confirmed: 0, rejected: 0, requests: 0, timings: {}, finishedAt: null } } });
documentExamples('listSyncRuns', { responses: { 200: { data: [runExample], nextCursor: null } } });
documentExamples('getSyncRun', { responses: { 200: runExample } });
documentExamples('approveSyncRun', { responses: { 200: { ...runExample, approvedAt: '2026-11-24T06:05:00.000Z' }, 202: { ...runExample, status: 'running', approvedAt: '2026-11-24T06:05:00.000Z', finishedAt: null } } });
documentExamples('listSyncRunRejections', { responses: { 200: { data: [{ memberKey: '1042', op: 'add', reason: 'no_identifiers', detail: 'email: invalid_email' }], nextCursor: null } } });
const lookalikeExample = { id: '5d6e7f80-91a2-4b3c-8d4e-5f60718293a4', syncId: syncExample.id, name: 'VIP lookalike 1% DE', remoteId: '23851234567890999', spec: { ratio: 0.01, country: 'DE' }, seedSize: 48210, createdAt: '2026-11-24T07:00:00.000Z' };
documentExamples('createLookalike', { request: { name: 'VIP lookalike 1% DE', meta: { ratio: 0.01, country: 'DE' } }, responses: { 201: lookalikeExample } });
documentExamples('listLookalikes', { responses: { 200: { data: [lookalikeExample] } } });
documentExamples('getLookalike', { responses: { 200: { ...lookalikeExample, status: { code: 200, description: 'Normal' } } } });

const SyncParams = Type.Object({ sync: Type.String({ minLength: 1, maxLength: 64, description: 'Sync id or slug.' }) });
const RunParams = Type.Object({ run: Type.String({ minLength: 1, maxLength: 64, description: 'Sync run id.' }) });
const WaitQuery = Type.Object({ wait: Type.Optional(Type.Boolean({ default: false, description: 'Answer when the run has finished (or needs approval) instead of at once.' })) }, { additionalProperties: false });
const RunHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'A retried request with the same key returns the run the first one started.' })),
});
const json = (schema: unknown) => ({ 'application/json': { schema } });
const syncResponse = (description: string, headers: Record<string, unknown> = ETagHeader) => ({ description, headers, content: json(ref(SyncSchema)) });

export const syncRoutes: FastifyPluginAsyncTypebox<{ syncs: SyncsService }> = async (app, { syncs }) => {
  app.get('/v1/syncs', {
    schema: {
      operationId: 'listSyncs', tags: ['syncs'], summary: 'List syncs', description: 'Lists syncs ordered by slug, a page at a time.',
      querystring: PaginationQuery,
      response: { 200: { description: 'A page of syncs.', content: json(ref(SyncPageSchema)) }, ...problemResponses(400) },
    },
  }, async (request) => syncs.list(request.query));

  app.post('/v1/syncs', {
    schema: {
      operationId: 'createSync', tags: ['syncs'], summary: 'Create a sync',
      description: 'Connects a segment to a destination. The mapping names which model identifiers are sent as which platform fields (400 with pointers when the model or the platform lacks one). Creating a sync creates the remote audience once — or adopts `remoteAudience.id` — and keeps its id. 502 when the platform cannot be reached or refuses.',
      body: ref(SyncDefinitionSchema),
      response: { 201: syncResponse('The sync was created.', CreatedHeaders), ...problemResponses(400, 409, 413, 415, 422, 502, 503) },
    },
  }, async (request, reply) => {
    const sync = await syncs.create(request.body, writeOptionsOf(request));
    reply.code(201).header('etag', etagOf(sync.version)).header('location', `/v1/syncs/${sync.slug}`);
    return sync;
  });

  app.get('/v1/syncs/:sync', {
    schema: {
      operationId: 'getSync', tags: ['syncs'], summary: 'Get a sync', description: 'Returns one sync by id or slug.',
      params: SyncParams, response: { 200: syncResponse('The sync.'), ...problemResponses(404) },
    },
  }, async (request, reply) => {
    const sync = await syncs.get(request.params.sync);
    reply.header('etag', etagOf(sync.version));
    return sync;
  });

  app.put('/v1/syncs/:sync', {
    schema: {
      operationId: 'replaceSync', tags: ['syncs'], summary: 'Replace a sync',
      description: 'Replaces name, slug, mapping, options, schedule and enabled. The segment, destination and remote audience cannot change. A new mapping starts the sync state over (the next run re-sends everyone). Send If-Match to avoid overwriting a concurrent change.',
      params: SyncParams, headers: IfMatchHeaders, body: ref(SyncDefinitionSchema),
      response: { 200: syncResponse('The updated sync.'), ...problemResponses(400, 404, 409, 412, 413, 415) },
    },
  }, async (request, reply) => {
    const sync = await syncs.replace(request.params.sync, request.body, writeOptionsOf(request));
    reply.header('etag', etagOf(sync.version));
    return sync;
  });

  app.delete('/v1/syncs/:sync', {
    schema: {
      operationId: 'deleteSync', tags: ['syncs'], summary: 'Delete a sync',
      description: 'Deletes the sync, its runs and its state in the warehouse. The audience on the platform is left as it is. 409 while a run is in progress.',
      params: SyncParams, headers: IfMatchHeaders,
      response: { 204: { description: 'The sync was deleted.', type: 'null' }, ...problemResponses(404, 409, 412) },
    },
  }, async (request, reply) => {
    await syncs.delete(request.params.sync, writeOptionsOf(request));
    return reply.code(204).send();
  });

  app.post('/v1/syncs/:sync/plan', {
    schema: {
      operationId: 'planSync', tags: ['syncs'], summary: 'Plan a sync (dry run)',
      description: 'What a run would do against the current snapshot: adds, removes and changes (computed in the warehouse), members that would be rejected, whether a guardrail would hold the run, and hashed samples. Sends nothing. 409 before the segment\'s first refresh.',
      params: SyncParams,
      response: { 200: { description: 'The plan.', content: json(ref(SyncPlanSchema)) }, ...problemResponses(404, 409) },
    },
  }, async (request) => syncs.plan(request.params.sync));

  app.post('/v1/syncs/:sync/runs', {
    schema: {
      operationId: 'startSyncRun', tags: ['syncs'], summary: 'Start a sync run',
      description: 'Refreshes the segment if its snapshot is stale, plans in the warehouse, checks the guardrails (a removal spike or an emptied segment → `needs_approval`), then sends normalized, hashed batches and commits what was delivered. `Idempotency-Key`: a retried request returns the first run (200, `Idempotent-Replayed: true`). 409 while another run of the sync is in progress.',
      params: SyncParams, querystring: WaitQuery, headers: RunHeaders,
      response: {
        200: { description: 'With `wait`, the finished run; or the run a previous request with the same Idempotency-Key started.', content: json(ref(SyncRunSchema)) },
        202: { description: 'The run was started.', headers: { Location: { type: 'string', description: 'Path of the run.' } }, content: json(ref(SyncRunSchema)) },
        ...problemResponses(400, 404, 409),
      },
    },
  }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const { run, replayed } = await syncs.startRun(request.params.sync, { ...(key ? { idempotencyKey: key } : {}), wait: request.query.wait ?? false, requestId: request.id, audit: auditContextOf(request) });
    reply.header('location', `/v1/sync-runs/${run.id}`);
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(replayed || request.query.wait ? 200 : 202).send(run);
  });

  app.get('/v1/syncs/:sync/runs', {
    schema: {
      operationId: 'listSyncRuns', tags: ['syncs'], summary: 'List runs of a sync', description: 'Runs of a sync, newest first, with their counts.',
      params: SyncParams, querystring: PaginationQuery,
      response: { 200: { description: 'A page of runs.', content: json(ref(SyncRunPageSchema)) }, ...problemResponses(400, 404) },
    },
  }, async (request) => syncs.runs(request.params.sync, request.query));

  app.get('/v1/sync-runs/:run', {
    schema: {
      operationId: 'getSyncRun', tags: ['syncs'], summary: 'Get a sync run',
      description: 'One run: status, counts planned / sent / confirmed / rejected / failed, timings, and why it waits or stopped.',
      params: RunParams, response: { 200: { description: 'The run.', content: json(ref(SyncRunSchema)) }, ...problemResponses(404) },
    },
  }, async (request) => syncs.getRun(request.params.run));

  app.post('/v1/sync-runs/:run/approve', {
    schema: {
      operationId: 'approveSyncRun', tags: ['syncs'], summary: 'Approve a held run',
      description: 'Sends the plan of a run a guardrail held (`needs_approval`). 409 when the run is not waiting (approved already, superseded by a newer run, or finished).',
      params: RunParams, querystring: WaitQuery,
      response: {
        200: { description: 'With `wait`, the finished run.', content: json(ref(SyncRunSchema)) },
        202: { description: 'The run is sending.', content: json(ref(SyncRunSchema)) },
        ...problemResponses(400, 404, 409),
      },
    },
  }, async (request, reply) => {
    const run = await syncs.approve(request.params.run, { wait: request.query.wait ?? false, requestId: request.id, audit: auditContextOf(request) });
    return reply.code(request.query.wait ? 200 : 202).send(run);
  });

  app.get('/v1/sync-runs/:run/rejections', {
    schema: {
      operationId: 'listSyncRunRejections', tags: ['syncs'], summary: 'List rejected rows of a run',
      description: 'Members of a run that were not sent (no usable identifier) or that the platform refused, with the reason. Identifier values are never included.',
      params: RunParams, querystring: PaginationQuery,
      response: { 200: { description: 'A page of rejections.', content: json(ref(SyncRejectionPageSchema)) }, ...problemResponses(400, 404) },
    },
  }, async (request) => syncs.rejections(request.params.run, request.query));

  app.post('/v1/syncs/:sync/lookalikes', {
    schema: {
      operationId: 'createLookalike', tags: ['syncs'], summary: 'Create a lookalike audience',
      description: 'Creates a lookalike seeded by the sync\'s audience (Meta: ratio and country or location spec; Google: expansion level and countries). A seed that is too small is a 422 with the numbers.',
      params: SyncParams, body: ref(LookalikeRequestSchema),
      response: { 201: { description: 'The lookalike was created.', content: json(ref(LookalikeSchema)) }, ...problemResponses(400, 404, 413, 415, 422, 502) },
    },
  }, async (request, reply) => reply.code(201).send(await syncs.createLookalike(request.params.sync, request.body, { audit: auditContextOf(request) })));

  app.get('/v1/syncs/:sync/lookalikes', {
    schema: {
      operationId: 'listLookalikes', tags: ['syncs'], summary: 'List lookalikes of a sync', description: 'Lookalike audiences seeded by this sync.',
      params: SyncParams, response: { 200: { description: 'The lookalikes.', content: json(ref(LookalikeListSchema)) }, ...problemResponses(404) },
    },
  }, async (request) => syncs.lookalikes(request.params.sync));

  app.get('/v1/lookalikes/:lookalike', {
    schema: {
      operationId: 'getLookalike', tags: ['syncs'], summary: 'Get a lookalike', description: 'One lookalike with its status read from the platform.',
      params: Type.Object({ lookalike: Type.String({ minLength: 1, maxLength: 64, description: 'Lookalike id.' }) }),
      response: { 200: { description: 'The lookalike.', content: json(ref(LookalikeSchema)) }, ...problemResponses(404, 502) },
    },
  }, async (request) => syncs.getLookalike(request.params.lookalike));
};
