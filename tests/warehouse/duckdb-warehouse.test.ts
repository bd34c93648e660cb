import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duckdbDialect } from '../../src/compiler/dialects/duckdb';
import type { Param, ParamType } from '../../src/compiler/ir';
import { createWarehouse } from '../../src/warehouse/create-warehouse';
import { DuckDBWarehouse, parseDuckDBUrl } from '../../src/warehouse/duckdb/duckdb-warehouse';
import type { CompiledQuery } from '../../src/warehouse/warehouse';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-duckdb-')); });
afterAll(async () => { if (dir) await fs.rm(dir, { recursive: true, force: true }); });

/** A compiled DuckDB query; parameter i is `$i+1`. */
const compiled = (sql: string, params: Array<[ParamType, unknown]>): CompiledQuery => ({
  dialect: 'duckdb',
  sql,
  params: params.map(([type, value], i): Param => ({ name: `p${i + 1}`, type, value })),
});

const ALL_TYPES: ParamType[] = ['float', 'integer', 'string', 'boolean', 'timestamp', 'string_array', 'float_array'];

describe('DuckDBWarehouse: parameters and rows', () => {
  let wh: DuckDBWarehouse;
  beforeAll(() => { wh = new DuckDBWarehouse({ path: ':memory:' }); });
  afterAll(async () => { await wh.close(); });

  it('binds every parameter type, written in the dialect placeholder style', async () => {
    const rows = await wh.execute(compiled(
      `SELECT CAST($1 AS DOUBLE) AS f, CAST($2 AS BIGINT) AS i, CAST($3 AS BIGINT) AS big, CAST($4 AS VARCHAR) AS s,
              CAST($5 AS BOOLEAN) AS b, CAST($6 AS TIMESTAMPTZ) AS t,
              CAST($6 AS TIMESTAMPTZ) > TIMESTAMPTZ '2020-01-01 00:00:00+00' AS after_2020,
              CAST($7 AS VARCHAR[]) AS a, list_contains(CAST($7 AS VARCHAR[]), 'x') AS has_x,
              CAST($8 AS DOUBLE[]) AS fa, list_contains(CAST($8 AS DOUBLE[]), CAST(-2 AS DOUBLE)) AS has_minus_2,
              CAST($9 AS VARCHAR[]) AS empty, len(CAST($9 AS VARCHAR[])) AS empty_len, list_contains(CAST($9 AS VARCHAR[]), 'x') AS empty_has_x,
              CAST($10 AS TIMESTAMPTZ) AS micros, CAST($11 AS BIGINT) AS from_bigint`,
      [
        ['float', 1.5], ['integer', 42], ['integer', 9007199254740993n], ['string', 'héllo 🦆'], ['boolean', true],
        ['timestamp', '2021-06-01T12:34:56.789Z'], ['string_array', ['x', 'y']], ['float_array', [1.5, -2]], ['string_array', []],
        ['timestamp', '2021-06-01T12:34:56.123456Z'], ['integer', -5n],
      ],
    ));
    expect(rows).toEqual([{
      f: 1.5, i: 42, big: '9007199254740993', s: 'héllo 🦆', b: true, t: '2021-06-01T12:34:56.789Z', after_2020: true,
      a: ['x', 'y'], has_x: true, fa: [1.5, -2], has_minus_2: true, empty: [], empty_len: 0, empty_has_x: false,
      micros: '2021-06-01T12:34:56.123456Z', from_bigint: -5,
    }]);
  });

  it('binds NULL for every parameter type; the placeholder CAST gives it its type', async () => {
    const sql = ALL_TYPES.map((type, i) => {
      const placeholder = duckdbDialect.placeholder({ name: `p${i + 1}`, type, value: null }, i + 1);
      return `${placeholder} IS NULL AS ${type}_null, typeof(${placeholder}) AS ${type}_type`;
    }).join(', ');
    const [row] = await wh.execute(compiled(`SELECT ${sql}`, ALL_TYPES.map((type) => [type, null])));
    expect(row).toEqual({
      float_null: true, float_type: 'DOUBLE',
      integer_null: true, integer_type: 'BIGINT',
      string_null: true, string_type: 'VARCHAR',
      boolean_null: true, boolean_type: 'BOOLEAN',
      timestamp_null: true, timestamp_type: 'TIMESTAMP WITH TIME ZONE',
      string_array_null: true, string_array_type: 'VARCHAR[]',
      float_array_null: true, float_array_type: 'DOUBLE[]',
    });
    // A NULL flows through expressions the compiler builds around it.
    const [more] = await wh.execute(compiled(
      `SELECT coalesce(CAST($1 AS DOUBLE), 7) AS c, list_contains(CAST($2 AS VARCHAR[]), 'x') AS l, CAST($3 AS TIMESTAMPTZ) > TIMESTAMPTZ '2020-01-01 00:00:00+00' AS t`,
      [['float', null], ['string_array', null], ['timestamp', null]],
    ));
    expect(more).toEqual({ c: 7, l: null, t: null });
  });

  it('binds arrays holding NULL elements', async () => {
    const [row] = await wh.execute(compiled(
      `SELECT CAST($1 AS VARCHAR[]) AS a, len(CAST($1 AS VARCHAR[])) AS n, CAST($2 AS DOUBLE[]) AS f`,
      [['string_array', ['x', null]], ['float_array', [null, 2]]],
    ));
    expect(row).toEqual({ a: ['x', null], n: 2, f: [null, 2] });
  });

  it('refuses parameter values that do not fit their type', async () => {
    await expect(wh.execute(compiled('SELECT CAST($1 AS BIGINT) AS x', [['integer', 1.5]]))).rejects.toThrow(/p1 \(integer\)/);
    await expect(wh.execute(compiled('SELECT CAST($1 AS BIGINT) AS x', [['integer', 2n ** 64n]]))).rejects.toThrow(/BIGINT range/);
    await expect(wh.execute(compiled('SELECT CAST($1 AS VARCHAR) AS x', [['string', 5]]))).rejects.toThrow(/p1 \(string\) must be a string/);
    await expect(wh.execute(compiled('SELECT CAST($1 AS VARCHAR[]) AS x', [['string_array', [1]]]))).rejects.toThrow(/array of strings/);
    await expect(wh.execute(compiled('SELECT CAST($1 AS TIMESTAMPTZ) AS x', [['timestamp', 'not a time']]))).rejects.toThrow(/Conversion Error/);
  });

  it('refuses a query compiled for another dialect', async () => {
    await expect(wh.execute({ dialect: 'postgres', sql: 'select $1::double precision', params: [{ name: 'p1', type: 'float', value: 1 }] }))
      .rejects.toThrow('a postgres query cannot run on DuckDB');
  });

  it('returns rows as plain JS values for every column type', async () => {
    const [row] = await wh.query(`SELECT
        CAST(-8 AS TINYINT) AS tinyint, CAST(300 AS SMALLINT) AS smallint, CAST(70000 AS INTEGER) AS integer,
        CAST(9007199254740991 AS BIGINT) AS bigint_safe, CAST(9007199254740992 AS BIGINT) AS bigint_unsafe,
        CAST(-9223372036854775808 AS BIGINT) AS bigint_min, CAST(170141183460469231731687303715884105727 AS HUGEINT) AS hugeint,
        CAST(12 AS HUGEINT) AS hugeint_small, CAST(18446744073709551615 AS UBIGINT) AS ubigint, CAST(255 AS UTINYINT) AS utinyint,
        CAST(1234.5 AS DECIMAL(12,2)) AS decimal, CAST(-0.05 AS DECIMAL(4,2)) AS decimal_neg, CAST(0.1 AS DOUBLE) AS double, CAST(1.5 AS FLOAT) AS float,
        'infinity'::DOUBLE AS inf, true AS boolean, 'ü' AS varchar, NULL AS nothing,
        DATE '2024-02-29' AS date, DATE '1969-07-20' AS date_old, 'infinity'::DATE AS date_inf,
        TIMESTAMP '2024-01-02 03:04:05' AS ts, TIMESTAMP '2024-01-02 03:04:05.123456' AS ts_micros,
        TIMESTAMP '1969-12-31 23:59:59.999999' AS ts_before_epoch, TIMESTAMPTZ '2024-01-02 03:04:05+02' AS tstz,
        TIMESTAMP_MS '2024-01-02 03:04:05.5' AS ts_ms, TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS ts_ns,
        TIMESTAMP_S '2024-01-02 03:04:05' AS ts_s, 'infinity'::TIMESTAMP AS ts_inf, '-infinity'::TIMESTAMPTZ AS tstz_neg_inf,
        ['a', NULL]::VARCHAR[] AS varchar_list, [1, 2]::INTEGER[] AS int_list, [[1.5]]::DOUBLE[][] AS nested, []::VARCHAR[] AS empty_list,
        [DATE '2024-01-01'] AS date_list, {'k': 1, 'v': 'x'} AS struct, [1, 2, 3]::INTEGER[3] AS fixed_array,
        TIME '01:02:03' AS time, INTERVAL 1 DAY AS interval, '4ad9b3f2-4d6c-4b1c-9f5e-3bb0b0c0b0c0'::UUID AS uuid`);
    expect(row).toEqual({
      tinyint: -8, smallint: 300, integer: 70000,
      bigint_safe: 9007199254740991, bigint_unsafe: '9007199254740992', bigint_min: '-9223372036854775808',
      hugeint: '170141183460469231731687303715884105727', hugeint_small: 12, ubigint: '18446744073709551615', utinyint: 255,
      decimal: 1234.5, decimal_neg: -0.05, double: 0.1, float: 1.5, inf: Infinity, boolean: true, varchar: 'ü', nothing: null,
      date: '2024-02-29', date_old: '1969-07-20', date_inf: 'infinity',
      ts: '2024-01-02T03:04:05.000Z', ts_micros: '2024-01-02T03:04:05.123456Z',
      ts_before_epoch: '1969-12-31T23:59:59.999999Z', tstz: '2024-01-02T01:04:05.000Z',
      ts_ms: '2024-01-02T03:04:05.500Z', ts_ns: '2024-01-02T03:04:05.123456789Z',
      ts_s: '2024-01-02T03:04:05.000Z', ts_inf: 'infinity', tstz_neg_inf: '-infinity',
      varchar_list: ['a', null], int_list: [1, 2], nested: [[1.5]], empty_list: [],
      date_list: ['2024-01-01'], struct: { k: 1, v: 'x' }, fixed_array: [1, 2, 3],
      time: '01:02:03', interval: '1 day', uuid: '4ad9b3f2-4d6c-4b1c-9f5e-3bb0b0c0b0c0',
    });
  });

  it('infers the types of plain JS parameters in query()', async () => {
    const [row] = await wh.query(
      `SELECT $1 + 1 AS n, $2 * 2 AS d, $3 || '!' AS s, NOT $4 AS b, $5 IS NULL AS isnull, $6 AS big,
              $7 AS at, list_contains($8, 'y') AS has_y, len($9) AS nums, $10 AS huge`,
      [41, 0.25, 'hi', false, null, 2n ** 60n, new Date('2024-05-06T07:08:09.010Z'), ['x', 'y'], [1.5, 2], 2n ** 100n],
    );
    expect(row).toEqual({
      n: 42, d: 0.5, s: 'hi!', b: true, isnull: true, big: '1152921504606846976',
      at: '2024-05-06T07:08:09.010Z', has_y: true, nums: 2, huge: '1267650600228229401496703205376',
    });
    await expect(wh.query('SELECT $1 AS x', [{ a: 1 }])).rejects.toThrow(/cannot bind/);
  });

  it('answers [] for statements without a result set, like Postgres', async () => {
    expect(await wh.query('CREATE TABLE counted (n INTEGER)')).toEqual([]);
    expect(await wh.query('INSERT INTO counted VALUES (1), (2)')).toEqual([]);
    expect(await wh.query('INSERT INTO counted VALUES ($1) RETURNING n', [3])).toEqual([{ n: 3 }]);
    expect(await wh.query('UPDATE counted SET n = n + 10 WHERE n = $1', [1])).toEqual([]);
    expect(await wh.query('SELECT n FROM counted ORDER BY n')).toEqual([{ n: 2 }, { n: 3 }, { n: 11 }]);
  });
});

