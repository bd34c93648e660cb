import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokensService } from '../../src/auth/tokens-service';
import { newTokenText } from '../../src/auth/token-text';
import { AUDITED_OPERATIONS } from '../../src/api/audit/audited-operations';
import { bearer, createToken } from '../support/auth';
import { startTestService, type TestService } from '../support/test-service';

let service: TestService;

beforeAll(async () => {
  service = await startTestService({ limits: { requestsPerMinute: 1_000_000, expensivePerMinute: 1_000_000 } });
}, 120_000);
afterAll(async () => { await service?.close(); });

describe('tokens', () => {
  it('are shown once, stored hashed, listed without secrets, and work with their scopes until revoked', async () => {
    const created = await service.app.inject({ method: 'POST', url: '/v1/tokens', payload: { name: 'dashboard', scopes: ['read'] } });
    expect(created.statusCode).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const { token, id, prefix } = created.json() as { token: string; id: string; prefix: string };
    expect(token).toMatch(/^aud_[A-Za-z0-9_-]{32}$/);
    expect(token.startsWith(prefix)).toBe(true);
    const stored = await service.runtime.db('api_tokens').where({ id }).first();
    expect(JSON.stringify(stored)).not.toContain(token.slice(4));

    const list = await service.app.inject({ url: '/v1/tokens' });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(token);
    expect(list.json().data.find((t: { id: string }) => t.id === id)).toMatchObject({ name: 'dashboard', scopes: ['read'], revokedAt: null });

    expect((await service.app.inject({ url: '/v1/segments', headers: bearer(token) })).statusCode).toBe(200);
    expect((await service.app.inject({ method: 'DELETE', url: '/v1/segments/us-high-value', headers: bearer(token) })).statusCode).toBe(403);

    const revoked = await service.app.inject({ method: 'DELETE', url: `/v1/tokens/${id}` });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revokedAt).not.toBeNull();
    // At once, although the token was verified (and cached) a moment ago.
    expect((await service.app.inject({ url: '/v1/segments', headers: bearer(token) })).statusCode).toBe(401);
    expect((await service.app.inject({ url: '/v1/tokens' })).json().data.map((t: { id: string }) => t.id)).not.toContain(id);
    expect((await service.app.inject({ url: '/v1/tokens?includeRevoked=true' })).json().data.map((t: { id: string }) => t.id)).toContain(id);
  });

  it('refuses bad requests with pointers: no scopes, unknown scope, an expiry in the past', async () => {
    const send = (payload: unknown) => service.app.inject({ method: 'POST', url: '/v1/tokens', payload: payload as object });
    const empty = await send({ name: 'x', scopes: [] });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().errors[0].pointer).toBe('/scopes');
    const unknown = await send({ name: 'x', scopes: ['superuser'] });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().errors[0].pointer).toBe('/scopes/0');
    const past = await send({ name: 'x', scopes: ['read'], expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.statusCode).toBe(400);
    expect(past.json().errors[0].pointer).toBe('/expiresAt');
  });

  it('stay cached while made-up tokens come and go, and a revoked one is believed revoked until its entry expires', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const tokens = new TokensService({ db: service.runtime.db, now: () => now, cacheTtlMs: 5_000, cacheMaxEntries: 3 });
    const lookups: string[] = [];
    const count = (query: { sql: string }) => { if (/^select .*\bapi_tokens\b/i.test(query.sql)) lookups.push(query.sql); };
    const { token, id } = await tokens.create({ name: 'kept-in-cache', scopes: ['read'], createdBy: 'test' });
    service.runtime.db.on('query', count);
    try {
      await tokens.authenticate(token);
      expect(lookups).toHaveLength(1);
      expect(tokens.isUnfamiliar(token)).toBe(false);
      // More unknown tokens than the cache holds: the valid one is not pushed out.
      for (let i = 0; i < 7; i++) await expect(tokens.authenticate(newTokenText())).rejects.toMatchObject({ status: 401 });
      expect(lookups).toHaveLength(8);
      await tokens.authenticate(token);
      expect(lookups).toHaveLength(8);
      // A stale valid entry is looked up again (not "unfamiliar": it was valid), and a revocation elsewhere then shows.
      await service.runtime.db('api_tokens').where({ id }).update({ revoked_at: new Date() });
      now += 5_001;
      expect(tokens.isUnfamiliar(token)).toBe(false);
      await expect(tokens.authenticate(token)).rejects.toMatchObject({ status: 401 });
      expect(lookups).toHaveLength(9);
      await expect(tokens.authenticate(token)).rejects.toMatchObject({ status: 401 });
      expect(lookups).toHaveLength(9);
    } finally {
      service.runtime.db.off('query', count);
    }
  });

  it('stop working when they expire, even while verified and cached', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const tokens = new TokensService({ db: service.runtime.db, now: () => now, cacheTtlMs: 600_000 });
    const { token } = await tokens.create({ name: 'short-lived', scopes: ['read'], createdBy: 'test', expiresAt: new Date(now + 60_000) });
    await expect(tokens.authenticate(token)).resolves.toMatchObject({ name: 'short-lived', scopes: ['read'] });
    now += 61_000;
    await expect(tokens.authenticate(token)).rejects.toMatchObject({ status: 401, message: 'The bearer token has expired.' });
  });
});

