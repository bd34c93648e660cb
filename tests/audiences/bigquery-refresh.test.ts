import net from 'node:net';
import type { Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RefreshService, type RefreshRun } from '../../src/audiences/refresh-service';
import { SegmentQueries } from '../../src/segments/segment-queries';
import { createDb } from '../../src/store/db';
import { migrateLatest } from '../../src/store/migrate';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse';
import {
  BigQueryFake, fakeAuthClient, wireRows, type FakeAuthClient, type FakeError, type FakeQueryRequest, type FakeQueryResult, type FakeSchema,
} from '../fakes/bigquery-fake';
import { createTestDatabase } from '../support/test-database';

// Every socket this file opens: nothing but the fake and the metadata Postgres may be reached.
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

const STATE = '`audiences_state`';
const T = (name: string) => `${STATE}.\`${name}\``;
const AS_OF = new Date('2026-11-01T00:00:00Z');

/** The compiled snapshot query of the test segment, as the BigQuery dialect spells it. */
const COMPILED = 'SELECT CAST(`t`.`customer_id` AS STRING) AS `member_key`, CAST(`t`.`email` AS STRING) AS `email`, CAST(`t`.`customer_id` AS STRING) AS `external_id`, ' +
  "TO_HEX(MD5(CONCAT(COALESCE(CAST(`t`.`email` AS STRING), '\\\\N'), '|', COALESCE(CAST(`t`.`customer_id` AS STRING), '\\\\N')))) AS `fingerprint` " +
  'FROM `shop`.`customers` AS `t` WHERE ((`t`.`country` IN UNNEST(@p1)) AND (COALESCE(CAST(`t`.`ltv` AS FLOAT64), CAST(0 AS FLOAT64)) > @p2) ' +
  'AND (NOT COALESCE(IS_NAN(COALESCE(CAST(`t`.`ltv` AS FLOAT64), CAST(0 AS FLOAT64))), FALSE)) AND ((`t`.`created_at` >= @p3) AND (`t`.`created_at` < @p4)))';

const MIGRATION_SQL = [
  'CREATE SCHEMA IF NOT EXISTS `audiences_state`',
  'CREATE TABLE IF NOT EXISTS `audiences_state`.`_state_migrations` (version INT64 NOT NULL, applied_at TIMESTAMP NOT NULL)',
  'SELECT version FROM `audiences_state`.`_state_migrations` ORDER BY version',
  'CREATE TABLE IF NOT EXISTS `audiences_state`.`membership_log` (segment_id STRING NOT NULL, member_key STRING NOT NULL, event STRING NOT NULL, run_id STRING NOT NULL, `at` TIMESTAMP NOT NULL)',
  'CREATE TABLE IF NOT EXISTS `audiences_state`.`snapshots` (segment_id STRING NOT NULL, current_table STRING NOT NULL, previous_table STRING, run_id STRING NOT NULL, refreshed_at TIMESTAMP NOT NULL)',
  'CREATE TABLE IF NOT EXISTS `audiences_state`.`refresh_runs` (run_id STRING NOT NULL, segment_id STRING NOT NULL, segment_slug STRING, segment_version INT64, as_of TIMESTAMP NOT NULL, ' +
    'started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP NOT NULL, size INT64 NOT NULL, entered INT64 NOT NULL, exited INT64 NOT NULL, snapshot_table STRING NOT NULL)',
  'INSERT INTO `audiences_state`.`_state_migrations` (version, applied_at) VALUES (?, CAST(? AS TIMESTAMP))',
];
const POINTER_SQL = 'SELECT current_table, previous_table, run_id FROM `audiences_state`.`snapshots` WHERE segment_id = ?';
const ctas = (table: string) =>
  `CREATE TABLE ${T(table)} (\`member_key\` STRING NOT NULL, \`email\` STRING, \`external_id\` STRING, \`fingerprint\` STRING NOT NULL) AS ${COMPILED}`;
