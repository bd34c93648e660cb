import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { RateWindowCounts, storedKey, type SharedRateLimitCounts } from '../../src/api/access/shared-rate-limit';
import { bearer, createToken } from '../support/auth';
import { startTestService, type TestService } from '../support/test-service';

describe('rate window counts (pure)', () => {
  it('count per key in fixed windows, and report the time left in the window', () => {
    const counts = new RateWindowCounts();
    expect(counts.increment('a', 60_000, 120_000 + 1_000)).toEqual({ current: 1, ttl: 59_000 });
    expect(counts.increment('a', 60_000, 120_000 + 2_000)).toEqual({ current: 2, ttl: 58_000 });
    expect(counts.increment('b', 60_000, 120_000 + 2_000)).toEqual({ current: 1, ttl: 58_000 });
    // The next window starts from zero.
    expect(counts.increment('a', 60_000, 180_000)).toEqual({ current: 1, ttl: 60_000 });
    expect(counts.read('a', 60_000, 180_500)).toEqual({ current: 1, ttl: 59_500 });
    expect(counts.read('nobody', 60_000, 180_500)).toEqual({ current: 0, ttl: 0 });
  });

  it('merge shared totals: requests counted during a sync stay pending; a failed sync gives its counts back', () => {
    const counts = new RateWindowCounts();
    for (let i = 0; i < 3; i++) counts.increment('a', 60_000, 1_000);
    const deltas = counts.takeDeltas(1_000);
    expect(deltas).toEqual([{ key: 'a', windowStart: 0, delta: 3 }]);
    // Counts being sent still count here.
    expect(counts.read('a', 60_000, 1_050).current).toBe(3);
    counts.increment('a', 60_000, 1_100); // while the sync is out
    // Another process had counted 4: the shared total is 7.
    counts.applyTotals([{ key: 'a', windowStart: 0, count: 7 }]);
    expect(counts.read('a', 60_000, 1_200).current).toBe(8);
    const failed = counts.takeDeltas(1_300);
    expect(failed).toEqual([{ key: 'a', windowStart: 0, delta: 1 }]);
    counts.increment('a', 60_000, 1_350);
    counts.restore(failed);
    expect(counts.read('a', 60_000, 1_360).current).toBe(9);
    expect(counts.takeDeltas(1_400)).toEqual([{ key: 'a', windowStart: 0, delta: 2 }]);
    counts.applyTotals([{ key: 'a', windowStart: 0, count: 9 }]);
    // Totals from a window that has ended change nothing; expired windows are dropped.
    counts.applyTotals([{ key: 'a', windowStart: -60_000, count: 100 }]);
    expect(counts.read('a', 60_000, 1_500).current).toBe(9);
    expect(counts.takeDeltas(60_000)).toEqual([]);
    expect(counts.size).toBe(0);
  });

  it('forget the oldest key beyond the bound (a flood of client addresses cannot grow memory without end)', () => {
    const counts = new RateWindowCounts({ maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd']) counts.increment(key, 60_000, 1_000);
    expect(counts.size).toBe(3);
    expect(counts.read('a', 60_000, 1_000).current).toBe(0);
    expect(counts.read('d', 60_000, 1_000).current).toBe(1);
  });
});

describe('two API processes on one database', () => {
  let service: TestService;
  let second: FastifyInstance;
  const limits = { requestsPerMinute: 5, expensivePerMinute: 5, rateLimitSyncMs: 20 };

  beforeAll(async () => {
    service = await startTestService({ limits });
    second = await buildApp({ services: service.runtime, logLevel: 'silent', limits });
    await second.ready();
  }, 120_000);
  afterAll(async () => {
    await second?.close();
    await service?.close();
  });

  /** Fixed one-minute windows: start a test early enough in one that it cannot roll over. */
  async function freshWindow(): Promise<void> {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 10_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
  }

  /** The shared count of a token's requests in the current window. */
  async function sharedCount(tokenName: string): Promise<number> {
    const token = (await service.runtime.tokens.list({ limit: 200 })).data.find((t) => t.name === tokenName)!;
    const [row] = (await service.runtime.db.raw('select coalesce(sum(count), 0)::int as n from rate_limit_counts where key = ? and window_start = ?', [
      storedKey(`token:${token.id}`), Math.floor(Date.now() / 60_000) * 60_000,
    ])).rows;
    return row.n as number;
  }

  async function until(check: () => Promise<boolean>): Promise<void> {
    while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  it('share one budget per token: what one process admitted counts in the other', async () => {
    await freshWindow();
    await service.runtime.db('rate_limit_counts').delete();
    const headers = bearer(await createToken(service.runtime.tokens, ['read'], 'shared-budget'));
    const get = (app: FastifyInstance) => app.inject({ url: '/v1/models', headers });
    for (let i = 0; i < 3; i++) expect((await get(service.app)).statusCode).toBe(200);
    await until(async () => (await sharedCount('shared-budget')) === 3);
    // The second process has seen none of them itself, yet only two more fit.
    const answers = [];
    for (let i = 0; i < 2; i++) answers.push((await get(second)).statusCode);
    await until(async () => (await sharedCount('shared-budget')) === 5);
    // The total is in the table before the second process has read it back from its upsert:
    // a sync that starts now (after the one in flight, if any) surely answers with it.
    const secondCounts = (second as unknown as { rateLimitCounts: SharedRateLimitCounts }).rateLimitCounts;
    await secondCounts.sync();
    await secondCounts.sync();
    answers.push((await get(second)).statusCode);
    expect(answers).toEqual([200, 200, 429]);
    // The first process learns of them at its next sync.
    let refused = await get(service.app);
    let overshoot = 0;
    for (; refused.statusCode !== 429; overshoot++) refused = await get(service.app);
    // It knew of its own three: at most two more before it heard of the others'.
    expect(overshoot).toBeLessThanOrEqual(2);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['x-ratelimit-limit']).toBe('5');
    // Keys are stored hashed: no token id in the table.
    const keys = (await service.runtime.db('rate_limit_counts').pluck('key')) as string[];
    expect(keys.join(' ')).not.toMatch(/token:|address:|[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('count locally while the database cannot take the counts, and send them once it can', async () => {
    await freshWindow();
    await service.runtime.db('rate_limit_counts').delete();
    const headers = bearer(await createToken(service.runtime.tokens, ['read'], 'offline-budget'));
    await service.runtime.db.raw('alter table rate_limit_counts rename to rate_limit_counts_away');
    try {
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push((await service.app.inject({ url: '/v1/models', headers })).statusCode);
      // Requests are never held up by the database, and this process still enforces its own count.
      expect(answers).toEqual([200, 200, 200, 200, 200, 429]);
      await new Promise((resolve) => setTimeout(resolve, 100)); // a few failed syncs
    } finally {
      await service.runtime.db.raw('alter table rate_limit_counts_away rename to rate_limit_counts');
    }
    // All six arrive once the table is back, and the other process then refuses the token too.
    await until(async () => (await sharedCount('offline-budget')) === 6);
    await until(async () => (await second.inject({ url: '/v1/models', headers })).statusCode === 429);
  });
});
