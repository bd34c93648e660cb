import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ProblemDetail } from '../errors';
import { documentProblemExample } from './openapi-examples';
import { ref } from './schema-helpers';
import { isClientAbort } from './request-cancellation';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const ProblemDetailSchema = Type.Object(
  {
    pointer: Type.Optional(Type.String({ description: 'JSON pointer (RFC 6901) into the request body.' })),
    parameter: Type.Optional(Type.String({ description: 'Name of the offending query or path parameter.' })),
    header: Type.Optional(Type.String({ description: 'Name of the offending header.' })),
    message: Type.String(),
    expected: Type.Optional(Type.String({ description: 'Type errors: what the position needs.' })),
    found: Type.Optional(Type.String({ description: 'Type errors: what it got.' })),
  },
  { $id: 'ProblemDetail', additionalProperties: false, description: 'One problem with a request, and where it is.' },
);

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ format: 'uri', description: 'Identifies the problem type.' }),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.String(),
    instance: Type.String({ description: 'The request path.' }),
    requestId: Type.String({ description: 'Also in the `x-request-id` response header and the logs.' }),
    errors: Type.Optional(Type.Array(ref(ProblemDetailSchema))),
  },
  {
    $id: 'Problem',
    additionalProperties: false,
    description: 'An RFC 9457 problem. `errors` lists every problem found, each with where it is.',
  },
);
export type Problem = Static<typeof ProblemSchema>;

const DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed or invalid; `errors` points at each problem.',
  404: 'No such resource.',
  409: 'The request conflicts with the current state (duplicate slug, resource in use).',
  412: 'If-Match does not match the current ETag.',
  413: 'The request body is larger than the limit.',
  415: 'The request body is not `application/json`.',
  422: 'Well-formed, but the warehouse disagrees: a model that does not match its tables (`errors` lists every mismatch), or a rule the engine cannot evaluate on this data.',
  500: 'Internal error. Nothing about it is returned; quote `requestId` when reporting it.',
  502: 'The ad platform could not be reached, or refused the request; `detail` carries its answer (secrets removed).',
  401: 'No bearer token, or not a valid one.',
  403: 'The token lacks the scope this operation needs.',
  429: 'Too many requests; retry after `Retry-After` seconds.',
  503: 'The server is not configured for this (e.g. no encryption key for destination credentials), or the request took longer than its time limit.',
};

const EXAMPLES: Record<number, Problem> = {
  400: {
    type: 'https://audiences.dev/problems/invalid-request', title: 'Invalid request', status: 400,
    detail: 'The segment is invalid.', instance: '/v1/segments', requestId: 'req-1',
    errors: [{ pointer: '/rule/and/0/==/0/var', message: 'unknown attribute "contry"; the model has "country", …' }],
  },
  404: { type: 'https://audiences.dev/problems/not-found', title: 'Not found', status: 404, detail: 'Segment "vip" does not exist.', instance: '/v1/segments/vip', requestId: 'req-1' },
  409: { type: 'https://audiences.dev/problems/conflict', title: 'Conflict', status: 409, detail: 'A segment with slug "vip" already exists.', instance: '/v1/segments', requestId: 'req-1' },
  412: { type: 'https://audiences.dev/problems/precondition-failed', title: 'Precondition failed', status: 412, detail: 'If-Match "2" does not match the current version (ETag "3"); fetch the resource again and retry.', instance: '/v1/segments/vip', requestId: 'req-1' },
  413: { type: 'https://audiences.dev/problems/payload-too-large', title: 'Payload too large', status: 413, detail: 'Request body is too large', instance: '/v1/segments', requestId: 'req-1' },
  415: { type: 'https://audiences.dev/problems/unsupported-media-type', title: 'Unsupported media type', status: 415, detail: 'Unsupported Media Type: text/plain', instance: '/v1/segments', requestId: 'req-1' },
  422: {
    type: 'https://audiences.dev/problems/unprocessable-entity', title: 'Unprocessable entity', status: 422,
    detail: 'The model does not match the warehouse.', instance: '/v1/models', requestId: 'req-1',
    errors: [{ pointer: '/attributes/3/type', message: 'column "ltv" is numeric, which cannot back a string attribute; it can back number' }],
  },
  502: {
    type: 'https://audiences.dev/problems/bad-gateway', title: 'Bad gateway', status: 502,
    detail: 'The platform could not be reached or refused: (#200) The user has not accepted the Custom Audience terms of service', instance: '/v1/syncs', requestId: 'req-1',
  },
  503: {
    type: 'https://audiences.dev/problems/service-unavailable', title: 'Service unavailable', status: 503,
    detail: 'Destination credentials cannot be encrypted or decrypted: AUDIENCES_ENCRYPTION_KEY is not set on this server.', instance: '/v1/destinations', requestId: 'req-1',
  },
  401: { type: 'https://audiences.dev/problems/unauthorized', title: 'Unauthorized', status: 401, detail: 'This operation needs a bearer token: `Authorization: Bearer <token>`.', instance: '/v1/segments', requestId: 'req-1' },
  403: { type: 'https://audiences.dev/problems/forbidden', title: 'Forbidden', status: 403, detail: 'This operation needs the "write" scope; the token has "read".', instance: '/v1/segments', requestId: 'req-1' },
  429: { type: 'https://audiences.dev/problems/too-many-requests', title: 'Too many requests', status: 429, detail: 'Rate limit exceeded: at most 600 requests per minute; retry in 12 seconds.', instance: '/v1/segments', requestId: 'req-1' },
  500: { type: 'https://audiences.dev/problems/internal-error', title: 'Internal error', status: 500, detail: 'An internal error occurred.', instance: '/v1/segments', requestId: 'req-1' },
};