const drop = (table: string) => `DROP TABLE IF EXISTS ${T(table)}`;
/** Asked only after a run that did not succeed: did the warehouse commit runs the metadata store missed? */
const RECONCILE_SQL = 'SELECT run_id, size, entered, exited, finished_at, snapshot_table FROM `audiences_state`.`refresh_runs` WHERE segment_id = ? AND started_at >= CAST(? AS TIMESTAMP) ORDER BY started_at';

/** The transaction script, spelled out. */
function script(table: string, previous: string | null): string {
  const log = (event: string, from: string, other: string | null) =>
    `INSERT INTO ${T('membership_log')} (segment_id, member_key, event, run_id, \`at\`) SELECT @segment_id, s.\`member_key\`, '${event}', @run_id, @at FROM ${T(from)} AS s` +
    (other ? ` WHERE NOT EXISTS (SELECT 1 FROM ${T(other)} AS o WHERE o.\`member_key\` = s.\`member_key\`)` : '') + ';';
  return [
    'DECLARE v_entered INT64 DEFAULT 0;',
    'DECLARE v_exited INT64 DEFAULT 0;',
    'DECLARE v_size INT64 DEFAULT 0;',
    'BEGIN TRANSACTION;',
    log('enter', table, previous),
    'SET v_entered = @@row_count;',
    ...(previous ? [log('exit', previous, table), 'SET v_exited = @@row_count;'] : []),
    `SET v_size = (SELECT COUNT(*) AS n FROM ${T(table)});`,
    `DELETE FROM ${T('snapshots')} WHERE segment_id = @segment_id;`,
    `INSERT INTO ${T('snapshots')} (segment_id, current_table, previous_table, run_id, refreshed_at) VALUES (@segment_id, @snapshot_table, @previous_table, @run_id, @at);`,
    `INSERT INTO ${T('refresh_runs')} (run_id, segment_id, segment_slug, segment_version, as_of, started_at, finished_at, size, entered, exited, snapshot_table) ` +
      'VALUES (@run_id, @segment_id, @segment_slug, @segment_version, @as_of, @at, @finished_at, v_size, v_entered, v_exited, @snapshot_table);',
    'COMMIT TRANSACTION;',
    'SELECT v_size AS size, v_entered AS entered, v_exited AS exited;',
  ].join('\n');
}

const snapshotTable = (segmentId: string, runId: string) => `snap_${segmentId.replace(/-/g, '').slice(0, 12)}_${runId.replace(/-/g, '').slice(0, 12)}`;

// ---- a BigQuery that keeps the state schema's pointers and runs, answering through the fake -------------

const STRING = (name: string) => ({ name, type: 'STRING' });
const INTEGER = (name: string) => ({ name, type: 'INTEGER' });
const POINTER: FakeSchema = { fields: [STRING('current_table'), STRING('previous_table'), STRING('run_id')] };
const COUNTS: FakeSchema = { fields: [INTEGER('size'), INTEGER('entered'), INTEGER('exited')] };
const RECONCILED: FakeSchema = {
  fields: [STRING('run_id'), INTEGER('size'), INTEGER('entered'), INTEGER('exited'), { name: 'finished_at', type: 'TIMESTAMP' }, STRING('snapshot_table')],
};
const RECORDED: FakeSchema = { fields: [INTEGER('size'), INTEGER('entered'), INTEGER('exited'), STRING('snapshot_table')] };

type ScriptAnswer =
  | { counts: [size: number, entered: number, exited: number] }
  /** The script fails: its transaction rolls back. `http`: as an error answer of jobs.query rather than only in the job status. */
  | { error: FakeError; http?: boolean }
  /** The transaction commits, but the answer is a 503: the caller cannot tell. */
  | { commitThen503: [size: number, entered: number, exited: number] }
  /** A 503 and nothing ran. */
  | { lost: true };

class Warehouse {
  migrations: number[] = [];
  pointers = new Map<string, { current: string; previous: string | null; run: string }>();
  runs = new Map<string, [number, number, number, string]>();
  tables = new Set<string>();
  scriptAnswers: ScriptAnswer[] = [];
  ctasError: FakeError | undefined;
  members: Array<[string, string, string]> = [];
  log: Array<[string, string, string, string]> = [];

