import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SCOPE_DESCRIPTIONS, SCOPES } from '../../auth/scopes';
import type { TokensService } from '../../auth/tokens-service';
import { pageOf, PaginationQuery } from '../common-schemas';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref, stringEnum } from '../schema-helpers';
import { writeOptionsOf } from '../audit/write-options';

const Scope = stringEnum(SCOPES, { description: Object.entries(SCOPE_DESCRIPTIONS).map(([s, d]) => `\`${s}\`: ${d}`).join(' ') });
const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const TokenSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    prefix: Type.String({ description: 'The first characters of the token, to recognise it; the token itself is never stored.' }),
    scopes: Type.Array(Scope),
    createdBy: Type.String({ description: 'Name of the token that created it, `cli` or `bootstrap`.' }),
    createdAt: Timestamp,
    expiresAt: NullableTimestamp,
    lastUsedAt: Type.Union([Timestamp, Type.Null()], { description: 'To the minute.' }),
    revokedAt: NullableTimestamp,
  },
  { $id: 'Token', additionalProperties: false, description: 'An API token (without its secret).' },
);

export const CreatedTokenSchema = Type.Object(
  {
    ...TokenSchema.properties,
    token: Type.String({ description: 'The bearer token. Shown only in this response: store it now.' }),
  },
  { $id: 'CreatedToken', additionalProperties: false, description: 'A new token, with its secret (shown once).' },
);

export const TokenRequestSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, description: 'What the token is for, e.g. `ci-apply` or `looker-dashboard`.' }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: SCOPES.length, uniqueItems: true }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When it stops working; never when absent.' })),
  },
  { $id: 'TokenRequest', additionalProperties: false },
);

export const TokenPageSchema = pageOf(ref(TokenSchema), 'TokenPage', 'Tokens, oldest first.');

const TokenParams = Type.Object({ token: Type.String({ format: 'uuid', description: 'Token id.' }) });

const tokenExample = {
  id: '0b8e1c2d-3f4a-4b5c-9d6e-7f8a9b0c1d2e', name: 'ci-apply', prefix: 'aud_Xk3p9QaZ', scopes: ['read', 'write'], createdBy: 'bootstrap',
  createdAt: '2026-11-25T10:00:00.000Z', expiresAt: null, lastUsedAt: '2026-11-25T10:05:00.000Z', revokedAt: null,
};
documentExamples('createToken', {
  request: { name: 'ci-apply', scopes: ['read', 'write'] },
  responses: { 201: { ...tokenExample, lastUsedAt: null, token: 'aud_Xk3p9QaZ7mW2…' } },
});
documentExamples('listTokens', { responses: { 200: { data: [tokenExample], nextCursor: null } } });
documentExamples('getToken', { responses: { 200: tokenExample } });
documentExamples('revokeToken', { responses: { 200: { ...tokenExample, revokedAt: '2026-11-26T09:00:00.000Z' } } });

const json = (schema: ReturnType<typeof ref>, description: string) => ({ description, content: { 'application/json': { schema } } });

export const tokenRoutes: FastifyPluginAsyncTypebox<{ tokens: TokensService }> = async (app, { tokens }) => {
  app.post('/v1/tokens', {
    schema: {
      operationId: 'createToken', tags: ['tokens'], summary: 'Create a token',
      description: 'Creates an API token with the given scopes. The response is the only time the token is shown; only its SHA-256 is stored.',
      body: ref(TokenRequestSchema),
      response: { 201: json(ref(CreatedTokenSchema), 'The token, with its secret.'), ...problemResponses(400, 413, 415) },
    },
  }, async (request, reply) => {
    const created = await tokens.create({
      name: request.body.name, scopes: request.body.scopes,
      ...(request.body.expiresAt ? { expiresAt: new Date(request.body.expiresAt) } : {}),
      createdBy: request.principal?.name ?? 'unknown',
    }, writeOptionsOf(request));
    reply.code(201).header('location', `/v1/tokens/${created.id}`).header('cache-control', 'no-store');
    return created;
  });

  app.get('/v1/tokens', {
    schema: {
      operationId: 'listTokens', tags: ['tokens'], summary: 'List tokens',
      description: 'Tokens without their secrets; revoked ones only with `includeRevoked=true`.',
      querystring: Type.Object({ ...PaginationQuery.properties, includeRevoked: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
      response: { 200: json(ref(TokenPageSchema), 'A page of tokens.'), ...problemResponses(400) },
    },
  }, async (request) => tokens.list(request.query));

  app.get('/v1/tokens/:token', {
    schema: {
      operationId: 'getToken', tags: ['tokens'], summary: 'Get a token',
      description: 'One token, without its secret.',
      params: TokenParams,
      response: { 200: json(ref(TokenSchema), 'The token.'), ...problemResponses(400, 404) },
    },
  }, async (request) => tokens.get(request.params.token));

  app.delete('/v1/tokens/:token', {
    schema: {
      operationId: 'revokeToken', tags: ['tokens'], summary: 'Revoke a token',
      description: 'The token stops working at once on this server (within seconds on other servers sharing the database). Revoked tokens stay listed for the audit log; revoking twice is harmless.',
      params: TokenParams,
      response: { 200: json(ref(TokenSchema), 'The revoked token.'), ...problemResponses(400, 404) },
    },
  }, async (request) => tokens.revoke(request.params.token, writeOptionsOf(request)));
};
