/**
 * The "service process" of the refresh benchmark, forked by run.ts once per measured refresh (and
 * once per baseline run), so that its peak RSS is the service's alone.
 *
 *   refresh:  openRuntime(loadConfig({DATABASE_URL, WAREHOUSE_URL, STATE_SCHEMA, DEMO: 'false',
 *             LOG_LEVEL: 'silent'})), warm up (pool / DuckDB instance open, state schema ready),
 *             then RefreshService.start(segment, {asOf, wait: true}) while sampling RSS every 50 ms.
 *   baseline: the hand-written statements of baseline.ts in one transaction on the same engine,
 *             with the same sampling.
 *
 * Reads its job from the REFRESH_BENCH_JOB environment variable (JSON) and answers over IPC.
 */
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { loadConfig } from '../../../src/config';
import { openRuntime } from '../../../src/runtime';
import type { Warehouse } from '../../../src/warehouse/warehouse';
import { baselineSetupSql, baselineStatements } from './baseline';
import type { Engine } from './data';
import { msSince, now, RssSampler, type StatementTiming } from './util';

const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface RssReport {
  before: number;
  max: number;
  after: number;
  samples: number;
  maxRssKernel: number;
}

export type Job =
  | {
    mode: 'refresh';
    engine: Engine;
    databaseUrl: string;
    warehouseUrl: string;
    stateSchema: string;
    segment: string;
    asOf: string;
    /** DuckDB only: SET GLOBAL memory_limit before the refresh (a benchmark variant; the service sets none). */
    duckdbMemoryLimit?: string;
  }
  | {
    mode: 'baseline';
    engine: Engine;
    /** Postgres connection string or DuckDB file. */
    target: string;
    schema: string;
    dataSchema: string;
    withIndexes: boolean;
    newTable: string;
    previousTable: string | null;
    segmentId: string;
    runId: string;
    at: string;
    identifiers: Array<[string, string]>;
    duckdbMemoryLimit?: string;
  };

export interface JobResult {
  ok: boolean;
  error?: string;
  /** Refresh: run.durationMs; baseline: BEGIN … COMMIT. */
  durationMs: number;
  /** Around RefreshService.start (load, compile, lock, run rows) or the baseline transaction. */
  wallMs: number;
  transactionMs: number;
  size: number;
  entered: number;
  exited: number;
  statements: StatementTiming[];
  rss: RssReport;
  runId?: string;
  duckdbMemory?: Array<{ tag: string; bytes: number }>;
  duckdbSettings?: Record<string, string>;
}

/** Which step of a refresh a warehouse statement is (state-sql.ts spelling). */
function refreshStep(sql: string): string {
  if (/^INSERT INTO \S*membership_log.*'enter'/.test(sql)) return 'log enters';
  if (/^INSERT INTO \S*membership_log.*'exit'/.test(sql)) return 'log exits';
  if (/^CREATE TABLE \S*snap_/.test(sql)) return 'create snapshot';
  if (/^INSERT INTO \S*snap_/.test(sql)) return 'fill snapshot (compiled query)';
  if (/^SELECT event, COUNT/.test(sql)) return 'count events (log by run_id)';
  if (/^SELECT COUNT\(\*\) AS n FROM/.test(sql)) return 'count rows (snapshot)';
  if (/^SELECT current_table/.test(sql)) return 'read pointer';
  if (/snapshots/.test(sql)) return 'swap pointer';
  if (/^DROP TABLE/.test(sql)) return 'drop older snapshot';
  if (/refresh_runs/.test(sql)) return 'record run (state schema)';
  return sql.slice(0, 40);
}

/** Times every statement of the warehouse's transactions (wraps Warehouse.transaction; src/ untouched). */
function instrument(warehouse: Warehouse, timings: StatementTiming[], transactions: number[]): void {
  const original = warehouse.transaction.bind(warehouse);
  const wrapped: Warehouse['transaction'] = async (work) => {
    const start = now();
    try {
      return await original((query) => work(async (sql, params) => {
        const t = now();
        try {
          return await query(sql, params);
        } finally {
          timings.push({ step: refreshStep(sql), ms: msSince(t) });
        }
      }));
    } finally {
      transactions.push(msSince(start));
    }
  };
  (warehouse as { transaction: Warehouse['transaction'] }).transaction = wrapped;
}

async function duckdbDiagnostics(query: (sql: string) => Promise<Array<Record<string, unknown>>>): Promise<Pick<JobResult, 'duckdbMemory' | 'duckdbSettings'>> {
  const memory = await query(`SELECT tag, memory_usage_bytes AS bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 ORDER BY memory_usage_bytes DESC`);
  const settings = await query(`SELECT name, value FROM duckdb_settings() WHERE name IN ('memory_limit', 'threads', 'temp_directory', 'checkpoint_threshold', 'preserve_insertion_order')`);
  return {
    duckdbMemory: memory.map((r) => ({ tag: String(r.tag), bytes: Number(r.bytes) })),
    duckdbSettings: Object.fromEntries(settings.map((r) => [String(r.name), String(r.value)])),
  };
}

