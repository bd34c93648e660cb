import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SegmentDefinitionSchema, SegmentPatchSchema, SegmentSchema, SegmentVersionSchema } from '../../segments/segment-schema';
import type { SegmentsService } from '../../segments/segments-service';
import { etagOf } from '../../store/etag';
import { CreatedHeaders, ETagHeader, IfMatchHeaders, PaginationQuery, SegmentParams, pageOf } from '../common-schemas';
import { segmentDefinitionExample, timestamps } from '../examples';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { sendSerializedOnce } from '../serialize-once';
import { ref, slug } from '../schema-helpers';
import { writeOptionsOf } from '../audit/write-options';

export const SegmentPageSchema = pageOf(ref(SegmentSchema), 'SegmentPage', 'A page of segments, ordered by slug.');
export const SegmentVersionPageSchema = pageOf(ref(SegmentVersionSchema), 'SegmentVersionPage', 'A page of versions, newest first.');

const segmentExample = { id: '5f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f', ...segmentDefinitionExample, description: segmentDefinitionExample.description!, tags: segmentDefinitionExample.tags!, version: 1, ...timestamps };
const { id: _id, updatedAt: _u, ...versionExample } = segmentExample;

const patchExample = { rule: { and: [{ '==': [{ var: 'country' }, 'US'] }, { '>': [{ var: 'ltv' }, 1000] }] } };
documentExamples('listSegments', { responses: { 200: { data: [segmentExample], nextCursor: null } } });
documentExamples('createSegment', { request: segmentDefinitionExample, responses: { 201: segmentExample } });
documentExamples('getSegment', { responses: { 200: segmentExample } });
documentExamples('updateSegment', { request: patchExample, responses: { 200: { ...segmentExample, ...patchExample, version: 2 } } });
documentExamples('listSegmentVersions', { responses: { 200: { data: [{ ...versionExample, ...patchExample, version: 2 }, versionExample], nextCursor: null } } });


const segmentResponse = (description: string, headers: Record<string, unknown> = ETagHeader) => ({
  description, headers,
  content: { 'application/json': { schema: ref(SegmentSchema) } },
});


export const segmentRoutes: FastifyPluginAsyncTypebox<{ segments: SegmentsService }> = async (app, { segments }) => {
  app.get('/v1/segments', {
    schema: {
      operationId: 'listSegments', tags: ['segments'], summary: 'List segments',
      description: 'Lists segments ordered by slug, a page at a time, optionally of one model or with one tag.',
      querystring: Type.Composite([
        PaginationQuery,
        Type.Object({
          model: Type.Optional(slug('Only segments of this model (slug).')),
          tag: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Only segments with this tag.' })),
        }),
      ], { additionalProperties: false }),
      response: {
        200: { description: 'A page of segments.', content: { 'application/json': { schema: ref(SegmentPageSchema) } } },
        ...problemResponses(400),
      },
    },
  }, async (request, reply) => sendSerializedOnce(reply, await segments.list(request.query)));

  app.post('/v1/segments', {
    schema: {
      operationId: 'createSegment', tags: ['segments'], summary: 'Create a segment',
      description: 'Creates a segment. The rule is checked against the model: one-key operator objects, known operators with the right arguments, `var` paths that exist, size and depth limits. Every problem is reported with a JSON pointer.',
      body: ref(SegmentDefinitionSchema),
      response: { 201: segmentResponse('The segment was created (version 1).', CreatedHeaders), ...problemResponses(400, 409, 413, 415) },
    },
  }, async (request, reply) => {
    const segment = await segments.create(request.body, writeOptionsOf(request));
    reply.code(201).header('etag', etagOf(segment.version)).header('location', `/v1/segments/${segment.slug}`);
    return segment;
  });

  app.get('/v1/segments/:segment', {
    schema: {
      operationId: 'getSegment', tags: ['segments'], summary: 'Get a segment',
      description: 'Returns one segment by id or slug. The ETag header carries its version for If-Match.',
      params: SegmentParams,
      response: { 200: segmentResponse('The segment.'), ...problemResponses(404) },
    },
  }, async (request, reply) => {
    const segment = await segments.get(request.params.segment);
    reply.header('etag', etagOf(segment.version));
    return sendSerializedOnce(reply, segment);
  });

  app.patch('/v1/segments/:segment', {
    schema: {
      operationId: 'updateSegment', tags: ['segments'], summary: 'Update a segment',
      description: 'Changes the given fields and keeps the previous definition as a version. A request that changes nothing writes no version. Send If-Match with the ETag of your last read to avoid overwriting a concurrent change (412).',
      params: SegmentParams,
      headers: IfMatchHeaders,
      body: ref(SegmentPatchSchema),
      response: { 200: segmentResponse('The updated segment.'), ...problemResponses(400, 404, 409, 412, 413, 415) },
    },
  }, async (request, reply) => {
    const segment = await segments.update(request.params.segment, request.body, writeOptionsOf(request));
    reply.header('etag', etagOf(segment.version));
    return segment;
  });

  app.delete('/v1/segments/:segment', {
    schema: {
      operationId: 'deleteSegment', tags: ['segments'], summary: 'Delete a segment',
      description: 'Deletes a segment and its versions. Refused with 409 while another segment uses it through `in_segment`.',
      params: SegmentParams,
      headers: IfMatchHeaders,
      response: { 204: { description: 'The segment was deleted.', type: 'null' }, ...problemResponses(404, 409, 412) },
    },
  }, async (request, reply) => {
    await segments.delete(request.params.segment, writeOptionsOf(request));
    return reply.code(204).send();
  });

  app.get('/v1/segments/:segment/versions', {
    schema: {
      operationId: 'listSegmentVersions', tags: ['segments'], summary: 'List versions of a segment',
      description: 'Every definition the segment has had, newest first. Version 1 is the definition it was created with.',
      params: SegmentParams,
      querystring: PaginationQuery,
      response: {
        200: { description: 'A page of versions.', content: { 'application/json': { schema: ref(SegmentVersionPageSchema) } } },
        ...problemResponses(400, 404),
      },
    },
  }, async (request) => segments.versions(request.params.segment, request.query));
};
