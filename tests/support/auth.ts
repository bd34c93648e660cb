import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Scope } from '../../src/auth/scopes';
import type { TokensService } from '../../src/auth/tokens-service';

/** A fixed, valid bootstrap token for tests that start the service as `npm start` does. */
export const TEST_BOOTSTRAP_TOKEN = 'test_bootstrap_token_0123456789abcdefABCDEF';

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function createToken(tokens: TokensService, scopes: Scope[], name = `test-${scopes.join('-')}`): Promise<string> {
  return (await tokens.create({ name, scopes, createdBy: 'test' })).token;
}

/**
 * Most tests are about something other than auth: their `app.inject` calls carry an admin token
 * unless they set an Authorization header themselves (an empty one sends none at all).
 */
export async function injectAsAdmin(app: FastifyInstance, tokens: TokensService): Promise<string> {
  const token = await createToken(tokens, ['admin'], 'test-admin');
  const inject = app.inject.bind(app) as (options: InjectOptions | string) => ReturnType<FastifyInstance['inject']>;
  (app as { inject: unknown }).inject = (options: InjectOptions | string) => {
    const opts: InjectOptions = typeof options === 'string' ? { url: options } : options;
    const headers = { ...(opts.headers as Record<string, string> | undefined) };
    if (headers.authorization === undefined) headers.authorization = `Bearer ${token}`;
    if (headers.authorization === '') delete headers.authorization;
    return inject({ ...opts, headers });
  };
  return token;
}
