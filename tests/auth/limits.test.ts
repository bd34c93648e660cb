import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createToken } from '../support/auth';
import { newTokenText } from '../../src/auth/token-text';
import { startTestService, type TestService } from '../support/test-service';

let service: TestService;

beforeAll(async () => {
  service = await startTestService({ limits: { requestsPerMinute: 5, expensivePerMinute: 2, handlerTimeoutMs: 1_000 } });
}, 120_000);
afterAll(async () => { await service?.close(); });

describe('rate limits', () => {
  it('give each token its own budget: 429 problem with Retry-After once it is spent', async () => {
    const first = await createToken(service.runtime.tokens, ['read'], 'first');
    const second = await createToken(service.runtime.tokens, ['read'], 'second');
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 6; i++) {
      last = await service.app.inject({ url: '/v1/models', headers: bearer(first) });
      statuses.push(last.statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(last!.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(last!.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(last!.json()).toMatchObject({ status: 429, title: 'Too many requests' });
    // Another token is not affected.
    expect((await service.app.inject({ url: '/v1/models', headers: bearer(second) })).statusCode).toBe(200);
  });

  it('warehouse operations have their own, smaller budget', async () => {
    const token = await createToken(service.runtime.tokens, ['read'], 'previewer');
    const preview = () => service.app.inject({ method: 'POST', url: '/v1/segments/preview', headers: bearer(token), payload: { model: 'customers', rule: { '==': [{ var: 'country' }, 'US'] } } });
    expect([(await preview()).statusCode, (await preview()).statusCode, (await preview()).statusCode]).toEqual([200, 200, 429]);
    // Cheap reads still have budget.
    expect((await service.app.inject({ url: '/v1/models', headers: bearer(token) })).statusCode).toBe(200);
  });

  it('count requests without a valid token against the client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await service.app.inject({ url: '/v1/segments', headers: { authorization: '' }, remoteAddress: '10.9.8.7' })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('stop made-up tokens from costing a database lookup each: an address gets its budget of failed lookups, then 429 without one', async () => {
    const lookups: string[] = [];
    const count = (query: { sql: string }) => { if (/\bapi_tokens\b/.test(query.sql) && /^select/i.test(query.sql)) lookups.push(query.sql); };
    const known = await createToken(service.runtime.tokens, ['read'], 'known-at-flooded-address');
    const from = (address: string, token: string) => service.app.inject({ url: '/v1/segments', headers: bearer(token), remoteAddress: address });
    expect((await from('10.6.6.1', known)).statusCode).toBe(200);
    service.runtime.db.on('query', count);
    try {
      const statuses: number[] = [];
      let refused;
      for (let i = 0; i < 8; i++) {
        refused = await from('10.6.6.6', newTokenText());
        statuses.push(refused.statusCode);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      expect(lookups).toHaveLength(5);
      expect(refused!.json()).toMatchObject({ status: 429, detail: expect.stringMatching(/unknown tokens from this address/) });
      expect(Number(refused!.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(refused!.headers['retry-after'])).toBeLessThanOrEqual(60);
      // A token this process knows still works from that address, without a lookup; other addresses are not affected.
      expect((await from('10.6.6.6', known)).statusCode).toBe(200);
      expect(lookups).toHaveLength(5);
      expect((await from('10.6.6.7', newTokenText())).statusCode).toBe(401);
      expect(lookups).toHaveLength(6);
    } finally {
      service.runtime.db.off('query', count);
    }
  });

  it('do not apply to health and docs', async () => {
    for (let i = 0; i < 8; i++) expect((await service.app.inject({ url: '/docs/json' })).statusCode).toBe(200);
  });
});

describe('time limits', () => {
  it('answer 503 with Retry-After when the warehouse does not answer in time, cancel the query there, and the server carries on', async () => {
    const token = await createToken(service.runtime.tokens, ['read'], 'patient');
    // Lock the customers table so the count cannot finish until the lock is released.
    const lock = await service.runtime.db.client.acquireConnection();
    try {
      await service.runtime.db.raw('begin').connection(lock);
      await service.runtime.db.raw('lock table demo.customers in access exclusive mode').connection(lock);
      const slow = await service.app.inject({ url: '/v1/segments/us-high-value/count', headers: bearer(token) });
      expect(slow.statusCode).toBe(503);
      expect(slow.headers['retry-after']).toBe('5');
      expect(slow.json()).toMatchObject({ status: 503, title: 'Service unavailable' });
      expect(slow.json().detail).toMatch(/longer than the server's limit/);
      // The count itself is cancelled in the warehouse: nothing is left waiting for the lock.
      const waiting = async () => Number((await service.runtime.db.raw(
        `select count(*) as n from pg_stat_activity where datname = current_database() and state = 'active' and wait_event_type = 'Lock' and query ilike '%"demo"."customers"%'`,
      )).rows[0].n);
      let left = await waiting();
      for (let i = 0; i < 200 && left > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        left = await waiting();
      }
      expect(left).toBe(0);
    } finally {
      await service.runtime.db.raw('rollback').connection(lock);
      await service.runtime.db.client.releaseConnection(lock);
    }
    expect((await service.app.inject({ url: '/v1/models', headers: bearer(await createToken(service.runtime.tokens, ['read'], 'after')) })).statusCode).toBe(200);
  });
});

describe('size limits', () => {
  it('refuse bodies over the limit (413), rules nested too deep (400 with a pointer), pages over 200 (400)', async () => {
    const big = await service.app.inject({ method: 'POST', url: '/v1/segments/preview', payload: JSON.stringify({ model: 'customers', rule: { in: ['x', Array.from({ length: 300_000 }, (_, i) => `v${i}`)] } }), headers: { 'content-type': 'application/json', ...bearer(service.adminToken) } });
    expect(big.statusCode).toBe(413);
    let rule: unknown = { '==': [{ var: 'country' }, 'US'] };
    for (let i = 0; i < 40; i++) rule = { '!': [rule] };
    const deep = await service.app.inject({ method: 'POST', url: '/v1/segments', headers: bearer(await createToken(service.runtime.tokens, ['write'], 'deep')), payload: { slug: 'deep', name: 'Deep', model: 'customers', rule } });
    expect(deep.statusCode).toBe(400);
    expect(deep.json().errors[0].message).toMatch(/nested deeper than 32/);
    expect(deep.json().errors[0].pointer).toMatch(/^\/rule(\/!\/0)+$/);
    const page = await service.app.inject({ url: '/v1/audit-events?limit=201', headers: bearer(await createToken(service.runtime.tokens, ['admin'], 'pager')) });
    expect(page.statusCode).toBe(400);
    expect(page.json().errors[0].parameter).toBe('limit');
  });
});