describe('DuckDBWarehouse: introspection', () => {
  let wh: DuckDBWarehouse;
  beforeAll(async () => {
    wh = new DuckDBWarehouse({ path: path.join(dir, 'introspection.duckdb') });
    await wh.query(`
      CREATE TABLE people (
        id BIGINT PRIMARY KEY,
        email VARCHAR NOT NULL,
        t TINYINT, si SMALLINT, i INTEGER, hi HUGEINT, ut UTINYINT, us USMALLINT, ui UINTEGER, ub UBIGINT,
        d DOUBLE, f FLOAT, dec DECIMAL(12,2),
        b BOOLEAN, dt DATE,
        ts TIMESTAMP, tstz TIMESTAMPTZ, tms TIMESTAMP_MS, tns TIMESTAMP_NS, tsec TIMESTAMP_S,
        tags VARCHAR[], ints INTEGER[],
        bl BLOB, tm TIME, iv INTERVAL, u UUID, j JSON, mood ENUM('sad', 'ok'), st STRUCT(a INTEGER), m MAP(VARCHAR, INTEGER),
        UNIQUE (email)
      );
      CREATE TABLE orders (
        order_id INTEGER, line INTEGER, person_id BIGINT REFERENCES People(ID), email VARCHAR,
        total DECIMAL(10,2) NOT NULL,
        PRIMARY KEY (order_id, line),
        FOREIGN KEY (email) REFERENCES people (email)
      );
      CREATE VIEW big_orders AS SELECT order_id, total FROM orders WHERE total > 100;
      CREATE SCHEMA analytics;
      CREATE TABLE analytics.events (event_id INTEGER PRIMARY KEY, name VARCHAR);`);
  });
  afterAll(async () => { await wh.close(); });

  it('describes every column type, the primary key and foreign keys pointing at the table', async () => {
    const people = await wh.describeTable({ schema: 'main', table: 'people' });
    expect(people).toMatchObject({ schema: 'main', name: 'people', kind: 'table', primaryKey: ['id'], foreignKeys: [] });
    const columns = Object.fromEntries(people!.columns.map((c) => [c.name, [c.nativeType, c.attributeType, c.compatibleTypes, c.nullable]]));
    expect(columns).toEqual({
      id: ['BIGINT', 'integer', ['integer', 'number'], false],
      email: ['VARCHAR', 'string', ['string'], false],
      t: ['TINYINT', 'integer', ['integer', 'number'], true],
      si: ['SMALLINT', 'integer', ['integer', 'number'], true],
      i: ['INTEGER', 'integer', ['integer', 'number'], true],
      hi: ['HUGEINT', 'integer', ['integer', 'number'], true],
      ut: ['UTINYINT', 'integer', ['integer', 'number'], true],
      us: ['USMALLINT', 'integer', ['integer', 'number'], true],
      ui: ['UINTEGER', 'integer', ['integer', 'number'], true],
      ub: ['UBIGINT', 'integer', ['integer', 'number'], true],
      d: ['DOUBLE', 'number', ['number'], true],
      f: ['FLOAT', 'number', ['number'], true],
      dec: ['DECIMAL(12,2)', 'number', ['number'], true],
      b: ['BOOLEAN', 'boolean', ['boolean'], true],
      dt: ['DATE', 'date', ['date'], true],
      ts: ['TIMESTAMP', 'timestamp', ['timestamp'], true],
      tstz: ['TIMESTAMP WITH TIME ZONE', 'timestamp', ['timestamp'], true],
      tms: ['TIMESTAMP_MS', 'timestamp', ['timestamp'], true],
      tns: ['TIMESTAMP_NS', 'timestamp', ['timestamp'], true],
      tsec: ['TIMESTAMP_S', 'timestamp', ['timestamp'], true],
      tags: ['VARCHAR[]', 'string_array', ['string_array'], true],
      ints: ['INTEGER[]', null, [], true],
      bl: ['BLOB', null, [], true],
      tm: ['TIME', null, [], true],
      iv: ['INTERVAL', null, [], true],
      u: ['UUID', null, [], true],
      j: ['JSON', null, [], true],
      mood: ["ENUM('sad', 'ok')", null, [], true],
      st: ['STRUCT(a INTEGER)', null, [], true],
      m: ['MAP(VARCHAR, INTEGER)', null, [], true],
    });
    expect(people!.columns.map((c) => c.name)).toEqual(Object.keys(columns));
    // Both foreign keys of orders, reported with the catalog's spelling though the DDL wrote People(ID).
    expect(people!.referencedBy).toEqual([
      { schema: 'main', table: 'orders', columns: ['person_id'], referencedSchema: 'main', referencedTable: 'people', referencedColumns: ['id'] },
      { schema: 'main', table: 'orders', columns: ['email'], referencedSchema: 'main', referencedTable: 'people', referencedColumns: ['email'] },
    ]);
  });

  it('describes a composite primary key and the foreign keys of a table', async () => {
    const orders = await wh.describeTable({ schema: 'main', table: 'orders' });
    expect(orders).toMatchObject({ kind: 'table', primaryKey: ['order_id', 'line'], referencedBy: [] });
    expect(orders!.foreignKeys).toEqual([
      { columns: ['person_id'], referencedSchema: 'main', referencedTable: 'people', referencedColumns: ['id'] },
      { columns: ['email'], referencedSchema: 'main', referencedTable: 'people', referencedColumns: ['email'] },
    ]);
    expect(orders!.columns.find((c) => c.name === 'total')).toEqual({
      name: 'total', nativeType: 'DECIMAL(10,2)', attributeType: 'number', compatibleTypes: ['number'], nullable: false,
    });
  });

  it('describes views, other schemas, and looks names up case-insensitively as DuckDB resolves them', async () => {
    expect(await wh.describeTable({ schema: 'main', table: 'big_orders' })).toEqual({
      schema: 'main', name: 'big_orders', kind: 'view',
      columns: [
        { name: 'order_id', nativeType: 'INTEGER', attributeType: 'integer', compatibleTypes: ['integer', 'number'], nullable: true },
        { name: 'total', nativeType: 'DECIMAL(10,2)', attributeType: 'number', compatibleTypes: ['number'], nullable: true },
      ],
      primaryKey: [], foreignKeys: [], referencedBy: [],
    });
    expect(await wh.describeTable({ schema: 'analytics', table: 'events' })).toMatchObject({ schema: 'analytics', name: 'events', primaryKey: ['event_id'] });
    expect(await wh.describeTable({ schema: 'MAIN', table: 'People' })).toMatchObject({ schema: 'main', name: 'people', primaryKey: ['id'] });
    expect(await wh.describeTable({ schema: 'main', table: 'missing' })).toBeNull();
    expect(await wh.describeTable({ schema: 'missing', table: 'people' })).toBeNull();
    expect(await wh.describeTable({ schema: 'main', table: 'events' })).toBeNull();
  });

  it('lists tables and views, of every schema or one', async () => {
    expect(await wh.listTables({})).toEqual([
      { schema: 'analytics', name: 'events', kind: 'table' },
      { schema: 'main', name: 'big_orders', kind: 'view' },
      { schema: 'main', name: 'orders', kind: 'table' },
      { schema: 'main', name: 'people', kind: 'table' },
    ]);
    expect(await wh.listTables({ schema: 'analytics' })).toEqual([{ schema: 'analytics', name: 'events', kind: 'table' }]);
    expect(await wh.listTables({ schema: 'nope' })).toEqual([]);
  });
});

