import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

/**
 * Rate-limit counters shared by every API process on one metadata database, so N processes do
 * not allow N times a token's rate. Requests never wait for the database: each process counts
 * locally and, every `syncIntervalMs`, adds its new counts to a shared row per key and window
 * and learns the others' in the same statement. Between syncs a process sees its own requests
 * at once and the others' as of the last sync, so all processes together can go over a limit
 * by at most what the others admitted in one interval. When the database cannot be reached,
 * counting goes on locally and the counts are sent later.
 */

interface Window {
  /** Start of the fixed window, ms since the epoch (a multiple of the window's length). */
  start: number;
  length: number;
  /** The shared count as of the last sync, this process's synced requests included. */
  shared: number;
  /** This process's requests not yet added to the shared count. */
  pending: number;
  /** Requests being added by the sync under way (still counted here until it answers). */
  sending: number;
}

export interface CountDelta {
  key: string;
  windowStart: number;
  delta: number;
}

const countOf = (window: Window) => window.shared + window.sending + window.pending;

/** The counting, without I/O: fixed windows per key, local increments, shared totals merged in. */
export class RateWindowCounts {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly options: { maxKeys?: number } = {}) {}

  /** Counts one request; what @fastify/rate-limit needs back: the count so far and ms left in the window. */
  increment(key: string, length: number, now: number): { current: number; ttl: number } {
    const window = this.current(key, length, now, { create: true })!;
    window.pending += 1;
    return { current: countOf(window), ttl: window.start + length - now };
  }

  read(key: string, length: number, now: number): { current: number; ttl: number } {
    const window = this.current(key, length, now, { create: false });
    return window ? { current: countOf(window), ttl: window.start + length - now } : { current: 0, ttl: 0 };
  }

  /**
   * What to send: every live window, with the requests counted since the last sync (0 for a
   * window that only wants the others' counts). Expired windows are dropped here. The pending
   * counts are marked as being sent (still counted); `applyTotals` settles them, `restore` puts
   * them back if sending fails. One sync at a time.
   */
  takeDeltas(now: number): CountDelta[] {
    const deltas: CountDelta[] = [];
    for (const [key, window] of this.windows) {
      if (window.start + window.length <= now) {
        this.windows.delete(key);
        continue;
      }
      deltas.push({ key, windowStart: window.start, delta: window.pending });
      window.sending = window.pending;
      window.pending = 0;
    }
    // One order for every process, so concurrent upserts lock rows in the same order.
    return deltas.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.windowStart - b.windowStart));
  }

  restore(deltas: readonly CountDelta[]): void {
    for (const d of deltas) {
      const window = this.windows.get(d.key);
      if (window && window.start === d.windowStart) {
        window.pending += window.sending;
        window.sending = 0;
      }
    }
  }

  /** Shared totals after a sync (each includes this process's deltas): requests counted meanwhile stay pending. */
  applyTotals(totals: ReadonlyArray<{ key: string; windowStart: number; count: number }>): void {
    for (const t of totals) {
      const window = this.windows.get(t.key);
      if (window && window.start === t.windowStart) {
        window.shared = Math.max(window.shared, t.count);
        window.sending = 0;
      }
    }
  }

  get size(): number {
    return this.windows.size;
  }

  private current(key: string, length: number, now: number, options: { create: boolean }): Window | undefined {
    const start = Math.floor(now / length) * length;
    const existing = this.windows.get(key);
    if (existing && existing.start === start && existing.length === length) return existing;
    if (!options.create) return undefined;
    // Bounded memory under a flood of distinct keys (client addresses): forget the oldest.
    if (!existing && this.windows.size >= (this.options.maxKeys ?? 100_000)) this.windows.delete(this.windows.keys().next().value!);
    const window: Window = { start, length, shared: 0, pending: 0, sending: 0 };
    this.windows.set(key, window);
    return window;
  }
}

/** How a key is stored: hashed (keys name tokens and client addresses). */
export const storedKey = (key: string) => createHash('sha256').update(key).digest('base64url').slice(0, 32);

/** Keeps a RateWindowCounts in step with the `rate_limit_counts` table. */
export class SharedRateLimitCounts {
  readonly counts = new RateWindowCounts();
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  private lastCleanup = 0;
  private failing = false;

  constructor(private readonly options: { db: Knex; syncIntervalMs: number; logger?: Logger; now?: () => number }) {}

  now(): number {
    return (this.options.now ?? Date.now)();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { void this.sync(); }, this.options.syncIntervalMs);
    this.timer.unref();
  }

  /** Stops syncing after sending what is pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sync();
  }

  /** One round trip: add pending counts, read back the shared totals. Never throws. */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => { this.syncing = null; });
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const now = this.now();
    const deltas = this.counts.takeDeltas(now);
    if (!deltas.length) return;
    // Keys name tokens and client addresses: the table holds their hashes only.
    const stored = deltas.map((d) => storedKey(d.key));
    const keyOf = new Map(stored.map((hash, i) => [hash, deltas[i]!.key]));
    try {
      const { rows } = await this.options.db.raw<{ rows: Array<{ key: string; window_start: string; count: number }> }>(`
        insert into rate_limit_counts as c (key, window_start, count)
        select k, w, d from unnest(?::text[], ?::bigint[], ?::integer[]) with ordinality as t(k, w, d, i) order by i
        on conflict (key, window_start) do update set count = c.count + excluded.count
        returning key, window_start, count`,
      [stored, deltas.map((d) => d.windowStart), deltas.map((d) => d.delta)]);
      this.counts.applyTotals(rows.map((r) => ({ key: keyOf.get(r.key) ?? '', windowStart: Number(r.window_start), count: r.count })));
      if (this.failing) this.options.logger?.info('rate-limit counters are shared again');
      this.failing = false;
      // Old windows are of no use to anyone: one process or another clears them about once a minute.
      if (now - this.lastCleanup > 60_000) {
        this.lastCleanup = now;
        await this.options.db('rate_limit_counts').where('window_start', '<', now - 10 * 60_000).delete();
      }
    } catch (error) {
      this.counts.restore(deltas);
      if (!this.failing) this.options.logger?.warn({ err: error }, 'rate-limit counters could not be shared; counting locally until the database answers');
      this.failing = true;
    }
  }

  /** A store class for @fastify/rate-limit (it instantiates stores itself; every route group shares these counts). */
  storeClass(): new (params: unknown) => unknown {
    const shared = this;
    return class SharedRateLimitStore {
      incr(key: string, callback: (error: Error | null, result: { current: number; ttl: number }) => void, timeWindow: number): void {
        callback(null, shared.counts.increment(key, timeWindow, shared.now()));
      }

      read(key: string, callback: (error: Error | null, result: { current: number; ttl: number }) => void, timeWindow: number): void {
        callback(null, shared.counts.read(key, timeWindow, shared.now()));
      }

      child(): SharedRateLimitStore {
        return this;
      }
    };
  }
}
