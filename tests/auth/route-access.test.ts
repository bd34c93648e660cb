import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_SCOPES, SCOPES, type Scope } from '../../src/auth/scopes';
import { bearer, createToken } from '../support/auth';
import { startTestService, type TestService } from '../support/test-service';

/**
 * Every /v1 operation in the spec the service serves refuses a missing, a malformed, an unknown,
 * a revoked and an under-scoped token, and lets the right scope through — enumerated from the
 * spec, so a new route is covered the day it is added.
 */

interface Operation { method: string; path: string; operationId: string; scope: Scope; security: unknown }

let service: TestService;
let operations: Operation[];
const tokens: Partial<Record<string, string>> = {};
let revoked: string;

const ANY_UUID = '00000000-0000-4000-8000-000000000000';
const urlOf = (path: string) => path.replace(/\{(\w+)\}/g, (_m, name: string) => (['token', 'run', 'lookalike'].includes(name) ? ANY_UUID : 'nope'));

beforeAll(async () => {
  service = await startTestService({ limits: { requestsPerMinute: 1_000_000, expensivePerMinute: 1_000_000 } });
  const spec = service.app.swagger() as unknown as { paths: Record<string, Record<string, { operationId: string; security?: Array<Record<string, string[]>> }>> };
  operations = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [method, op] of Object.entries(methods)) {
      operations.push({ method: method.toUpperCase(), path, operationId: op.operationId, scope: op.security?.[0]?.bearerAuth?.[0] as Scope, security: op.security });
    }
  }
  for (const scope of SCOPES) tokens[scope] = await createToken(service.runtime.tokens, [scope]);
  // Everything but admin: still not enough for admin operations.
  tokens.allButAdmin = await createToken(service.runtime.tokens, ['read', 'write', 'run']);
  revoked = await createToken(service.runtime.tokens, ['admin'], 'to-revoke');
  const { data } = await service.runtime.tokens.list({ limit: 200 });
  await service.runtime.tokens.revoke(data.find((t) => t.name === 'to-revoke')!.id);
}, 120_000);
afterAll(async () => { await service?.close(); });

const call = (op: Operation, headers: Record<string, string>) => service.app.inject({
  method: op.method as 'GET', url: urlOf(op.path),
  headers: { ...headers, ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { 'content-type': 'application/json' }) },
  ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { payload: '{}' }),
});

describe('the spec', () => {
  it('lists every /v1 operation with exactly the scope the server enforces', () => {
    expect(operations.length).toBeGreaterThanOrEqual(49);
    expect(Object.fromEntries(operations.map((op) => [op.operationId, op.scope]))).toEqual(OPERATION_SCOPES);
    for (const op of operations) expect(op.security, op.operationId).toEqual([{ bearerAuth: [op.scope] }]);
  });

  it('keeps operations outside /v1 public only on purpose', () => {
    const spec = service.app.swagger() as unknown as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    for (const [path, methods] of Object.entries(spec.paths)) {
      if (path.startsWith('/v1/')) continue;
      for (const op of Object.values(methods)) expect(op.security, path).toEqual([]);
    }
  });
});

