import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ModelDefinitionSchema } from '../../models/model-schema';
import type { ModelsService } from '../../models/models-service';
import type { Warehouse } from '../../warehouse/warehouse';
import { modelDefinitionExample } from '../examples';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref, sqlIdentifier, stringEnum } from '../schema-helpers';

const TableKind = stringEnum(['table', 'view'] as const);

export const WarehouseTableListSchema = Type.Object(
  { data: Type.Array(Type.Object({ schema: Type.String(), name: Type.String(), kind: TableKind }, { additionalProperties: false })) },
  { $id: 'WarehouseTableList', additionalProperties: false, description: 'Tables and views of the warehouse.' },
);

export const TableDraftSchema = Type.Object(
  {
    table: Type.Object({
      schema: Type.String(),
      name: Type.String(),
      kind: TableKind,
      columns: Type.Array(Type.Object({
        name: Type.String(),
        nativeType: Type.String(),
        attributeType: Type.Union([Type.String(), Type.Null()], { description: 'Suggested attribute type; null when none fits.' }),
        compatibleTypes: Type.Array(Type.String()),
        nullable: Type.Boolean(),
      }, { additionalProperties: false })),
      primaryKey: Type.Array(Type.String()),
    }, { additionalProperties: false }),
    draft: ref(ModelDefinitionSchema),
    notes: Type.Array(Type.String(), { description: 'What the draft could not decide; review before creating the model.' }),
  },
  { $id: 'TableDraft', additionalProperties: false, description: 'A warehouse table and a model drafted from it.' },
);

documentExamples('listWarehouseTables', { responses: { 200: { data: [{ schema: 'demo', name: 'customers', kind: 'table' }] } } });
documentExamples('draftModelFromTable', {
  responses: {
    200: {
      table: { schema: 'demo', name: 'customers', kind: 'table', primaryKey: ['customer_id'], columns: [{ name: 'email', nativeType: 'text', attributeType: 'string', compatibleTypes: ['string'], nullable: true }] },
      draft: modelDefinitionExample,
      notes: [],
    },
  },
});

export const warehouseRoutes: FastifyPluginAsyncTypebox<{ models: ModelsService; warehouse: Warehouse }> = async (app, { models, warehouse }) => {
  app.get('/v1/warehouse/tables', {
    schema: {
      operationId: 'listWarehouseTables', tags: ['warehouse'], summary: 'List warehouse tables',
      description: 'Lists the tables and views the service can see in the warehouse, optionally of one schema.',
      querystring: Type.Object({ schema: Type.Optional(sqlIdentifier('Only tables of this schema.')) }, { additionalProperties: false }),
      response: {
        200: { description: 'Tables and views.', content: { 'application/json': { schema: ref(WarehouseTableListSchema) } } },
        ...problemResponses(400),
      },
    },
  }, async (request) => ({ data: await warehouse.listTables(request.query.schema === undefined ? {} : { schema: request.query.schema }) }));

  app.get('/v1/warehouse/tables/:schema/:table', {
    schema: {
      operationId: 'draftModelFromTable', tags: ['warehouse'], summary: 'Describe a table and draft a model',
      description: 'Describes a warehouse table (columns, types, primary key) and drafts a model from it: typed attributes, identifiers guessed from column names, and has-many relationships from foreign keys that point at the table. Edit the draft, then create it with createModel.',
      params: Type.Object({ schema: sqlIdentifier(), table: sqlIdentifier() }),
      response: {
        200: {
          description: 'The table and a draft model.',
          content: { 'application/json': { schema: ref(TableDraftSchema) } },
        },
        ...problemResponses(400, 404),
      },
    },
  }, async (request) => {
    const { schema, table } = request.params;
    const described = await warehouse.describeTable({ schema, table });
    const { model, notes } = await models.draftFromTable({ schema, table });
    const { referencedBy: _r, foreignKeys: _f, ...rest } = described!;
    return { table: rest, draft: model, notes };
  });
};
