import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Param, ParamType } from '../../src/compiler/ir';
import { BigQueryError } from '../../src/warehouse/bigquery/bigquery-errors';
import { BigQueryWarehouse, parseBigQueryUrl, type BigQueryWarehouseOptions } from '../../src/warehouse/bigquery/bigquery-warehouse';
import { createWarehouse } from '../../src/warehouse/create-warehouse';
import type { CompiledQuery } from '../../src/warehouse/warehouse';
import { BigQueryFake, fakeAuthClient, floatSecondsToMicros, wireRows, type FakeAuthClient, type FakeSchema, type RecordedRequest, type WireRow } from '../fakes/bigquery-fake';

// Every socket this file opens, so the last test can prove that nothing but the fake was reached
// (no bigquery.googleapis.com, no GCE metadata server at 169.254.169.254).
const connections: string[] = [];
const originalConnect = net.Socket.prototype.connect;
function recordConnect(this: net.Socket, ...args: unknown[]): net.Socket {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const target = typeof first === 'object' && first !== null
    ? first as { host?: string; port?: number; path?: string }
    : { port: Number(first), host: typeof args[1] === 'string' ? args[1] : 'localhost' };
  connections.push(target.path ?? `${target.host ?? 'localhost'}:${target.port}`);
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
}

let fake: BigQueryFake;
let auth: FakeAuthClient;
const warehouses: BigQueryWarehouse[] = [];
/** Every request the fake received in this file (it forgets them after each test). */
const received: RecordedRequest[] = [];
/** Ports other than the fake's that a test connects to on purpose. */
const expectedPorts = new Set<string>();
let refusedConnections = 0;

beforeAll(async () => {
  delete process.env.BIGQUERY_EMULATOR_HOST; // would take precedence over apiEndpoint
  // teeny-request sends through HTTP(S)_PROXY unless NO_PROXY names the host: keep the fake's traffic direct.
  process.env.NO_PROXY = [process.env.NO_PROXY ?? process.env.no_proxy, '127.0.0.1'].filter(Boolean).join(',');
  net.Socket.prototype.connect = recordConnect as typeof net.Socket.prototype.connect;
  fake = await BigQueryFake.start({ listPageSize: 2 });
  auth = fakeAuthClient();
});
afterEach(() => {
  received.push(...fake.requests);
  fake.reset();
});
afterAll(async () => {
  net.Socket.prototype.connect = originalConnect;
  for (const wh of warehouses) await wh.close();
  await fake?.close();
});

/** A warehouse on the fake: tiny retry delays, quick polls. */
function open(options: Partial<BigQueryWarehouseOptions> = {}): BigQueryWarehouse {
  const wh = new BigQueryWarehouse({
    projectId: 'proj', dataset: 'shop', apiEndpoint: fake.endpoint, authClient: auth,
    retry: { maxAttempts: 4, initialDelayMs: 1, maxDelayMs: 4 }, pollIntervalMs: 1, ...options,
  });
  warehouses.push(wh);
  return wh;
}

const compiled = (sql: string, params: Array<[ParamType, unknown]>): CompiledQuery => ({
  dialect: 'bigquery',
  sql,
  params: params.map(([type, value], i): Param => ({ name: `p${i + 1}`, type, value })),
});

const ONE: FakeSchema = { fields: [{ name: 'x', type: 'INTEGER' }] };
const one = (): { schema: FakeSchema; rows: WireRow[] } => ({ schema: ONE, rows: [{ f: [{ v: '1' }] }] });