describe('every /v1 operation', () => {
  it('refuses a request without a token: 401 problem with WWW-Authenticate', async () => {
    for (const op of operations) {
      const res = await call(op, { authorization: '' });
      expect(res.statusCode, `${op.method} ${op.path}`).toBe(401);
      expect(res.headers['content-type'], op.operationId).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate'], op.operationId).toBe('Bearer realm="audiences"');
      expect(res.json().requestId, op.operationId).toBe(res.headers['x-request-id']);
      // Fastify answers HEAD for every GET with the same handler: it needs the token too.
      if (op.method === 'GET') {
        const head = await call({ ...op, method: 'HEAD' }, { authorization: '' });
        expect(head.statusCode, `HEAD ${op.path}`).toBe(401);
        const allowed = await call({ ...op, method: 'HEAD' }, bearer(tokens[op.scope]!));
        expect([401, 403], `HEAD ${op.path} with the scope`).not.toContain(allowed.statusCode);
      }
    }
  });

  it('refuses malformed, unknown and revoked tokens with 401 and never echoes them', async () => {
    const attempts = { malformed: 'Basic dXNlcjpwYXNz', unknown: 'Bearer aud_notARealTokenButTheRightShape000000', revoked: `Bearer ${revoked}` };
    for (const op of operations) {
      for (const [what, authorization] of Object.entries(attempts)) {
        const res = await call(op, { authorization });
        expect(res.statusCode, `${what} token on ${op.method} ${op.path}`).toBe(401);
        expect(res.headers['www-authenticate'], op.operationId).toBe('Bearer realm="audiences", error="invalid_token"');
        expect(res.body).not.toContain(authorization.split(' ')[1]);
      }
    }
  });

  it('refuses a token without the needed scope with 403 naming the scope', async () => {
    for (const op of operations) {
      const others = op.scope === 'admin' ? ['allButAdmin', 'read'] : SCOPES.filter((s) => s !== op.scope && s !== 'admin');
      for (const holder of others) {
        const res = await call(op, bearer(tokens[holder]!));
        expect(res.statusCode, `${holder} token on ${op.method} ${op.path} (needs ${op.scope})`).toBe(403);
        expect(res.headers['www-authenticate'], op.operationId).toBe(`Bearer realm="audiences", error="insufficient_scope", scope="${op.scope}"`);
        expect(res.json().detail, op.operationId).toContain(`"${op.scope}"`);
      }
    }
  });

  it('lets a token with the scope (and an admin token) through to the operation itself', async () => {
    for (const op of operations) {
      for (const holder of [op.scope, 'admin'] as const) {
        const res = await call(op, bearer(tokens[holder]!));
        // Past auth: whatever the operation says about this (made-up) input, it is not an auth answer.
        expect([401, 403], `${holder} token on ${op.method} ${op.path}: ${res.body}`).not.toContain(res.statusCode);
        expect(res.statusCode, `${op.method} ${op.path}: ${res.body}`).toBeLessThan(500);
      }
    }
  });
});

describe('identifiers in clear', () => {
  it('are offered by exactly the operations that check for admin', () => {
    const spec = service.app.swagger() as unknown as { paths: Record<string, Record<string, { operationId: string; parameters?: Array<{ name: string }>; requestBody?: unknown }>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
    const revealingSchemas = Object.entries(spec.components.schemas).filter(([, schema]) => schema.properties && 'reveal' in schema.properties).map(([name]) => `#/components/schemas/${name}"`);
    const revealing = Object.values(spec.paths).flatMap((methods) => Object.values(methods))
      .filter((op) => op.parameters?.some((p) => p.name === 'reveal') || revealingSchemas.some((ref) => JSON.stringify(op.requestBody ?? {}).includes(ref)))
      .map((op) => op.operationId).sort();
    expect(revealing).toEqual(['listSegmentMembers', 'previewSegment']);
  });

  it('need admin: reveal=true is 403 for a read token, masked reads still work', async () => {
    await service.app.inject({ method: 'POST', url: '/v1/segments/us-high-value/refresh?wait=true' });
    const masked = await service.app.inject({ url: '/v1/segments/us-high-value/members?limit=5', headers: bearer(tokens.read!) });
    expect(masked.statusCode).toBe(200);
    expect(masked.json().data.length).toBeGreaterThan(0);
    const members = await service.app.inject({ url: '/v1/segments/us-high-value/members?reveal=true', headers: bearer(tokens.read!) });
    expect(members.statusCode).toBe(403);
    const preview = await service.app.inject({
      method: 'POST', url: '/v1/segments/preview', headers: bearer(tokens.read!),
      payload: { model: 'customers', rule: { '==': [{ var: 'country' }, 'US'] }, reveal: true },
    });
    expect(preview.statusCode).toBe(403);
    const asAdmin = await service.app.inject({ url: '/v1/segments/us-high-value/members?reveal=true&limit=5', headers: bearer(tokens.admin!) });
    expect(asAdmin.statusCode).toBe(200);
    expect(JSON.stringify(asAdmin.json().data)).toMatch(/@/);
  });
});
