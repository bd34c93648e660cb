/**
 * HTTP load benchmark with wrk (not a test: nothing asserts on time). Alone:
 *
 *   node --import tsx tests/bench/load/run.ts                 # 50,000 customers, 15 s per run
 *   LOAD_BENCH_SMOKE=1 node --import tsx tests/bench/load/run.ts   # 5,000 customers, 3 s per run, report in a temp dir
 *   BENCH_SUITES=load npm run bench                           # the same through the orchestrator
 *
 * Needs wrk on PATH (Debian: `apt-get install wrk`); without it the suite says so and is skipped.
 *
 * Two servers, each its own process (processes.ts), neither sharing an event loop with this one:
 *   service  `node src/bin.mjs serve` as `npm start` runs it: temporary DATA_DIR, free ports,
 *            LOG_LEVEL=warn, WORKERS=false, the demo seeded with DEMO_CUSTOMERS customers and
 *            segments/ applied; AUDIENCES_BOOTSTRAP_TOKEN (a fresh random admin token, sent by wrk
 *            as `Authorization: Bearer …` on every request), RATE_LIMIT_PER_MINUTE and
 *            RATE_LIMIT_EXPENSIVE_PER_MINUTE (preview's budget) at 100,000,000 (the limiter runs,
 *            never refuses);
 *   bare     fastify (the same version), logger off, one route GET /bare answering the very JSON
 *            object the service's GET /v1/segments answered (bare-server.ts).
 * Endpoints: bare GET /bare, GET /v1/segments (the first page: every demo segment), POST
 * /v1/segments/preview (a rule on the demo model: country DE and ltv > 300, 10 sampled members; one
 * count and one sample query on the embedded Postgres per request).
 * For each connection count (1, 16, 64), each endpoint in turn (so bare and service runs of one
 * connection count are close in time): wrk -t min(c, 2) -c c -d 15s --latency, after one short
 * warm-up run per endpoint. Recorded per run: req/s, p50/p90/p99/max latency, non-2xx (wrk's
 * errors.status: status ≥ 400), socket errors, CPU time of the server process (and of Postgres for
 * the service) over the run, and the busy share of the whole machine (/proc/stat).
 *
 * Environment: LOAD_BENCH_CUSTOMERS (50000; smoke 5000), LOAD_BENCH_DURATION_S (15; smoke 3),
 * LOAD_BENCH_WARMUP_S (3; smoke 1), LOAD_BENCH_CONNECTIONS (1,16,64), LOAD_BENCH_ENDPOINTS
 * (bare,segments,preview), LOAD_BENCH_SMOKE=1 or BENCH_SMOKE=1, BENCH_OUT_DIR (report there as
 * load-results.md), LOAD_BENCH_CPU_PROF=DIR (run the service with --cpu-prof, profile written to DIR
 * when it stops: covers start-up and all runs), LOAD_BENCH_SERVICE_ROOT (run `src/bin.mjs serve` of
 * another checkout, e.g. a `git archive` export with node_modules linked in, while others edit
 * this one), LOAD_BENCH_SOURCE (what to print as the measured source). Writes
 * tests/bench/load/results.md after every run (partial results survive).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processCpuMs, startBare, startService, type ServerProcess } from './processes';
import { runWrk, wrkVersion, type WrkResult, type WrkScenario } from './wrk';

const HERE = import.meta.dirname;
const ROOT = path.resolve(HERE, '../../..');
const RATE_LIMIT_PER_MINUTE = 100_000_000;
const PREVIEW_BODY = { model: 'customers', rule: { and: [{ '==': [{ var: 'country' }, 'DE'] }, { '>': [{ var: 'ltv' }, 300] }] }, sampleSize: 10 };

type EndpointName = 'bare' | 'segments' | 'preview';
const ENDPOINTS: EndpointName[] = ['bare', 'segments', 'preview'];
const LABELS: Record<EndpointName, string> = { bare: 'bare fastify GET /bare', segments: 'GET /v1/segments', preview: 'POST /v1/segments/preview' };

function log(message: string): void {
  process.stderr.write(`[load-bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}: "${raw}" is not an integer ≥ ${min}`);
  return value;
}

function benchConfig() {
  const smoke = process.env.LOAD_BENCH_SMOKE === '1' || process.env.BENCH_SMOKE === '1';
  const connections = (process.env.LOAD_BENCH_CONNECTIONS ?? '1,16,64').split(',').map((s) => Number(s.trim()));
  for (const c of connections) if (!Number.isInteger(c) || c < 1) throw new Error(`LOAD_BENCH_CONNECTIONS: "${c}" is not an integer ≥ 1`);
  const endpoints = (process.env.LOAD_BENCH_ENDPOINTS ?? ENDPOINTS.join(',')).split(',').map((s) => s.trim()).filter(Boolean) as EndpointName[];
  for (const e of endpoints) if (!ENDPOINTS.includes(e)) throw new Error(`LOAD_BENCH_ENDPOINTS: unknown "${e}" (known: ${ENDPOINTS.join(', ')})`);
  const outDir = process.env.BENCH_OUT_DIR ?? (smoke ? fs.mkdtempSync(path.join(os.tmpdir(), 'audiences-load-bench-report-')) : undefined);
  return {
    smoke,
    customers: intEnv('LOAD_BENCH_CUSTOMERS', smoke ? 5_000 : 50_000, 100),
    durationS: intEnv('LOAD_BENCH_DURATION_S', smoke ? 3 : 15, 1),
    warmupS: intEnv('LOAD_BENCH_WARMUP_S', smoke ? 1 : 3, 0),
    connections,
    endpoints,
    cpuProfDir: process.env.LOAD_BENCH_CPU_PROF ? path.resolve(process.env.LOAD_BENCH_CPU_PROF) : undefined,
    serviceRoot: process.env.LOAD_BENCH_SERVICE_ROOT ? path.resolve(process.env.LOAD_BENCH_SERVICE_ROOT) : ROOT,
    outFile: outDir ? path.join(outDir, 'load-results.md') : path.join(HERE, 'results.md'),
  };
}

// ---------------------------------------------------------------------------------------------

/** Busy and total jiffies of all CPUs (first line of /proc/stat). */
function machineCpu(): { busy: number; total: number } {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = fields[3]! + fields[4]!; // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/**
 * CPU time (ms) of the service's Postgres: the postmaster, its live children (backends, walwriter,
 * …) and the children that have exited (the postmaster's cutime/cstime).
 */
function postgresCpuMs(dataDir: string): number {
  let postmaster: number;
  try {
    postmaster = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return Number.NaN;
  }
  let sum = processCpuMs(postmaster, { reapedChildren: true });
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) sum += processCpuMs(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return sum;
}

interface Measured {
  endpoint: EndpointName;
  result: WrkResult;
  wallMs: number;
  /** CPU of the server process over the run, as a share of one core (1 = 100% of one core). */
  serverCores: number;
  /** Same for the service's Postgres (service endpoints only). */
  postgresCores: number | null;
  /** Busy share of the whole machine over the run (0–1; all cores). */
  machineBusy: number;
  loadavg: number[];
}

interface Preflight { endpoint: EndpointName; status: number; bytes: number; sample: string }

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const fmtMs = (ms: number) => (!Number.isFinite(ms) ? 'n/a' : ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`);
const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(0)}%`);
const fmtUs = (us: number) => (Number.isFinite(us) ? `${us.toFixed(0)} µs` : 'n/a');
/** CPU time per request (µs) of a process busy `cores` over the run: less sensitive to other load on the machine than req/s. */
const perRequestUs = (m: Measured, cores: number | null) => (cores === null || m.result.requests === 0 ? Number.NaN : (cores * m.wallMs * 1000) / m.result.requests);
const loadStr = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
const socketErrors = (r: WrkResult) => r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout;

function gitDescribe(root: string): string {
  if (process.env.LOAD_BENCH_SOURCE) return process.env.LOAD_BENCH_SOURCE;
  if (root !== ROOT) return `the checkout in ${root}`;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim();
    return `${head}${dirty ? ' with uncommitted changes under src/ (other work in progress in the checkout)' : ''}`;
  } catch {
    return 'unknown';
  }
}

