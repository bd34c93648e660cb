import { BOOLEAN, DOUBLE, INTEGER, LIST, VARCHAR, listValue, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { compileRule, type CompiledRule } from '../../src/compiler/compile';
import type { CompilerAttribute, CompilerModel, CompilerRelationship } from '../../src/compiler/compiler-model';
import { isMember } from '../../src/compiler/evaluate';
import type { AttributeType } from '../../src/models/model-schema';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse';
import { PostgresWarehouse } from '../../src/warehouse/postgres/postgres-warehouse';
import { DuckDBRunner } from './duckdb-runner';
import { createTestDatabase } from './test-database';

/**
 * Differential testing of the rule compiler: the same adversarial data in Postgres and DuckDB,
 * and as plain JS records for the oracle (`isMember`: json-logic-js 2.0.5 plus our extensions).
 * For every rule the compiler accepts, the ids each engine selects must equal the oracle's.
 */

// ---- the model ------------------------------------------------------------------------------

export const SCHEMA = 'diff';
/** The as-of time of every run: midnight after a leap day, so date windows have sharp edges. */
export const AS_OF = new Date('2024-03-01T00:00:00.000Z');

const attr = (name: string, type: AttributeType): [string, CompilerAttribute] => [name, { name, column: name, type }];

const orders: CompilerRelationship = {
  name: 'orders', schema: SCHEMA, table: 'orders', foreignKey: 'customer_id', timeColumn: 'placed_at',
  attributes: new Map([attr('total', 'number'), attr('qty', 'integer'), attr('status', 'string'), attr('placed_at', 'timestamp')]),
};

export const MODEL: CompilerModel = {
  schema: SCHEMA,
  table: 'customers',
  primaryKey: 'id',
  attributes: new Map([
    attr('id', 'integer'), attr('name', 'string'), attr('email', 'string'), attr('country', 'string'),
    attr('score', 'number'), attr('visits', 'integer'), attr('active', 'boolean'), attr('born', 'date'),
    attr('seen_at', 'timestamp'), attr('tags', 'string_array'),
  ]),
  relationships: new Map([['orders', orders]]),
  suppression: undefined,
};

export interface OrderRecord {
  total: number | null;
  qty: number | null;
  status: string | null;
  /** ISO-8601 with milliseconds and `Z`. */
  placed_at: string | null;
}

/** A customer as the oracle sees it: every attribute by name, related rows as an array. */
export interface CustomerRecord {
  id: number;
  name: string | null;
  email: string | null;
  country: string | null;
  score: number | null;
  visits: number | null;
  active: boolean | null;
  /** `YYYY-MM-DD`. */
  born: string | null;
  /** ISO-8601 with milliseconds and `Z`. */
  seen_at: string | null;
  tags: Array<string | null> | null;
  orders: OrderRecord[];
}

// ---- adversarial values -------------------------------------------------------------------

const DAY = 86_400_000;
const at = (ms: number) => new Date(AS_OF.getTime() + ms).toISOString();

/** A 5,000-character string (UTF-16 units and code points alike: all BMP, below U+E000). */
export const LONG_STRING = `${'a'.repeat(2000)}%_'"\\${'Zé'.repeat(1000)}${'x'.repeat(995)}`;

/**
 * Strings of every awkward kind. Nothing in U+E000–U+FFFF: JS orders strings by UTF-16 unit and
 * SQL by code point, which differ only for that range against astral characters (documented).
 */
export const STRINGS: ReadonlyArray<string | null> = [
  null, '', '0', ' 1 ', '1', '-1', '1e3', '0x10', 'Infinity', 'NaN', 'abc', 'ABC', 'Abc', 'ab', 'a', 'b', 'c', 'null', 'true', 'false',
  'a%b_c', "quote's", 'back\\slash', 'line\nbreak', 'tab\t', ' ', 'é', 'É', 'ß', 'İ', 'ı', '😀', '👍🏽', 'a😀b', '中文字符', '日本語',
  'US', 'us', 'DE', 'abc@example.com', 'ABC@Example.COM', 'running', 'x_y', 'ab12', '123', 'a b', 'b$', LONG_STRING,
];

/** Doubles, including what a warehouse double column can hold and JSON cannot: NaN and ±Infinity. */
export const NUMBERS: ReadonlyArray<number | null> = [
  null, 0, -0, 1, -1, 0.1, 0.2, 0.30000000000000004, 1e15, -1e15, 5e-324, 1e-10, 123.456, 2 ** 53, 0.5, 2.5, -2.5, 3, 7, 100,
  Number.NaN, Infinity, -Infinity, Number.MAX_VALUE,
];

export const INTEGERS: ReadonlyArray<number | null> = [
  null, 0, 1, -1, 2, 3, 7, -7, 10, 42, 100, 1_000_000, -2_147_483_648, 2_147_483_648, 2 ** 53 - 1, -(2 ** 53 - 1),
];

export const BOOLEANS: ReadonlyArray<boolean | null> = [null, true, false];

export const DATES: ReadonlyArray<string | null> = [
  null, '2024-02-29', '2024-03-01', '2024-03-02', '2024-02-28', '2024-02-23', '2024-02-22', '2024-01-31', '2024-01-30',
  '2023-03-01', '2000-02-29', '1970-01-01', '1969-12-31', '1900-03-01', '2099-12-31', '1000-01-01', '0001-01-01', '0099-12-31',
];

export const TIMESTAMPS: ReadonlyArray<string | null> = [
  null, at(0), at(-1), at(1), at(-7 * DAY), at(-7 * DAY - 1), at(-7 * DAY + 1), at(-30 * DAY), at(-30 * DAY - 1), at(-30 * DAY + 1),
  at(-3_600_000), at(-60_000), at(DAY), at(-DAY + 1), '1970-01-01T00:00:00.000Z', '1969-12-31T23:59:59.999Z',
  '2000-01-01T12:34:56.789Z', '9999-12-31T23:59:59.999Z', '1000-06-15T08:00:00.000Z', '0001-01-01T00:00:00.000Z',
];

export const TAGS: ReadonlyArray<Array<string | null> | null> = [
  null, [], ['a'], ['a', 'b', 'running'], [''], ['', 'a'], ['A'], ['running', 'run'], ['😀', 'é'], ['a', null], [null], ['null'], ['b', 'b'],
];

export const STATUSES: ReadonlyArray<string | null> = [null, '', 'completed', 'Completed', 'cancelled', 'refunded', 'pending', 'null', "it's"];
/**
 * Integer-valued only: floating-point SUM/AVG order differs between engines (documented). NaN and
 * ±Infinity do not depend on summation order, so they are in.
 */
export const TOTALS: ReadonlyArray<number | null> = [null, 0, 1, -1, 5, 20, 99, 100, 250, 1000, -50, 1_000_000, Number.NaN, Infinity, -Infinity];
export const QUANTITIES: ReadonlyArray<number | null> = [null, 0, 1, 2, 3, -1, 10];
export const PLACED: ReadonlyArray<string | null> = [...TIMESTAMPS.filter((t) => t === null || t >= '1000'), at(-2 * DAY), at(-10 * DAY), at(-45 * DAY)];

// ---- deterministic generation ---------------------------------------------------------------

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** `n` values: every pool value at least once (when n allows), the rest random, shuffled. */
function column<T>(pool: ReadonlyArray<T>, n: number, random: () => number): T[] {
  const values = [...pool].slice(0, n);
  while (values.length < n) values.push(pool[Math.floor(random() * pool.length)]!);
  return shuffle(values, random);
}

export interface GenerateOptions {
  seed: number;
  customers?: number;
  /** Extra strings to place in name, email, country and tags (the injection corpus). */
  extraStrings?: readonly string[];
}

/** Adversarial customers with their orders, deterministic from the seed. */
export function generateCustomers(options: GenerateOptions): CustomerRecord[] {
  const random = prng(options.seed);
  const n = options.customers ?? 100;
  const strings = [...STRINGS, ...(options.extraStrings ?? [])];
  const names = column(strings, n, random);
  const emails = column(strings, n, random);
  const countries = column(strings, n, random);
  const scores = column(NUMBERS, n, random);
  const visits = column(INTEGERS, n, random);
  const actives = column(BOOLEANS, n, random);
  const borns = column(DATES, n, random);
  const seens = column(TIMESTAMPS, n, random);
  const extraTags = (options.extraStrings ?? []).map((s) => [s, 'a']);
  const tags = column([...TAGS, ...extraTags], n, random);
  // 0, 1 and many orders: a third each, some customers with a long history.
  const orderCounts = column([0, 0, 0, 1, 1, 1, 2, 3, 5, 8], n, random);
  const pick = <T>(pool: ReadonlyArray<T>) => pool[Math.floor(random() * pool.length)]!;
  return Array.from({ length: n }, (_, i): CustomerRecord => ({
    id: i + 1,
    name: names[i]!, email: emails[i]!, country: countries[i]!, score: scores[i]!, visits: visits[i]!, active: actives[i]!,
    born: borns[i]!, seen_at: seens[i]!, tags: tags[i] === null ? null : [...tags[i]!],
    orders: Array.from({ length: orderCounts[i]! }, () => ({ total: pick(TOTALS), qty: pick(QUANTITIES), status: pick(STATUSES), placed_at: pick(PLACED) })),
  }));
}

// ---- loading ----------------------------------------------------------------------------------

/** A number as Postgres text: keeps -0 (String(-0) is "0") and round-trips every double. */
export const pgNumber = (v: number | null) => (v === null ? null : Object.is(v, -0) ? '-0' : String(v));

const PG_DDL = `
  create schema ${SCHEMA};
  create table ${SCHEMA}.customers (
    id integer primary key, name text, email text, country text, score double precision, visits bigint,
    active boolean, born date, seen_at timestamptz, tags text[]);
  create table ${SCHEMA}.orders (
    id integer primary key, customer_id integer not null references ${SCHEMA}.customers (id),
    total double precision, qty bigint, status text, placed_at timestamptz);`;

const DUCK_DDL = `
  create schema ${SCHEMA};
  create table ${SCHEMA}.customers (
    id INTEGER primary key, name VARCHAR, email VARCHAR, country VARCHAR, score DOUBLE, visits BIGINT,
    active BOOLEAN, born DATE, seen_at TIMESTAMPTZ, tags VARCHAR[]);
  create table ${SCHEMA}.orders (
    id INTEGER primary key, customer_id INTEGER not null references ${SCHEMA}.customers (id),
    total DOUBLE, qty BIGINT, status VARCHAR, placed_at TIMESTAMPTZ);`;

function orderRows(customers: readonly CustomerRecord[]): Array<OrderRecord & { id: number; customer_id: number }> {
  let id = 0;
  return customers.flatMap((c) => c.orders.map((o) => ({ id: ++id, customer_id: c.id, ...o })));
}

async function insertPostgres(pg: PostgresWarehouse, table: string, columns: string[], casts: string[], rows: unknown[][]): Promise<void> {
  for (let start = 0; start < rows.length; start += 200) {
    const chunk = rows.slice(start, start + 200);
    const params: unknown[] = [];
    const tuples = chunk.map((row) => `(${row.map((v, i) => { params.push(v); return `$${params.length}::${casts[i]}`; }).join(', ')})`);
    await pg.query(`insert into ${SCHEMA}.${table} (${columns.join(', ')}) values ${tuples.join(', ')}`, params);
  }
}

export async function loadPostgres(pg: PostgresWarehouse, customers: readonly CustomerRecord[]): Promise<void> {
  await pg.query(PG_DDL);
  await insertPostgres(pg, 'customers',
    ['id', 'name', 'email', 'country', 'score', 'visits', 'active', 'born', 'seen_at', 'tags'],
    ['integer', 'text', 'text', 'text', 'double precision', 'bigint', 'boolean', 'date', 'timestamptz', 'text[]'],
    customers.map((c) => [c.id, c.name, c.email, c.country, pgNumber(c.score), c.visits === null ? null : String(c.visits), c.active, c.born, c.seen_at, c.tags]));
  await insertPostgres(pg, 'orders',
    ['id', 'customer_id', 'total', 'qty', 'status', 'placed_at'],
    ['integer', 'integer', 'double precision', 'bigint', 'text', 'timestamptz'],
    orderRows(customers).map((o) => [o.id, o.customer_id, pgNumber(o.total), o.qty === null ? null : String(o.qty), o.status, o.placed_at]));
}

export async function loadDuckDB(duck: DuckDBRunner, customers: readonly CustomerRecord[]): Promise<void> {
  await duck.run(DUCK_DDL);
  const big = (v: number | null) => (v === null ? null : String(v));
  for (const c of customers) {
    const values: DuckDBValue[] = [c.id, c.name, c.email, c.country, c.score, big(c.visits), c.active, c.born, c.seen_at, c.tags === null ? null : listValue(c.tags)];
    const types: DuckDBType[] = [INTEGER, VARCHAR, VARCHAR, VARCHAR, DOUBLE, VARCHAR, BOOLEAN, VARCHAR, VARCHAR, LIST(VARCHAR)];
    await duck.run(
      `insert into ${SCHEMA}.customers values ($1, $2, $3, $4, $5, CAST($6 AS BIGINT), $7, CAST($8 AS DATE), CAST($9 AS TIMESTAMPTZ), $10)`,
      values, types);
  }
  for (const o of orderRows(customers)) {
    await duck.run(
      `insert into ${SCHEMA}.orders values ($1, $2, $3, CAST($4 AS BIGINT), $5, CAST($6 AS TIMESTAMPTZ))`,
      [o.id, o.customer_id, o.total, big(o.qty), o.status, o.placed_at], [INTEGER, INTEGER, DOUBLE, VARCHAR, VARCHAR, VARCHAR]);
  }
}

/**
 * The same data through the production DuckDB adapter (`Warehouse.query`, which infers parameter
 * types): doubles travel as text and are CAST, so -0, NaN and denormals survive.
 */
export async function loadDuckDBAdapter(warehouse: DuckDBWarehouse, customers: readonly CustomerRecord[]): Promise<void> {
  await warehouse.query(DUCK_DDL);
  const big = (v: number | null) => (v === null ? null : String(v));
  for (const c of customers) {
    await warehouse.query(
      `insert into ${SCHEMA}.customers values ($1, $2, $3, $4, CAST($5 AS DOUBLE), CAST($6 AS BIGINT), $7, CAST($8 AS DATE), CAST($9 AS TIMESTAMPTZ), CAST($10 AS VARCHAR[]))`,
      [c.id, c.name, c.email, c.country, pgNumber(c.score), big(c.visits), c.active, c.born, c.seen_at, c.tags]);
  }
  for (const o of orderRows(customers)) {
    await warehouse.query(
      `insert into ${SCHEMA}.orders values ($1, $2, CAST($3 AS DOUBLE), CAST($4 AS BIGINT), $5, CAST($6 AS TIMESTAMPTZ))`,
      [o.id, o.customer_id, pgNumber(o.total), big(o.qty), o.status, o.placed_at]);
  }
}

// ---- round trip: what the engines hold is what the oracle sees -----------------------------

const epochMs = (iso: string | null) => (iso === null ? null : Date.parse(iso));
const num = (v: unknown) => (v === null || v === undefined ? null : typeof v === 'bigint' ? Number(v) : (v as number));

/** A comparable view of one customer (times as epoch ms, -0 kept as the string "-0"). */
function canonical(c: CustomerRecord): unknown {
  const n = (v: number | null) => (v !== null && Object.is(v, -0) ? '-0' : v);
  return {
    id: c.id, name: c.name, email: c.email, country: c.country, score: n(c.score), visits: c.visits, active: c.active,
    born: c.born, seen_at: epochMs(c.seen_at), tags: c.tags,
    orders: c.orders.map((o) => ({ total: n(o.total), qty: o.qty, status: o.status, placed_at: epochMs(o.placed_at) })),
  };
}

type Row = Record<string, unknown>;
function assemble(customerRows: Row[], orderRowsRead: Row[]): CustomerRecord[] {
  const byCustomer = new Map<number, OrderRecord[]>();
  for (const o of orderRowsRead) {
    const list = byCustomer.get(num(o.customer_id)!) ?? [];
    list.push({ total: num(o.total), qty: num(o.qty), status: o.status as string | null, placed_at: o.placed_ms === null ? null : new Date(num(o.placed_ms)!).toISOString() });
    byCustomer.set(num(o.customer_id)!, list);
  }
  return customerRows.map((c) => ({
    id: num(c.id)!, name: c.name as string | null, email: c.email as string | null, country: c.country as string | null,
    score: num(c.score), visits: num(c.visits), active: c.active as boolean | null, born: c.born as string | null,
    seen_at: c.seen_ms === null ? null : new Date(num(c.seen_ms)!).toISOString(),
    tags: c.tags === null ? null : [...(c.tags as Array<string | null>)],
    orders: byCustomer.get(num(c.id)!) ?? [],
  }));
}

export async function readBackPostgres(pg: PostgresWarehouse): Promise<unknown[]> {
  const customers = await pg.query(`select id, name, email, country, score, visits, active, born::text as born,
      (extract(epoch from seen_at) * 1000)::float8 as seen_ms, tags from ${SCHEMA}.customers order by id`);
  const ordersRead = await pg.query(`select customer_id, total, qty, status, (extract(epoch from placed_at) * 1000)::float8 as placed_ms
      from ${SCHEMA}.orders order by id`);
  return assemble(customers, ordersRead).map(canonical);
}

export async function readBackDuckDB(duck: DuckDBRunner): Promise<unknown[]> {
  const customers = await duck.run(`select id, name, email, country, score, visits, active, CAST(born AS VARCHAR) as born,
      epoch_ms(seen_at) as seen_ms, tags from ${SCHEMA}.customers order by id`);
  const ordersRead = await duck.run(`select customer_id, total, qty, status, epoch_ms(placed_at) as placed_ms from ${SCHEMA}.orders order by id`);
  return assemble(customers, ordersRead).map(canonical);
}

export const canonicalRecords = (customers: readonly CustomerRecord[]): unknown[] => customers.map(canonical);

// ---- the harness ------------------------------------------------------------------------------

export interface EngineRun {
  ids: number[];
  error?: string;
}

export interface DifferentialResult {
  rule: unknown;
  /** Sorted member ids per engine (empty when the engine raised an error; see `errors`). */
  postgres: number[];
  duckdb: number[];
  /** The production DuckDB adapter (DuckDBWarehouse.execute) on the same data, when the harness has it. */
  duckdbAdapter?: number[];
  oracle: number[];
  errors: { postgres?: string; duckdb?: string; duckdbAdapter?: string };
  compiled: { postgres: CompiledRule; duckdb: CompiledRule };
}

const sortIds = (ids: number[]) => [...ids].sort((a, b) => a - b);
const sameIds = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The one documented divergence: Postgres raises "value out of range: overflow/underflow" for
 * double arithmetic whose result leaves the double range or underflows to zero, where JavaScript
 * (and DuckDB) give ±Infinity or 0. The query fails loudly (the API answers 422); it never selects
 * a wrong audience. DuckDB must still agree on such rules.
 */
export const POSTGRES_DOUBLE_RANGE_ERROR = /value out of range: (overflow|underflow)/;

export function agrees(result: DifferentialResult): boolean {
  const postgresOk = result.errors.postgres
    ? POSTGRES_DOUBLE_RANGE_ERROR.test(result.errors.postgres)
    : sameIds(result.postgres, result.oracle);
  return postgresOk && !result.errors.duckdb && !result.errors.duckdbAdapter
    && sameIds(result.duckdb, result.oracle)
    && (result.duckdbAdapter === undefined || sameIds(result.duckdbAdapter, result.oracle));
}

/** JSON for messages, with long strings shortened. */
export function shortJson(value: unknown, max = 120): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'string' && v.length > max) return `${v.slice(0, 40)}…(${v.length} chars)…${v.slice(-20)}`;
    if (typeof v === 'number' && (Object.is(v, -0) || !Number.isFinite(v))) return String(Object.is(v, -0) ? '-0' : v);
    return v;
  });
}

