import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import type { RefreshRun } from '../../src/audiences/refresh-service';
import { loadConfig } from '../../src/config';
import type { ModelDefinition } from '../../src/models/model-schema';
import { openRuntime, type Runtime } from '../../src/runtime';
import { createTestDatabase } from './test-database';
import { REPO_ROOT } from './test-service';

/**
 * A small shop (customers with NULL-able attributes, orders) in a Postgres or DuckDB warehouse,
 * a model and segments over it, seeded random data changes, and an auditor that checks the
 * refresh invariants (design.md §5) by reading the warehouse directly after every refresh.
 */

export type WarehouseKind = 'postgres' | 'duckdb';
export const SHOP = 'shop';
export const DAY = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Seeded PRNG

export class Rng {
  private state: number;
  constructor(readonly seed: number) { this.state = seed >>> 0; }
  /** mulberry32 */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number { return min + Math.floor(this.next() * (max - min + 1)); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(items: readonly T[]): T { return items[Math.floor(this.next() * items.length)]!; }
  /** k distinct items (all when k ≥ length). */
  sample<T>(items: readonly T[], k: number): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, Math.max(0, k));
  }
}

/** The seed of a test: REFRESH_SEED from the environment, else a fresh one (printed on failure by the caller). */
export function seedFromEnv(): number {
  const raw = process.env.REFRESH_SEED;
  if (raw !== undefined && raw !== '') {
    const value = Number(raw);
    if (!Number.isInteger(value)) throw new Error(`REFRESH_SEED must be an integer, got "${raw}"`);
    return value;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

// ---------------------------------------------------------------------------------------------
// Runtimes over a warehouse of their own

export interface RefreshFixture {
  kind: WarehouseKind;
  runtime: Runtime;
  databaseUrl: string;
  warehouseUrl: string;
  stateSchema: string;
  /** The environment a process opening the same service would have. */
  env: Record<string, string>;
  /** Another runtime (own pools) on the same metadata database and warehouse, as a second process would open. */
  openRuntime(env?: Record<string, string>): Promise<Runtime>;
  close(): Promise<void>;
}

export async function openRefreshFixture(kind: WarehouseKind, options: { stateSchema?: string } = {}): Promise<RefreshFixture> {
  const database = await createTestDatabase();
  let dir: string | null = null;
  let warehouseUrl: string;
  if (kind === 'postgres') {
    const url = new URL(database.url);
    url.searchParams.set('schema', SHOP);
    warehouseUrl = url.toString();
  } else {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-refresh-duck-'));
    warehouseUrl = `duckdb://${path.join(dir, 'warehouse.duckdb')}?schema=${SHOP}`;
  }
  const stateSchema = options.stateSchema ?? 'aud_state';
  const env = { DATABASE_URL: database.url, WAREHOUSE_URL: warehouseUrl, STATE_SCHEMA: stateSchema, DEMO: 'false', LOG_LEVEL: 'silent' };
  const open = (overrides: Record<string, string> = {}) => openRuntime(loadConfig({ ...env, ...overrides }, REPO_ROOT), { log: () => {} });
  const runtime = await open();
  const others: Runtime[] = [];
  return {
    kind, runtime, databaseUrl: database.url, warehouseUrl, stateSchema, env,
    openRuntime: async (overrides) => {
      const other = await open(overrides);
      others.push(other);
      return other;
    },
    close: async () => {
      for (const other of others) await other.close().catch(() => {});
      await runtime.close().catch(() => {});
      await database.drop();
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The shop: schema, model, segments, data

export interface Customer { id: number; email: string | null; country: string | null; plan: string | null; ltv: number | null; last_seen: number | null }
export interface Order { id: number; customer_id: number; status: string | null; total: number | null; ordered_at: number | null }

const types = (kind: WarehouseKind) => ({ id: 'BIGINT', text: 'VARCHAR', float: kind === 'postgres' ? 'DOUBLE PRECISION' : 'DOUBLE', time: 'TIMESTAMPTZ' });

export const shopModel: ModelDefinition = {
  slug: 'shoppers',
  name: 'Shoppers',
  schema: SHOP,
  table: 'customers',
  primaryKey: 'id',
  attributes: [
    { name: 'id', type: 'integer' },
    { name: 'email', type: 'string' },
    { name: 'country', type: 'string' },
    { name: 'plan', type: 'string' },
    { name: 'ltv', type: 'number' },
    { name: 'last_seen', type: 'timestamp' },
  ],
  identifiers: { email: 'email', external_id: 'id' },
  relationships: [{
    name: 'orders', table: 'orders', foreignKey: 'customer_id', timeColumn: 'ordered_at',
    attributes: [{ name: 'status', type: 'string' }, { name: 'total', type: 'number' }, { name: 'ordered_at', type: 'timestamp' }],
  }],
};

export interface SegmentSpec {
  slug: string;
  rule: unknown;
  /** An independent oracle: whether a customer is a member at `asOf`, given its orders. */
  member(c: Customer, orders: Order[], asOf: number): boolean;
}

/** Plain filters, `!=` with NULLs, a relationship count plus quantifier, and time windows. */
export const shopSegments: SegmentSpec[] = [
  {
    slug: 'us-high-ltv',
    rule: { and: [{ '==': [{ var: 'country' }, 'US'] }, { '>': [{ var: 'ltv' }, 500] }] },
    member: (c) => c.country === 'US' && c.ltv !== null && c.ltv > 500,
  },
  {
    slug: 'not-pro',
    // JsonLogic: null != "pro" is true, so customers without a plan are members.
    rule: { '!=': [{ var: 'plan' }, 'pro'] },
    member: (c) => c.plan !== 'pro',
  },
  {
    slug: 'repeat-buyers',
    rule: { and: [
      { '>=': [{ count: [{ var: 'orders' }, { '==': [{ var: 'status' }, 'completed'] }] }, 2] },
      { none: [{ var: 'orders' }, { '==': [{ var: 'status' }, 'refunded'] }] },
    ] },
    member: (_c, orders) => orders.filter((o) => o.status === 'completed').length >= 2 && !orders.some((o) => o.status === 'refunded'),
  },
  {
    slug: 'recently-active',
    rule: { or: [
      { within_last: [{ var: 'last_seen' }, 7, 'days'] },
      { '>=': [{ count: [{ var: 'orders' }, true, [3, 'days']] }, 1] },
    ] },
    member: (c, orders, asOf) => {
      const within = (t: number | null, days: number) => t !== null && asOf - days * DAY <= t && t < asOf;
      return within(c.last_seen, 7) || orders.some((o) => within(o.ordered_at, 3));
    },
  },
];

const COUNTRIES = ['US', 'US', 'US', 'DE', 'FR', null] as const;
const PLANS = ['free', 'pro', 'pro', 'enterprise', null] as const;
const STATUSES = ['completed', 'completed', 'completed', 'refunded', 'cancelled', null] as const;

const sqlList = (values: number[]) => values.map((v) => String(Math.trunc(v))).join(', ');

/** The shop's tables in the warehouse, with random writes and direct reads. */
export class Shop {
  private nextCustomerId = 1;
  private nextOrderId = 1;
  private readonly t;

  constructor(readonly runtime: Runtime, readonly kind: WarehouseKind, readonly rng: Rng) {
    this.t = types(kind);
  }

  get warehouse() { return this.runtime.warehouse; }

  async create(customers: number, asOf: number): Promise<void> {
    const { id, text, float, time } = this.t;
    await this.warehouse.query(`CREATE SCHEMA IF NOT EXISTS ${SHOP}`);
    await this.warehouse.query(`CREATE TABLE ${SHOP}.customers (id ${id} PRIMARY KEY, email ${text}, country ${text}, plan ${text}, ltv ${float}, last_seen ${time})`);
    await this.warehouse.query(`CREATE TABLE ${SHOP}.orders (id ${id} PRIMARY KEY, customer_id ${id} NOT NULL, status ${text}, total ${float}, ordered_at ${time})`);
    await this.insertCustomers(customers, asOf);
  }

  randomCustomer(id: number, asOf: number): Customer {
    const r = this.rng;
    return {
      id,
      email: r.chance(0.1) ? null : `c${id}.${r.int(0, 99)}@example.com`,
      country: r.pick(COUNTRIES),
      plan: r.pick(PLANS),
      ltv: r.chance(0.1) ? null : Math.round(r.next() * 100_000) / 100,
      last_seen: this.randomTime(asOf, 14),
    };
  }

  /** Mostly within the last `days` days (whole random milliseconds), sometimes NULL or slightly in the future. */
  randomTime(asOf: number, days: number): number | null {
    const r = this.rng;
    if (r.chance(0.1)) return null;
    if (r.chance(0.03)) return asOf + r.int(1, DAY);
    return asOf - r.int(1, days * DAY);
  }

  private values(rows: unknown[][], columnTypes: string[]): { sql: string; params: unknown[] } {
    const params: unknown[] = [];
    const tuples = rows.map((row) => `(${row.map((value, i) => {
      params.push(value);
      return `CAST($${params.length} AS ${columnTypes[i]})`;
    }).join(', ')})`);
    return { sql: tuples.join(', '), params };
  }

  private iso(t: number | null): string | null { return t === null ? null : new Date(t).toISOString(); }

  async insertCustomers(n: number, asOf: number): Promise<number[]> {
    if (n <= 0) return [];
    const rows = Array.from({ length: n }, () => this.randomCustomer(this.nextCustomerId++, asOf));
    const { id, text, float, time } = this.t;
    const v = this.values(rows.map((c) => [c.id, c.email, c.country, c.plan, c.ltv, this.iso(c.last_seen)]), [id, text, text, text, float, time]);
    await this.warehouse.query(`INSERT INTO ${SHOP}.customers (id, email, country, plan, ltv, last_seen) VALUES ${v.sql}`, v.params);
    // Some orders for some of them.
    await this.insertOrders(rows.flatMap((c) => Array.from({ length: this.rng.pick([0, 0, 1, 2, 3]) }, () => c.id)), asOf);
    return rows.map((c) => c.id);
  }

  async insertOrders(customerIds: number[], asOf: number): Promise<void> {
    if (customerIds.length === 0) return;
    const rows = customerIds.map((customerId) => [this.nextOrderId++, customerId, this.rng.pick(STATUSES), Math.round(this.rng.next() * 50_000) / 100, this.iso(this.randomTime(asOf, 10))]);
    const { id, text, float, time } = this.t;
    const v = this.values(rows, [id, id, text, float, time]);
    await this.warehouse.query(`INSERT INTO ${SHOP}.orders (id, customer_id, status, total, ordered_at) VALUES ${v.sql}`, v.params);
  }

  async updateCustomer(c: Customer): Promise<void> {
    const { text, float, time } = this.t;
    await this.warehouse.query(
      `UPDATE ${SHOP}.customers SET email = CAST($2 AS ${text}), country = CAST($3 AS ${text}), plan = CAST($4 AS ${text}), ltv = CAST($5 AS ${float}), last_seen = CAST($6 AS ${time}) WHERE id = CAST($1 AS BIGINT)`,
      [c.id, c.email, c.country, c.plan, c.ltv, this.iso(c.last_seen)],
    );
  }

  /** Random updates (moving rows in and out), inserts, deletes, related inserts and deletes. */
  async randomChanges(asOf: number): Promise<string> {
    const r = this.rng;
    const { customers, orders } = await this.read();
    const notes: string[] = [];
    const updated = r.sample(customers, r.int(5, 40));
    for (const c of updated) {
      const fresh = this.randomCustomer(c.id, asOf);
      // Change a random subset of the attributes.
      const next: Customer = {
        id: c.id,
        email: r.chance(0.2) ? fresh.email : c.email,
        country: r.chance(0.5) ? fresh.country : c.country,
        plan: r.chance(0.5) ? fresh.plan : c.plan,
        ltv: r.chance(0.5) ? fresh.ltv : c.ltv,
        last_seen: r.chance(0.5) ? fresh.last_seen : c.last_seen,
      };
      await this.updateCustomer(next);
    }
    notes.push(`updated ${updated.length}`);
    const inserted = await this.insertCustomers(r.int(0, 15), asOf);
    notes.push(`inserted ${inserted.length}`);
    const deleted = r.sample(customers.filter((c) => !updated.includes(c)), r.int(0, 10)).map((c) => c.id);
    if (deleted.length) {
      await this.warehouse.query(`DELETE FROM ${SHOP}.customers WHERE id IN (${sqlList(deleted)})`);
      // Their orders go too, most of the time (orphans must not matter).
      if (r.chance(0.7)) await this.warehouse.query(`DELETE FROM ${SHOP}.orders WHERE customer_id IN (${sqlList(deleted)})`);
    }
    notes.push(`deleted ${deleted.length}`);
    const live = customers.filter((c) => !deleted.includes(c.id)).map((c) => c.id);
    const newOrders = Array.from({ length: r.int(0, 40) }, () => r.pick(live));
    await this.insertOrders(newOrders, asOf);
    const goneOrders = r.sample(orders, r.int(0, 25)).map((o) => o.id);
    if (goneOrders.length) await this.warehouse.query(`DELETE FROM ${SHOP}.orders WHERE id IN (${sqlList(goneOrders)})`);
    notes.push(`orders +${newOrders.length} -${goneOrders.length}`);
    return notes.join(', ');
  }

  /** Empties every segment of `shopSegments` (the caller also moves the as-of time past every window). */
  async emptyEverySegment(): Promise<void> {
    await this.warehouse.query(`UPDATE ${SHOP}.customers SET country = 'DE' WHERE country = 'US'`);
    await this.warehouse.query(`UPDATE ${SHOP}.customers SET plan = 'pro'`);
    await this.warehouse.query(`DELETE FROM ${SHOP}.orders WHERE status = 'completed'`);
  }

  /** Randomizes every customer again (after `emptyEverySegment`) and adds orders. */
  async repopulate(asOf: number): Promise<void> {
    const { customers } = await this.read();
    for (const c of customers) await this.updateCustomer(this.randomCustomer(c.id, asOf));
    await this.insertOrders(customers.flatMap((c) => Array.from({ length: this.rng.pick([0, 1, 2, 3]) }, () => c.id)), asOf);
  }

  /** The shop as the warehouse holds it right now. */
  async read(): Promise<{ customers: Customer[]; orders: Order[] }> {
    const time = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string | Date).getTime());
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    const customers = (await this.warehouse.query(`SELECT id, email, country, plan, ltv, last_seen FROM ${SHOP}.customers ORDER BY id`)).map((r) => ({
      id: Number(r.id), email: r.email as string | null, country: r.country as string | null, plan: r.plan as string | null, ltv: num(r.ltv), last_seen: time(r.last_seen),
    }));
    const orders = (await this.warehouse.query(`SELECT id, customer_id, status, total, ordered_at FROM ${SHOP}.orders ORDER BY id`)).map((r) => ({
      id: Number(r.id), customer_id: Number(r.customer_id), status: r.status as string | null, total: num(r.total), ordered_at: time(r.ordered_at),
    }));
    return { customers, orders };
  }

  /** Member keys of a segment according to its oracle, over the data right now. */
  async expectedMembers(spec: SegmentSpec, asOf: number): Promise<Set<string>> {
    const { customers, orders } = await this.read();
    const byCustomer = new Map<number, Order[]>();
    for (const o of orders) byCustomer.set(o.customer_id, [...(byCustomer.get(o.customer_id) ?? []), o]);
    return new Set(customers.filter((c) => spec.member(c, byCustomer.get(c.id) ?? [], asOf)).map((c) => String(c.id)));
  }
}

/** Creates the model and the segments through the services; returns segment ids by slug. */
export async function createShopSegments(runtime: Runtime, specs: SegmentSpec[] = shopSegments): Promise<Map<string, string>> {
  await runtime.models.create(shopModel);
  const ids = new Map<string, string>();
  for (const spec of specs) {
    const segment = await runtime.segments.create({ slug: spec.slug, name: spec.slug, model: shopModel.slug, rule: spec.rule });
    ids.set(spec.slug, segment.id);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Invariants

export const sorted = (values: Iterable<string>) => [...values].sort();
const setOf = (values: Iterable<string>) => new Set(values);
const minus = (a: Set<string>, b: Set<string>) => new Set([...a].filter((x) => !b.has(x)));
const intersect = (a: Set<string>, b: Set<string>) => new Set([...a].filter((x) => b.has(x)));

interface MetaRun { id: string; segment_id: string; status: string; started_at: Date; finished_at: Date | null; size: number | null; entered: number | null; exited: number | null; snapshot_table: string | null; error: string | null }

/**
 * Checks every refresh against the warehouse: log arithmetic, replay, the compiled rule, sizes,
 * the snapshot pointer and tables; remembers each snapshot to check the replay of older runs later.
 */
export class RefreshAuditor {
  /** Successful runs per segment id, oldest first, with the members of their snapshot. */
  readonly runs = new Map<string, Array<{ run: RefreshRun; members: string[] }>>();

  constructor(readonly runtime: Runtime, readonly stateSchema: string) {}

  private get warehouse() { return this.runtime.warehouse; }
  private table(name: string) { return `${this.stateSchema}.${name}`; }

  /** Runs `refresh` and checks the invariants around it; `expected` is an independent oracle of the members. */
  async refresh(segmentId: string, asOf: Date, options: { expected?: Set<string>; label?: string } = {}): Promise<RefreshRun> {
    const label = options.label ?? segmentId;
    const previous = setOf(await this.runtime.refresh.currentMemberKeys(segmentId));
    const run = await this.runtime.refresh.start(segmentId, { asOf, wait: true });
    expect(run, `${label}: run failed: ${run.error}`).toMatchObject({ status: 'succeeded', error: null, asOf: asOf.toISOString() });
    await this.check(segmentId, run, previous, asOf, options);
    return run;
  }

  /** Checks a finished, successful run whose previous members were `previous`. */
  async check(segmentId: string, run: RefreshRun, previous: Set<string>, asOf: Date, options: { expected?: Set<string>; label?: string } = {}): Promise<void> {
    const label = options.label ?? segmentId;
    const current = setOf(await this.runtime.refresh.currentMemberKeys(segmentId));
    const events = await this.warehouse.query<{ member_key: string; event: string; segment_id: string; at: unknown }>(
      `SELECT member_key, event, segment_id, "at" FROM ${this.table('membership_log')} WHERE run_id = $1`, [run.id],
    );
    const entered = setOf(events.filter((e) => e.event === 'enter').map((e) => String(e.member_key)));
    const exited = setOf(events.filter((e) => e.event === 'exit').map((e) => String(e.member_key)));
    // Every event of the run is one of the segment's, stamped with the run's start, one per member.
    expect(events.every((e) => e.segment_id === segmentId && (e.event === 'enter' || e.event === 'exit')), `${label}: foreign or unknown events`).toBe(true);
    expect(new Set(events.map((e) => new Date(e.at as string).toISOString())), `${label}: event times`).toEqual(events.length ? new Set([run.startedAt]) : new Set());
    expect(entered.size + exited.size, `${label}: a member logged twice in one run`).toBe(events.length);
    // (b) nobody both enters and exits
    expect(sorted(intersect(entered, exited)), `${label}: entered ∩ exited`).toEqual([]);
    // (a) previous ∪ entered − exited = current; entered were not members, exited were
    expect(sorted(intersect(entered, previous)), `${label}: entered but already a member`).toEqual([]);
    expect(sorted(minus(exited, previous)), `${label}: exited but not a member`).toEqual([]);
    expect(sorted(minus(new Set([...previous, ...entered]), exited)), `${label}: previous ∪ entered − exited`).toEqual(sorted(current));
    // (c) replaying the log up to the run reproduces its snapshot
    expect(sorted(await this.runtime.refresh.membersFromLog(segmentId, new Date(run.startedAt))), `${label}: log replay`).toEqual(sorted(current));
    // (d) the snapshot is what the compiled rule selects right now (and what the oracle says)
    const compiled = await this.runtime.queries.compileSegment(segmentId, { asOf });
    const selected = setOf((await this.warehouse.execute<{ member_key: unknown }>(compiled)).map((r) => String(r.member_key)));
    expect(sorted(current), `${label}: snapshot vs compiled rule`).toEqual(sorted(selected));
    expect((await this.runtime.queries.countSegment(segmentId, { asOf })).count, `${label}: count`).toBe(current.size);
    if (options.expected) expect(sorted(current), `${label}: snapshot vs oracle`).toEqual(sorted(options.expected));
    // (e) the run's numbers are those sets' sizes
    expect({ size: run.size, entered: run.entered, exited: run.exited }, `${label}: run numbers`).toEqual({ size: current.size, entered: entered.size, exited: exited.size });
    await this.checkStateRecords(segmentId, run, label);
    await this.checkSnapshotRows(segmentId, label);
    await this.checkChanges(segmentId, run, entered, exited, label);
    const list = this.runs.get(segmentId) ?? [];
    list.push({ run, members: sorted(current) });
    this.runs.set(segmentId, list);
  }

  /** Pointer, snapshot tables, and the run as recorded in the metadata store and in the warehouse. */
  private async checkStateRecords(segmentId: string, run: RefreshRun, label: string): Promise<void> {
    const pointers = await this.warehouse.query<{ current_table: string; previous_table: string | null; run_id: string }>(
      `SELECT current_table, previous_table, run_id FROM ${this.table('snapshots')} WHERE segment_id = $1`, [segmentId],
    );
    expect(pointers, `${label}: one snapshot pointer`).toHaveLength(1);
    const pointer = pointers[0]!;
    const [meta] = await this.runtime.db<MetaRun>('refresh_runs').where({ id: run.id });
    expect(pointer.run_id, `${label}: pointer run`).toBe(run.id);
    expect(pointer.current_table, `${label}: pointer table`).toBe(meta?.snapshot_table);
    // The previous snapshot is the one of the last successful run before this one.
    const [lastMeta] = await this.runtime.db<MetaRun>('refresh_runs')
      .where({ segment_id: segmentId, status: 'succeeded' }).andWhere('started_at', '<', meta!.started_at).orderBy('started_at', 'desc').limit(1);
    expect(pointer.previous_table ?? null, `${label}: previous pointer`).toBe(lastMeta?.snapshot_table ?? null);
    // Only the current and previous snapshots of the segment exist.
    const prefix = `snap_${segmentId.replace(/-/g, '').slice(0, 12)}_`;
    const tables = (await this.snapshotTables()).filter((t) => t.startsWith(prefix));
    expect(sorted(tables), `${label}: snapshot tables`).toEqual(sorted([pointer.current_table, ...(pointer.previous_table ? [pointer.previous_table] : [])]));
    const [stateRun] = await this.warehouse.query<Record<string, unknown>>(
      `SELECT segment_id, size, entered, exited, snapshot_table, as_of, started_at FROM ${this.table('refresh_runs')} WHERE run_id = $1`, [run.id],
    );
    expect(stateRun && {
      segment_id: stateRun.segment_id, size: Number(stateRun.size), entered: Number(stateRun.entered), exited: Number(stateRun.exited),
      snapshot_table: stateRun.snapshot_table, as_of: new Date(stateRun.as_of as string).toISOString(), started_at: new Date(stateRun.started_at as string).toISOString(),
    }, `${label}: run in the state schema`).toEqual({
      segment_id: segmentId, size: run.size, entered: run.entered, exited: run.exited, snapshot_table: meta?.snapshot_table, as_of: run.asOf, started_at: run.startedAt,
    });
  }

  /** Identifiers in the snapshot are the source's current values; the fingerprint is theirs. */
  private async checkSnapshotRows(segmentId: string, label: string): Promise<void> {
    const [pointer] = await this.warehouse.query<{ current_table: string }>(`SELECT current_table FROM ${this.table('snapshots')} WHERE segment_id = $1`, [segmentId]);
    const rows = await this.warehouse.query<Record<string, unknown>>(`SELECT * FROM ${this.table(pointer!.current_table)}`);
    const source = new Map((await this.warehouse.query<{ id: unknown; email: string | null }>(`SELECT id, email FROM ${SHOP}.customers`)).map((r) => [String(r.id), r.email]));
    const wrong = rows.filter((row) => {
      const key = String(row.member_key);
      const identifiers = Object.entries(row).filter(([k]) => k !== 'member_key' && k !== 'fingerprint');
      const fingerprint = createHash('md5').update(identifiers.map(([, v]) => (v === null ? '\\N' : String(v))).join('|')).digest('hex');
      return row.email !== source.get(key) || row.external_id !== key || row.fingerprint !== fingerprint;
    });
    expect(wrong.slice(0, 3), `${label}: snapshot identifiers`).toEqual([]);
  }

  /** `changes()` over the run's instant lists exactly its events. */
  private async checkChanges(segmentId: string, run: RefreshRun, entered: Set<string>, exited: Set<string>, label: string): Promise<void> {
    const since = new Date(run.startedAt);
    const until = new Date(since.getTime() + 1);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const result = await this.runtime.refresh.changes(segmentId, { since, until, limit: 97, ...(cursor ? { cursor } : {}) });
      seen.push(...result.data.map((c) => `${c.event}:${c.memberKey}:${c.runId}`));
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
    expect(sorted(seen), `${label}: changes()`).toEqual(sorted([...[...entered].map((k) => `enter:${k}:${run.id}`), ...[...exited].map((k) => `exit:${k}:${run.id}`)]));
  }

  async snapshotTables(): Promise<string[]> {
    const rows = await this.warehouse.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [this.stateSchema]);
    return rows.map((r) => r.table_name).filter((name) => name.startsWith('snap_'));
  }

  /** No snapshot table that no pointer names. */
  async checkNoOrphans(): Promise<void> {
    const pointers = await this.warehouse.query<{ current_table: string; previous_table: string | null }>(`SELECT current_table, previous_table FROM ${this.table('snapshots')}`);
    const named = new Set(pointers.flatMap((p) => [p.current_table, ...(p.previous_table ? [p.previous_table] : [])]));
    expect(sorted((await this.snapshotTables()).filter((t) => !named.has(t))), 'orphan snapshot tables').toEqual([]);
  }

  /** (c) for every run so far, (f) history against the runs, sums, and `members()` paging. */
  async finalCheck(segmentId: string, label = segmentId): Promise<void> {
    const runs = this.runs.get(segmentId) ?? [];
    for (const [i, { run, members }] of runs.entries()) {
      expect(sorted(await this.runtime.refresh.membersFromLog(segmentId, new Date(run.startedAt))), `${label}: replay of run #${i + 1}`).toEqual(members);
    }
    const history = await this.runtime.refresh.history(segmentId, {});
    const succeeded = (await this.runtime.db<MetaRun>('refresh_runs').where({ segment_id: segmentId, status: 'succeeded' }).orderBy('started_at')).map((r) => r.id);
    expect(history.map((h) => h.runId), `${label}: history runs`).toEqual(succeeded);
    const audited = runs.map(({ run }) => run);
    const auditedIds = new Set(audited.map((r) => r.id));
    const mine = history.filter((h) => auditedIds.has(h.runId));
    expect(mine.map((h) => [h.runId, h.at, h.asOf, h.size, h.entered, h.exited]), `${label}: history entries`).toEqual(
      audited.map((r) => [r.id, r.startedAt, r.asOf, r.size, r.entered, r.exited]),
    );
    let size = 0;
    for (const h of history) {
      size += h.entered - h.exited;
      expect(h.size, `${label}: history size chain at ${h.runId}`).toBe(size);
    }
    const current = sorted(await this.runtime.refresh.currentMemberKeys(segmentId));
    expect(size, `${label}: Σ entered − exited`).toBe(current.length);
    expect(history.at(-1)?.size ?? 0, `${label}: last history size`).toBe(current.length);
    // The log as a whole: every member's events alternate enter/exit, starting with enter.
    const log = await this.warehouse.query<{ member_key: string; event: string; at: unknown }>(
      `SELECT member_key, event, "at" FROM ${this.table('membership_log')} WHERE segment_id = $1`, [segmentId],
    );
    const byMember = new Map<string, Array<{ event: string; at: number }>>();
    for (const e of log) byMember.set(String(e.member_key), [...(byMember.get(String(e.member_key)) ?? []), { event: e.event, at: new Date(e.at as string).getTime() }]);
    const broken = [...byMember].filter(([, evs]) => evs.sort((a, b) => a.at - b.at).some((e, i) => e.event !== (i % 2 === 0 ? 'enter' : 'exit'))).map(([k]) => k);
    expect(broken.slice(0, 5), `${label}: members whose events do not alternate`).toEqual([]);
    // members() pages through exactly the current snapshot.
    const paged: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const result = await this.runtime.refresh.members(segmentId, { limit: 41, reveal: true, ...(cursor ? { cursor } : {}) });
      paged.push(...result.data.map((m) => m.memberKey));
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
    expect(sorted(paged), `${label}: members() pages`).toEqual(current);
  }
}

// ---------------------------------------------------------------------------------------------
// Holding a table lock from another session (Postgres): refreshes reading the table wait for it.

export async function holdTableLock(databaseUrl: string, table: string): Promise<{ release(): Promise<void>; waiting(): Promise<number> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('begin');
  await client.query(`lock table ${table} in access exclusive mode`);
  const [schema, name] = table.split('.');
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await client.query('commit');
      await client.end();
    },
    /** Sessions waiting for the lock. */
    waiting: async () => {
      const { rows } = await client.query<{ n: string }>(
        `select count(*) as n from pg_locks l join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace
          where l.database = (select oid from pg_database where datname = current_database()) and not l.granted and n.nspname = $1 and c.relname = $2`, [schema, name],
      );
      return Number(rows[0]!.n);
    },
  };
}

export async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
