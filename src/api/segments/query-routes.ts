import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DIALECTS } from '../../compiler/dialects/dialect';
import type { SegmentQueries } from '../../segments/segment-queries';
import { RuleSchema } from '../../segments/segment-schema';
import { SegmentParams } from '../common-schemas';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref, slug, stringEnum } from '../schema-helpers';

const Dialect = stringEnum(DIALECTS, { description: 'SQL dialect; defaults to the warehouse\'s.' });
const AsOf = Type.String({ format: 'date-time', description: 'As-of time for time windows (ISO 8601); defaults to now.' });

export const CompiledSegmentSchema = Type.Object(
  {
    dialect: Dialect,
    sql: Type.String({ description: 'One parameterized query; rule literals appear only as parameters.' }),
    params: Type.Array(Type.Object({
      name: Type.String({ description: '`p1`, `p2`, …: placeholder `$1` (Postgres, DuckDB) or `@p1` (BigQuery).' }),
      type: stringEnum(['float', 'integer', 'string', 'boolean', 'timestamp', 'string_array', 'float_array'] as const),
      value: Type.Unknown(),
    }, { additionalProperties: false })),
    warnings: Type.Array(Type.String()),
    asOf: Type.String({ format: 'date-time' }),
  },
  { $id: 'CompiledSegment', additionalProperties: false, description: 'A segment compiled to SQL.' },
);

export const PreviewRequestSchema = Type.Object(
  {
    model: slug('Slug of the model the rule is written against.'),
    rule: ref(RuleSchema),
    sampleSize: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 10, description: 'Members to return (at most 100).' })),
    reveal: Type.Optional(Type.Boolean({ default: false, description: 'Return identifiers in clear instead of masked (needs the `admin` scope).' })),
    asOf: Type.Optional(AsOf),
  },
  { $id: 'PreviewRequest', additionalProperties: false, description: 'An unsaved rule to try on the warehouse.' },
);

export const PreviewSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0 }),
    sample: Type.Array(Type.Object({
      memberKey: Type.String(),
      identifiers: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), { description: 'By identifier kind; masked unless `reveal`.' }),
    }, { additionalProperties: false })),
    asOf: Type.String({ format: 'date-time' }),
    warnings: Type.Array(Type.String()),
  },
  { $id: 'Preview', additionalProperties: false, description: 'Size and a sample (ordered by member key) of an unsaved rule.' },
);

export const SegmentCountSchema = Type.Object(
  { count: Type.Integer({ minimum: 0 }), asOf: Type.String({ format: 'date-time' }) },
  { $id: 'SegmentCount', additionalProperties: false, description: 'How many rows the segment selects now.' },
);

export const EvaluateRequestSchema = Type.Object(
  {
    record: Type.Record(Type.String(), Type.Unknown(), { description: 'Attributes by name; related rows as arrays under the relationship name; dates as YYYY-MM-DD, timestamps as ISO 8601. Missing attributes are null.' }),
    asOf: Type.Optional(AsOf),
  },
  { $id: 'EvaluateRequest', additionalProperties: false },
);

export const EvaluationSchema = Type.Object(
  { member: Type.Boolean(), asOf: Type.String({ format: 'date-time' }) },
  { $id: 'Evaluation', additionalProperties: false, description: 'Whether the record is a member (json-logic-js with the audiences extensions).' },
);

const asOfOf = (value: string | undefined) => (value === undefined ? {} : { asOf: new Date(value) });