export class Differential {
  private readonly byId: Map<number, CustomerRecord>;

  private constructor(
    readonly records: readonly CustomerRecord[],
    readonly postgresWarehouse: PostgresWarehouse,
    readonly duck: DuckDBRunner,
    private readonly dropDatabase: () => Promise<void>,
    readonly seed: number,
    readonly duckdbAdapter: DuckDBWarehouse | null,
  ) {
    this.byId = new Map(records.map((r) => [r.id, r]));
  }

  /**
   * A fresh Postgres database (by default from the test run's server, see createTestDatabase) and
   * an in-memory DuckDB, both loaded with the same generated customers.
   */
  static async open(
    options: (GenerateOptions | { records: CustomerRecord[]; seed?: number }) & { duckdbAdapter?: boolean },
    createDatabase: () => Promise<{ url: string; drop(): Promise<void> }> = createTestDatabase,
  ): Promise<Differential> {
    const records = 'records' in options ? options.records : generateCustomers(options);
    const database = await createDatabase();
    const pg = new PostgresWarehouse({ connectionString: database.url, maxConnections: 2 });
    const duck = await DuckDBRunner.open();
    const adapter = options.duckdbAdapter ? new DuckDBWarehouse({ path: ':memory:', maxConnections: 1 }) : null;
    try {
      await loadPostgres(pg, records);
      await loadDuckDB(duck, records);
      if (adapter) await loadDuckDBAdapter(adapter, records);
    } catch (error) {
      await pg.close();
      duck.close();
      await adapter?.close();
      await database.drop();
      throw error;
    }
    return new Differential(records, pg, duck, database.drop, options.seed ?? 0, adapter);
  }