  answer = (sql: string, _params: unknown, request: FakeQueryRequest): FakeQueryResult | undefined => {
    const p = (name: string) => BigQueryFake.param(request, name);
    const positional = (i: number) => request.parameters[i]?.parameterValue.value;
    if (sql.startsWith('CREATE SCHEMA IF NOT EXISTS') || sql.startsWith('CREATE TABLE IF NOT EXISTS')) return { rows: [] };
    if (sql.startsWith('SELECT version FROM')) return { schema: { fields: [INTEGER('version')] }, rows: wireRows({ fields: [INTEGER('version')] }, this.migrations.map((v) => [v])) };
    if (sql.startsWith(`INSERT INTO ${T('_state_migrations')}`)) {
      this.migrations.push(Number(positional(0)));
      return { rows: [] };
    }
    if (sql === POINTER_SQL) {
      const pointer = this.pointers.get(String(positional(0)));
      return { schema: POINTER, rows: wireRows(POINTER, pointer ? [[pointer.current, pointer.previous, pointer.run]] : []) };
    }
    if (sql.startsWith(`CREATE TABLE ${STATE}.\`snap_`)) {
      if (this.ctasError) return { error: this.ctasError };
      this.tables.add(/`(snap_[^`]+)`/.exec(sql)![1]!);
      return { rows: [] };
    }
    if (sql.startsWith('DECLARE v_entered')) {
      const answer = this.scriptAnswers.shift() ?? { counts: [0, 0, 0] };
      if ('lost' in answer) return { error: { reason: 'backendError', message: 'fake: the connection dropped', status: 503 } };
      if ('error' in answer) return { error: answer.error, ...(answer.http ? {} : { onlyInJobStatus: true }) };
      const counts = 'counts' in answer ? answer.counts : answer.commitThen503;
      const table = String(p('snapshot_table'));
      this.pointers.set(String(p('segment_id')), { current: table, previous: (p('previous_table') ?? null) as string | null, run: String(p('run_id')) });
      this.runs.set(String(p('run_id')), [...counts, table]);
      if ('commitThen503' in answer) return { error: { reason: 'backendError', message: 'fake: the answer was lost', status: 503 } };
      return { schema: COUNTS, rows: wireRows(COUNTS, [counts]) };
    }
    if (sql === RECONCILE_SQL) {
      // The simulation only records committed runs of the scripts it answered; none were missed here.
      return { schema: RECONCILED, rows: [] };
    }
    if (sql.startsWith(`SELECT size, entered, exited, snapshot_table FROM ${T('refresh_runs')} WHERE run_id = ?`)) {
      const run = this.runs.get(String(positional(0)));
      return { schema: RECORDED, rows: wireRows(RECORDED, run ? [run] : []) };
    }
    if (sql.startsWith('DROP TABLE IF EXISTS')) {
      this.tables.delete(/`(snap_[^`]+)`$/.exec(sql)![1]!);
      return { rows: [] };
    }
    if (sql.startsWith('SELECT `member_key`, `email`, `external_id` FROM')) {
      const schema: FakeSchema = { fields: [STRING('member_key'), STRING('email'), STRING('external_id')] };
      return { schema, rows: wireRows(schema, this.members) };
    }
    if (sql.startsWith('SELECT member_key, event, run_id, `at` FROM')) {
      const schema: FakeSchema = { fields: [STRING('member_key'), STRING('event'), STRING('run_id'), { name: 'at', type: 'TIMESTAMP' }] };
      return { schema, rows: wireRows(schema, this.log) };
    }
    if (sql.startsWith('SELECT member_key FROM')) {
      const schema: FakeSchema = { fields: [STRING('member_key')] };
      return { schema, rows: wireRows(schema, this.members.map(([key]) => [key])) };
    }
    return undefined;
  };
}

let fake: BigQueryFake;
let auth: FakeAuthClient;
let wh: BigQueryWarehouse;
let db: Knex;
let dropDatabase: () => Promise<void>;
let databasePort: string;
let refresh: RefreshService;
let sim: Warehouse;
let modelId: string;