documentExamples('compileSegment', {
  responses: {
    200: {
      dialect: 'postgres',
      sql: 'SELECT "t"."customer_id" AS "member_key" FROM "demo"."customers" AS "t" WHERE (COALESCE(("t"."country" = $1::text), FALSE) AND COALESCE((COALESCE(CAST("t"."ltv" AS double precision), CAST(0 AS double precision)) > $2::double precision), FALSE))',
      params: [{ name: 'p1', type: 'string', value: 'US' }, { name: 'p2', type: 'float', value: 500 }],
      warnings: [],
      asOf: '2026-11-25T10:00:00.000Z',
    },
  },
});
documentExamples('previewSegment', {
  request: { model: 'customers', rule: { and: [{ '==': [{ var: 'country' }, 'DE'] }, { '>': [{ var: 'ltv' }, 300] }] }, sampleSize: 2 },
  responses: {
    200: {
      count: 1204,
      sample: [
        { memberKey: '17', identifiers: { email: 'l***@example.com', phone: '***3381', first_name: 'L***', country: 'DE' } },
        { memberKey: '41', identifiers: { email: 'm***@gmail.com', phone: null, first_name: 'M***', country: 'DE' } },
      ],
      asOf: '2026-11-25T10:00:00.000Z',
      warnings: [],
    },
  },
});
documentExamples('countSegment', { responses: { 200: { count: 5120, asOf: '2026-11-25T10:00:00.000Z' } } });
documentExamples('evaluateSegment', {
  request: { record: { country: 'US', ltv: 812.5, orders: [{ total: 120, status: 'completed', ordered_at: '2026-11-20T12:00:00Z' }] } },
  responses: { 200: { member: true, asOf: '2026-11-25T10:00:00.000Z' } },
});

export const segmentQueryRoutes: FastifyPluginAsyncTypebox<{ queries: SegmentQueries }> = async (app, { queries }) => {
  app.post('/v1/segments/:segment/compile', {
    schema: {
      operationId: 'compileSegment', tags: ['segments'], summary: 'Compile a segment to SQL',
      description: 'Returns the one parameterized query the segment compiles to in a dialect, with its typed parameters and any warnings. Nothing runs.',
      params: SegmentParams,
      querystring: Type.Object({ dialect: Type.Optional(Dialect), asOf: Type.Optional(AsOf) }, { additionalProperties: false }),
      response: { 200: { description: 'The compiled query.', content: { 'application/json': { schema: ref(CompiledSegmentSchema) } } }, ...problemResponses(400, 404) },
    },
  }, async (request) => {
    const compiled = await queries.compileSegment(request.params.segment, {
      ...(request.query.dialect ? { dialect: request.query.dialect } : {}), ...asOfOf(request.query.asOf),
    });
    return { ...compiled, params: [...compiled.params] };
  });

  app.post('/v1/segments/preview', {
    schema: {
      operationId: 'previewSegment', tags: ['segments'], summary: 'Preview an unsaved rule',
      description: 'Compiles a rule that is not saved as a segment and runs it on the warehouse: the number of members and a sample of at most 100 (identifiers masked unless `reveal` is true). Bad rules get 400 with a pointer into `rule`.',
      body: ref(PreviewRequestSchema),
      response: { 200: { description: 'Count and sample.', content: { 'application/json': { schema: ref(PreviewSchema) } } }, ...problemResponses(400, 413, 415, 422) },
    },
  }, async (request) => queries.preview({
    model: request.body.model, rule: request.body.rule, sampleSize: request.body.sampleSize ?? 10, reveal: request.body.reveal ?? false, ...asOfOf(request.body.asOf),
    // Aborted when the request times out or the client leaves: the warehouse stops the queries too.
    signal: request.signal,
  }));

  app.get('/v1/segments/:segment/count', {
    schema: {
      operationId: 'countSegment', tags: ['segments'], summary: 'Count a segment',
      description: 'Runs the segment on the warehouse and returns how many rows it selects at the as-of time.',
      params: SegmentParams,
      querystring: Type.Object({ asOf: Type.Optional(AsOf) }, { additionalProperties: false }),
      response: { 200: { description: 'The count.', content: { 'application/json': { schema: ref(SegmentCountSchema) } } }, ...problemResponses(400, 404, 422) },
    },
  }, async (request) => queries.countSegment(request.params.segment, { ...asOfOf(request.query.asOf), signal: request.signal }));

  app.post('/v1/segments/:segment/evaluate', {
    schema: {
      operationId: 'evaluateSegment', tags: ['segments'], summary: 'Evaluate a segment on one record',
      description: 'Says whether one record (not from the warehouse) is a member, using json-logic-js with the same extensions and semantics the SQL has. Useful to test a rule.',
      params: SegmentParams,
      body: ref(EvaluateRequestSchema),
      response: { 200: { description: 'Membership.', content: { 'application/json': { schema: ref(EvaluationSchema) } } }, ...problemResponses(400, 404, 413, 415) },
    },
  }, async (request) => queries.evaluate(request.params.segment, request.body.record, asOfOf(request.body.asOf)));
};