interface ReportInput {
  config: ReturnType<typeof benchConfig>;
  wrk: string;
  source: string;
  startedAt: Date;
  loadBefore: number[];
  loadAfter: number[] | null;
  startupS: number | null;
  preflight: Preflight[];
  /** One request each after the runs (a limiter or a failure that set in under load shows here). */
  postflight: Preflight[];
  runs: Measured[];
  failure: unknown;
  complete: boolean;
}

function report(r: ReportInput): string {
  const { config } = r;
  const cpus = os.cpus();
  const lines: string[] = [
    '# Load benchmark (wrk)',
    '',
    r.complete ? '' : '**Partial results: the run is still going or failed.**\n',
    `Made by \`tests/bench/load/run.ts\` on ${r.startedAt.toISOString()}${config.smoke ? ' in **smoke mode** (small sizes, short runs: numbers are noisy)' : ''}.`,
    '',
    `- Source: ${r.source}`,
    `- Node ${process.version}; ${r.wrk}; fastify ${fastifyVersion()}`,
    `- Machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}`,
    `- Load average (1 / 5 / 15 min) before: ${loadStr(r.loadBefore)}; after: ${r.loadAfter ? loadStr(r.loadAfter) : 'n/a'}`,
    `- **wrk, the Node server under test and (for the service) its embedded Postgres all share these ${cpus.length} cores**: the numbers are what this box does with the load generator on it, not the server's capacity on a dedicated machine. Other work on the machine (see the load average) competes too.`,
    `- Service: \`node src/bin.mjs serve\` (as \`npm start\`) in its own process, embedded Postgres, DEMO_CUSTOMERS=${fmt(config.customers)}, WORKERS=false, LOG_LEVEL=warn, AUDIENCES_BOOTSTRAP_TOKEN set (every request carries \`Authorization: Bearer <token>\`), RATE_LIMIT_PER_MINUTE and RATE_LIMIT_EXPENSIVE_PER_MINUTE (the budget of preview and the other warehouse operations) at ${fmt(RATE_LIMIT_PER_MINUTE)} (the limiter runs, never refuses)${r.startupS !== null ? `; ready in ${r.startupS.toFixed(1)} s (seeding included)` : ''}.`,
    '- Bare: fastify with default options (logger off) in its own process, one route `GET /bare` answering the same JSON object the service\'s `GET /v1/segments` answered (no schema, no hooks, no plugins).',
    `- wrk: \`-t min(c, 2) -c c -d ${config.durationS}s --latency --timeout 30s\`, a generated Lua script per endpoint (method, body, headers, and a done() hook printing exact numbers); one ${config.warmupS} s warm-up run per endpoint at 16 connections first. Runs go by connection count, all endpoints in turn.`,
    `- \`POST /v1/segments/preview\` body: \`${JSON.stringify(PREVIEW_BODY)}\``,
    '- non-2xx is wrk\'s count of responses with status ≥ 400 ("Non-2xx or 3xx responses"); **any non-zero count makes that row\'s numbers suspect** (errors are often faster than real answers).',
    '- Server CPU: CPU time of the server process over the run ÷ wall time (100% = one core busy; all its threads); per request: that CPU time ÷ requests. Postgres CPU: the same for the postmaster and its children. Machine busy: all cores (100% = both busy). CPU time is steadier than req/s under other load, but not immune to it (a busy host inflates it too).',
    '',
  ];
  if (r.preflight.length) {
    lines.push('## Responses (one request each before and after the runs)', '', '| Endpoint | When | Status | Body bytes | Body (start) |', '|---|---|---:|---:|---|');
    for (const [when, list] of [['before', r.preflight], ['after', r.postflight]] as const) {
      for (const p of list) lines.push(`| ${LABELS[p.endpoint]} | ${when} | ${p.status} | ${fmt(p.bytes)} | \`${p.sample.replace(/\|/g, '\\|').replace(/`/g, "'")}\` |`);
    }
    lines.push('');
  }
  if (r.runs.length) {
    lines.push(
      '## Results',
      '',
      '| Endpoint | Connections | req/s | p50 | p90 | p99 | max | non-2xx | socket errors | server CPU | server CPU / request | Postgres CPU | Postgres CPU / request | machine busy | load (1 min) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const m of r.runs) {
      const w = m.result;
      const non2xx = w.non2xx > 0 ? `**${fmt(w.non2xx)} ⚠ (of ${fmt(w.requests)})**` : '0';
      lines.push(`| ${LABELS[m.endpoint]} | ${w.connections} | ${fmt(w.requestsPerSec)} | ${fmtMs(w.p50Ms)} | ${fmtMs(w.p90Ms)} | ${fmtMs(w.p99Ms)} | ${fmtMs(w.maxMs)} | ${non2xx} | ${socketErrors(w) ? `**${socketErrors(w)}** ⚠ ${JSON.stringify(w.socketErrors)}` : '0'} | ${pct(m.serverCores)} | ${fmtUs(perRequestUs(m, m.serverCores))} | ${pct(m.postgresCores)} | ${fmtUs(perRequestUs(m, m.postgresCores))} | ${pct(m.machineBusy)} | ${m.loadavg[0]!.toFixed(2)} |`);
    }
    lines.push('');
    const ratios = ratioRows(r.runs);
    if (ratios.length) {
      lines.push(
        '## GET /v1/segments against bare fastify (target: ratio ≥ 0.5)',
        '',
        '| Connections | bare req/s | GET /v1/segments req/s | ratio | target met | server CPU / request: bare | GET /v1/segments | CPU ratio (bare ÷ service) |',
        '|---:|---:|---:|---:|---|---:|---:|---:|',
      );
      for (const x of ratios) {
        lines.push(`| ${x.connections} | ${fmt(x.bare)} | ${fmt(x.segments)} | ${x.ratio.toFixed(2)} | ${x.suspect ? 'suspect (non-2xx or socket errors)' : x.ratio >= 0.5 ? 'yes' : '**no**'} | ${fmtUs(x.bareCpuUs)} | ${fmtUs(x.segmentsCpuUs)} | ${(x.bareCpuUs / x.segmentsCpuUs).toFixed(2)} |`);
      }
      lines.push(
        '',
        'The CPU ratio is the throughput ratio the two servers would reach with a core each to themselves (Node CPU only: the service\'s Postgres, which GET /v1/segments queries on every request, needs CPU of its own, in the Postgres columns above). Under other load it is steadier than the req/s ratio.',
        '',
      );
    }
    const bad = r.runs.filter((m) => m.result.non2xx > 0 || socketErrors(m.result) > 0);
    if (bad.length) {
      lines.push('## ⚠ Errors during the runs', '');
      for (const m of bad) lines.push(`- ${LABELS[m.endpoint]} at ${m.result.connections} connections: ${fmt(m.result.non2xx)} non-2xx of ${fmt(m.result.requests)} requests, socket errors ${JSON.stringify(m.result.socketErrors)}`);
      lines.push('');
    }
  }
  if (r.failure) lines.push('## Failure', '', '```', r.failure instanceof Error ? (r.failure.stack ?? r.failure.message) : String(r.failure), '```', '');
  if (r.runs.length) {
    lines.push('<details><summary>wrk output of every run</summary>', '');
    for (const m of r.runs) lines.push(`### ${LABELS[m.endpoint]}, ${m.result.connections} connection${m.result.connections === 1 ? '' : 's'}`, '', '```', m.result.raw.trim(), '```', '');
    lines.push('</details>', '');
  }
  return lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n');
}

