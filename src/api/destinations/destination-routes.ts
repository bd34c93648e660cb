import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ConnectionCheckSchema, DestinationDefinitionSchema, DestinationKindListSchema, DestinationSchema,
} from '../../destinations/destination-schema';
import type { DestinationsService } from '../../destinations/destinations-service';
import type { DestinationRegistry } from '../../destinations/registry';
import { etagOf } from '../../store/etag';
import { CreatedHeaders, ETagHeader, IfMatchHeaders, PaginationQuery, pageOf } from '../common-schemas';
import { timestamps } from '../examples';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref } from '../schema-helpers';
import { writeOptionsOf } from '../audit/write-options';

export const DestinationPageSchema = pageOf(ref(DestinationSchema), 'DestinationPage', 'A page of destinations, ordered by slug.');

const definitionExample = {
  slug: 'meta-main', name: 'Meta — main ad account', kind: 'meta_custom_audience',
  config: { adAccountId: 'act_1234567890' }, credentials: { accessToken: 'EAAB…' },
};
const destinationExample = {
  id: '6a3c1f0e-2b7d-4e59-9c1a-0d2e3f4a5b6c', slug: 'meta-main', name: 'Meta — main ad account', kind: 'meta_custom_audience', platform: 'meta',
  config: { adAccountId: 'act_1234567890', apiVersion: 'v24.0' }, credentialsSet: true, credentialFields: ['accessToken'], version: 1, ...timestamps,
};
documentExamples('listDestinations', { responses: { 200: { data: [destinationExample], nextCursor: null } } });
documentExamples('createDestination', { request: definitionExample, responses: { 201: destinationExample } });
documentExamples('getDestination', { responses: { 200: destinationExample } });
documentExamples('replaceDestination', { request: { ...definitionExample, credentials: undefined }, responses: { 200: { ...destinationExample, version: 2 } } });
documentExamples('testDestination', { responses: { 200: { ok: true, detail: 'ad account act_1234567890 is readable and active', account: { id: 'act_1234567890', name: 'Main', currency: 'EUR' } } } });
documentExamples('listDestinationKinds', {
  responses: { 200: { data: [{ kind: 'file', platform: 'file', description: 'Hashed adds and removes as NDJSON files per run.', configSchema: { type: 'object' }, credentialsSchema: { type: 'object' } }] } },
});

const DestinationParams = Type.Object({ destination: Type.String({ minLength: 1, maxLength: 64, description: 'Destination id or slug.' }) });
const destinationResponse = (description: string, headers: Record<string, unknown> = ETagHeader) => ({ description, headers, content: { 'application/json': { schema: ref(DestinationSchema) } } });

export const destinationRoutes: FastifyPluginAsyncTypebox<{ destinations: DestinationsService; registry: DestinationRegistry }> = async (app, { destinations, registry }) => {
  app.get('/v1/destination-kinds', {
    schema: {
      operationId: 'listDestinationKinds', tags: ['destinations'], summary: 'List destination kinds',
      description: 'The destination kinds this server can build, with the JSON Schemas of their `config` and `credentials`.',
      querystring: Type.Object({}, { additionalProperties: false }),
      response: { 200: { description: 'The kinds.', content: { 'application/json': { schema: ref(DestinationKindListSchema) } } }, ...problemResponses(400) },
    },
  }, async () => ({
    data: registry.list().map((k) => ({
      kind: k.kind as never, platform: k.platform, description: k.description,
      configSchema: k.configSchema as Record<string, unknown>, credentialsSchema: k.credentialsSchema as Record<string, unknown>,
    })),
  }));

  app.get('/v1/destinations', {
    schema: {
      operationId: 'listDestinations', tags: ['destinations'], summary: 'List destinations',
      description: 'Lists destinations ordered by slug, a page at a time. Credentials are never returned.',
      querystring: PaginationQuery,
      response: { 200: { description: 'A page of destinations.', content: { 'application/json': { schema: ref(DestinationPageSchema) } } }, ...problemResponses(400) },
    },
  }, async (request) => destinations.list(request.query));

  app.post('/v1/destinations', {
    schema: {
      operationId: 'createDestination', tags: ['destinations'], summary: 'Create a destination',
      description: 'Creates a destination of a kind with its configuration and credentials. `config` and `credentials` are validated against the kind\'s schemas (400 with pointers under `/config` and `/credentials`). Credentials are encrypted at rest (AES-256-GCM) and never returned; 503 when the server has no encryption key.',
      body: ref(DestinationDefinitionSchema),
      response: { 201: destinationResponse('The destination was created.', CreatedHeaders), ...problemResponses(400, 409, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const destination = await destinations.create(request.body, writeOptionsOf(request));
    reply.code(201).header('etag', etagOf(destination.version)).header('location', `/v1/destinations/${destination.slug}`);
    return destination;
  });

  app.get('/v1/destinations/:destination', {
    schema: {
      operationId: 'getDestination', tags: ['destinations'], summary: 'Get a destination',
      description: 'Returns one destination by id or slug, without its credentials. The ETag header carries its version for If-Match.',
      params: DestinationParams,
      response: { 200: destinationResponse('The destination.'), ...problemResponses(404) },
    },
  }, async (request, reply) => {
    const destination = await destinations.get(request.params.destination);
    reply.header('etag', etagOf(destination.version));
    return destination;
  });

  app.put('/v1/destinations/:destination', {
    schema: {
      operationId: 'replaceDestination', tags: ['destinations'], summary: 'Replace a destination',
      description: 'Replaces a destination\'s name, slug, configuration and (when given) credentials; without `credentials` the stored ones are kept. The kind cannot change. Send If-Match to avoid overwriting a concurrent change.',
      params: DestinationParams,
      headers: IfMatchHeaders,
      body: ref(DestinationDefinitionSchema),
      response: { 200: destinationResponse('The updated destination.'), ...problemResponses(400, 404, 409, 412, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const destination = await destinations.replace(request.params.destination, request.body, writeOptionsOf(request));
    reply.header('etag', etagOf(destination.version));
    return destination;
  });

  app.delete('/v1/destinations/:destination', {
    schema: {
      operationId: 'deleteDestination', tags: ['destinations'], summary: 'Delete a destination',
      description: 'Deletes a destination and its stored credentials. Audiences it created on the platform are left as they are.',
      params: DestinationParams,
      headers: IfMatchHeaders,
      response: { 204: { description: 'The destination was deleted.', type: 'null' }, ...problemResponses(404, 409, 412) },
    },
  }, async (request, reply) => {
    await destinations.delete(request.params.destination, writeOptionsOf(request));
    return reply.code(204).send();
  });

  app.post('/v1/destinations/:destination/test', {
    schema: {
      operationId: 'testDestination', tags: ['destinations'], summary: 'Test a destination\'s connection',
      description: 'Checks that the platform can be reached with the stored credentials (Meta: the ad account; Google: the customer; file: the directory is writable). A failed check is a 200 with `ok: false`, the platform\'s answer (secrets removed) and its failure class.',
      params: DestinationParams,
      response: { 200: { description: 'The outcome of the check.', content: { 'application/json': { schema: ref(ConnectionCheckSchema) } } }, ...problemResponses(404, 503) },
    },
  }, async (request) => destinations.test(request.params.destination));
};
