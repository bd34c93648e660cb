/**
 * Segment refresh benchmark (not a test: nothing asserts on time). Run by tests/bench/run.ts
 * (`npm run bench`), or alone:
 *
 *   node --import tsx tests/bench/refresh/run.ts                                # 1M and 10M customers
 *   REFRESH_BENCH_SIZES=100000 node --import tsx tests/bench/refresh/run.ts     # quick run
 *
 * For each size and engine (embedded Postgres as metadata store and warehouse; DuckDB file as
 * warehouse with the same embedded Postgres as metadata store):
 *   1. generate N customers set-based in SQL, create the model and a segment (~42% of customers)
 *      through the services;
 *   2. initial refresh (everyone enters), in a forked "service process" sampling its RSS every 50 ms;
 *   3. the hand-written baseline doing the same work in one transaction (also forked);
 *   4. 1% churn (0.5% leave, 0.5% join) and 0.1% identifier changes, in SQL;
 *   5. churn refresh and its baseline.
 * Snapshots of the service and the baseline are compared (same keys and fingerprints) and so are
 * the enter/exit counts.
 *
 * Environment:
 *   REFRESH_BENCH_SIZES              comma-separated customer counts (default 1000000,10000000)
 *   REFRESH_BENCH_ENGINES            subset of postgres,duckdb (default both)
 *   REFRESH_BENCH_BASELINE_NOINDEX   0: skip the second baseline whose log has no indexes (default 1)
 *   REFRESH_BENCH_DUCKDB_MEMORY_LIMIT  e.g. 1GB: also run DuckDB with SET GLOBAL memory_limit in the
 *                                    service process (a variant; the service itself sets none)
 *   REFRESH_BENCH_REPS               repetitions of each measurement (default 2): repetition r refreshes
 *                                    twin segment r (same rule, same log) and runs baseline r
 *   REFRESH_BENCH_EXPLAIN            0: skip the EXPLAINs of the slow statements (default 1)
 *   REFRESH_BENCH_EXPLAIN_ANALYZE_MAX  EXPLAIN ANALYZE up to this many customers, plain EXPLAIN above (default 1000000)
 *
 * Prints a Markdown report and writes it to tests/bench/refresh/results.md.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { loadConfig } from '../../../src/config';
import { openRuntime } from '../../../src/runtime';
import { baselineStatements } from './baseline';
import { churnSql, createCustomersSql, insertCustomersSql, modelDefinition, q, SEGMENT_RULE, type Engine } from './data';
import { explainPostgres, explainDuckDB, type Explained } from './explain';
import { effectiveSettings, PG_SETTINGS, startBenchPostgres, type BenchPostgres } from './pg-server';
import { refreshSummary, renderReport, type EngineRun, type Measurement } from './report';
import type { Job, JobResult } from './service-process';
import { loadAverage, log, msSince, now, sizeTag } from './util';

const HERE = import.meta.dirname;
const ROOT = path.resolve(HERE, '../../..');
const AS_OF = '2026-11-01T00:00:00.000Z';

function listEnv(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(',').map((s) => s.trim().replace(/_/g, '')).filter(Boolean);
}

const refreshConfig = () => ({
  sizes: listEnv('REFRESH_BENCH_SIZES', '1000000,10000000').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1000) throw new Error(`REFRESH_BENCH_SIZES: "${s}" is not an integer ≥ 1000`);
    return n;
  }),
  engines: listEnv('REFRESH_BENCH_ENGINES', 'postgres,duckdb').map((e) => {
    if (e !== 'postgres' && e !== 'duckdb') throw new Error(`REFRESH_BENCH_ENGINES: unknown engine "${e}"`);
    return e as Engine;
  }),
  noIndexBaseline: process.env.REFRESH_BENCH_BASELINE_NOINDEX !== '0',
  duckdbMemoryLimit: process.env.REFRESH_BENCH_DUCKDB_MEMORY_LIMIT || undefined,
  explain: process.env.REFRESH_BENCH_EXPLAIN !== '0',
  reps: Math.max(1, Number(process.env.REFRESH_BENCH_REPS ?? 2)),
  outFile: process.env.BENCH_OUT_DIR ? path.join(process.env.BENCH_OUT_DIR, 'refresh-results.md') : path.join(HERE, 'results.md'),
});
let config = refreshConfig();

function sourceVersion(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
    const head = git('log', '-1', '--format=%h %cd %s', '--date=iso').trim();
    const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).map((l) => l.slice(3));
    return `${head.slice(0, 120)}${dirty.length ? `; uncommitted changes in ${dirty.join(', ')}` : '; src/ clean'}`;
  } catch {
    return 'unknown (no git)';
  }
}

/** The service process running now (stopped with the run on SIGINT/SIGTERM). */
let currentChild: ChildProcess | undefined;
/**
 * Set when this process got SIGINT/SIGTERM. The handler SIGKILLs the service process, so without
 * this the run would be reported as "service process exited with SIGKILL": that is how the earlier
 * interrupted run (100k, 8.5 s) ended — the harness's own kill, not the OOM killer.
 */