function ratioRows(runs: Measured[]): Array<{ connections: number; bare: number; segments: number; ratio: number; suspect: boolean; bareCpuUs: number; segmentsCpuUs: number }> {
  const rows = [];
  for (const c of [...new Set(runs.map((m) => m.result.connections))]) {
    const bare = runs.find((m) => m.endpoint === 'bare' && m.result.connections === c);
    const segments = runs.find((m) => m.endpoint === 'segments' && m.result.connections === c);
    if (!bare || !segments) continue;
    const suspect = [bare, segments].some((m) => m.result.non2xx > 0 || socketErrors(m.result) > 0);
    rows.push({
      connections: c, bare: bare.result.requestsPerSec, segments: segments.result.requestsPerSec, ratio: segments.result.requestsPerSec / bare.result.requestsPerSec, suspect,
      bareCpuUs: perRequestUs(bare, bare.serverCores), segmentsCpuUs: perRequestUs(segments, segments.serverCores),
    });
  }
  return rows;
}

function fastifyVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/fastify/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------

async function preflight(endpoint: EndpointName, scenario: WrkScenario): Promise<Preflight & { body: string }> {
  const res = await fetch(scenario.url, { method: scenario.method, headers: scenario.headers, ...(scenario.body !== undefined ? { body: scenario.body } : {}) });
  const body = await res.text();
  return { endpoint, status: res.status, bytes: Buffer.byteLength(body), sample: body.slice(0, 160), body };
}