for (const [status, example] of Object.entries(EXAMPLES)) documentProblemExample(Number(status), example);

/** Response schemas for the error statuses a route can return: all share the Problem schema. */
export function problemResponses(...statuses: number[]) {
  const all = [...new Set([...statuses, 500])].sort();
  return Object.fromEntries(
    all.map((status) => [
      status,
      {
        description: DESCRIPTIONS[status] ?? 'Error.',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: ref(ProblemSchema) } },
      },
    ]),
  );
}

const TITLES: Record<number, string> = {
  400: 'Invalid request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed',
  406: 'Not acceptable', 409: 'Conflict', 412: 'Precondition failed', 413: 'Payload too large',
  415: 'Unsupported media type', 422: 'Unprocessable entity', 429: 'Too many requests', 500: 'Internal error', 502: 'Bad gateway', 503: 'Service unavailable',
};

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Ajv errors → problem details with a pointer (body) or parameter / header name. */
export function validationDetails(errors: AjvError[], context: string | undefined): ProblemDetail[] {
  const seen = new Set<string>();
  const details: ProblemDetail[] = [];
  for (const e of errors) {
    let path = e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      path += `/${String(e.params.missingProperty)}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      path += `/${String(e.params.additionalProperty)}`;
      message = 'is not a known property';
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    }
    const key = `${path} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (context === 'body') details.push({ pointer: path, message });
    else {
      const name = path.replace(/^\//, '').split('/')[0] ?? '';
      if (context === 'headers') details.push({ header: name, message });
      else details.push({ parameter: name, message });
    }
  }
  return details;
}

function send(request: FastifyRequest, reply: FastifyReply, status: number, detail: string, extra: { title?: string; type?: string; errors?: ProblemDetail[] } = {}) {
  const title = extra.title ?? TITLES[status] ?? 'Error';
  const problem: Problem = {
    type: extra.type ?? `https://audiences.dev/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
    title,
    status,
    detail,
    instance: request.url.split('?')[0] ?? request.url,
    requestId: String(request.id),
    ...(extra.errors?.length ? { errors: extra.errors } : {}),
  };
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/** Every error leaves as application/problem+json; internals stay in the log. */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      return send(request, reply, error.status, error.message, { title: error.title, type: error.type, ...(error.errors ? { errors: error.errors } : {}) });
    }
    if (error.validation) {
      const errors = validationDetails(error.validation as AjvError[], error.validationContext);
      return send(request, reply, 400, `The request ${error.validationContext ?? 'input'} is invalid.`, { errors });
    }
    if (error.code === 'FST_ERR_HANDLER_TIMEOUT') {
      request.log.warn({ url: request.routeOptions.url }, 'request timed out');
      reply.header('retry-after', '5');
      return send(request, reply, 503, `The request took longer than the server's limit and was answered early; work it started (a run, a query) continues and can be looked up.`);
    }
    if (isClientAbort(error)) {
      // The client closed the connection: nobody reads this answer, and nothing failed on our side.
      request.log.info({ url: request.routeOptions.url }, 'request cancelled: the client went away');
      return send(request, reply, 503, 'The request was cancelled because the client closed the connection.');
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Fastify's own client errors (bad JSON, body too large, wrong content type) have safe messages.
      const errors = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? [{ pointer: '', message: error.message }] : undefined;
      return send(request, reply, status, error.message, errors ? { errors } : {});
    }
    request.log.error({ err: error }, 'internal error');
    return send(request, reply, 500, 'An internal error occurred. Quote the requestId when reporting it.');
  });
  app.setNotFoundHandler((request, reply) => send(request, reply, 404, `No route ${request.method} ${request.url.split('?')[0]}.`));
}
