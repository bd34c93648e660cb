import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { bearer, createToken } from '../support/auth';
import { startTestService, type TestService } from '../support/test-service';

/**
 * Time limits and cancellation over real HTTP (inject does not show it: fastify's request.signal
 * misfires only on a real IncomingMessage with a body, see src/api/request-cancellation.ts).
 */

let service: TestService;
let headers: Record<string, string>;
const apps: FastifyInstance[] = [];

async function listening(handlerTimeoutMs: number): Promise<string> {
  const app = await buildApp({ services: service.runtime, logLevel: 'silent', limits: { requestsPerMinute: 1_000_000, expensivePerMinute: 1_000_000, handlerTimeoutMs } });
  apps.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

beforeAll(async () => {
  service = await startTestService();
  headers = { ...bearer(await createToken(service.runtime.tokens, ['read'], 'http-client')), 'content-type': 'application/json' };
}, 120_000);
afterAll(async () => {
  for (const app of apps) await app.close();
  await service?.close();
});

const preview = { model: 'customers', rule: { '==': [{ var: 'country' }, 'DE'] }, sampleSize: 3 };

/** Queries on the demo customers waiting for a lock (the count and the sample of a preview). */
async function waitingQueries(): Promise<number> {
  const { rows } = await service.runtime.db.raw(`select count(*)::int as n from pg_stat_activity where datname = current_database() and state = 'active' and wait_event_type = 'Lock' and query ilike '%"demo"."customers"%'`);
  return rows[0].n as number;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Holds an exclusive lock on demo.customers while `work` runs, so warehouse queries on it wait. */
async function withCustomersLocked<T>(work: () => Promise<T>): Promise<T> {
  const lock = await service.runtime.db.client.acquireConnection();
  try {
    await service.runtime.db.raw('begin').connection(lock);
    await service.runtime.db.raw('lock table demo.customers in access exclusive mode').connection(lock);
    return await work();
  } finally {
    await service.runtime.db.raw('rollback').connection(lock);
    await service.runtime.db.client.releaseConnection(lock);
  }
}

describe('POST /v1/segments/preview over HTTP', () => {
  it('answers normally: reading the body does not cancel the request', async () => {
    const url = await listening(30_000);
    const res = await fetch(`${url}/v1/segments/preview`, { method: 'POST', headers, body: JSON.stringify(preview) });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ count: expect.any(Number), sample: expect.any(Array) });
  });

  it('answers 503 at the time limit and cancels its queries in the warehouse', async () => {
    const url = await listening(1_000);
    await withCustomersLocked(async () => {
      const res = await fetch(`${url}/v1/segments/preview`, { method: 'POST', headers, body: JSON.stringify(preview) });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(((await res.json()) as { detail: string }).detail).toMatch(/longer than the server's limit/);
      await until(async () => (await waitingQueries()) === 0);
    });
  });

  it('cancels its queries when the client goes away, long before the time limit', async () => {
    const url = await listening(600_000);
    await withCustomersLocked(async () => {
      const client = new AbortController();
      const request = fetch(`${url}/v1/segments/preview`, { method: 'POST', headers, body: JSON.stringify(preview), signal: client.signal }).catch((error: unknown) => error);
      await until(async () => (await waitingQueries()) > 0);
      client.abort();
      expect(await request).toMatchObject({ name: 'AbortError' });
      // With a 10-minute limit, only the client's leaving can have stopped them.
      await until(async () => (await waitingQueries()) === 0);
    });
    // And the server carries on.
    const after = await fetch(`${url}/v1/segments/preview`, { method: 'POST', headers, body: JSON.stringify(preview) });
    expect(after.status).toBe(200);
  });
});