describe('BigQueryWarehouse.execute: the request', () => {
  it('sends the SQL with every parameter explicitly typed, standard SQL, the default dataset and the bearer token', async () => {
    let seen: unknown;
    fake.onQuery((_sql, parameters) => { seen = parameters; return one(); });
    const wh = open();
    const rows = await wh.execute(compiled('SELECT 1 AS x FROM `shop`.`customers` WHERE @p1 AND @p2', [
      ['string_array', ['gold', 'silver']],
      ['timestamp', '2026-01-02T03:04:05.678Z'],
      ['float', null],
      ['float', 1.25],
      ['integer', 42],
      ['string', 'héllo'],
      ['boolean', false],
      ['float_array', []],
      ['float_array', [1.5, -2]],
      ['integer', 9007199254740993n],
    ]));
    expect(rows).toEqual([{ x: 1 }]);

    const [post, ...rest] = fake.requests;
    expect(rest).toEqual([]); // the whole result came back with jobs.query
    expect(post).toMatchObject({ method: 'POST', path: '/bigquery/v2/projects/proj/queries', endpoint: 'jobs.query', authorization: 'Bearer fake' });
    const body = post!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      query: 'SELECT 1 AS x FROM `shop`.`customers` WHERE @p1 AND @p2',
      useLegacySql: false,
      parameterMode: 'named',
      defaultDataset: { projectId: 'proj', datasetId: 'shop' },
      formatOptions: { useInt64Timestamp: true },
    });
    expect(body.queryParameters).toEqual(seen);
    expect(body.queryParameters).toEqual([
      { name: 'p1', parameterType: { type: 'ARRAY', arrayType: { type: 'STRING' } }, parameterValue: { arrayValues: [{ value: 'gold' }, { value: 'silver' }] } },
      { name: 'p2', parameterType: { type: 'TIMESTAMP' }, parameterValue: { value: '2026-01-02T03:04:05.678Z' } },
      { name: 'p3', parameterType: { type: 'FLOAT64' }, parameterValue: { value: null } },
      { name: 'p4', parameterType: { type: 'FLOAT64' }, parameterValue: { value: '1.25' } },
      { name: 'p5', parameterType: { type: 'INT64' }, parameterValue: { value: '42' } },
      { name: 'p6', parameterType: { type: 'STRING' }, parameterValue: { value: 'héllo' } },
      { name: 'p7', parameterType: { type: 'BOOL' }, parameterValue: { value: 'false' } },
      { name: 'p8', parameterType: { type: 'ARRAY', arrayType: { type: 'FLOAT64' } }, parameterValue: { arrayValues: [] } },
      { name: 'p9', parameterType: { type: 'ARRAY', arrayType: { type: 'FLOAT64' } }, parameterValue: { arrayValues: [{ value: '1.5' }, { value: '-2' }] } },
      { name: 'p10', parameterType: { type: 'INT64' }, parameterValue: { value: '9007199254740993' } },
    ]);
  });

  it('sends no parameters for a query without any, and the location when configured', async () => {
    fake.onQuery(() => one());
    await open({ location: 'EU' }).execute(compiled('SELECT 1 AS x', []));
    const body = fake.requests[0]!.body as Record<string, unknown>;
    expect(body.queryParameters).toBeUndefined();
    expect(body.location).toBe('EU');
  });

  it('refuses a query compiled for another dialect without calling BigQuery', async () => {
    await expect(open().execute({ dialect: 'postgres', sql: 'select $1', params: [] })).rejects.toThrow('a postgres query cannot run on BigQuery');
    expect(fake.requests).toEqual([]);
  });

  it('refuses parameter values of the wrong kind before sending anything', async () => {
    const wh = open();
    await expect(wh.execute(compiled('SELECT @p1', [['integer', 1.5]]))).rejects.toThrow(/p1: a number is not a valid integer value/);
    await expect(wh.execute(compiled('SELECT @p1', [['timestamp', '2026-01-02T03:04:05']]))).rejects.toThrow(/p1: .* is not a valid timestamp value/);
    await expect(wh.execute(compiled('SELECT @p1', [['string_array', null]]))).rejects.toThrow(/p1: null is not a valid string_array value/);
    expect(fake.requests).toEqual([]);
  });

  it('query() sends positional parameters with inferred types', async () => {
    fake.onQuery(() => one());
    await open().query('SELECT ? , ?, ?, ?, ?, ?, ?', [7, 2.5, 'a', true, null, new Date('2026-01-01T00:00:00Z'), ['x']]);
    const body = fake.requests[0]!.body as { parameterMode: string; queryParameters: unknown[] };
    expect(body.parameterMode).toBe('positional');
    expect(body.queryParameters).toEqual([
      { parameterType: { type: 'INT64' }, parameterValue: { value: '7' } },
      { parameterType: { type: 'FLOAT64' }, parameterValue: { value: '2.5' } },
      { parameterType: { type: 'STRING' }, parameterValue: { value: 'a' } },
      { parameterType: { type: 'BOOL' }, parameterValue: { value: 'true' } },
      { parameterType: { type: 'STRING' }, parameterValue: { value: null } },
      { parameterType: { type: 'TIMESTAMP' }, parameterValue: { value: '2026-01-01T00:00:00.000Z' } },
      { parameterType: { type: 'ARRAY', arrayType: { type: 'STRING' } }, parameterValue: { arrayValues: [{ value: 'x' }] } },
    ]);
  });
});