export async function runLoadBench(): Promise<{ markdown?: string; summary: string[]; file?: string; failed?: boolean }> {
  const wrk = wrkVersion();
  if (!wrk) {
    const message = 'load: skipped: wrk is not installed (Debian/Ubuntu: `apt-get install -y wrk`; it is only needed for this benchmark)';
    log(message);
    return { summary: [message] };
  }
  const config = benchConfig();
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  log(`${wrk}; ${fmt(config.customers)} customers, ${config.durationS} s per run, connections ${config.connections.join(', ')}; report: ${config.outFile}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'audiences-load-bench-wrk-'));
  const token = randomBytes(32).toString('base64url'); // 43 characters of [A-Za-z0-9_-]
  const servers: ServerProcess[] = [];
  const runs: Measured[] = [];
  const pre: Preflight[] = [];
  const post: Preflight[] = [];
  let startupS: number | null = null;
  let failure: unknown;
  let loadAfter: number[] | null = null;
  const source = gitDescribe(config.serviceRoot);
  const write = (complete: boolean) => {
    const markdown = report({ config, wrk, source, startedAt, loadBefore, loadAfter, startupS, preflight: pre, postflight: post, runs, failure, complete });
    fs.mkdirSync(path.dirname(config.outFile), { recursive: true });
    fs.writeFileSync(config.outFile, `${markdown}\n`);
    return markdown;
  };
  const stopAll = () => Promise.all(servers.map((s) => s.stop().catch((error: unknown) => log(`stopping ${s.name}: ${String(error)}`))));
  // Ctrl-C: stop the servers (the service stops its Postgres) before going.
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the servers…`);
    void stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    log('starting the service (seeding the demo warehouse)…');
    const nodeFlags = config.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${config.cpuProfDir}`] : [];
    const service = await startService({ customers: config.customers, token, rateLimitPerMinute: RATE_LIMIT_PER_MINUTE, nodeFlags, root: config.serviceRoot });
    servers.push(service);
    startupS = service.startupS;
    log(`service ready at ${service.baseUrl} in ${startupS.toFixed(1)} s (pid ${service.pid})`);

    const auth = { Authorization: `Bearer ${token}` };
    const scenarios: Record<EndpointName, WrkScenario> = {
      bare: { name: 'bare', url: '', method: 'GET', headers: { ...auth } },
      segments: { name: 'segments', url: `${service.baseUrl}/v1/segments`, method: 'GET', headers: { ...auth } },
      preview: { name: 'preview', url: `${service.baseUrl}/v1/segments/preview`, method: 'POST', body: JSON.stringify(PREVIEW_BODY), headers: { ...auth, 'Content-Type': 'application/json' } },
    };

    const segmentsPage = await preflight('segments', scenarios.segments);
    const payloadFile = path.join(tmp, 'segments-page.json');
    if (segmentsPage.status === 200) fs.writeFileSync(payloadFile, segmentsPage.body);
    else log(`GET /v1/segments answered ${segmentsPage.status}: the bare server answers a synthesized payload instead (${segmentsPage.sample})`);
    const bare = await startBare(segmentsPage.status === 200 ? payloadFile : undefined);
    servers.push(bare);
    scenarios.bare.url = `${bare.baseUrl}/bare`;
    log(`bare fastify ready at ${bare.baseUrl} (pid ${bare.pid})`);

    const checks = { bare: await preflight('bare', scenarios.bare), segments: segmentsPage, preview: await preflight('preview', scenarios.preview) };
    for (const e of config.endpoints) {
      const { body: _body, ...p } = checks[e];
      pre.push(p);
      if (p.status < 200 || p.status > 299) log(`⚠ ${LABELS[e]} answered ${p.status}: ${p.sample}`);
    }
    write(false);

    const serverOf = (e: EndpointName) => (e === 'bare' ? bare : service);
    if (config.warmupS > 0) {
      for (const e of config.endpoints) {
        log(`warm-up: ${LABELS[e]}, 16 connections, ${config.warmupS} s`);
        await runWrk(scenarios[e], { connections: 16, durationS: config.warmupS, scriptDir: tmp });
      }
    }
    for (const c of config.connections) {
      for (const e of config.endpoints) {
        const server = serverOf(e);
        const cpu0 = server.cpuMs();
        const pg0 = e === 'bare' ? Number.NaN : postgresCpuMs(service.dataDir);
        const m0 = machineCpu();
        const t0 = process.hrtime.bigint();
        const result = await runWrk(scenarios[e], { connections: c, durationS: config.durationS, scriptDir: tmp });
        const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
        const m1 = machineCpu();
        const measured: Measured = {
          endpoint: e,
          result,
          wallMs,
          serverCores: (server.cpuMs() - cpu0) / wallMs,
          postgresCores: e === 'bare' ? null : (postgresCpuMs(service.dataDir) - pg0) / wallMs,
          machineBusy: (m1.busy - m0.busy) / (m1.total - m0.total),
          loadavg: os.loadavg(),
        };
        runs.push(measured);
        log(`${LABELS[e]} c=${c}: ${fmt(result.requestsPerSec)} req/s, p50 ${fmtMs(result.p50Ms)}, p99 ${fmtMs(result.p99Ms)}, non-2xx ${result.non2xx}, socket errors ${socketErrors(result)}, server CPU ${pct(measured.serverCores)}, machine busy ${pct(measured.machineBusy)}`);
        write(false);
      }
    }
    for (const e of config.endpoints) {
      const { body: _body, ...p } = await preflight(e, scenarios[e]);
      post.push(p);
      if (p.status < 200 || p.status > 299) log(`⚠ after the runs, ${LABELS[e]} answered ${p.status}: ${p.sample}`);
    }
  } catch (error) {
    failure = error;
    log(`run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  loadAfter = os.loadavg();
  const markdown = write(failure === undefined);
  log(`report written to ${config.outFile}`);

  const summary: string[] = [];
  for (const x of ratioRows(runs)) summary.push(`load c=${x.connections}: bare ${fmt(x.bare)} req/s, GET /v1/segments ${fmt(x.segments)} req/s, ratio ${x.ratio.toFixed(2)}${x.suspect ? ' (suspect: errors)' : x.ratio >= 0.5 ? '' : ' (below the 0.5 target)'}; server CPU per request ${fmtUs(x.bareCpuUs)} vs ${fmtUs(x.segmentsCpuUs)}`);
  for (const m of runs.filter((m) => m.endpoint === 'preview')) summary.push(`load c=${m.result.connections}: POST /v1/segments/preview ${fmt(m.result.requestsPerSec)} req/s, p99 ${fmtMs(m.result.p99Ms)}`);
  const errors = runs.filter((m) => m.result.non2xx > 0 || socketErrors(m.result) > 0);
  if (errors.length) summary.push(`load: ⚠ non-2xx or socket errors in ${errors.length} run(s): ${errors.map((m) => `${m.endpoint}@${m.result.connections} ${m.result.non2xx} non-2xx`).join(', ')}`);
  if (failure) summary.push(`load run FAILED: ${failure instanceof Error ? failure.message : String(failure)}`);
  return { markdown, summary, file: config.outFile, failed: failure !== undefined };
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  runLoadBench().then(
    (r) => {
      process.stdout.write(`${r.markdown ?? r.summary.join('\n')}\n`);
      if (r.failed) process.exitCode = 1;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
