import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RefreshService } from '../../audiences/refresh-service';
import { PaginationQuery, SegmentParams, pageOf } from '../common-schemas';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref, stringEnum } from '../schema-helpers';
import { auditContextOf } from '../audit/write-options';

const Nullable = <T extends ReturnType<typeof Type.Integer> | ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const RefreshRunSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    segmentId: Type.String({ format: 'uuid' }),
    segmentVersion: Type.Integer({ minimum: 1, description: 'The segment version this run materialized.' }),
    status: stringEnum(['running', 'succeeded', 'failed'] as const),
    asOf: Type.String({ format: 'date-time', description: 'Frozen as-of time of the run (time windows).' }),
    startedAt: Type.String({ format: 'date-time', description: 'Also the time stamped on its enter/exit events.' }),
    finishedAt: Nullable(Type.String({ format: 'date-time' })),
    size: Nullable(Type.Integer({ minimum: 0 })),
    entered: Nullable(Type.Integer({ minimum: 0 })),
    exited: Nullable(Type.Integer({ minimum: 0 })),
    durationMs: Nullable(Type.Integer({ minimum: 0 })),
    sql: Type.String({ description: 'The compiled query the run materialized.' }),
    error: Nullable(Type.String({ description: 'Why the run failed; the previous snapshot and history are untouched.' })),
  },
  { $id: 'RefreshRun', additionalProperties: false, description: 'One refresh of a segment.' },
);

export const RefreshRunPageSchema = pageOf(ref(RefreshRunSchema), 'RefreshRunPage', 'Refresh runs, newest first.');

export const MemberPageSchema = Type.Object(
  {
    data: Type.Array(Type.Object({
      memberKey: Type.String(),
      identifiers: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), { description: 'By identifier kind; masked unless `reveal=true`.' }),
    }, { additionalProperties: false })),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
    runId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], { description: 'The refresh the members come from; null before the first refresh.' }),
  },
  { $id: 'MemberPage', additionalProperties: false, description: 'Members of the latest snapshot, by member key.' },
);

export const ChangePageSchema = pageOf(
  Type.Object({
    memberKey: Type.String(),
    event: stringEnum(['enter', 'exit'] as const),
    runId: Type.String({ format: 'uuid' }),
    at: Type.String({ format: 'date-time' }),
  }, { additionalProperties: false }),
  'ChangePage', 'Enter and exit events, in time order.',
);

export const HistorySchema = Type.Object(
  {
    data: Type.Array(Type.Object({
      runId: Type.String({ format: 'uuid' }),
      at: Type.String({ format: 'date-time' }),
      asOf: Type.String({ format: 'date-time' }),
      size: Type.Integer({ minimum: 0 }),
      entered: Type.Integer({ minimum: 0 }),
      exited: Type.Integer({ minimum: 0 }),
    }, { additionalProperties: false })),
  },
  { $id: 'History', additionalProperties: false, description: 'Size, entered and exited per successful refresh, oldest first: the size-over-time series.' },
);

const json = (schema: ReturnType<typeof ref>, description: string) => ({ description, content: { 'application/json': { schema } } });

const runExample = {
  id: '9a7c2f0e-1b2d-4c3e-8f4a-5b6c7d8e9f00', segmentId: '5f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f', segmentVersion: 3, status: 'succeeded',
  asOf: '2026-11-25T10:00:00.000Z', startedAt: '2026-11-25T10:00:00.120Z', finishedAt: '2026-11-25T10:00:01.480Z',
  size: 5120, entered: 230, exited: 41, durationMs: 1360,
  sql: 'SELECT CAST("t"."customer_id" AS text) AS "member_key", … FROM "demo"."customers" AS "t" WHERE …', error: null,
};
documentExamples('refreshSegment', { responses: { 200: runExample, 202: { ...runExample, status: 'running', finishedAt: null, size: null, entered: null, exited: null, durationMs: null } } });
documentExamples('listRefreshRuns', { responses: { 200: { data: [runExample], nextCursor: null } } });
documentExamples('getRefreshRun', { responses: { 200: runExample } });
documentExamples('listSegmentMembers', { responses: { 200: { data: [{ memberKey: '1017', identifiers: { email: 'j***@example.com', phone: '***4567', country: 'US' } }], nextCursor: 'eyJhZnRlciI6IjEwMTcifQ', runId: runExample.id } } });
documentExamples('listSegmentChanges', { responses: { 200: { data: [{ memberKey: '1017', event: 'enter', runId: runExample.id, at: runExample.startedAt }], nextCursor: null } } });
documentExamples('getSegmentHistory', { responses: { 200: { data: [{ runId: runExample.id, at: runExample.startedAt, asOf: runExample.asOf, size: 5120, entered: 230, exited: 41 }] } } });