describe('the audit log', () => {
  it('records every mutation with actor, action, resource, before, after and request id', async () => {
    const writer = await createToken(service.runtime.tokens, ['write', 'run', 'read'], 'ci-writer');
    const writerId = (await service.runtime.tokens.list({ limit: 200 })).data.find((t) => t.name === 'ci-writer')!.id;
    const as = { ...bearer(writer) };
    const rule = { '>': [{ var: 'ltv' }, 100] };
    const create = await service.app.inject({ method: 'POST', url: '/v1/segments', headers: { ...as, 'x-request-id': 'audit-create-1' }, payload: { slug: 'audited', name: 'Audited', model: 'customers', rule } });
    expect(create.statusCode).toBe(201);
    const update = await service.app.inject({ method: 'PATCH', url: '/v1/segments/audited', headers: as, payload: { rule: { '>': [{ var: 'ltv' }, 200] } } });
    expect(update.statusCode).toBe(200);
    const refresh = await service.app.inject({ method: 'POST', url: '/v1/segments/audited/refresh?wait=true', headers: as });
    expect(refresh.statusCode).toBe(200);
    const failed = await service.app.inject({ method: 'PATCH', url: '/v1/segments/audited', headers: as, payload: { rule: { '>': [{ var: 'nope' }, 1] } } });
    expect(failed.statusCode).toBe(400);
    const remove = await service.app.inject({ method: 'DELETE', url: '/v1/segments/audited', headers: as });
    expect(remove.statusCode).toBe(204);

    const page = await service.app.inject({ url: `/v1/audit-events?resource=audited&actorTokenId=${writerId}` });
    expect(page.statusCode).toBe(200);
    const events = (page.json().data as Array<Record<string, any>>).reverse();
    // The failed update changed nothing and left nothing.
    expect(events.map((e) => e.action)).toEqual(['segment.create', 'segment.update', 'segment.refresh', 'segment.delete']);
    const segmentId = create.json().id;
    expect(events[0]).toMatchObject({
      actor: { tokenId: writerId, name: 'ci-writer' }, resource: { type: 'segment', id: segmentId, slug: 'audited' },
      requestId: 'audit-create-1', before: null, after: { slug: 'audited', version: 1, rule },
    });
    expect(events[1]).toMatchObject({ before: { version: 1, rule }, after: { version: 2, rule: { '>': [{ var: 'ltv' }, 200] } }, requestId: update.headers['x-request-id'] });
    expect(events[2]).toMatchObject({ resource: { type: 'refresh_run', id: refresh.json().id, slug: 'audited' }, after: { status: 'running' } });
    expect(events[3]).toMatchObject({ resource: { id: segmentId, slug: 'audited' }, before: { version: 2 }, after: null });
    for (const e of events) expect(Date.parse(e.at)).toBeGreaterThan(Date.now() - 600_000);
  });

  it('filters by action, resource type and time, and pages newest first without gaps or repeats', async () => {
    for (let i = 0; i < 7; i++) {
      const res = await service.app.inject({ method: 'POST', url: '/v1/segments', payload: { slug: `paged-${i}`, name: `Paged ${i}`, model: 'customers', rule: { '==': [{ var: 'country' }, 'US'] } } });
      expect(res.statusCode).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<typeof service.app.inject>> = await service.app.inject({ url: `/v1/audit-events?action=segment.create&resourceType=segment&limit=3${cursor ? `&cursor=${cursor}` : ''}` });
      expect(res.statusCode).toBe(200);
      seen.push(...res.json().data.map((e: { resource: { slug: string } }) => e.resource.slug));
      cursor = res.json().nextCursor;
    } while (cursor);
    expect(seen.filter((s) => s.startsWith('paged-'))).toEqual([6, 5, 4, 3, 2, 1, 0].map((i) => `paged-${i}`));
    expect(new Set(seen).size).toBe(seen.length);
    const future = await service.app.inject({ url: `/v1/audit-events?since=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}` });
    expect(future.json().data).toEqual([]);
    const bad = await service.app.inject({ url: '/v1/audit-events?actorTokenId=not-a-uuid' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].parameter).toBe('actorTokenId');
  });

  it('covers every operation that changes something (the rest are reads by design)', () => {
    const spec = service.app.swagger() as unknown as { paths: Record<string, Record<string, { operationId: string }>> };
    const reads = new Set(['compileSegment', 'previewSegment', 'evaluateSegment', 'planSync', 'testDestination']);
    const mutating = Object.values(spec.paths).flatMap((methods) => Object.entries(methods))
      .filter(([method]) => method !== 'get').map(([, op]) => op.operationId).filter((id) => !reads.has(id));
    expect(mutating.sort()).toEqual(Object.keys(AUDITED_OPERATIONS).sort());
  });
});