beforeAll(async () => {
  delete process.env.BIGQUERY_EMULATOR_HOST;
  process.env.NO_PROXY = [process.env.NO_PROXY ?? process.env.no_proxy, '127.0.0.1'].filter(Boolean).join(',');
  net.Socket.prototype.connect = recordConnect as typeof net.Socket.prototype.connect;
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  databasePort = new URL(database.url).port;
  db = createDb(database.url);
  await migrateLatest(db);
  fake = await BigQueryFake.start();
  auth = fakeAuthClient();
  wh = new BigQueryWarehouse({
    projectId: 'proj', dataset: 'shop', apiEndpoint: fake.endpoint, authClient: auth,
    retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 4 }, pollIntervalMs: 1,
  });
  refresh = new RefreshService({ db, warehouse: wh, queries: new SegmentQueries({ db, warehouse: wh }), stateSchema: 'audiences_state' });
  sim = new Warehouse();
  fake.onQuery(sim.answer);
  const [model] = await db('models').insert({
    slug: 'customers', name: 'Customers',
    definition: {
      slug: 'customers', name: 'Customers', schema: 'shop', table: 'customers', primaryKey: 'customer_id',
      attributes: [
        { name: 'customer_id', type: 'integer' }, { name: 'email', type: 'string' }, { name: 'country', type: 'string' },
        { name: 'ltv', type: 'number' }, { name: 'created_at', type: 'timestamp' },
      ],
      identifiers: { email: 'email', external_id: 'customer_id' },
    } as never,
  }).returning('id');
  modelId = (model as { id: string }).id;
});

afterEach(() => {
  sim.scriptAnswers = [];
  sim.ctasError = undefined;
  fake.reset();
  fake.onQuery(sim.answer);
});

afterAll(async () => {
  net.Socket.prototype.connect = originalConnect;
  await refresh?.drain();
  await wh?.close();
  await fake?.close();
  await db?.destroy();
  await dropDatabase?.();
});

const RULE = { and: [{ in: [{ var: 'country' }, ['US', 'CA']] }, { '>': [{ var: 'ltv' }, 500] }, { within_last: [{ var: 'created_at' }, 90, 'days'] }] };

async function createSegment(slug: string): Promise<string> {
  const [row] = await db('segments').insert({ slug, name: slug, model_id: modelId, rule: JSON.stringify(RULE), tags: [] }).returning('id');
  return (row as { id: string }).id;
}

const run = (slug: string) => refresh.start(slug, { asOf: AS_OF, wait: true });

/** Each query job sent: its SQL, parameter mode and parameters as `name:TYPE=value` (positional ones as `#i`). */
function jobs(): Array<{ sql: string; mode: string | undefined; params: string[] }> {
  return fake.queries.map((q) => ({
    sql: q.sql,
    mode: q.parameterMode,
    params: q.parameters.map((p, i) => {
      const type = p.parameterType.arrayType ? `ARRAY<${p.parameterType.arrayType.type}>` : p.parameterType.type;
      const value = p.parameterValue.arrayValues ? JSON.stringify(p.parameterValue.arrayValues.map((v) => v.value)) : String(p.parameterValue.value);
      return `${p.name ?? `#${i + 1}`}:${type}=${value}`;
    }),
  }));
}

