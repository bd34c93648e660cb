/**
 * Benchmarks of the rule compiler (not tests: nothing here asserts on time): compile time, compiled
 * vs hand-written SQL on embedded Postgres, and the DIY json-logic-js baseline. Run by
 * tests/bench/run.ts (`npm run bench`), or alone: `node --import tsx tests/bench/compiler-suite.ts`.
 *
 * Environment:
 *   BENCH_CUSTOMERS     customers to seed (default 1000000)
 *   BENCH_MAX_EVENTS    seedDemo maxEventsPerCustomer, inclusive (default 20: 0–20 events each,
 *                       mean 10, ≈ 10M events at 1M customers; the seed's own default is 15)
 *   BENCH_RUNS          timed runs per query after one warm-up (default 5)
 *   BENCH_COMPILE_MS    measuring time per (rule size, dialect) (default 2000)
 *   BENCH_PARTS         comma-separated subset of compile,query,diy (default all)
 *   BENCH_DIY_BATCH     customers per DIY batch (default 10000)
 *   BENCH_DIY_MAX_S     DIY pull projected longer than this → stop at the sample and extrapolate (default 600)
 *   BENCH_DIY_SAMPLE    customers measured before deciding to extrapolate (default 100000)
 *   BENCH_EXPLAIN_ALL   1: EXPLAIN every segment, not only those over the 1.2 ratio target
 *   BENCH_HISTORY       1: also time the shapes compiled before 5a6e571 (correlated COUNT(*), COALESCE wrappers; slow)
 *
 * Prints a Markdown report to stdout and writes it to tests/bench/results.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileRule } from '../../src/compiler/compile';
import { compilerModelOf } from '../../src/compiler/compiler-model';
import { postgresDialect } from '../../src/compiler/dialects/postgres';
import { seedDemo } from '../../src/demo/seed-demo';
import type { ModelDefinition } from '../../src/models/model-schema';
import { PostgresWarehouse } from '../../src/warehouse/postgres/postgres-warehouse';
import { runCompileBench, type CompileResult } from './compile-bench';
import { runDiy, type DiyResult } from './diy';
import { PG_SETTINGS } from './compiler-pg-settings';
import { effectiveSettings, startBenchPostgres, type BenchPostgres } from './postgres-setup';
import { runQueryBench, type QueryResult } from './query-bench';
import { compilerSummary, renderReport, type ReportInput } from './report';
import { BENCH_SEGMENTS } from './segments';
import { fmtInt, log, now, nsToMs, timeMs } from './stats';

const HERE = import.meta.dirname;
const ROOT = path.resolve(HERE, '../..');
const SCHEMA = 'demo';
/** Fixed anchor (end of the synthetic history) and as-of time, so every run sees the same audiences. */
const ANCHOR = new Date('2026-11-01T00:00:00Z');
const AS_OF = ANCHOR;

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
}

export const compilerConfig = () => ({
  customers: intEnv('BENCH_CUSTOMERS', 1_000_000),
  maxEvents: intEnv('BENCH_MAX_EVENTS', 20),
  runs: Math.max(1, intEnv('BENCH_RUNS', 5)),
  compileMs: intEnv('BENCH_COMPILE_MS', 2_000),
  diyBatch: Math.max(1, intEnv('BENCH_DIY_BATCH', 10_000)),
  diyMaxMs: intEnv('BENCH_DIY_MAX_S', 600) * 1000,
  diySample: intEnv('BENCH_DIY_SAMPLE', 100_000),
  explainAll: process.env.BENCH_EXPLAIN_ALL === '1',
  history: process.env.BENCH_HISTORY === '1',
  parts: new Set((process.env.BENCH_PARTS ?? 'compile,query,diy').split(',').map((p) => p.trim())),
  outFile: process.env.BENCH_OUT_DIR ? path.join(process.env.BENCH_OUT_DIR, 'results.md') : path.join(HERE, 'results.md'),
});

/** Which compiler was measured: other work lands in the same tree while benchmarks run. */
function sourceVersion(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).replace(/\n+$/, '');
    const head = git('log', '-1', '--format=%h %cd %s', '--date=iso');
    const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).map((l) => l.slice(3));
    return `${head.slice(0, 120)}${dirty.length ? `; uncommitted changes in ${dirty.join(', ')}` : '; src/ clean'}`;
  } catch {
    return 'unknown (no git)';
  }
}

export interface SuiteResult {
  markdown: string;
  /** A few lines for the console summary. */
  summary: string[];
  file: string;
}