  async close(): Promise<void> {
    await this.postgresWarehouse.close();
    this.duck.close();
    await this.duckdbAdapter?.close();
    await this.dropDatabase();
  }

  /** Ids of the records for which the oracle says the rule holds. */
  oracle(rule: unknown): number[] {
    return sortIds(this.records.filter((r) => isMember(rule, r as unknown as Record<string, unknown>, { asOf: AS_OF, model: MODEL })).map((r) => r.id));
  }

  compile(rule: unknown, dialect: 'postgres' | 'duckdb' | 'bigquery'): CompiledRule {
    return compileRule({ rule, model: MODEL, dialect, asOf: AS_OF });
  }

  /** Compiles the rule for both engines (throws CompileError if refused), runs it, and asks the oracle. */
  async runDifferential(rule: unknown): Promise<DifferentialResult> {
    const compiled = { postgres: this.compile(rule, 'postgres'), duckdb: this.compile(rule, 'duckdb') };
    const [postgres, duckdb, adapter] = await Promise.all([
      this.runPostgres(compiled.postgres),
      this.runDuckDB(compiled.duckdb),
      this.duckdbAdapter ? this.runDuckDBAdapter(compiled.duckdb) : null,
    ]);
    const errors: DifferentialResult['errors'] = {};
    if (postgres.error) errors.postgres = postgres.error;
    if (duckdb.error) errors.duckdb = duckdb.error;
    if (adapter?.error) errors.duckdbAdapter = adapter.error;
    return { rule, postgres: postgres.ids, duckdb: duckdb.ids, ...(adapter ? { duckdbAdapter: adapter.ids } : {}), oracle: this.oracle(rule), errors, compiled };
  }