/** Named and positional parameters never meet in one request; every named placeholder is sent, and only those. */
function expectParameterStylesApart(): void {
  for (const q of fake.queries) {
    const named = new Set([...q.sql.matchAll(/(?<!@)@([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    if (q.parameterMode === 'named') {
      expect(q.sql).not.toContain('?');
      expect(q.parameters.every((p) => typeof p.name === 'string')).toBe(true);
      expect(new Set(q.parameters.map((p) => p.name))).toEqual(named);
    } else {
      expect(named).toEqual(new Set());
      expect(q.parameters.every((p) => p.name === undefined)).toBe(true);
      expect(q.sql.split('?').length - 1).toBe(q.parameters.length);
    }
  }
}

const COMPILED_PARAMS = ['p1:ARRAY<STRING>=["US","CA"]', 'p2:FLOAT64=500', 'p3:TIMESTAMP=2026-08-03T00:00:00.000Z', 'p4:TIMESTAMP=2026-11-01T00:00:00.000Z'];
const scriptParams = (segmentId: string, slug: string, r: RefreshRun, table: string, previous: string | null, finishedAt: string) => [
  `segment_id:STRING=${segmentId}`, `segment_slug:STRING=${slug}`, 'segment_version:INT64=1', `run_id:STRING=${r.id}`,
  'as_of:TIMESTAMP=2026-11-01T00:00:00.000Z', `at:TIMESTAMP=${r.startedAt}`, `finished_at:TIMESTAMP=${finishedAt}`,
  `snapshot_table:STRING=${table}`, `previous_table:STRING=${previous}`,
];
const finishedAtOf = (sent: { params: string[] }) => sent.params.find((p) => p.startsWith('finished_at:'))!.split('=')[1]!;

describe('refresh on BigQuery (against the REST fake)', () => {
  it('first refresh: migrates the state dataset, CTAS of the snapshot, one transaction script; the canned counts land in the run', async () => {
    const segmentId = await createSegment('bq-first');
    sim.scriptAnswers.push({ counts: [120, 120, 0] });
    const r = await run('bq-first');
    expect(r).toMatchObject({ status: 'succeeded', size: 120, entered: 120, exited: 0, error: null, segmentVersion: 1 });
    const table = snapshotTable(segmentId, r.id);
    expect(r.sql).toBe(COMPILED);

    const sent = jobs();
    expect(sent.map((j) => j.sql)).toEqual([...MIGRATION_SQL, POINTER_SQL, ctas(table), script(table, null)]);
    expect(sent.map((j) => j.mode)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, 'positional', 'positional', 'named', 'named']);
    expect(sent[6]!.params).toEqual(['#1:INT64=1', expect.stringMatching(/^#2:STRING=\d{4}-\d\d-\d\dT/)]);
    expect(sent[7]!.params).toEqual([`#1:STRING=${segmentId}`]);
    expect(sent[8]!.params).toEqual(COMPILED_PARAMS);
    expect(sent[9]!.params).toEqual(scriptParams(segmentId, 'bq-first', r, table, null, finishedAtOf(sent[9]!)));
    expectParameterStylesApart();
    // Statements without a result are checked through their job's status; those with one are not.
    expect(fake.requests.map((q) => q.endpoint)).toEqual([
      'jobs.query', 'jobs.get', 'jobs.query', 'jobs.get', 'jobs.query', 'jobs.query', 'jobs.get', 'jobs.query', 'jobs.get', 'jobs.query', 'jobs.get',
      'jobs.query', 'jobs.get', 'jobs.query', 'jobs.query', 'jobs.get', 'jobs.query',
    ]);
    expect(fake.requests.every((q) => q.authorization === 'Bearer fake')).toBe(true);

    const row = await db('refresh_runs').where({ id: r.id }).first();
    expect(row).toMatchObject({ status: 'succeeded', size: 120, entered: 120, exited: 0, snapshot_table: table });
    expect(sim.pointers.get(segmentId)).toEqual({ current: table, previous: null, run: r.id });
  });

  it('second and third refreshes: exits by anti-join, the pointer swap names the previous table, the displaced one is dropped after the commit', async () => {
    const segmentId = await createSegment('bq-again');
    sim.scriptAnswers.push({ counts: [120, 120, 0] }, { counts: [118, 5, 7] }, { counts: [119, 1, 0] });
    const first = await run('bq-again');
    const t1 = snapshotTable(segmentId, first.id);
    fake.reset();
    fake.onQuery(sim.answer);

    const second = await run('bq-again');
    expect(second).toMatchObject({ status: 'succeeded', size: 118, entered: 5, exited: 7 });
    const t2 = snapshotTable(segmentId, second.id);
    let sent = jobs();
    // The state schema is migrated once per process.
    expect(sent.map((j) => j.sql)).toEqual([POINTER_SQL, ctas(t2), script(t2, t1)]);
    expect(sent[2]!.sql).toContain(`FROM ${T(t1)} AS s WHERE NOT EXISTS (SELECT 1 FROM ${T(t2)} AS o WHERE o.\`member_key\` = s.\`member_key\`)`);
    expect(sent[2]!.params).toEqual(scriptParams(segmentId, 'bq-again', second, t2, t1, finishedAtOf(sent[2]!)));
    expect(fake.requests.map((q) => q.endpoint)).toEqual(['jobs.query', 'jobs.query', 'jobs.get', 'jobs.query']);
    expectParameterStylesApart();
    fake.reset();
    fake.onQuery(sim.answer);

    const third = await run('bq-again');
    expect(third).toMatchObject({ status: 'succeeded', size: 119, entered: 1, exited: 0 });
    const t3 = snapshotTable(segmentId, third.id);
    sent = jobs();
    expect(sent.map((j) => j.sql)).toEqual([POINTER_SQL, ctas(t3), script(t3, t2), drop(t1)]);
    expect(sent[3]!.mode).toBeUndefined();
    expect(sim.pointers.get(segmentId)).toEqual({ current: t3, previous: t2, run: third.id });
    expect(sim.tables.has(t1)).toBe(false);
    expectParameterStylesApart();
    const history = await refresh.history('bq-again', {});
    expect(history.map((h) => [h.size, h.entered, h.exited])).toEqual([[120, 120, 0], [118, 5, 7], [119, 1, 0]]);
  });

  it.each([
    ['reported in the job status (as a failed script is)', false],
    ['answered as an HTTP error', true],
  ])('a job error in the transaction (%s) fails the run, drops the new table and never swaps the pointer', async (_label, http) => {
    const slug = `bq-fails-${http ? 'http' : 'status'}`;
    const segmentId = await createSegment(slug);
    sim.scriptAnswers.push({ counts: [10, 10, 0] }, { error: { reason: 'invalidQuery', message: 'Query error: division by zero: 1 / 0 at [7:1]' }, http });
    const first = await run(slug);
    const t1 = snapshotTable(segmentId, first.id);
    fake.reset();
    fake.onQuery(sim.answer);

    const failed = await run(slug);
    const t2 = snapshotTable(segmentId, failed.id);
    expect(failed).toMatchObject({ status: 'failed', size: null, entered: null, exited: null });
    expect(failed.error).toMatch(/^BigQuery query failed \(.*invalidQuery\): Query error: division by zero/);
    expect(jobs().map((j) => j.sql)).toEqual([POINTER_SQL, ctas(t2), script(t2, t1), drop(t2)]);
    expect(fake.requests.map((q) => q.endpoint)).toEqual(
      http ? ['jobs.query', 'jobs.query', 'jobs.get', 'jobs.query', 'jobs.query', 'jobs.get']
        : ['jobs.query', 'jobs.query', 'jobs.get', 'jobs.query', 'jobs.get', 'jobs.query', 'jobs.get'],
    );
    // Only the failed script (rolled back) ever held the swap; the pointer and the tables are as before.
    expect(jobs().filter((j) => j.sql.includes(`DELETE FROM ${T('snapshots')}`))).toHaveLength(1);
    expect(sim.pointers.get(segmentId)).toEqual({ current: t1, previous: null, run: first.id });
    expect(sim.tables.has(t2)).toBe(false);
    expect(sim.tables.has(t1)).toBe(true);
    expect(await db('refresh_runs').where({ id: failed.id }).first()).toMatchObject({ status: 'failed', snapshot_table: null });
    fake.reset();
    fake.onQuery(sim.answer);

    // The next refresh starts from the previous snapshot, untouched.
    sim.scriptAnswers.push({ counts: [11, 1, 0] });
    const next = await run(slug);
    const t3 = snapshotTable(segmentId, next.id);
    expect(next).toMatchObject({ status: 'succeeded', size: 11, entered: 1, exited: 0 });
    // After a failed run, the warehouse is asked first whether it committed runs the store missed.
    expect(jobs().map((j) => j.sql)).toEqual([RECONCILE_SQL, POINTER_SQL, ctas(t3), script(t3, t1)]);
  });

  it('a failing CREATE TABLE … AS fails the run before any transaction, and drops whatever it may have left', async () => {
    const segmentId = await createSegment('bq-ctas-fails');
    sim.ctasError = { reason: 'invalidQuery', message: 'Unrecognized name: ltv at [1:400]' };
    try {
      const r = await run('bq-ctas-fails');
      expect(r).toMatchObject({ status: 'failed' });
      expect(r.error).toContain('Unrecognized name: ltv');
      const table = snapshotTable(segmentId, r.id);
      expect(jobs().map((j) => j.sql)).toEqual([POINTER_SQL, ctas(table), drop(table)]);
      expect(sim.pointers.has(segmentId)).toBe(false);
    } finally {
      sim.ctasError = undefined;
    }
  });

  it('retries the transaction BigQuery aborted for a concurrent update of a state table', async () => {
    const segmentId = await createSegment('bq-conflict');
    sim.scriptAnswers.push(
      { error: { reason: 'invalidQuery', message: 'Transaction is aborted due to concurrent update against table proj:audiences_state.snapshots. Transaction ID: 1 at [9:1]' } },
      { counts: [3, 3, 0] },
    );
    const r = await run('bq-conflict');
    const table = snapshotTable(segmentId, r.id);
    expect(r).toMatchObject({ status: 'succeeded', size: 3, entered: 3, exited: 0 });
    expect(jobs().map((j) => j.sql)).toEqual([POINTER_SQL, ctas(table), script(table, null), script(table, null)]);
  });

  it('after a lost answer, the pointer tells: committed runs succeed with their recorded counts, others fail and keep the table', async () => {
    const segmentId = await createSegment('bq-lost');
    sim.scriptAnswers.push({ commitThen503: [42, 42, 0] }, { lost: true });
    const committed = await run('bq-lost');
    const t1 = snapshotTable(segmentId, committed.id);
    expect(committed).toMatchObject({ status: 'succeeded', size: 42, entered: 42, exited: 0, error: null });
    // The script is sent once (no retry of a non-idempotent job); then the pointer and the recorded run are read.
    expect(jobs().map((j) => j.sql)).toEqual([
      POINTER_SQL, ctas(t1), script(t1, null), POINTER_SQL,
      'SELECT size, entered, exited, snapshot_table FROM `audiences_state`.`refresh_runs` WHERE run_id = ?',
    ]);
    fake.reset();
    fake.onQuery(sim.answer);

    const lost = await run('bq-lost');
    const t2 = snapshotTable(segmentId, lost.id);
    expect(lost.status).toBe('failed');
    expect(lost.error).toContain(`unknown whether the refresh committed: snapshot table ${t2} left in place`);
    expect(jobs().map((j) => j.sql)).toEqual([POINTER_SQL, ctas(t2), script(t2, t1), POINTER_SQL]);
    expect(sim.tables.has(t2)).toBe(true);
    expect(sim.pointers.get(segmentId)?.current).toBe(t1);
  });

  it('members, changes, the log replay and current keys: GoogleSQL with positional parameters, INT64 limits, TIMESTAMP casts', async () => {
    const segmentId = await createSegment('bq-read');
    sim.scriptAnswers.push({ counts: [3, 3, 0] });
    const r = await run('bq-read');
    const table = snapshotTable(segmentId, r.id);
    fake.reset();
    fake.onQuery(sim.answer);
    sim.members = [['1', 'ada@example.com', '1'], ['2', 'bob@example.com', '2'], ['3', null as never, '3']];

    const page = await refresh.members('bq-read', { limit: 2, reveal: true });
    expect(page.data).toEqual([
      { memberKey: '1', identifiers: { email: 'ada@example.com', external_id: '1' } },
      { memberKey: '2', identifiers: { email: 'bob@example.com', external_id: '2' } },
    ]);
    expect(page.runId).toBe(r.id);
    await refresh.members('bq-read', { limit: 2, reveal: false, cursor: page.nextCursor! });
    let sent = jobs();
    expect(sent.map((j) => [j.sql, j.params])).toEqual([
      [POINTER_SQL, [`#1:STRING=${segmentId}`]],
      [`SELECT \`member_key\`, \`email\`, \`external_id\` FROM ${T(table)} ORDER BY \`member_key\` LIMIT ?`, ['#1:INT64=3']],
      [POINTER_SQL, [`#1:STRING=${segmentId}`]],
      [`SELECT \`member_key\`, \`email\`, \`external_id\` FROM ${T(table)} WHERE \`member_key\` > ? ORDER BY \`member_key\` LIMIT ?`, ['#1:STRING=2', '#2:INT64=3']],
    ]);
    fake.reset();
    fake.onQuery(sim.answer);

    sim.log = [['1', 'enter', r.id, r.startedAt], ['2', 'enter', r.id, r.startedAt], ['3', 'enter', r.id, r.startedAt]];
    const since = new Date('2026-01-01T00:00:00Z');
    const until = new Date('2027-01-01T00:00:00Z');
    const changes = await refresh.changes('bq-read', { since, until, limit: 2 });
    expect(changes.data).toEqual([
      { memberKey: '1', event: 'enter', runId: r.id, at: r.startedAt },
      { memberKey: '2', event: 'enter', runId: r.id, at: r.startedAt },
    ]);
    await refresh.changes('bq-read', { since, until, limit: 2, cursor: changes.nextCursor! });
    const changesSql = `SELECT member_key, event, run_id, \`at\` FROM ${T('membership_log')} WHERE segment_id = ? AND \`at\` >= CAST(? AS TIMESTAMP) AND \`at\` < CAST(? AS TIMESTAMP)`;
    sent = jobs();
    expect(sent.map((j) => [j.sql, j.params])).toEqual([
      [`${changesSql} ORDER BY \`at\`, member_key, event LIMIT ?`,
        [`#1:STRING=${segmentId}`, '#2:STRING=2026-01-01T00:00:00.000Z', '#3:STRING=2027-01-01T00:00:00.000Z', '#4:INT64=3']],
      [`${changesSql} AND (\`at\` > CAST(? AS TIMESTAMP) OR (\`at\` = CAST(? AS TIMESTAMP) AND (member_key > ? OR (member_key = ? AND event > ?)))) ORDER BY \`at\`, member_key, event LIMIT ?`,
        [`#1:STRING=${segmentId}`, '#2:STRING=2026-01-01T00:00:00.000Z', '#3:STRING=2027-01-01T00:00:00.000Z',
          `#4:STRING=${r.startedAt}`, `#5:STRING=${r.startedAt}`, '#6:STRING=2', '#7:STRING=2', '#8:STRING=enter', '#9:INT64=3']],
    ]);
    fake.reset();
    fake.onQuery(sim.answer);

    expect(await refresh.membersFromLog(segmentId, new Date(r.startedAt))).toEqual(['1', '2', '3']);
    expect(await refresh.currentMemberKeys(segmentId)).toEqual(['1', '2', '3']);
    expect(jobs().map((j) => [j.sql, j.params])).toEqual([
      [`SELECT member_key FROM (SELECT member_key, event, ROW_NUMBER() OVER (PARTITION BY member_key ORDER BY \`at\` DESC) AS rn FROM ${T('membership_log')} ` +
        `WHERE segment_id = ? AND \`at\` <= CAST(? AS TIMESTAMP)) AS l WHERE rn = 1 AND event = 'enter' ORDER BY member_key`, [`#1:STRING=${segmentId}`, `#2:STRING=${r.startedAt}`]],
      [POINTER_SQL, [`#1:STRING=${segmentId}`]],
      [`SELECT member_key FROM ${T(table)} ORDER BY member_key`, []],
    ]);
    expectParameterStylesApart();
  });

  it('reached nothing but the fake and the metadata Postgres', () => {
    const fakePort = new URL(fake.endpoint).port;
    expect(connections.filter((c) => c !== `127.0.0.1:${fakePort}` && !c.endsWith(`:${databasePort}`))).toEqual([]);
    expect(connections).toContain(`127.0.0.1:${fakePort}`);
    expect(auth.headerRequests).toBeGreaterThan(20);
  });
});