export async function runCompilerSuite(): Promise<SuiteResult> {
  const config = compilerConfig();
  const startedAt = new Date();
  const started = now();
  const modelDefinition = JSON.parse(fs.readFileSync(path.join(ROOT, 'segments/customers.model.json'), 'utf8')) as ModelDefinition;
  const model = compilerModelOf(modelDefinition);

  const input: ReportInput = {
    startedAt,
    environment: [
      ['Machine', `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.platform()} ${os.release()}`],
      ['Node', process.version],
      ['Source (git)', sourceVersion()],
      ['Load average at start (1/5/15 min)', os.loadavg().map((l) => l.toFixed(2)).join(' / ')],
      ['Configuration', `BENCH_CUSTOMERS=${config.customers}, BENCH_MAX_EVENTS=${config.maxEvents}, BENCH_RUNS=${config.runs}, BENCH_COMPILE_MS=${config.compileMs}, parts=${[...config.parts].join(',')}`],
      ['As-of time (= seed anchor)', AS_OF.toISOString()],
    ],
    settings: [], settingNotes: PG_SETTINGS, compile: [], compileTarget: { nodes: 100, ms: 1 }, queries: [], queryTarget: 1.2,
  };

  // 1. Compile time: before Postgres starts, so nothing competes for the CPU.
  let compile: CompileResult[] = [];
  if (config.parts.has('compile')) {
    log('compile-time benchmark');
    compile = runCompileBench({ model, asOf: AS_OF, sizes: [10, 100, 1000], budgetMs: config.compileMs });
    input.compile = compile;
  }

  if (config.parts.has('query') || config.parts.has('diy')) {
    let pg: BenchPostgres | undefined;
    let warehouse: PostgresWarehouse | undefined;
    try {
      pg = await startBenchPostgres({ settings: PG_SETTINGS, tempPrefix: 'audiences-bench-pg-', log });
      warehouse = new PostgresWarehouse({ connectionString: pg.url, defaultSchema: SCHEMA, maxConnections: 2 });
      input.settings = await effectiveSettings(pg.url, PG_SETTINGS.map(([name]) => name));

      log(`seeding ${fmtInt(config.customers)} customers (maxEventsPerCustomer ${config.maxEvents})`);
      const seeded = await timeMs(() => seedDemo(warehouse!, { schema: SCHEMA, customers: config.customers, anchor: ANCHOR, maxEventsPerCustomer: config.maxEvents }));
      log(`seeded ${JSON.stringify(seeded.value)} in ${(seeded.ms / 1000).toFixed(1)} s`);
      // seedDemo analyzes; a VACUUM sets the visibility map so index-only scans are possible, as on a settled warehouse.
      const vacuum = await timeMs(() => warehouse!.query(`vacuum analyze "${SCHEMA}".customers, "${SCHEMA}".orders, "${SCHEMA}".events`));
      // Flush the seed's dirty buffers now, not in the middle of the timed queries.
      await warehouse.query('checkpoint');
      log(`vacuum analyze + checkpoint in ${(vacuum.ms / 1000).toFixed(1)} s`);
      const sizes = await warehouse.query<{ name: string; size: string }>(
        `select c.relname as name, pg_size_pretty(pg_total_relation_size(c.oid)) as size
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and c.relkind = 'r' and c.relname in ('customers', 'orders', 'events') order by c.relname`, [SCHEMA]);
      input.seed = {
        ...seeded.value, wallMs: seeded.ms, maxEvents: config.maxEvents,
        sizes: [...sizes.map((s): [string, string] => [`${s.name} (with indexes)`, s.size]), ['VACUUM ANALYZE after the seed', `${(vacuum.ms / 1000).toFixed(1)} s`]],
      };

      // 2. Compiled vs hand-written.
      let queries: QueryResult[] = [];
      if (config.parts.has('query') || config.parts.has('diy')) {
        log('query benchmark');
        queries = await runQueryBench({
          warehouse, model, schema: SCHEMA, asOf: AS_OF, segments: BENCH_SEGMENTS,
          runs: config.parts.has('query') ? config.runs : 1, explainAbove: input.queryTarget, explainAll: config.explainAll, history: config.history,
        });
        input.queries = queries;
      }

      // 3. DIY.
      if (config.parts.has('diy')) {
        log('DIY benchmark');
        const diy: DiyResult = await runDiy({
          warehouse, model, schema: SCHEMA, asOf: AS_OF, segments: BENCH_SEGMENTS, totalCustomers: seeded.value.customers,
          batchSize: config.diyBatch, maxProjectedMs: config.diyMaxMs, sampleCustomers: config.diySample,
        });
        log(`DIY done: ${diy.customersProcessed} customers, fetch ${(diy.fetchMs / 1000).toFixed(1)} s, wall ${(diy.wallMs / 1000).toFixed(1)} s${diy.sampled ? ' (sample)' : ''}`);
        // Same audiences? On a sample, compare with the compiled key query restricted to the same ids.
        for (const segment of BENCH_SEGMENTS) {
          let expected = queries.find((q) => q.slug === segment.slug)?.members;
          if (diy.sampled || expected === undefined) {
            const keys = compileRule({ rule: segment.rule, model, dialect: 'postgres', asOf: AS_OF });
            const params = keys.params.map((p) => postgresDialect.driverValue(p));
            const rows = await warehouse.query<{ count: number }>(
              `SELECT count(*) AS "count" FROM (${keys.sql}) q WHERE q."member_key" <= $${params.length + 1}`, [...params, diy.lastCustomerId]);
            expected = Number(rows[0]?.count);
          }
          const got = diy.members[segment.slug];
          if (got !== expected) throw new Error(`DIY and compiled disagree on ${segment.slug}: json-logic-js ${got}, compiled SQL ${expected}`);
        }
        input.diy = diy;
      }
    } finally {
      await warehouse?.close();
      await pg?.stop();
    }
  }

  input.totalWallMs = nsToMs(now() - started);
  input.environment.push(['Load average at end (1/5/15 min)', os.loadavg().map((l) => l.toFixed(2)).join(' / ')]);
  const markdown = renderReport(input);
  fs.writeFileSync(config.outFile, `${markdown}\n`);
  log(`compiler benchmarks done in ${(input.totalWallMs / 1000).toFixed(1)} s; report written to ${path.relative(process.cwd(), config.outFile)}`);
  return { markdown, summary: compilerSummary(input), file: config.outFile };
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  runCompilerSuite().then(
    (r) => process.stdout.write(`${r.markdown}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
