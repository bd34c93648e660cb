import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ModelDefinitionSchema, ModelSchema } from '../../models/model-schema';
import type { ModelsService } from '../../models/models-service';
import { etagOf } from '../../store/etag';
import { CreatedHeaders, ETagHeader, IfMatchHeaders, PaginationQuery, pageOf } from '../common-schemas';
import { modelDefinitionExample, timestamps } from '../examples';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref } from '../schema-helpers';
import { writeOptionsOf } from '../audit/write-options';

export const ModelPageSchema = pageOf(ref(ModelSchema), 'ModelPage', 'A page of models, ordered by slug.');

const modelExample = { id: '0b6f7f5e-5d0c-4a53-9a4b-8a1f2d6c1e01', ...modelDefinitionExample, identifiers: modelDefinitionExample.identifiers!, consent: modelDefinitionExample.consent!, relationships: modelDefinitionExample.relationships!, description: modelDefinitionExample.description!, schema: 'demo', version: 1, ...timestamps };

documentExamples('listModels', { responses: { 200: { data: [modelExample], nextCursor: null } } });
documentExamples('createModel', { request: modelDefinitionExample, responses: { 201: modelExample } });
documentExamples('getModel', { responses: { 200: modelExample } });
documentExamples('replaceModel', { request: modelDefinitionExample, responses: { 200: { ...modelExample, version: 2 } } });

const ModelParams = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 64, description: 'Model id or slug.' }),
});

const modelResponse = (description: string, headers: Record<string, unknown> = ETagHeader) => ({ description, headers, content: { 'application/json': { schema: ref(ModelSchema) } } });

export const modelRoutes: FastifyPluginAsyncTypebox<{ models: ModelsService }> = async (app, { models }) => {
  app.get('/v1/models', {
    schema: {
      operationId: 'listModels', tags: ['models'], summary: 'List models',
      description: 'Lists models ordered by slug, a page at a time.',
      querystring: PaginationQuery,
      response: { 200: { description: 'A page of models.', content: { 'application/json': { schema: ref(ModelPageSchema) } } }, ...problemResponses(400) },
    },
  }, async (request) => models.list(request.query));

  app.post('/v1/models', {
    schema: {
      operationId: 'createModel', tags: ['models'], summary: 'Create a model',
      description: 'Creates a model after checking it against the live warehouse: the table and every column must exist with a compatible type. A mismatch is a 422 listing every problem.',
      body: ref(ModelDefinitionSchema),
      response: { 201: modelResponse('The model was created.', CreatedHeaders), ...problemResponses(400, 409, 413, 415, 422) },
    },
  }, async (request, reply) => {
    const model = await models.create(request.body, writeOptionsOf(request));
    reply.code(201).header('etag', etagOf(model.version)).header('location', `/v1/models/${model.slug}`);
    return model;
  });

  app.get('/v1/models/:model', {
    schema: {
      operationId: 'getModel', tags: ['models'], summary: 'Get a model',
      description: 'Returns one model by id or slug. The ETag header carries its version for If-Match.',
      params: ModelParams,
      response: { 200: modelResponse('The model.'), ...problemResponses(404) },
    },
  }, async (request, reply) => {
    const model = await models.get(request.params.model);
    reply.header('etag', etagOf(model.version));
    return model;
  });

  app.put('/v1/models/:model', {
    schema: {
      operationId: 'replaceModel', tags: ['models'], summary: 'Replace a model',
      description: 'Replaces a model definition. It is checked against the warehouse like a new one, and refused with 409 if a segment of the model would stop making sense. Send If-Match to avoid overwriting a concurrent change.',
      params: ModelParams,
      headers: IfMatchHeaders,
      body: ref(ModelDefinitionSchema),
      response: { 200: modelResponse('The updated model.'), ...problemResponses(400, 404, 409, 412, 413, 415, 422) },
    },
  }, async (request, reply) => {
    const model = await models.replace(request.params.model, request.body, writeOptionsOf(request));
    reply.header('etag', etagOf(model.version));
    return model;
  });

  app.delete('/v1/models/:model', {
    schema: {
      operationId: 'deleteModel', tags: ['models'], summary: 'Delete a model',
      description: 'Deletes a model that no segment uses (409 otherwise).',
      params: ModelParams,
      headers: IfMatchHeaders,
      response: { 204: { description: 'The model was deleted.', type: 'null' }, ...problemResponses(404, 409, 412) },
    },
  }, async (request, reply) => {
    await models.delete(request.params.model, writeOptionsOf(request));
    return reply.code(204).send();
  });
};
