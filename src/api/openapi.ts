import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { addExamples } from './openapi-examples';

export const TAGS = [
  { name: 'models', description: 'What a customer is in the warehouse: table, key, typed attributes, identifiers, relationships.' },
  { name: 'segments', description: 'JsonLogic rules over a model that define audiences, with every version kept.' },
  { name: 'refresh', description: 'Materialize segments in the warehouse; members, who entered and exited, size over time.' },
  { name: 'destinations', description: 'Where audiences go: Meta Custom Audiences, Google Customer Match, files. Credentials are write-only.' },
  { name: 'syncs', description: 'Segments → destinations: plans, guarded runs, rejections, lookalikes.' },
  { name: 'warehouse', description: 'Look into the warehouse to draft models.' },
];

export function swaggerOptions(options: { serverUrl: string }): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'audiences',
        version: '0.1.0',
        description:
          'Warehouse-native audience builder: models and JsonLogic segments compiled to warehouse SQL, ' +
          'refreshed on a schedule and synced to ad platforms. Every error is an RFC 9457 problem ' +
          '(`application/problem+json`) whose `errors` point at each offending part of the request.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      servers: [{ url: options.serverUrl, description: 'Local service' }],
      tags: TAGS,
      components: {
        headers: {
          RequestId: {
            description: 'Identifies the request in the logs; echoes a valid incoming `x-request-id`.',
            schema: { type: 'string' },
          },
        },
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'API token (`Authorization: Bearer <token>`).' },
        },
      },
      security: [{ bearerAuth: [] }],
    },
    transformObject: (documentObject) => addRequestIdHeader(addExamples((documentObject as { openapiObject: Parameters<typeof addExamples>[0] }).openapiObject)) as never,
    // Shared schemas appear under components.schemas by their $id, not as def-0, def-1, …
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `schema${i}`),
    },
  };
}

type Responses = Record<string, { headers?: Record<string, unknown> }>;

/** Every response carries x-request-id; say so once, in components, and refer to it everywhere. */
function addRequestIdHeader<T extends { paths?: Record<string, Record<string, unknown>> }>(document: T): T {
  for (const methods of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(methods) as Array<{ responses?: Responses }>) {
      for (const response of Object.values(operation.responses ?? {})) {
        response.headers = { ...response.headers, 'x-request-id': { $ref: '#/components/headers/RequestId' } };
      }
    }
  }
  return document;
}
