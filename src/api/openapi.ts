import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { DEFAULT_RULE_LIMITS } from '../compiler/rule-structure';
import type { AccessLimits } from './access/access-control';
import { addExamples } from './openapi-examples';

export const TAGS = [
  { name: 'models', description: 'What a customer is in the warehouse: table, key, typed attributes, identifiers, relationships.' },
  { name: 'segments', description: 'JsonLogic rules over a model that define audiences, with every version kept.' },
  { name: 'refresh', description: 'Materialize segments in the warehouse; members, who entered and exited, size over time.' },
  { name: 'destinations', description: 'Where audiences go: Meta Custom Audiences, Google Customer Match, files. Credentials are write-only.' },
  { name: 'syncs', description: 'Segments → destinations: plans, guarded runs, rejections, lookalikes.' },
  { name: 'warehouse', description: 'Look into the warehouse to draft models.' },
  { name: 'operations', description: 'Liveness, readiness and Prometheus metrics for probes and scrapers: outside /v1, no authentication.' },
  { name: 'tokens', description: 'API tokens and their scopes (admin).' },
  { name: 'audit', description: 'Who changed what, when, from what to what (admin).' },
];

/** The limits section of the spec's description: every limit a client can run into, with its current value. */
function limitsDescription(limits: AccessLimits, bodyLimitBytes: number): string {
  return [
    '## Authentication',
    'Every `/v1` operation needs `Authorization: Bearer <token>`. Tokens carry scopes: `read`, `write`, `run` and `admin` ' +
      '(which holds the others); each operation says which one it needs (`security`). Missing or invalid tokens get 401, ' +
      'tokens without the scope 403, both as problems with a `WWW-Authenticate` header. Identifiers in clear (`reveal`) need `admin`.',
    '## Limits',
    `- Request bodies: at most ${bodyLimitBytes} bytes (413).`,
    `- Rules: at most ${DEFAULT_RULE_LIMITS.maxNodes} nodes, nested at most ${DEFAULT_RULE_LIMITS.maxDepth} deep, string literals at most ${DEFAULT_RULE_LIMITS.maxStringLength} characters (400 with a pointer).`,
    `- Rate: ${limits.requestsPerMinute} requests per minute per token, and ${limits.expensivePerMinute} per minute for operations that query the warehouse or call a platform (429 with \`Retry-After\`), in fixed one-minute windows shared by all API processes. Before a token is verified, requests count against the client address; an address whose made-up or revoked tokens reach the per-token rate in a minute gets 429 for tokens the server does not know until that minute ends (tokens it knows keep working).`,
    `- Time: a request is answered within ${limits.handlerTimeoutMs / 1000} s (${limits.waitTimeoutMs / 1000} s for operations that take \`wait=true\`), with 503 if the work takes longer. Previews and counts are then cancelled in the warehouse (also when the client disconnects); refreshes and sync runs continue and can be looked up.`,
    '- Pages: `limit` at most 200 (default 50); previews return at most 100 sample members.',
  ].join('\n\n');
}

export function swaggerOptions(options: { serverUrl: string; limits: AccessLimits; bodyLimitBytes: number }): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'audiences',
        version: '0.1.0',
        description:
          'Warehouse-native audience builder: models and JsonLogic segments compiled to warehouse SQL, ' +
          'refreshed on a schedule and synced to ad platforms. Every error is an RFC 9457 problem ' +
          '(`application/problem+json`) whose `errors` point at each offending part of the request.\n\n' +
          limitsDescription(options.limits, options.bodyLimitBytes),
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
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'API token (`Authorization: Bearer <token>`), created with `POST /v1/tokens` or `audiences token create`. The requirement on each operation names the scope it needs.' },
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