const WIDE: FakeSchema = {
  fields: [
    { name: 'id', type: 'INTEGER', mode: 'REQUIRED' },
    { name: 'name', type: 'STRING' },
    { name: 'score', type: 'FLOAT' },
    { name: 'vip', type: 'BOOLEAN' },
    { name: 'seen_at', type: 'TIMESTAMP' },
    { name: 'born', type: 'DATE' },
    { name: 'balance', type: 'NUMERIC' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    { name: 'big', type: 'INTEGER' },
    { name: 'address', type: 'RECORD', fields: [{ name: 'city', type: 'STRING' }, { name: 'since', type: 'TIMESTAMP' }] },
    { name: 'local', type: 'DATETIME' },
  ],
};

describe('BigQueryWarehouse.execute: results', () => {
  it('pages through every result page in order and converts the values', async () => {
    // Row 1 spelled in the wire format; the others built by wireRows.
    const first: WireRow = {
      f: [
        { v: '1' }, { v: 'Ada' }, { v: '1.5' }, { v: 'true' }, { v: '1704067200.123456' }, { v: '1990-12-31' }, { v: '12.34' },
        { v: [{ v: 'gold' }, { v: 'eu' }] }, { v: '9007199254740993' }, { v: { f: [{ v: 'Paris' }, { v: '1.7040672E9' }] } },
        { v: '2024-01-01T10:00:00' },
      ],
    };
    const more = wireRows(WIDE, Array.from({ length: 6 }, (_, i) => [
      i + 2, i % 2 ? null : `n${i + 2}`, i + 0.25, i % 2 === 0, '2026-03-04T05:06:07.890Z', null, null, i % 2 ? [] : ['x'], null, null, null,
    ]));
    fake.onQuery(() => ({ schema: WIDE, rows: [first, ...more] }));
    const rows = await open({ maxResultsPerPage: 2 }).execute(compiled('SELECT * FROM `shop`.`customers`', []));

    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(rows[0]).toEqual({
      id: 1, name: 'Ada', score: 1.5, vip: true, seen_at: '2024-01-01T00:00:00.123456Z', born: '1990-12-31', balance: 12.34,
      tags: ['gold', 'eu'], big: '9007199254740993', address: { city: 'Paris', since: '2024-01-01T00:00:00.000Z' }, local: '2024-01-01T10:00:00',
    });
    expect(rows[1]).toEqual({
      id: 2, name: 'n2', score: 0.25, vip: true, seen_at: '2026-03-04T05:06:07.890Z', born: null, balance: null, tags: ['x'], big: null, address: null, local: null,
    });
    expect(rows[2]).toMatchObject({ id: 3, name: null, vip: false, tags: [] });

    // 7 rows, 2 a page: jobs.query brings the first, getQueryResults the other three, each with the previous page's token.
    expect(fake.calls('jobs.query')).toHaveLength(1);
    expect((fake.calls('jobs.query')[0]!.body as { maxResults: number }).maxResults).toBe(2);
    const pages = fake.calls('jobs.getQueryResults');
    expect(pages).toHaveLength(3);
    for (const page of pages) {
      expect(page.query).toMatchObject({ maxResults: '2', 'formatOptions.useInt64Timestamp': 'true', location: 'US' });
      expect(page.query.pageToken).toEqual(expect.any(String));
    }
    expect(new Set(pages.map((p) => p.query.pageToken)).size).toBe(3);
  });

  it('returns no rows for an empty result', async () => {
    fake.onQuery(() => ({ schema: WIDE, rows: [] }));
    expect(await open().execute(compiled('SELECT * FROM `shop`.`customers` WHERE FALSE', []))).toEqual([]);
  });

  it('waits for a job that needs several polls', async () => {
    fake.onQuery(() => ({ ...one(), polls: 3 }));
    expect(await open().query('SELECT 1 AS x')).toEqual([{ x: 1 }]);
    const polls = fake.calls('jobs.getQueryResults');
    expect(polls).toHaveLength(4); // three "jobComplete: false", then the rows
    expect(polls.every((p) => p.query.pageToken === undefined)).toBe(true);
  });

  it('cancels a running job when the signal aborts (jobs.cancel) and rejects with the reason', async () => {
    fake.onQuery(() => ({ ...one(), polls: 1_000_000 }));
    const controller = new AbortController();
    const running = open({ pollIntervalMs: 5 }).execute(compiled('SELECT @p1 AS x', [['integer', 1]]), { signal: controller.signal });
    // Abort once the job is known to be running.
    while (fake.calls('jobs.getQueryResults').length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error('client went away'));
    await expect(running).rejects.toThrow('client went away');
    const cancels = fake.calls('jobs.cancel');
    expect(cancels).toHaveLength(1);
    const jobId = fake.calls('jobs.getQueryResults')[0]!.path.split('/').pop();
    expect(cancels[0]!.path).toContain(`/jobs/${jobId}/cancel`);
    expect(fake.cancelledJobs).toContain(jobId);
    // No polling after the cancel.
    const polls = fake.calls('jobs.getQueryResults').length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(fake.calls('jobs.getQueryResults')).toHaveLength(polls);
  });

  it('does not start a query whose signal has already aborted', async () => {
    fake.onQuery(() => one());
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(open().execute(compiled('SELECT @p1 AS x', [['integer', 1]]), { signal: controller.signal })).rejects.toThrow('too late');
    expect(fake.requests).toEqual([]);
  });

  it('creates the job with jobs.insert when a job timeout is set', async () => {
    fake.onQuery(() => ({ ...one(), polls: 1 }));
    const rows = await open({ jobTimeoutMs: 5000 }).execute(compiled('SELECT @p1 AS x', [['integer', 1]]));
    expect(rows).toEqual([{ x: 1 }]);
    expect(fake.requests.map((r) => r.endpoint)).toEqual(['jobs.insert', 'jobs.getQueryResults', 'jobs.getQueryResults']);
    expect(fake.requests[0]!.body).toMatchObject({
      jobReference: { projectId: 'proj', jobId: expect.any(String) },
      configuration: {
        jobTimeoutMs: '5000',
        query: { query: 'SELECT @p1 AS x', useLegacySql: false, parameterMode: 'named', queryParameters: [{ name: 'p1', parameterType: { type: 'INT64' }, parameterValue: { value: '1' } }] },
      },
    });
  });
});

describe('BigQueryWarehouse: errors and retries', () => {
  const syntaxError = { reason: 'invalidQuery', message: 'Syntax error: Unexpected identifier "SELEC" at [1:1]', location: 'q' };

  it('surfaces a 400 invalidQuery with BigQuery\'s message, without retrying and without credentials', async () => {
    fake.onQuery(() => ({ error: syntaxError }));
    const error = await open().query('SELEC 1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BigQueryError);
    expect((error as BigQueryError).message).toContain('Syntax error: Unexpected identifier "SELEC" at [1:1]');
    expect(error).toMatchObject({ status: 400, reason: 'invalidQuery', retryable: false, attempts: 1 });
    expect(inspect(error, { depth: 10 })).not.toMatch(/Bearer|authorization/i);
    expect(fake.requests).toHaveLength(1);
  });

  it('surfaces a job that finishes with status.errorResult after running a while', async () => {
    fake.onQuery(() => ({ error: { reason: 'invalidQuery', message: 'Division by zero: 1 / 0' }, polls: 2 }));
    await expect(open().query('SELECT 1 / 0')).rejects.toThrow(/Division by zero: 1 \/ 0/);
    expect(fake.calls('jobs.query')).toHaveLength(1);
    expect(fake.calls('jobs.getQueryResults')).toHaveLength(3);
  });

  it('surfaces the errorResult of a job created with jobs.insert', async () => {
    fake.onQuery(() => ({ error: syntaxError }));
    const error = await open({ jobTimeoutMs: 1000 }).query('SELEC 1').catch((e: unknown) => e);
    expect((error as Error).message).toContain('Syntax error: Unexpected identifier "SELEC" at [1:1]');
    expect(error).toMatchObject({ reason: 'invalidQuery', retryable: false });
    expect(fake.requests.map((r) => r.endpoint)).toEqual(['jobs.insert']);
  });

  it('surfaces a script whose failure only shows in the job status', async () => {
    fake.onQuery(() => ({ error: { reason: 'invalidQuery', message: 'Unrecognized name: nope at [2:8]' }, polls: 1, onlyInJobStatus: true }));
    const error = await open().query('DECLARE x INT64 DEFAULT 1;\nSELECT nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BigQueryError);
    expect((error as Error).message).toBe('BigQuery query failed (invalidQuery): Unrecognized name: nope at [2:8]');
    expect(fake.requests.map((r) => r.endpoint)).toEqual(['jobs.query', 'jobs.getQueryResults', 'jobs.getQueryResults', 'jobs.get']);
    expect(fake.calls('jobs.get')[0]).toMatchObject({ query: { location: 'US' } });
  });

  it('checks the job status of a statement without a result, which succeeds with no rows', async () => {
    fake.onQuery(() => ({ rows: [] }));
    expect(await open().query('CREATE TEMP TABLE t AS SELECT 1 AS x')).toEqual([]);
    expect(fake.requests.map((r) => r.endpoint)).toEqual(['jobs.query', 'jobs.get']);
  });

  it('retries 503 then 429 on jobs.query and succeeds', async () => {
    fake.onQuery(() => one());
    fake.failNext('jobs.query', { status: 503 }).failNext('jobs.query', { status: 429 });
    expect(await open().query('SELECT 1 AS x')).toEqual([{ x: 1 }]);
    expect(fake.calls('jobs.query').map((r) => r.status)).toEqual([503, 429, 200]);
  });

  it('retries a failed results page on its own, and a 403 rateLimitExceeded by its reason', async () => {
    fake.onQuery(() => ({ schema: ONE, rows: wireRows(ONE, [[1], [2], [3]]) }));
    fake.failNext('jobs.getQueryResults', { status: 500, reason: 'backendError', times: 1 });
    fake.failNext('jobs.getQueryResults', { status: 403, reason: 'rateLimitExceeded', message: 'Exceeded rate limits: too many api requests per user per method' });
    const rows = await open({ maxResultsPerPage: 1 }).query('SELECT x');
    expect(rows).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
    expect(fake.calls('jobs.query')).toHaveLength(1);
    expect(fake.calls('jobs.getQueryResults').map((r) => r.status)).toEqual([500, 403, 200, 200]);
  });

  it('gives up on a persistent 500 after the configured attempts, in bounded time', async () => {
    fake.onQuery(() => one());
    fake.failNext('jobs.query', { status: 500, reason: 'backendError', message: 'Backend error. Job aborted.', times: 100 });
    const started = performance.now();
    const error = await open().query('SELECT 1').catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error).toBeInstanceOf(BigQueryError);
    expect((error as Error).message).toMatch(/\(500 backendError\) \(after 4 attempts\): Backend error\. Job aborted\./);
    expect(error).toMatchObject({ status: 500, attempts: 4, retryable: true });
    expect(fake.calls('jobs.query')).toHaveLength(4);
  });

  it('surfaces a refused connection at once (not a transient error)', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    expectedPorts.add(`127.0.0.1:${port}`);
    refusedConnections += 1;
    const error = await open({ apiEndpoint: `http://127.0.0.1:${port}` }).query('SELECT 1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BigQueryError);
    expect((error as Error).message).toMatch(/^BigQuery query failed \(ECONNREFUSED\): .*ECONNREFUSED/);
    expect(error).toMatchObject({ attempts: 1, retryable: false });
  });

  it('does not retry when maxAttempts is 1', async () => {
    fake.failNext('jobs.query', { status: 503, times: 5 });
    await expect(open({ retry: { maxAttempts: 1 } }).query('SELECT 1')).rejects.toThrow(/503/);
    expect(fake.requests).toHaveLength(1);
  });
});

const CUSTOMERS: FakeSchema = {
  fields: [
    { name: 'id', type: 'INTEGER', mode: 'REQUIRED' },
    { name: 'email', type: 'STRING', maxLength: '320' },
    { name: 'score', type: 'FLOAT' },
    { name: 'ratio', type: 'FLOAT64' },
    { name: 'balance', type: 'NUMERIC', precision: '10', scale: '2' },
    { name: 'huge', type: 'BIGNUMERIC' },
    { name: 'visits', type: 'INT64' },
    { name: 'vip', type: 'BOOLEAN' },
    { name: 'active', type: 'BOOL', mode: 'REQUIRED' },
    { name: 'born', type: 'DATE' },
    { name: 'signed_up', type: 'TIMESTAMP' },
    { name: 'last_seen', type: 'DATETIME' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    { name: 'scores', type: 'FLOAT', mode: 'REPEATED' },
    { name: 'address', type: 'RECORD', fields: [{ name: 'city', type: 'STRING' }, { name: 'zip', type: 'STRING' }] },
    { name: 'photo', type: 'BYTES' },
    { name: 'home', type: 'GEOGRAPHY' },
    { name: 'raw', type: 'JSON' },
    { name: 'opens_at', type: 'TIME' },
  ],
};

describe('BigQueryWarehouse: introspection', () => {
  beforeAll(() => {
    fake.addTable({ dataset: 'shop', table: 'customers', schema: CUSTOMERS, tableConstraints: { primaryKey: { columns: ['id'] } } });
    fake.addTable({
      dataset: 'shop', table: 'orders',
      schema: { fields: [{ name: 'order_id', type: 'STRING', mode: 'REQUIRED' }, { name: 'customer_id', type: 'INTEGER' }] },
      tableConstraints: {
        primaryKey: { columns: ['order_id'] },
        foreignKeys: [{
          name: 'fk_customer',
          referencedTable: { projectId: 'proj', datasetId: 'shop', tableId: 'customers' },
          columnReferences: [{ referencingColumn: 'customer_id', referencedColumn: 'id' }],
        }],
      },
    });
    fake.addTable({ dataset: 'shop', table: 'recent_orders', type: 'VIEW', schema: { fields: [{ name: 'order_id', type: 'STRING' }] } });
    fake.addTable({ dataset: 'shop', table: 'daily', type: 'MATERIALIZED_VIEW', schema: { fields: [{ name: 'day', type: 'DATE' }] } });
    fake.addTable({ dataset: 'shop', table: 'events', schema: { fields: [{ name: 'at', type: 'TIMESTAMP' }] } });
    fake.addTable({ dataset: 'other', table: 'stuff', schema: { fields: [{ name: 'a', type: 'STRING' }] } });
  });

  /** Answers the INFORMATION_SCHEMA question describeTable asks: which tables declare foreign keys. */
  const constraintsHandler = () => fake.onQuery((sql) => {
    if (!sql.includes('INFORMATION_SCHEMA.TABLE_CONSTRAINTS')) return undefined;
    return { schema: { fields: [{ name: 'table_name', type: 'STRING' }] }, rows: wireRows({ fields: [{ name: 'table_name', type: 'STRING' }] }, [['orders']]) };
  });

  it('describes every column type, the primary key and the foreign keys pointing at the table', async () => {
    constraintsHandler();
    const table = await open().describeTable({ schema: 'shop', table: 'customers' });
    expect(table).toMatchObject({ schema: 'shop', name: 'customers', kind: 'table', primaryKey: ['id'], foreignKeys: [] });
    expect(table!.columns.map((c) => [c.name, c.nativeType, c.attributeType, c.compatibleTypes, c.nullable])).toEqual([
      ['id', 'INT64', 'integer', ['integer', 'number'], false],
      ['email', 'STRING(320)', 'string', ['string'], true],
      ['score', 'FLOAT64', 'number', ['number'], true],
      ['ratio', 'FLOAT64', 'number', ['number'], true],
      ['balance', 'NUMERIC(10, 2)', 'number', ['number'], true],
      ['huge', 'BIGNUMERIC', 'number', ['number'], true],
      ['visits', 'INT64', 'integer', ['integer', 'number'], true],
      ['vip', 'BOOL', 'boolean', ['boolean'], true],
      ['active', 'BOOL', 'boolean', ['boolean'], false],
      ['born', 'DATE', 'date', ['date'], true],
      ['signed_up', 'TIMESTAMP', 'timestamp', ['timestamp'], true],
      ['last_seen', 'DATETIME', 'timestamp', ['timestamp'], true],
      ['tags', 'ARRAY<STRING>', 'string_array', ['string_array'], false],
      ['scores', 'ARRAY<FLOAT64>', null, [], false],
      ['address', 'STRUCT<city STRING, zip STRING>', null, [], true],
      ['photo', 'BYTES', null, [], true],
      ['home', 'GEOGRAPHY', null, [], true],
      ['raw', 'JSON', null, [], true],
      ['opens_at', 'TIME', null, [], true],
    ]);
    expect(table!.referencedBy).toEqual([
      { schema: 'shop', table: 'orders', columns: ['customer_id'], referencedSchema: 'shop', referencedTable: 'customers', referencedColumns: ['id'] },
    ]);
    expect(fake.requests.map((r) => `${r.endpoint} ${r.path}`)).toEqual([
      'tables.get /bigquery/v2/projects/proj/datasets/shop/tables/customers',
      'jobs.query /bigquery/v2/projects/proj/queries',
      'tables.get /bigquery/v2/projects/proj/datasets/shop/tables/orders',
    ]);
  });

  it('describes a table\'s own foreign keys, and a view', async () => {
    constraintsHandler();
    const wh = open();
    expect(await wh.describeTable({ schema: 'shop', table: 'orders' })).toMatchObject({
      kind: 'table',
      primaryKey: ['order_id'],
      foreignKeys: [{ columns: ['customer_id'], referencedSchema: 'shop', referencedTable: 'customers', referencedColumns: ['id'] }],
      referencedBy: [],
    });
    expect(await wh.describeTable({ schema: 'shop', table: 'recent_orders' })).toMatchObject({ kind: 'view', primaryKey: [], foreignKeys: [] });
  });

  it('still describes the table when INFORMATION_SCHEMA is off limits', async () => {
    fake.onQuery(() => ({ error: { reason: 'accessDenied', message: 'Access Denied: Table proj:shop.INFORMATION_SCHEMA.TABLE_CONSTRAINTS' } }));
    expect(await open().describeTable({ schema: 'shop', table: 'customers' })).toMatchObject({ primaryKey: ['id'], referencedBy: [] });
  });

  it('returns null for a missing table or dataset', async () => {
    const wh = open();
    expect(await wh.describeTable({ schema: 'shop', table: 'nope' })).toBeNull();
    expect(await wh.describeTable({ schema: 'nowhere', table: 'nope' })).toBeNull();
    expect(fake.requests.map((r) => r.status)).toEqual([404, 404]);
  });

  it('lists the tables and views of a dataset across pages', async () => {
    const wh = open();
    expect(await wh.listTables({})).toEqual([
      { schema: 'shop', name: 'customers', kind: 'table' },
      { schema: 'shop', name: 'daily', kind: 'view' },
      { schema: 'shop', name: 'events', kind: 'table' },
      { schema: 'shop', name: 'orders', kind: 'table' },
      { schema: 'shop', name: 'recent_orders', kind: 'view' },
    ]);
    expect(fake.calls('tables.list').map((r) => r.query.pageToken === undefined)).toEqual([true, false, false]);
    expect(await wh.listTables({ schema: 'other' })).toEqual([{ schema: 'other', name: 'stuff', kind: 'table' }]);
    expect(await wh.listTables({ schema: 'nowhere' })).toEqual([]);
  });

  it('pings with a datasets.get, and fails for a missing dataset', async () => {
    await open().ping();
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /bigquery/v2/projects/proj/datasets/shop']);
    await expect(open({ dataset: 'nowhere' }).ping()).rejects.toThrow(/404 notFound.*Not found: Dataset proj:nowhere/);
  });
});

describe('BigQueryWarehouse: lifecycle and URL', () => {
  it('has no transactions', async () => {
    await expect(open().transaction(async () => 1)).rejects.toThrow('transactions are not supported on BigQuery');
  });

  it('closes idempotently and refuses work afterwards', async () => {
    const wh = open();
    await wh.close();
    await wh.close();
    await expect(wh.query('SELECT 1')).rejects.toThrow('closed');
    expect(fake.requests).toEqual([]);
  });

  it('opens from a bigquery:// URL with an injected auth client', async () => {
    fake.onQuery(() => one());
    const wh = createWarehouse(`bigquery://proj/shop?location=EU&endpoint=${encodeURIComponent(fake.endpoint)}`, { authClient: auth });
    expect(wh).toBeInstanceOf(BigQueryWarehouse);
    warehouses.push(wh as BigQueryWarehouse);
    expect(wh.dialect).toBe('bigquery');
    expect(wh.defaultSchema).toBe('shop');
    expect(await wh.query('SELECT 1 AS x')).toEqual([{ x: 1 }]);
    expect(fake.requests[0]).toMatchObject({ path: '/bigquery/v2/projects/proj/queries', body: { location: 'EU' }, authorization: 'Bearer fake' });
  });

  it('parses bigquery:// URLs and refuses malformed ones', () => {
    expect(parseBigQueryUrl('bigquery://my-proj/analytics')).toEqual({ projectId: 'my-proj', dataset: 'analytics' });
    expect(parseBigQueryUrl('bigquery://my-proj/analytics?location=europe-west1&keyFilename=/k.json&endpoint=http://127.0.0.1:9050')).toEqual({
      projectId: 'my-proj', dataset: 'analytics', location: 'europe-west1', keyFilename: '/k.json', apiEndpoint: 'http://127.0.0.1:9050',
    });
    expect(() => parseBigQueryUrl('bigquery://my-proj')).toThrow('bigquery://PROJECT/DATASET');
    expect(() => parseBigQueryUrl('bigquery://my-proj/a/b')).toThrow('bigquery://PROJECT/DATASET');
    expect(() => parseBigQueryUrl('bigquery://my-proj/a?schema=x')).toThrow('unknown BigQuery URL parameter(s): schema');
  });
});

describe('the fake itself', () => {
  it('converts float-second TIMESTAMPs to int64 microseconds exactly', () => {
    expect(floatSecondsToMicros('1704067200.123456')).toBe('1704067200123456');
    expect(floatSecondsToMicros('1.7040672E9')).toBe('1704067200000000');
    expect(floatSecondsToMicros('-1.5')).toBe('-1500000');
    expect(floatSecondsToMicros('0')).toBe('0');
  });

  it('refuses requests without the bearer token', async () => {
    const res = await fetch(`${fake.endpoint}/bigquery/v2/projects/proj/datasets/shop`);
    expect(res.status).toBe(401);
    expect(fake.requests[0]).toMatchObject({ endpoint: 'datasets.get', authorization: undefined, status: 401 });
  });
});

describe('network isolation', () => {
  it('only ever connected to the fake, and every request the auth client signed reached it', () => {
    const port = new URL(fake.endpoint).port;
    expect(connections.length).toBeGreaterThan(0);
    expect(connections.filter((c) => c !== `127.0.0.1:${port}` && !expectedPorts.has(c))).toEqual([]);
    const signed = received.filter((r) => r.authorization !== undefined);
    expect(signed.length).toBeGreaterThan(30);
    expect(signed.every((r) => r.authorization === 'Bearer fake')).toBe(true);
    // One getRequestHeaders per library request: a request sent anywhere else would show up here.
    expect(auth.headerRequests).toBe(signed.length + refusedConnections);
    expect(received.filter((r) => r.endpoint === 'unknown')).toEqual([]);
  });
});
