import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { grants, OPERATION_SCOPES, type Scope } from '../../auth/scopes';
import { BEARER_TOKEN } from '../../auth/token-text';
import { unauthorized, type Principal, type TokensService } from '../../auth/tokens-service';
import { AppError } from '../../errors';
import { PROBLEM_CONTENT_TYPE, ProblemSchema } from '../problem';
import { ref } from '../schema-helpers';
import type { SharedRateLimitCounts } from './shared-rate-limit';
import { TokenLookupBudget } from './token-lookup-budget';

declare module 'fastify' {
  interface FastifyRequest {
    /** The token's holder, once the bearer token has been verified; null on public routes. */
    principal: Principal | null;
    /** Why the token was refused, kept until after the rate limiter has counted the request. */
    authFailure: AppError | null;
  }
  interface FastifyContextConfig {
    /** The scope a /v1 route needs (from OPERATION_SCOPES). */
    scope?: Scope;
  }
}

export interface AccessLimits {
  /** Requests per minute per token (per client address before a token is verified), per route group. */
  requestsPerMinute: number;
  /** Requests per minute per token on routes that run warehouse queries or call ad platforms. */
  expensivePerMinute: number;
  /** How long a handler may take before the client gets a 503 (fastify's handlerTimeout). */
  handlerTimeoutMs: number;
  /** The same for operations that can wait for a run to finish (`wait=true`). */
  waitTimeoutMs: number;
  /** How often each API process shares its rate-limit counts with the others (through the metadata database). */
  rateLimitSyncMs: number;
}

/** Operations that take `wait=true` and may then hold the request for a whole run. */
const WAITING_OPERATIONS = new Set(['refreshSegment', 'startSyncRun', 'approveSyncRun']);

/** Operations that run warehouse queries or call a platform: their own, smaller budget per token. */
export const EXPENSIVE_OPERATIONS = new Set([
  'previewSegment', 'countSegment', 'refreshSegment', 'planSync', 'startSyncRun', 'approveSyncRun',
  'testDestination', 'createLookalike', 'listWarehouseTables', 'draftModelFromTable',
]);

const forbidden = (detail: string) => new AppError(403, 'Forbidden', detail);

/** Operations that can return identifiers in clear (`reveal`): that part is admin-only. */
const REVEALING_OPERATIONS = new Set(['listSegmentMembers', 'previewSegment']);

async function refuseRevealUnlessAdmin(request: FastifyRequest, reply: import('fastify').FastifyReply): Promise<void> {
  const query = request.query as { reveal?: unknown } | undefined;
  const body = request.body as { reveal?: unknown } | undefined;
  const reveals = query?.reveal === true || (body !== null && typeof body === 'object' && body.reveal === true);
  if (reveals && request.principal && !grants(request.principal.scopes, 'admin')) {
    reply.header('www-authenticate', 'Bearer realm="audiences", error="insufficient_scope", scope="admin"');
    throw forbidden('Identifiers in clear (`reveal: true`) need the "admin" scope.');
  }
}

const AUTH_RESPONSES = {
  401: { description: 'No bearer token, or not a valid one (unknown, revoked or expired).', headers: { 'WWW-Authenticate': { type: 'string', description: '`Bearer realm="audiences"`, with `error="invalid_token"` when a token was given.' } } },
  403: { description: 'The token lacks the scope this operation needs (see `WWW-Authenticate`).', headers: { 'WWW-Authenticate': { type: 'string', description: '`Bearer error="insufficient_scope", scope="…"`: the scope needed.' } } },
  429: {
    description: 'Too many requests for this token (or, before a token is verified, this client address). Retry after `Retry-After` seconds.',
    headers: {
      'Retry-After': { type: 'integer', description: 'Seconds until the budget refills.' },
      'X-RateLimit-Limit': { type: 'integer', description: 'Requests allowed per window.' },
      'X-RateLimit-Remaining': { type: 'integer', description: 'Requests left in this window.' },
      'X-RateLimit-Reset': { type: 'integer', description: 'Seconds until the window resets.' },
    },
  },
  503: { description: 'The request took longer than the server\'s time limit, or a dependency is unavailable; nothing was changed by the timeout itself. Retry later.' },
} as const;

/**
 * Every /v1 route: the scope it needs (refusing to start if one has none, so a new route is never
 * public by accident), the OpenAPI security requirement, its 401/403/429/503 responses, and the
 * rate-limit group it counts against.
 */