export const refreshRoutes: FastifyPluginAsyncTypebox<{ refresh: RefreshService }> = async (app, { refresh }) => {
  app.post('/v1/segments/:segment/refresh', {
    schema: {
      operationId: 'refreshSegment', tags: ['refresh'], summary: 'Refresh a segment',
      description: 'Materializes the segment in the warehouse and records who entered and exited since the last refresh. Returns 202 with the running run, or with `wait=true` 200 with the finished run. Two refreshes of a segment never overlap, also across processes: 409 while one runs.',
      params: SegmentParams,
      querystring: Type.Object({
        wait: Type.Optional(Type.Boolean({ default: false, description: 'Answer when the run has finished.' })),
        asOf: Type.Optional(Type.String({ format: 'date-time', description: 'As-of time for time windows; defaults to now.' })),
      }, { additionalProperties: false }),
      response: { 200: json(ref(RefreshRunSchema), 'The finished run (wait=true).'), 202: json(ref(RefreshRunSchema), 'The run, started.'), ...problemResponses(400, 404, 409) },
    },
  }, async (request, reply) => {
    const asOf = request.query.asOf;
    const run = await refresh.start(request.params.segment, { ...(asOf ? { asOf: new Date(asOf) } : {}), wait: request.query.wait ?? false, requestId: request.id, audit: auditContextOf(request) });
    reply.code(run.status === 'running' ? 202 : 200).header('location', `/v1/refresh-runs/${run.id}`);
    return run;
  });

  app.get('/v1/segments/:segment/runs', {
    schema: {
      operationId: 'listRefreshRuns', tags: ['refresh'], summary: 'List refresh runs of a segment',
      description: 'Runs of the segment, newest first, with their counts, timings, the SQL they ran and any error.',
      params: SegmentParams, querystring: PaginationQuery,
      response: { 200: json(ref(RefreshRunPageSchema), 'A page of runs.'), ...problemResponses(400, 404) },
    },
  }, async (request) => refresh.runs(request.params.segment, request.query));

  app.get('/v1/refresh-runs/:run', {
    schema: {
      operationId: 'getRefreshRun', tags: ['refresh'], summary: 'Get a refresh run',
      description: 'One run: status, size, entered, exited, duration, segment version and SQL.',
      params: Type.Object({ run: Type.String({ format: 'uuid', description: 'Run id.' }) }),
      response: { 200: json(ref(RefreshRunSchema), 'The run.'), ...problemResponses(400, 404) },
    },
  }, async (request) => refresh.getRun(request.params.run));

  app.get('/v1/segments/:segment/members', {
    schema: {
      operationId: 'listSegmentMembers', tags: ['refresh'], summary: 'List members of a segment',
      description: 'Members of the latest refresh, ordered by member key. Identifiers are masked unless `reveal=true`.',
      params: SegmentParams,
      querystring: Type.Composite([PaginationQuery, Type.Object({ reveal: Type.Optional(Type.Boolean({ default: false, description: 'Return identifiers in clear (needs the `admin` scope).' })) })], { additionalProperties: false }),
      response: { 200: json(ref(MemberPageSchema), 'A page of members.'), ...problemResponses(400, 404) },
    },
  }, async (request) => refresh.members(request.params.segment, { ...request.query, reveal: request.query.reveal ?? false }));

  app.get('/v1/segments/:segment/changes', {
    schema: {
      operationId: 'listSegmentChanges', tags: ['refresh'], summary: 'Who entered and exited',
      description: 'Enter and exit events of the segment between `since` (inclusive) and `until` (exclusive; default now), in time order.',
      params: SegmentParams,
      querystring: Type.Composite([PaginationQuery, Type.Object({
        since: Type.String({ format: 'date-time' }),
        until: Type.Optional(Type.String({ format: 'date-time' })),
      })], { additionalProperties: false }),
      response: { 200: json(ref(ChangePageSchema), 'A page of events.'), ...problemResponses(400, 404) },
    },
  }, async (request) => refresh.changes(request.params.segment, {
    since: new Date(request.query.since), until: request.query.until ? new Date(request.query.until) : new Date(),
    ...(request.query.limit !== undefined ? { limit: request.query.limit } : {}), ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
  }));

  app.get('/v1/segments/:segment/history', {
    schema: {
      operationId: 'getSegmentHistory', tags: ['refresh'], summary: 'Size over time',
      description: 'Size, entered and exited for every successful refresh, oldest first (at most 10,000), optionally between `since` and `until`.',
      params: SegmentParams,
      querystring: Type.Object({ since: Type.Optional(Type.String({ format: 'date-time' })), until: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
      response: { 200: json(ref(HistorySchema), 'The series.'), ...problemResponses(400, 404) },
    },
  }, async (request) => ({
    data: await refresh.history(request.params.segment, {
      ...(request.query.since ? { since: new Date(request.query.since) } : {}), ...(request.query.until ? { until: new Date(request.query.until) } : {}),
    }),
  }));
};