describe('DuckDBWarehouse: transactions and concurrency', () => {
  let wh: DuckDBWarehouse;
  beforeAll(async () => {
    wh = new DuckDBWarehouse({ path: path.join(dir, 'tx.duckdb') });
    await wh.query('CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR)');
  });
  afterAll(async () => { await wh.close(); });
  const ids = async () => (await wh.query<{ id: number }>('SELECT id FROM items ORDER BY id')).map((r) => r.id);

  it('commits the work and returns its result', async () => {
    const result = await wh.transaction(async (query) => {
      await query('INSERT INTO items VALUES ($1, $2)', [1, 'one']);
      await query('INSERT INTO items VALUES ($1, $2)', [2, 'two']);
      return (await query('SELECT count(*) AS n FROM items'))[0];
    });
    expect(result).toEqual({ n: 2 });
    expect(await ids()).toEqual([1, 2]);
  });

  it('rolls everything back when a statement fails', async () => {
    await expect(wh.transaction(async (query) => {
      await query('INSERT INTO items VALUES (3, $1)', ['three']);
      await query('INSERT INTO items VALUES (1, $1)', ['duplicate']);
    })).rejects.toThrow(/Constraint Error|Duplicate key/);
    expect(await ids()).toEqual([1, 2]);
  });

  it('rolls back when the work throws, and refuses statements after the end', async () => {
    let leaked: ((sql: string, params?: unknown[]) => Promise<unknown>) | undefined;
    await expect(wh.transaction(async (query) => {
      leaked = query;
      await query('DELETE FROM items');
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    expect(await ids()).toEqual([1, 2]);
    await expect(leaked!('SELECT 1')).rejects.toThrow('the transaction has already ended');
  });

  it('runs statements a transaction issues concurrently one after another', async () => {
    await wh.transaction(async (query) => {
      await Promise.all([10, 11, 12, 13, 14].map((id) => query('INSERT INTO items VALUES ($1, $2)', [id, `n${id}`])));
    });
    expect(await ids()).toEqual([1, 2, 10, 11, 12, 13, 14]);
    await wh.query('DELETE FROM items WHERE id >= 10');
  });

  it('answers many concurrent executes correctly', async () => {
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      wh.execute(compiled('SELECT CAST($1 AS BIGINT) * 2 AS doubled, CAST($2 AS VARCHAR) AS label', [['integer', i], ['string', `#${i}`]]))));
    expect(results).toEqual(Array.from({ length: 60 }, (_, i) => [{ doubled: 2 * i, label: `#${i}` }]));
  });

  it('keeps other statements out of a transaction: they see only committed data', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let inserted!: () => void;
    const insertedSignal = new Promise<void>((resolve) => { inserted = resolve; });
    const tx = wh.transaction(async (query) => {
      await query('INSERT INTO items VALUES (20, $1)', ['pending']);
      inserted();
      await gate;
      return 'done';
    });
    await insertedSignal;
    const during = await Promise.all(Array.from({ length: 8 }, () => ids()));
    for (const seen of during) expect(seen).toEqual([1, 2]);
    release();
    expect(await tx).toBe('done');
    expect(await ids()).toEqual([1, 2, 20]);
    await wh.query('DELETE FROM items WHERE id = 20');
  });

  it('with one connection, statements issued during a transaction wait for it to end', async () => {
    const single = new DuckDBWarehouse({ path: ':memory:', maxConnections: 1 });
    try {
      await single.query('CREATE TABLE log (n INTEGER)');
      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => { release = resolve; });
      let started!: () => void;
      const startedSignal = new Promise<void>((resolve) => { started = resolve; });
      const tx = single.transaction(async (query) => {
        await query('INSERT INTO log VALUES (1)');
        started();
        await gate;
        await query('INSERT INTO log VALUES (2)');
        order.push('commit');
      });
      await startedSignal;
      const outside = single.query<{ n: number }>('SELECT count(*) AS n FROM log').then((rows) => { order.push('outside'); return rows; });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(order).toEqual([]);
      release();
      await tx;
      expect(await outside).toEqual([{ n: 2 }]);
      expect(order).toEqual(['commit', 'outside']);
    } finally {
      await single.close();
    }
  });
});