function declareAccess(limits: AccessLimits) {
  const documented = new WeakSet<object>();
  return (route: RouteOptions) => {
    // HEAD routes (fastify makes one per GET) go through here too: they run the same handler.
    if (!route.url.startsWith('/v1/')) return;
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    const scope = operationId ? OPERATION_SCOPES[operationId] : undefined;
    if (!scope) throw new Error(`route ${String(route.method)} ${route.url} (${operationId ?? 'no operationId'}) has no scope in OPERATION_SCOPES`);
    const expensive = EXPENSIVE_OPERATIONS.has(operationId!);
    if (WAITING_OPERATIONS.has(operationId!)) route.handlerTimeout = limits.waitTimeoutMs;
    route.config = {
      ...route.config, scope,
      ...(expensive ? { rateLimit: { max: limits.expensivePerMinute, timeWindow: 60_000, groupId: 'expensive' } } : {}),
    } as typeof route.config;
    const schema = (route.schema ??= {}) as Record<string, unknown> & { responses?: unknown; response?: Record<string, unknown>; description?: string };
    // A GET and the HEAD fastify makes for it share their schema: document it once.
    if (documented.has(schema)) return;
    documented.add(schema);
    schema.security = [{ bearerAuth: [scope] }];
    schema.description = `${schema.description ?? ''}\n\nNeeds a token with the \`${scope}\` scope (or \`admin\`). Time limit: ${(WAITING_OPERATIONS.has(operationId!) ? limits.waitTimeoutMs : limits.handlerTimeoutMs) / 1000} s. Rate limit: ${expensive ? `${limits.expensivePerMinute} per minute for this and the other warehouse and platform operations` : `${limits.requestsPerMinute} per minute`} per token.`.trim();
    const problem = { content: { [PROBLEM_CONTENT_TYPE]: { schema: ref(ProblemSchema) } } };
    schema.response ??= {};
    for (const [status, response] of Object.entries(AUTH_RESPONSES)) schema.response[status] ??= { ...response, ...problem };
  };
}

function bearerOf(request: FastifyRequest): string | null | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match && BEARER_TOKEN.test(match[1]!) ? match[1]! : null;
}

/**
 * Auth in three steps, so that the rate limiter can count refused requests too: identify the
 * caller (global hook), count the request (@fastify/rate-limit, per token or per client address),
 * then enforce (per-route hook appended after the limiter's).
 */
export async function registerAccessControl(app: FastifyInstance, options: { tokens: TokensService; limits: AccessLimits; sharedCounts?: SharedRateLimitCounts }): Promise<void> {
  app.decorateRequest('principal', null);
  app.decorateRequest('authFailure', null);
  app.addHook('onRoute', declareAccess(options.limits));

  const lookupBudget = new TokenLookupBudget({ perMinute: options.limits.requestsPerMinute });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.config.scope) return;
    const token = bearerOf(request);
    if (token === undefined) {
      request.authFailure = unauthorized('This operation needs a bearer token: `Authorization: Bearer <token>`.');
      return;
    }
    if (token === null) {
      request.authFailure = unauthorized('The Authorization header is not a bearer token.');
      return;
    }
    const unfamiliar = options.tokens.isUnfamiliar(token);
    if (unfamiliar) {
      const waitMs = lookupBudget.retryAfterMs(request.ip);
      if (waitMs > 0) {
        const seconds = Math.ceil(waitMs / 1000);
        reply.header('retry-after', String(seconds));
        throw new AppError(429, 'Too many requests', `Too many unknown tokens from this address; retry in ${seconds} seconds.`);
      }
    }
    try {
      request.principal = await options.tokens.authenticate(token);
    } catch (error) {
      if (!(error instanceof AppError && error.status === 401)) throw error;
      request.authFailure = error;
      if (unfamiliar) lookupBudget.recordFailure(request.ip);
    }
  });

  await app.register(rateLimit, {
    global: true,
    max: options.limits.requestsPerMinute,
    timeWindow: 60_000,
    // Public routes (health, metrics, docs) are not limited here.
    allowList: (request) => !request.routeOptions.config.scope,
    keyGenerator: (request) => (request.principal ? `token:${request.principal.tokenId}` : `address:${request.ip}`),
    // Counts shared by every API process on the database (without one, as for the spec generator: this process's own).
    ...(options.sharedCounts ? { store: options.sharedCounts.storeClass() as never } : {}),
    errorResponseBuilder: (_request, context) => new AppError(429, 'Too many requests', `Rate limit exceeded: at most ${context.max} requests per minute; retry in ${context.after}.`),
  });

  app.addHook('onRoute', (route) => {
    const scope = (route.config as { scope?: Scope } | undefined)?.scope;
    if (!scope) return;
    const enforce = async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
      if (request.authFailure) {
        reply.header('www-authenticate', request.headers.authorization === undefined ? 'Bearer realm="audiences"' : 'Bearer realm="audiences", error="invalid_token"');
        throw request.authFailure;
      }
      if (!request.principal || !grants(request.principal.scopes, scope)) {
        reply.header('www-authenticate', `Bearer realm="audiences", error="insufficient_scope", scope="${scope}"`);
        throw forbidden(`This operation needs the "${scope}" scope; the token has ${request.principal?.scopes.map((s) => `"${s}"`).join(', ') || 'none'}.`);
      }
    };
    route.onRequest = [...(Array.isArray(route.onRequest) ? route.onRequest : route.onRequest ? [route.onRequest] : []), enforce];
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (operationId && REVEALING_OPERATIONS.has(operationId)) {
      route.preHandler = [...(Array.isArray(route.preHandler) ? route.preHandler : route.preHandler ? [route.preHandler] : []), refuseRevealUnlessAdmin];
    }
  });

}