async function runRefresh(job: Extract<Job, { mode: 'refresh' }>): Promise<JobResult> {
  const runtime = await openRuntime(
    loadConfig({ DATABASE_URL: job.databaseUrl, WAREHOUSE_URL: job.warehouseUrl, STATE_SCHEMA: job.stateSchema, DEMO: 'false', LOG_LEVEL: 'silent' }, ROOT),
    { log: () => {} },
  );
  try {
    // Steady state of a running service: pools and the DuckDB instance open, state schema migrated.
    await runtime.warehouse.ping();
    await runtime.refresh.ensureState();
    if (job.engine === 'duckdb' && job.duckdbMemoryLimit) await runtime.warehouse.query(`SET GLOBAL memory_limit = '${job.duckdbMemoryLimit}'`);
    const statements: StatementTiming[] = [];
    const transactions: number[] = [];
    instrument(runtime.warehouse, statements, transactions);
    const sampler = new RssSampler(50).start();
    const start = now();
    const run = await runtime.refresh.start(job.segment, { asOf: new Date(job.asOf), wait: true });
    const wallMs = msSince(start);
    const rss = sampler.stop();
    const diagnostics = job.engine === 'duckdb' ? await duckdbDiagnostics((sql) => runtime.warehouse.query(sql)) : {};
    return {
      ok: run.status === 'succeeded',
      ...(run.error ? { error: run.error } : {}),
      durationMs: run.durationMs ?? Number.NaN,
      wallMs,
      transactionMs: transactions.reduce((a, b) => a + b, 0),
      size: run.size ?? 0,
      entered: run.entered ?? 0,
      exited: run.exited ?? 0,
      statements,
      rss,
      runId: run.id,
      ...diagnostics,
    };
  } finally {
    await runtime.close();
  }
}

interface Session {
  run(sql: string): Promise<number>;
  query(sql: string): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

async function openSession(job: Extract<Job, { mode: 'baseline' }>): Promise<Session> {
  if (job.engine === 'postgres') {
    const client = new pg.Client({ connectionString: job.target, options: '-c TimeZone=UTC' });
    await client.connect();
    return {
      run: async (sql) => (await client.query(sql)).rowCount ?? 0,
      query: async (sql) => (await client.query(sql)).rows as Array<Record<string, unknown>>,
      close: () => client.end(),
    };
  }
  const instance = await DuckDBInstance.create(job.target, { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
  const connection: DuckDBConnection = await instance.connect();
  await connection.run(`SET TimeZone = 'UTC'`);
  if (job.duckdbMemoryLimit) await connection.run(`SET GLOBAL memory_limit = '${job.duckdbMemoryLimit}'`);
  return {
    run: async (sql) => {
      const reader = await connection.runAndReadAll(sql);
      // CREATE TABLE … AS answers a Count row; INSERT/DELETE report rows changed.
      const rows = reader.getRowObjects();
      const count = rows.length === 1 && rows[0] && 'Count' in rows[0] ? Number(rows[0].Count) : Number(reader.rowsChanged);
      return count;
    },
    query: async (sql) => (await connection.runAndReadAll(sql)).getRowObjects() as Array<Record<string, unknown>>,
    close: async () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

async function runBaseline(job: Extract<Job, { mode: 'baseline' }>): Promise<JobResult> {
  const session = await openSession(job);
  try {
    for (const sql of baselineSetupSql(job.schema, job.withIndexes)) await session.run(sql);
    await session.query('SELECT 1');
    const statements = baselineStatements(job);
    const timings: StatementTiming[] = [];
    const sampler = new RssSampler(50).start();
    const start = now();
    await session.run('BEGIN');
    const counts: number[] = [];
    for (const statement of statements) {
      const t = now();
      const rows = await session.run(statement.sql);
      counts.push(rows);
      timings.push({ step: statement.step, ms: msSince(t), rows });
    }
    const tc = now();
    await session.run('COMMIT');
    timings.push({ step: 'commit', ms: msSince(tc) });
    const durationMs = msSince(start);
    const rss = sampler.stop();
    const diagnostics = job.engine === 'duckdb' ? await duckdbDiagnostics((sql) => session.query(sql)) : {};
    return {
      ok: true,
      durationMs,
      wallMs: durationMs,
      transactionMs: durationMs,
      size: counts[0] ?? 0,
      entered: counts[1] ?? 0,
      exited: job.previousTable ? counts[2] ?? 0 : 0,
      statements: timings,
      rss,
      ...diagnostics,
    };
  } finally {
    await session.close();
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.REFRESH_BENCH_JOB ?? 'null') as Job | null;
  if (!job) throw new Error('REFRESH_BENCH_JOB is not set (this file is forked by tests/bench/refresh/run.ts)');
  const result = job.mode === 'refresh' ? await runRefresh(job) : await runBaseline(job);
  await new Promise<void>((resolve, reject) => process.send!(result, (error: Error | null) => (error ? reject(error) : resolve())));
}

main().then(
  () => process.disconnect?.(),
  (error: unknown) => {
    process.stderr.write(`service process failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
    process.disconnect?.();
  },
);