  async runDuckDBAdapter(query: CompiledRule): Promise<EngineRun> {
    try {
      const rows = await this.duckdbAdapter!.execute<{ member_key: unknown }>(query);
      return { ids: sortIds(rows.map((r) => num(r.member_key)!)) };
    } catch (error) {
      return { ids: [], error: (error as Error).message };
    }
  }

  async runPostgres(query: CompiledRule): Promise<EngineRun> {
    try {
      const rows = await this.postgresWarehouse.execute<{ member_key: unknown }>(query);
      return { ids: sortIds(rows.map((r) => num(r.member_key)!)) };
    } catch (error) {
      return { ids: [], error: (error as Error).message };
    }
  }

  async runDuckDB(query: CompiledRule): Promise<EngineRun> {
    try {
      const rows = await this.duck.execute(query);
      return { ids: sortIds(rows.map((r) => num(r.member_key)!)) };
    } catch (error) {
      return { ids: [], error: (error as Error).message };
    }
  }

  /** Everything needed to reproduce a disagreement: seed, rule, SQL, params, differing ids with their records. */
  describe(result: DifferentialResult): string {
    const lines = [`seed: ${this.seed}`, `rule: ${shortJson(result.rule, 400)}`];
    for (const engine of ['postgres', 'duckdb'] as const) {
      const ids = result[engine];
      const compiled = result.compiled[engine];
      lines.push(`${engine} SQL: ${compiled.sql}`, `${engine} params: ${shortJson(compiled.params.map((p) => p.value))}`);
      if (result.errors[engine]) lines.push(`${engine} ERROR: ${result.errors[engine]}`);
      else {
        const extra = ids.filter((id) => !result.oracle.includes(id));
        const missing = result.oracle.filter((id) => !ids.includes(id));
        if (extra.length || missing.length) lines.push(`${engine} selects ${extra.length} rows the oracle does not: [${extra.join(', ')}]; misses ${missing.length} the oracle selects: [${missing.join(', ')}]`);
      }
    }
    if (result.errors.duckdbAdapter) lines.push(`duckdb adapter (DuckDBWarehouse.execute) ERROR: ${result.errors.duckdbAdapter}`);
    else if (result.duckdbAdapter && !sameIds(result.duckdbAdapter, result.oracle)) lines.push(`duckdb adapter (DuckDBWarehouse.execute) selects [${result.duckdbAdapter.join(', ')}]`);
    const differing = new Set<number>();
    for (const engine of ['postgres', 'duckdb', 'duckdbAdapter'] as const) {
      const ids = result[engine];
      if (result.errors[engine] || ids === undefined) continue;
      for (const id of ids) if (!result.oracle.includes(id)) differing.add(id);
      for (const id of result.oracle) if (!ids.includes(id)) differing.add(id);
    }
    for (const id of [...differing].sort((a, b) => a - b).slice(0, 8)) {
      const where = (['postgres', 'duckdb', 'duckdbAdapter', 'oracle'] as const).filter((e) => result[e] !== undefined).map((e) => `${e}=${result[e]!.includes(id) ? 'in' : 'out'}`).join(' ');
      lines.push(`  id ${id} (${where}): ${shortJson(this.byId.get(id))}`);
    }
    if (differing.size > 8) lines.push(`  … ${differing.size - 8} more`);
    return lines.join('\n');
  }

  record(id: number): CustomerRecord | undefined {
    return this.byId.get(id);
  }
}

/** A customer with every attribute null (no orders), overridden by `fields`: for minimal reproductions. */
export function customer(id: number, fields: Partial<Omit<CustomerRecord, 'id'>> = {}): CustomerRecord {
  return {
    id, name: null, email: null, country: null, score: null, visits: null, active: null, born: null, seen_at: null, tags: null, orders: [],
    ...fields,
  };
}
