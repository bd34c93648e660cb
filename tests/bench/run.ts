/**
 * The whole benchmark suite (`npm run bench`; not tests: nothing asserts on time).
 *
 *   npm run bench                          # full sizes (≈ 1 h): compiler at 1M customers / 10M events, refresh at 1M and 10M
 *   BENCH_SMOKE=1 npm run bench            # smoke run (≈ 2 min): small sizes, results in a temporary directory
 *   BENCH_SUITES=refresh npm run bench     # only some suites
 *
 * Suites (BENCH_SUITES, comma-separated, default all that exist):
 *   compiler  compile time (10/100/1,000 nodes), compiled vs hand-written SQL for 5 segments on
 *             embedded Postgres, DIY json-logic-js            → tests/bench/results.md (compiler-suite.ts)
 *   refresh   refresh service vs minimal hand-written SQL, Postgres and DuckDB, 1% churn, peak RSS
 *                                                           → tests/bench/refresh/results.md (refresh/run.ts)
 *   identity  tests/bench/identity-bench.ts (runIdentityBench), when that file exists
 *   sync      initial and 1%-churn syncs of 100k and 1M members to the Meta and Google fakes: members/s,
 *             overhead against the fake's own time, peak RSS   → tests/bench/sync/results.md (sync/run.ts;
 *             SYNC_BENCH_SIZES, SYNC_BENCH_DESTINATIONS; smoke: 10,000 members)
 *                                                           → tests/bench/identity-results.md
 *   load      HTTP load with wrk (needs `wrk` on PATH, else skipped): bare fastify vs GET /v1/segments vs
 *             POST /v1/segments/preview of `node src/bin.mjs serve` (demo, 50,000 customers) at 1/16/64
 *             connections, 15 s each: req/s, p50/p99, non-2xx   → tests/bench/load/results.md (load/run.ts;
 *             LOAD_BENCH_CONNECTIONS, LOAD_BENCH_DURATION_S; smoke: 5,000 customers, 3 s per run)
 *
 * Knobs (see the suite files for all of them):
 *   BENCH_CUSTOMERS (1000000), BENCH_MAX_EVENTS (20 → ≈ 10M events), BENCH_RUNS (5), BENCH_COMPILE_MS (2000),
 *   BENCH_PARTS (compile,query,diy), BENCH_DIY_MAX_S (600), BENCH_EXPLAIN_ALL;
 *   REFRESH_BENCH_SIZES (1000000,10000000), REFRESH_BENCH_ENGINES (postgres,duckdb), REFRESH_BENCH_REPS (2),
 *   REFRESH_BENCH_BASELINE_NOINDEX, REFRESH_BENCH_EXPLAIN, REFRESH_BENCH_DUCKDB_MEMORY_LIMIT;
 *   BENCH_OUT_DIR: write the reports there instead of next to the suites.
 * BENCH_SMOKE=1 only changes defaults (explicit knobs win): 20,000 customers, 2 runs, 200 ms per
 * compile measurement, refresh at 20,000 customers with 1 repetition, identity on 20,000 values ×
 * 2 runs (IDENTITY_BENCH_N, IDENTITY_BENCH_RUNS), load at 5,000 customers with 3 s wrk runs, reports in a
 * temporary directory.
 *
 * Prints each suite's report path and a summary of the headline numbers.
 *
 * Durations on the 2-core machine (load 5–9 from other work): compiler suite at 1M ≈ 13 min (seed
 * ≈ 4 min, DIY ≈ 1.5 min); refresh at 1M, both engines, 2 repetitions ≈ 6 min; refresh at 10M,
 * 1 repetition, no index-less baseline ≈ 17 min (tests/bench/refresh/results-10m.md was made with
 * REFRESH_BENCH_SIZES=10000000 REFRESH_BENCH_REPS=1 REFRESH_BENCH_BASELINE_NOINDEX=0 BENCH_OUT_DIR=…).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { log } from './stats';

const HERE = import.meta.dirname;
const SUITES = ['compiler', 'refresh', 'identity', 'sync', 'load'] as const;
type Suite = (typeof SUITES)[number];

function applySmokeDefaults(): void {
  const defaults: Record<string, string> = {
    BENCH_CUSTOMERS: '20000',
    BENCH_RUNS: '2',
    BENCH_COMPILE_MS: '200',
    REFRESH_BENCH_SIZES: '20000',
    SYNC_BENCH_SIZES: '10000',
    LOAD_BENCH_CUSTOMERS: '5000',
    LOAD_BENCH_DURATION_S: '3',
    LOAD_BENCH_WARMUP_S: '1',
    REFRESH_BENCH_REPS: '1',
    IDENTITY_BENCH_N: '20000',
    IDENTITY_BENCH_RUNS: '2',
    BENCH_OUT_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'audiences-bench-smoke-')),
  };
  for (const [name, value] of Object.entries(defaults)) if (!process.env[name]) process.env[name] = value;
}

async function main(): Promise<void> {
  const smoke = process.env.BENCH_SMOKE === '1';
  if (smoke) applySmokeDefaults();
  if (process.env.BENCH_OUT_DIR) fs.mkdirSync(process.env.BENCH_OUT_DIR, { recursive: true });
  const identityFile = path.join(HERE, 'identity-bench.ts');
  const requested = (process.env.BENCH_SUITES ?? SUITES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of requested) if (!SUITES.includes(s as Suite)) throw new Error(`BENCH_SUITES: unknown suite "${s}" (known: ${SUITES.join(', ')})`);
  const suites = requested as Suite[];

  const started = Date.now();
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');
  const summary: string[] = [`load average at start ${load()}${smoke ? ' (smoke mode)' : ''}`];
  let failed = false;
  const attempt = async (name: Suite, work: () => Promise<{ summary: string[]; file?: string; failed?: boolean }>) => {
    log(`suite ${name}: start (load ${load()})`);
    try {
      const result = await work();
      const shown = result.file && result.file.startsWith(`${process.cwd()}${path.sep}`) ? path.relative(process.cwd(), result.file) : result.file;
      summary.push(...result.summary, ...(shown ? [`${name} report: ${shown}`] : []));
      failed ||= result.failed === true;
    } catch (error) {
      failed = true;
      summary.push(`${name} FAILED: ${error instanceof Error ? error.message : String(error)}`);
      log(`suite ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  };

  if (suites.includes('compiler')) {
    const { runCompilerSuite } = await import('./compiler-suite');
    await attempt('compiler', runCompilerSuite);
  }
  if (suites.includes('refresh')) {
    const { runRefreshBench } = await import('./refresh/run');
    await attempt('refresh', runRefreshBench);
  }
  if (suites.includes('sync')) {
    const { runSyncBench } = await import('./sync/run');
    await attempt('sync', runSyncBench);
  }
  if (suites.includes('load')) {
    const { runLoadBench } = await import('./load/run');
    await attempt('load', runLoadBench);
  }
  if (suites.includes('identity')) {
    if (!fs.existsSync(identityFile)) {
      summary.push('identity: skipped (tests/bench/identity-bench.ts does not exist)');
    } else {
      await attempt('identity', async () => {
        // Imported by path so the suite type-checks whether or not the file exists yet.
        const mod = (await import(pathToFileURL(identityFile).href)) as { runIdentityBench?: () => Promise<string> };
        if (typeof mod.runIdentityBench !== 'function') throw new Error('tests/bench/identity-bench.ts does not export runIdentityBench()');
        const markdown = await mod.runIdentityBench();
        const file = path.join(process.env.BENCH_OUT_DIR ?? HERE, 'identity-results.md');
        fs.writeFileSync(file, `${markdown}\n`);
        return { summary: ['identity: done'], file };
      });
    }
  }

  summary.push(`load average at end ${load()}; whole run ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(`\n## Benchmark summary\n\n${summary.map((l) => `- ${l}`).join('\n')}\n`);
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