let interruptedBy: NodeJS.Signals | undefined;

/** Forks the service process for one job and waits for its answer. */
function runJob(job: Job): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    const child = currentChild = fork(path.join(HERE, 'service-process.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, REFRESH_BENCH_JOB: JSON.stringify(job) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: JobResult | undefined;
    child.on('message', (message) => { result = message as JobResult; });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (currentChild === child) currentChild = undefined;
      if (result && result.ok) resolve(result);
      else if (result) reject(new Error(`${job.mode} failed: ${result.error ?? 'unknown error'}`));
      else if (interruptedBy) reject(new Error(`benchmark interrupted by ${interruptedBy} (the ${job.mode} process was stopped by the harness)`));
      else reject(new Error(`service process exited with ${code ?? signal} without an answer` +
        (signal === 'SIGKILL' ? ' (not sent by this harness: look for the OOM killer in dmesg / journalctl -k)' : '')));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Engines, as seen from the parent (data generation, churn, checks). Never open while a child runs.

interface Admin {
  run(sql: string): Promise<number>;
  rows(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

async function pgAdmin(url: string): Promise<Admin> {
  const client = new pg.Client({ connectionString: url, options: '-c TimeZone=UTC' });
  await client.connect();
  return {
    run: async (sql) => (await client.query(sql)).rowCount ?? 0,
    rows: async (sql, params = []) => (await client.query(sql, params)).rows as Array<Record<string, unknown>>,
    close: () => client.end(),
  };
}

async function duckAdmin(file: string): Promise<Admin> {
  const instance = await DuckDBInstance.create(file, { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
  const connection = await instance.connect();
  await connection.run(`SET TimeZone = 'UTC'`);
  return {
    run: async (sql) => Number((await connection.runAndReadAll(sql)).rowsChanged),
    rows: async (sql, params = []) => (await connection.runAndReadAll(sql, params as never)).getRowObjects() as Array<Record<string, unknown>>,
    close: async () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

interface Target {
  engine: Engine;
  size: number;
  tag: string;
  dataSchema: string;
  stateSchema: string;
  baseSchema: string;
  baseNoIndexSchema: string;
  warehouseUrl: string;
  duckdbFile: string | null;
  modelSlug: string;
  segmentSlug: string;
}

async function generate(pgServer: BenchPostgres, target: Target): Promise<{ ms: number; vacuumMs: number; tableSize: string }> {
  const start = now();
  if (target.engine === 'postgres') {
    const admin = await pgAdmin(pgServer.url);
    try {
      for (const sql of createCustomersSql('postgres', target.dataSchema)) await admin.run(sql);
    } finally {
      await admin.close();
    }
    // generate_series is single-threaded: two sessions (two cores) insert 500k-id chunks.
    const chunk = 500_000;
    const ranges: Array<[number, number]> = [];
    for (let from = 1; from <= target.size; from += chunk) ranges.push([from, Math.min(target.size, from + chunk - 1)]);
    await Promise.all([0, 1].map(async () => {
      const worker = await pgAdmin(pgServer.url);
      try {
        for (let range = ranges.shift(); range; range = ranges.shift()) await worker.run(insertCustomersSql('postgres', target.dataSchema, range[0], range[1]));
      } finally {
        await worker.close();
      }
    }));
    const ms = msSince(start);
    const admin2 = await pgAdmin(pgServer.url);
    try {
      const v = now();
      // Sets hint bits and the visibility map, as on a settled warehouse table; then flush.
      await admin2.run(`VACUUM (FREEZE, ANALYZE) ${q(target.dataSchema)}.customers`);
      await admin2.run('CHECKPOINT');
      const vacuumMs = msSince(v);
      const [row] = await admin2.rows(`SELECT pg_size_pretty(pg_total_relation_size($1::regclass)) AS size`, [`${q(target.dataSchema)}.customers`]);
      return { ms, vacuumMs, tableSize: String(row?.size) };
    } finally {
      await admin2.close();
    }
  }
  const admin = await duckAdmin(target.duckdbFile!);
  try {
    for (const sql of createCustomersSql('duckdb', target.dataSchema)) await admin.run(sql);
    await admin.run(insertCustomersSql('duckdb', target.dataSchema, 1, target.size));
    const ms = msSince(start);
    const v = now();
    await admin.run('CHECKPOINT');
    const vacuumMs = msSince(v);
    const [row] = await admin.rows(`SELECT sum(total_blocks * block_size) AS bytes FROM pragma_database_size()`);
    return { ms, vacuumMs, tableSize: `${(Number(row?.bytes) / 2 ** 20).toFixed(0)} MB (database file)` };
  } finally {
    await admin.close();
  }
}

async function churn(pgServer: BenchPostgres, target: Target): Promise<{ ms: number; changed: number[] }> {
  const start = now();
  const admin = target.engine === 'postgres' ? await pgAdmin(pgServer.url) : await duckAdmin(target.duckdbFile!);
  try {
    const changed: number[] = [];
    for (const sql of churnSql(target.dataSchema)) changed.push(await admin.run(sql));
    if (target.engine === 'postgres') await admin.run(`VACUUM (ANALYZE) ${q(target.dataSchema)}.customers`);
    await admin.run('CHECKPOINT');
    return { ms: msSince(start), changed };
  } finally {
    await admin.close();
  }
}

/**
 * Creates the model and the segment through the services (validated against the warehouse).
 * Answers the segment ids and the snapshot's text columns ([kind, column]) in the order the
 * service writes and fingerprints them: asked of the service itself (SegmentQueries.compileSnapshot:
 * the identifiers, then the consent columns since the syncs change), each kind mapped back to its
 * column through the stored model.
 */
async function createModelAndSegment(pgServer: BenchPostgres, target: Target, count: number): Promise<{ segmentIds: string[]; identifiers: Array<[string, string]> }> {
  const runtime = await openRuntime(
    loadConfig({ DATABASE_URL: pgServer.url, WAREHOUSE_URL: target.warehouseUrl, STATE_SCHEMA: target.stateSchema, DEMO: 'false', LOG_LEVEL: 'silent' }, ROOT),
    { log: () => {} },
  );
  try {
    const model = await runtime.models.create(modelDefinition(target.modelSlug, target.dataSchema));
    const segmentIds: string[] = [];
    for (let i = 1; i <= count; i++) {
      const segment = await runtime.segments.create({
        slug: `${target.segmentSlug}-${i}`, name: `Opted-in customers in 10 countries (${target.tag}, twin ${i})`, model: target.modelSlug, rule: SEGMENT_RULE, tags: ['bench'],
      });
      segmentIds.push(segment.id);
    }
    const stored = await runtime.models.get(model.id) as { identifiers: Record<string, unknown>; consent?: Record<string, unknown> };
    const { identifierKinds } = runtime.queries.compileSnapshot(await runtime.queries.loadSegment(segmentIds[0]!), new Date(AS_OF));
    const identifiers = identifierKinds.map((kind): [string, string] => {
      const column = stored.identifiers[kind] ?? (kind.startsWith('consent_') ? stored.consent?.[kind.slice('consent_'.length)] : undefined);
      if (typeof column !== 'string') throw new Error(`snapshot column "${kind}" maps to no model attribute`);
      return [kind, column];
    });
    return { segmentIds, identifiers };
  } finally {
    await runtime.close();
  }
}

/** Same members and fingerprints in the service's snapshot and the baseline's. */
async function compareSnapshots(pgServer: BenchPostgres, target: Target, segmentId: string, baselineTable: string): Promise<{ serviceTable: string; onlyService: number; onlyBaseline: number; serviceRows: number; baselineRows: number }> {
  const admin = target.engine === 'postgres' ? await pgAdmin(pgServer.url) : await duckAdmin(target.duckdbFile!);
  try {
    const [pointer] = await admin.rows(`SELECT current_table FROM ${q(target.stateSchema)}.snapshots WHERE segment_id = $1`, [segmentId]);
    const serviceTable = String(pointer?.current_table);
    const s = `${q(target.stateSchema)}.${q(serviceTable)}`;
    const b = `${q(target.baseSchema)}.${q(baselineTable)}`;
    const missing = (from: string, other: string) =>
      `SELECT COUNT(*) AS n FROM ${from} AS x WHERE NOT EXISTS (SELECT 1 FROM ${other} AS y WHERE y.member_key = x.member_key AND y.fingerprint = x.fingerprint)`;
    const [a] = await admin.rows(missing(s, b));
    const [c] = await admin.rows(missing(b, s));
    const [sr] = await admin.rows(`SELECT COUNT(*) AS n FROM ${s}`);
    const [br] = await admin.rows(`SELECT COUNT(*) AS n FROM ${b}`);
    if (Number(a?.n) > 0) {
      const [first] = await admin.rows(`SELECT * FROM ${s} AS x WHERE NOT EXISTS (SELECT 1 FROM ${b} AS y WHERE y.member_key = x.member_key AND y.fingerprint = x.fingerprint) LIMIT 1`);
      const other = first ? await admin.rows(`SELECT * FROM ${b} WHERE member_key = $1`, [first.member_key]) : [];
      log(`first difference: service ${JSON.stringify(first)} baseline ${JSON.stringify(other[0] ?? null)}`);
    }
    return { serviceTable, onlyService: Number(a?.n), onlyBaseline: Number(c?.n), serviceRows: Number(sr?.n), baselineRows: Number(br?.n) };
  } finally {
    await admin.close();
  }
}

async function checkpoint(pgServer: BenchPostgres): Promise<void> {
  const admin = await pgAdmin(pgServer.url);
  try {
    await admin.run('CHECKPOINT');
  } finally {
    await admin.close();
  }
}

async function cleanup(pgServer: BenchPostgres, target: Target): Promise<void> {
  if (target.engine === 'postgres') {
    const admin = await pgAdmin(pgServer.url);
    try {
      for (const schema of [target.dataSchema, target.stateSchema, target.baseSchema, target.baseNoIndexSchema]) await admin.run(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
      await admin.run('CHECKPOINT');
    } finally {
      await admin.close();
    }
  } else {
    for (const suffix of ['', '.wal']) await fsp.rm(`${target.duckdbFile!}${suffix}`, { force: true });
  }
}

async function benchEngine(pgServer: BenchPostgres, duckDir: string, engine: Engine, size: number, variant: { duckdbMemoryLimit?: string } = {}): Promise<EngineRun> {
  const tag = sizeTag(size);
  const label = engine === 'postgres' ? 'postgres' : variant.duckdbMemoryLimit ? `duckdb (memory_limit=${variant.duckdbMemoryLimit})` : 'duckdb';
  const slugTag = `${engine}-${tag}${variant.duckdbMemoryLimit ? '-memlimit' : ''}`;
  const duckdbFile = engine === 'duckdb' ? path.join(duckDir, `refresh-${slugTag}.duckdb`) : null;
  const target: Target = {
    engine, size, tag,
    dataSchema: `rb_data_${tag}`,
    stateSchema: `rb_state_${tag}`,
    baseSchema: `rb_base_${tag}`,
    baseNoIndexSchema: `rb_base_noidx_${tag}`,
    warehouseUrl: engine === 'postgres' ? pgServer.url : `duckdb://${duckdbFile}`,
    duckdbFile,
    modelSlug: `rb-${slugTag}`,
    segmentSlug: `rb-${slugTag}-opted-in`,
  };
  const started = now();
  log(`${label} ${tag}: generating ${size.toLocaleString('en-US')} customers`);
  const generated = await generate(pgServer, target);
  log(`${label} ${tag}: generated in ${(generated.ms / 1000).toFixed(1)} s (+ ${(generated.vacuumMs / 1000).toFixed(1)} s vacuum/checkpoint), ${generated.tableSize}`);
  const { segmentIds, identifiers } = await createModelAndSegment(pgServer, target, config.reps);

  const measurements: Measurement[] = [];
  const explained: Explained[] = [];
  let churned: { ms: number; changed: number[] } | undefined;
  for (const kind of ['initial', 'churn'] as const) {
    if (kind === 'churn') {
      churned = await churn(pgServer, target);
      log(`${label} ${tag}: churn applied in ${(churned.ms / 1000).toFixed(1)} s (${churned.changed.join(' + ')} rows updated)`);
    }
    const at = new Date().toISOString();
    // Repetition r refreshes twin segment r (same rule) and runs baseline r (its own snapshots, same log).
    const baselineJob = (schema: string, withIndexes: boolean, rep: number): Job => ({
      mode: 'baseline', engine, target: engine === 'postgres' ? pgServer.url : duckdbFile!, schema, dataSchema: target.dataSchema, withIndexes,
      newTable: `snap_${kind}_${rep + 1}`, previousTable: kind === 'churn' ? `snap_initial_${rep + 1}` : null,
      segmentId: `baseline-${rep + 1}`, runId: randomUUID(), at, identifiers,
      ...(variant.duckdbMemoryLimit ? { duckdbMemoryLimit: variant.duckdbMemoryLimit } : {}),
    });

    const loadBefore = loadAverage();
    const refreshes: JobResult[] = [];
    const baselines: JobResult[] = [];
    for (let rep = 0; rep < config.reps; rep++) {
      await checkpoint(pgServer);
      const refresh = await runJob({
        mode: 'refresh', engine, databaseUrl: pgServer.url, warehouseUrl: target.warehouseUrl, stateSchema: target.stateSchema,
        segment: segmentIds[rep]!, asOf: AS_OF, ...(variant.duckdbMemoryLimit ? { duckdbMemoryLimit: variant.duckdbMemoryLimit } : {}),
      });
      refreshes.push(refresh);
      log(`${label} ${tag} ${kind} #${rep + 1}: refresh ${refresh.durationMs} ms (wall ${refresh.wallMs.toFixed(0)} ms), size ${refresh.size}, +${refresh.entered} −${refresh.exited}, peak RSS ${(refresh.rss.max / 2 ** 20).toFixed(0)} MiB`);
      await checkpoint(pgServer);
      const baseline = await runJob(baselineJob(target.baseSchema, true, rep));
      baselines.push(baseline);
      log(`${label} ${tag} ${kind} #${rep + 1}: baseline ${baseline.durationMs.toFixed(0)} ms, size ${baseline.size}, +${baseline.entered} −${baseline.exited}`);
    }
    let baselineNoIndex: JobResult | undefined;
    if (config.noIndexBaseline) {
      await checkpoint(pgServer);
      baselineNoIndex = await runJob(baselineJob(target.baseNoIndexSchema, false, 0));
      log(`${label} ${tag} ${kind}: baseline without log indexes ${baselineNoIndex.durationMs.toFixed(0)} ms`);
    }
    const loadAfter = loadAverage();
    let same = true;
    const checks = [];
    for (let rep = 0; rep < config.reps; rep++) {
      const refresh = refreshes[rep]!;
      const baseline = baselines[rep]!;
      const check = await compareSnapshots(pgServer, target, segmentIds[rep]!, `snap_${kind}_${rep + 1}`);
      checks.push(check);
      const countsAgree = refresh.size === baseline.size && refresh.entered === baseline.entered && refresh.exited === baseline.exited;
      const ok = countsAgree && check.onlyService === 0 && check.onlyBaseline === 0 && check.serviceRows === check.baselineRows;
      if (!ok) log(`WARNING ${label} ${tag} ${kind} #${rep + 1}: service and baseline differ: ${JSON.stringify({ refresh: [refresh.size, refresh.entered, refresh.exited], baseline: [baseline.size, baseline.entered, baseline.exited], check })}`);
      same &&= ok;
    }
    measurements.push({ kind, refreshes, baselines, ...(baselineNoIndex ? { baselineNoIndex } : {}), same, loadBefore, loadAfter });

    if (config.explain && kind === 'churn') {
      const serviceSnapshot = checks[0]!.serviceTable;
      const statements = baselineStatements({ engine, schema: target.baseSchema, dataSchema: target.dataSchema, newTable: 'snap_explain', previousTable: null, segmentId: 'x', runId: 'x', at, identifiers });
      try {
        const meta = await pgAdmin(pgServer.url);
        let compiled: { sql: string; params: unknown[] };
        try {
          const [run] = await meta.rows(`SELECT sql, params FROM refresh_runs WHERE id = $1`, [refreshes[0]!.runId]);
          compiled = { sql: String(run?.sql), params: ((run?.params ?? []) as Array<{ value: unknown }>).map((p) => p.value) };
        } finally {
          await meta.close();
        }
        const input = { target, compiled, serviceSnapshot, baselineSql: statements[0]!.sql, segmentId: segmentIds[0]!, runId: refreshes[0]!.runId!, identifiers };
        explained.push(...(engine === 'postgres' ? await explainPostgres(pgServer.url, input) : await explainDuckDB(duckdbFile!, input)));
      } catch (error) {
        log(`EXPLAIN failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  await cleanup(pgServer, target);
  return { engine: label, size, generated, churned: churned!, measurements, explained, totalMs: msSince(started) };
}

export interface RefreshSuiteResult {
  markdown: string;
  summary: string[];
  file: string;
  failed: boolean;
}

export async function runRefreshBench(): Promise<RefreshSuiteResult> {
  config = refreshConfig();
  const startedAt = new Date();
  const started = now();
  const environment: Array<[string, string]> = [
    ['Machine', `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.platform()} ${os.release()}`],
    ['Node', process.version],
    ['Source (git)', sourceVersion()],
    ['Load average at start (1/5/15 min)', loadAverage()],
    ['Configuration', `REFRESH_BENCH_SIZES=${config.sizes.join(',')}, REFRESH_BENCH_ENGINES=${config.engines.join(',')}, baseline without log indexes: ${config.noIndexBaseline ? 'yes' : 'no'}` +
      `, REFRESH_BENCH_REPS=${config.reps}${config.duckdbMemoryLimit ? `, REFRESH_BENCH_DUCKDB_MEMORY_LIMIT=${config.duckdbMemoryLimit}` : ''}`],
  ];
  const pgServer = await startBenchPostgres();
  const duckDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'audiences-refresh-bench-duckdb-'));
  // Ctrl-C / kill: stop the service process, the embedded Postgres and remove the temporary data.
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      interruptedBy = signal;
      log(`${signal}: stopping`);
      currentChild?.kill('SIGKILL');
      void pgServer.stop().catch(() => {}).finally(() => {
        fs.rmSync(duckDir, { recursive: true, force: true });
        process.exit(130);
      });
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  const runs: EngineRun[] = [];
  let settings: Array<{ name: string; setting: string }> = [];
  let failure: unknown;
  try {
    settings = await effectiveSettings(pgServer.url);
    for (const size of config.sizes) {
      for (const engine of config.engines) {
        runs.push(await benchEngine(pgServer, duckDir, engine, size));
        if (engine === 'duckdb' && config.duckdbMemoryLimit) runs.push(await benchEngine(pgServer, duckDir, engine, size, { duckdbMemoryLimit: config.duckdbMemoryLimit }));
      }
    }
  } catch (error) {
    failure = error;
    log(`run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    await pgServer.stop().catch(() => {});
    await fsp.rm(duckDir, { recursive: true, force: true });
  }
  environment.push(['Load average at end (1/5/15 min)', loadAverage()]);
  const markdown = renderReport({ startedAt, totalMs: msSince(started), environment, settings, settingNotes: PG_SETTINGS, runs, failure });
  fs.writeFileSync(config.outFile, `${markdown}\n`);
  log(`refresh benchmarks done in ${(msSince(started) / 1000).toFixed(1)} s; report written to ${path.relative(process.cwd(), config.outFile)}`);
  const summary = refreshSummary(runs);
  if (failure) summary.push(`refresh run FAILED: ${failure instanceof Error ? failure.message : String(failure)}`);
  return { markdown, summary, file: config.outFile, failed: failure !== undefined };
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  runRefreshBench().then(
    (r) => {
      process.stdout.write(`${r.markdown}\n`);
      if (r.failed) process.exitCode = 1;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