describe('DuckDBWarehouse: URLs, files and lifecycle', () => {
  it('parses duckdb:// URLs', () => {
    expect(parseDuckDBUrl('duckdb:///tmp/x.duckdb')).toEqual({ path: '/tmp/x.duckdb', schema: null });
    expect(parseDuckDBUrl('duckdb://data/x.duckdb')).toEqual({ path: path.resolve('data/x.duckdb'), schema: null });
    expect(parseDuckDBUrl('duckdb://:memory:')).toEqual({ path: ':memory:', schema: null });
    expect(parseDuckDBUrl('duckdb://:memory:?schema=analytics')).toEqual({ path: ':memory:', schema: 'analytics' });
    expect(parseDuckDBUrl('duckdb:///tmp/with%20space.duckdb?schema=s')).toEqual({ path: '/tmp/with space.duckdb', schema: 's' });
    expect(() => parseDuckDBUrl('duckdb://')).toThrow(/names no database file/);
    expect(() => parseDuckDBUrl('duckdb:///tmp/x.duckdb?threads=4')).toThrow(/unsupported DuckDB URL parameter "threads"/);
  });

  it('createWarehouse opens absolute, relative and in-memory duckdb:// URLs', async () => {
    const absolute = path.join(dir, 'absolute.duckdb');
    const relative = path.relative(process.cwd(), path.join(dir, 'relative.duckdb'));
    expect(path.isAbsolute(relative)).toBe(false);
    for (const [url, file] of [[`duckdb://${absolute}`, absolute], [`duckdb://${relative}`, path.join(dir, 'relative.duckdb')], ['duckdb://:memory:', ':memory:']] as const) {
      const wh = createWarehouse(url);
      try {
        expect(wh).toBeInstanceOf(DuckDBWarehouse);
        expect((wh as DuckDBWarehouse).path).toBe(file);
        expect(wh.dialect).toBe('duckdb');
        expect(wh.defaultSchema).toBe('main');
        await wh.ping();
        expect(await wh.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      } finally {
        await wh.close();
      }
      if (file !== ':memory:') await expect(fs.stat(file)).resolves.toBeTruthy();
    }
    expect(createWarehouse('duckdb://:memory:?schema=analytics').defaultSchema).toBe('analytics');
    expect(createWarehouse('duckdb://:memory:?schema=analytics', { defaultSchema: 'demo' }).defaultSchema).toBe('demo');
  });

  it('keeps data in the file across reopenings, and shares one instance between warehouses on a file', async () => {
    const file = path.join(dir, 'shared.duckdb');
    const first = new DuckDBWarehouse({ path: file });
    await first.query('CREATE TABLE kept (v VARCHAR)');
    await first.query('INSERT INTO kept VALUES ($1)', ['saved']);
    const second = createWarehouse(`duckdb://${file}`);
    expect(await second.query('SELECT v FROM kept')).toEqual([{ v: 'saved' }]);
    await first.close();
    expect(await second.query('SELECT count(*) AS n FROM kept')).toEqual([{ n: 1 }]);
    await second.close();
    const reopened = new DuckDBWarehouse({ path: file });
    expect(await reopened.query('SELECT v FROM kept')).toEqual([{ v: 'saved' }]);
    await reopened.close();
  });

  it('closes idempotently, after running statements finish, and refuses work afterwards', async () => {
    const wh = new DuckDBWarehouse({ path: ':memory:' });
    await wh.close(); // never opened
    const other = new DuckDBWarehouse({ path: ':memory:' });
    const running = other.query('SELECT count(*) AS n FROM range(100000)');
    const closed = other.close();
    expect(await running).toEqual([{ n: 100000 }]);
    await closed;
    await other.close();
    await expect(other.query('SELECT 1')).rejects.toThrow('the DuckDB warehouse is closed');
  });

  it('runs in UTC with ICU linked in and extension autoloading and autoinstalling off', async () => {
    const wh = new DuckDBWarehouse({ path: ':memory:' });
    try {
      expect(await wh.query(`SELECT current_setting('TimeZone') AS tz, current_setting('autoinstall_known_extensions') AS install,
                                    current_setting('autoload_known_extensions') AS autoload`))
        .toEqual([{ tz: 'UTC', install: false, autoload: false }]);
      expect(await wh.query(`SELECT loaded, install_mode FROM duckdb_extensions() WHERE extension_name = 'icu'`))
        .toEqual([{ loaded: true, install_mode: 'STATICALLY_LINKED' }]);
      // Time-zone arithmetic (ICU) works offline; named zones resolve.
      expect(await wh.query(`SELECT CAST(TIMESTAMPTZ '2024-07-01 12:00:00+00' AT TIME ZONE 'America/New_York' AS VARCHAR) AS ny,
                                    CAST(DATE '2024-07-01' AS TIMESTAMPTZ) AS midnight`))
        .toEqual([{ ny: '2024-07-01 08:00:00', midnight: '2024-07-01T00:00:00.000Z' }]);
    } finally {
      await wh.close();
    }
  });
});

/**
 * What DuckDB does with the SQL the compiler's DuckDB dialect emits. These assert DuckDB's
 * actual behaviour, so an upgrade that changes any of it fails here first.
 */
describe('DuckDB semantics the compiler relies on', () => {
  let wh: DuckDBWarehouse;
  beforeAll(async () => {
    wh = new DuckDBWarehouse({ path: ':memory:' });
    await wh.query(`
      CREATE TABLE t (id INTEGER, arr VARCHAR[], s VARCHAR, d DATE, a BIGINT, b BIGINT);
      INSERT INTO t VALUES
        (1, ['x', 'y'], 'a' || chr(10) || 'b', DATE '2024-03-10', -7, 3),
        (2, ['y'], 'a b', NULL, 7, -3),
        (3, [], 'ab', NULL, -7, -3),
        (4, NULL, NULL, NULL, 7, 0),
        (5, ['x', NULL], NULL, NULL, NULL, NULL);`);
  });
  afterAll(async () => { await wh.close(); });
  const one = async (sql: string) => (await wh.query(sql))[0];

  it('(a) EXISTS over unnest of a correlated VARCHAR[] column', async () => {
    const ids = async (where: string) => (await wh.query<{ id: number }>(`SELECT t.id FROM t WHERE ${where} ORDER BY t.id`)).map((r) => r.id);
    const exists = `EXISTS (SELECT 1 FROM ${duckdbDialect.arrayFrom('t.arr')} WHERE ${duckdbDialect.elementColumn} = 'x')`;
    expect(exists).toBe(`EXISTS (SELECT 1 FROM (SELECT unnest(t.arr) AS "v") AS "e" WHERE "e"."v" = 'x')`);
    expect(await ids(exists)).toEqual([1, 5]);
    expect(await ids(`NOT ${exists}`)).toEqual([2, 3, 4]);
  });

  it('(b) regexp_matches: (?s) makes . match a newline; without it, it does not; the match is unanchored', async () => {
    expect(await wh.query(`SELECT id, regexp_matches(s, '(?s)a.b') AS dotall, regexp_matches(s, 'a.b') AS plain FROM t ORDER BY id`)).toEqual([
      { id: 1, dotall: true, plain: false },
      { id: 2, dotall: true, plain: true },
      { id: 3, dotall: false, plain: false },
      { id: 4, dotall: null, plain: null },
      { id: 5, dotall: null, plain: null },
    ]);
    expect(await one(`SELECT regexp_matches('xaby', 'ab') AS partial, regexp_matches('xaby', '^ab$') AS anchored`)).toEqual({ partial: true, anchored: false });
  });

  it("(c) strpos with an empty needle is 1, even in ''", async () => {
    expect(await one(`SELECT strpos('abc', '') AS a, strpos('', '') AS b, strpos('abc', 'c') AS c, strpos('abc', 'z') AS d, strpos('🦆x', 'x') AS e`))
      .toEqual({ a: 1, b: 1, c: 3, d: 0, e: 2 });
  });

  it('(d) translate lowers A-Z only', async () => {
    const lower = duckdbDialect.fn('lower_ascii', [`'HeLLo ÄÉ İ Z'`]);
    expect(await one(`SELECT ${lower} AS v`)).toEqual({ v: 'hello ÄÉ İ z' });
  });

  it('(e) ends_with and starts_with, including the empty string and NULL', async () => {
    expect(await one(`SELECT ends_with('abc', 'bc') AS a, ends_with('abc', '') AS b, ends_with('', '') AS c, ends_with('abc', 'ab') AS d,
                             starts_with('abc', 'ab') AS e, starts_with('abc', '') AS f, starts_with('abc', 'bc') AS g, starts_with(NULL, 'a') AS h`))
      .toEqual({ a: true, b: true, c: true, d: false, e: true, f: true, g: false, h: null });
  });

  it('(f) CAST(date AS TIMESTAMPTZ) is midnight UTC under TimeZone UTC (and depends on the session zone)', async () => {
    expect(await one(`SELECT CAST(d AS TIMESTAMPTZ) AS ts, typeof(CAST(d AS TIMESTAMPTZ)) AS type FROM t WHERE id = 1`))
      .toEqual({ ts: '2024-03-10T00:00:00.000Z', type: 'TIMESTAMP WITH TIME ZONE' });
    // In another session zone the same cast means local midnight: why every connection sets UTC.
    expect(await wh.transaction(async (query) => {
      await query(`SET TimeZone = 'America/New_York'`);
      const [row] = await query(`SELECT CAST(d AS TIMESTAMPTZ) AS ts FROM t WHERE id = 1`);
      await query(`SET TimeZone = 'UTC'`);
      return row;
    })).toEqual({ ts: '2024-03-10T05:00:00.000Z' });
  });

  it('(g) % takes the sign of the dividend; % 0 is NULL', async () => {
    expect(await wh.query(`SELECT a, b, (a % b) AS m FROM t WHERE id <= 4 ORDER BY id`)).toEqual([
      { a: -7, b: 3, m: -1 },
      { a: 7, b: -3, m: 1 },
      { a: -7, b: -3, m: -1 },
      { a: 7, b: 0, m: null },
    ]);
  });

  it('(h) strings compare bytewise (UTF-8, i.e. code point order), not as JS compares UTF-16 units', async () => {
    expect(await one(`SELECT 'a' < 'B' AS a_b, 'Z' < 'a' AS z_a, 'é' < 'z' AS e_z, '😀' < '！' AS emoji_fullwidth, '！' < '😀' AS fullwidth_emoji`))
      .toEqual({ a_b: false, z_a: true, e_z: false, emoji_fullwidth: false, fullwidth_emoji: true });
    // JS's < compares UTF-16 code units, so it orders the surrogate pair of U+1F600 before U+FF01.
    expect('😀' < '！').toBe(true);
    expect(await one(`SELECT current_setting('default_collation') AS c`)).toEqual({ c: '' });
  });

  it('(i) LEAST and GREATEST skip NULLs (like Postgres, unlike BigQuery)', async () => {
    expect(await one(`SELECT LEAST(1, NULL) AS l, GREATEST(1, NULL) AS g, LEAST(NULL, NULL) AS n`)).toEqual({ l: 1, g: 1, n: null });
  });

  it('(j) DOUBLE overflow gives Infinity, not an error; division by zero gives ±Infinity or NaN', async () => {
    expect(await one(`SELECT CAST(1e308 AS DOUBLE) * 10 AS over, CAST(1 AS DOUBLE) / 0 AS pos, CAST(-1 AS DOUBLE) / 0 AS neg, CAST(0 AS DOUBLE) / 0 AS nan`))
      .toEqual({ over: Infinity, pos: Infinity, neg: -Infinity, nan: NaN });
    // BIGINT overflow, by contrast, is an error.
    await expect(wh.query(`SELECT CAST(9223372036854775807 AS BIGINT) + 1 AS x`)).rejects.toThrow(/Overflow/);
  });

  it("(k) CAST(' 1 ' AS DOUBLE) trims spaces; DuckDB's number syntax is wider than JS Number()", async () => {
    expect(await one(`SELECT CAST(' 1 ' AS DOUBLE) AS spaced, CAST('1_000' AS DOUBLE) AS underscored, CAST('1e400' AS DOUBLE) AS huge, CAST('nan' AS DOUBLE) AS nan`))
      .toEqual({ spaced: 1, underscored: 1000, huge: Infinity, nan: NaN });
    expect(Number('1_000')).toBeNaN();
    await expect(wh.query(`SELECT CAST('' AS DOUBLE) AS x`)).rejects.toThrow(/Could not convert string '' to DOUBLE/);
    await expect(wh.query(`SELECT CAST('0x10' AS DOUBLE) AS x`)).rejects.toThrow(/Could not convert/);
  });

  it('a bound -0 keeps its sign (the DuckDB dialect passes it through) and equals 0', async () => {
    const [row] = await wh.execute(compiled(`SELECT CAST($1 AS DOUBLE) = 0 AS eq, CAST(CAST($1 AS DOUBLE) AS VARCHAR) AS text, CAST($1 AS DOUBLE) AS v`, [['float', -0]]));
    expect(row).toEqual({ eq: true, text: '-0.0', v: -0 });
    expect(Object.is(row!.v, -0)).toBe(true);
  });
});
