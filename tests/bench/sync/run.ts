/**
 * Sync benchmark (not a test: nothing asserts on time). Alone:
 *
 *   node --import tsx tests/bench/sync/run.ts                               # 100k and 1M members
 *   SYNC_BENCH_SIZES=100000 node --import tsx tests/bench/sync/run.ts       # 100k only
 *   SYNC_BENCH_SMOKE=1 node --import tsx tests/bench/sync/run.ts            # 10k, report in a temp dir
 *
 * For each size N (embedded Postgres as metadata store and warehouse; the fakes in this process):
 *   1. N customers generated set-based in SQL (tests/bench/refresh/data.ts, with valid US phone
 *      numbers instead of its 555 ones: 80% have a phone, 97% an email), a model and a segment
 *      holding every customer (ltv >= 0), destinations and syncs created through the services;
 *      mapping email, phone, external_id (Meta) and email, phone (Google, a CONTACT_INFO list);
 *   2. the segment refreshed here (timed apart: the refresh benchmark covers it), so the runs find
 *      a fresh snapshot;
 *   3. the initial sync of each destination in a forked service process (service-process.ts):
 *      SyncsService.startRun(slug, {wait: true}), RSS sampled every 50 ms, ru_maxrss, run timings
 *      (refresh, plan, send, commit) and every warehouse statement timed by kind;
 *   4. the fake's own capacity: the requests the service sent (recorded by the fake) replayed from
 *      another forked process, pre-serialized, one at a time (the destinations' maxConcurrency is 1),
 *      to another audience / list of the same fake;
 *   5. 1% churn in SQL (0.4% of customers leave, 0.2% change their email, 0.4% new customers join),
 *      refresh, churn sync of each destination and its replay.
 *
 * Destinations (SYNC_BENCH_DESTINATIONS, default meta,google,google-poll):
 *   meta         Meta custom audience → Graph API fake (HTTP)
 *   google       Google Customer Match (Data Manager path) → gRPC fake, request status final at the first look
 *   google-poll  the same with the fake answering PROCESSING at the first status look (its default):
 *                the destination then waits requestStatusIntervalMs (1.5 s) per batch
 *
 * Environment: SYNC_BENCH_SIZES (100000,1000000), SYNC_BENCH_DESTINATIONS, SYNC_BENCH_SMOKE=1 (or
 * BENCH_SMOKE=1: 10,000 members, report in a temporary directory), BENCH_OUT_DIR (report there as
 * sync-results.md), SYNC_BENCH_SOURCE (what to print as the measured source, e.g. when run from a
 * `git archive` export while others edit the checkout). Writes tests/bench/sync/results.md after
 * every measurement (partial results survive).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../../src/config';
import { openRuntime, type Runtime } from '../../../src/runtime';
import type { SyncRun } from '../../../src/syncs/sync-schema';
import { startGoogleFakes, type GoogleFakes } from '../../fakes/google';
import { GraphApiFake } from '../../fakes/graph-api-fake';
import { createCustomersSql, insertCustomersSql, modelDefinition, q } from '../refresh/data';
import { effectiveSettings, startBenchPostgres, type BenchPostgres } from '../refresh/pg-server';
import { fmtInt, fmtMiB, fmtMs, loadAverage, msSince, now, sizeTag } from '../refresh/util';
import type { Job, JobResult, StatementStats } from './service-process';

const HERE = import.meta.dirname;
const ROOT = path.resolve(HERE, '../../..');
const STATE_SCHEMA = 'syncbench_state';
// Constants of tests/destinations/{meta,google}/helpers.ts (those import vitest).
const META_ACCOUNT = 'act_1234567890';
const META_TOKEN = `EAAJtestToken${'Zq9'.repeat(30)}`;
const GOOGLE_CUSTOMER = '1234567890';
const GOOGLE_CREDENTIALS = {
  developerToken: 'devtoken-SECRET-0001',
  clientId: 'client-0001.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-client-secret-0001',
  refreshToken: '1//refresh-token-SECRET-0001',
};

type DestinationName = 'meta' | 'google' | 'google-poll';
const DESTINATIONS: DestinationName[] = ['meta', 'google', 'google-poll'];

function log(message: string): void {
  process.stderr.write(`[sync-bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function benchConfig() {
  const smoke = process.env.SYNC_BENCH_SMOKE === '1' || process.env.BENCH_SMOKE === '1';
  const sizes = (process.env.SYNC_BENCH_SIZES ?? (smoke ? '10000' : '100000,1000000')).split(',').map((s) => Number(s.trim().replace(/_/g, '')));
  for (const n of sizes) if (!Number.isInteger(n) || n < 1000) throw new Error(`SYNC_BENCH_SIZES: "${n}" is not an integer ≥ 1000`);
  const destinations = (process.env.SYNC_BENCH_DESTINATIONS ?? DESTINATIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean) as DestinationName[];
  for (const d of destinations) if (!DESTINATIONS.includes(d)) throw new Error(`SYNC_BENCH_DESTINATIONS: unknown "${d}"`);
  const outDir = process.env.BENCH_OUT_DIR ?? (smoke ? fs.mkdtempSync(path.join(os.tmpdir(), 'audiences-sync-bench-')) : undefined);
  return { smoke, sizes, destinations, outFile: outDir ? path.join(outDir, 'sync-results.md') : path.join(HERE, 'results.md') };
}

// ---------------------------------------------------------------------------------------------

let currentChild: ChildProcess | undefined;

function runJob(job: Job): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    const child = currentChild = fork(path.join(HERE, 'service-process.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, SYNC_BENCH_JOB: JSON.stringify(job) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: JobResult | undefined;
    child.on('message', (m) => { result = m as JobResult; });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (currentChild === child) currentChild = undefined;
      if (result?.ok) resolve(result);
      else if (result) reject(new Error(`${job.mode} failed: ${result.error ?? 'unknown error'}${result.run ? ` (run ${JSON.stringify(result.run)})` : ''}`));
      else reject(new Error(`${job.mode} process exited with ${code ?? signal} without an answer`));
    });
  });
}

async function pgClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: '-c TimeZone=UTC' });
  await client.connect();
  return client;
}

/**
 * Valid US phone numbers (E.164) where data.ts put a phone: its `+1555…` numbers have no valid area
 * code, so every phone would be refused by normalization and the payloads would carry no phone hash.
 */
function validPhonesSql(schema: string, from: number, to: number): string {
  const exchange = `(200 + (customer_id * 7919) % 700)`;
  return `UPDATE ${q(schema)}.customers SET phone = '+1' || (ARRAY['212','415','312','617','206','303','404','512'])[1 + (customer_id % 8)::int]
      || (CASE WHEN ${exchange} % 100 = 11 OR ${exchange} = 555 THEN ${exchange} + 1 ELSE ${exchange} END)::text
      || lpad(((customer_id * 104729) % 10000)::text, 4, '0')
    WHERE phone IS NOT NULL AND customer_id BETWEEN ${from} AND ${to}`;
}

/** N customers in `schema`.customers, ids [from, to], two sessions (two cores). */
async function insertCustomers(url: string, schema: string, from: number, to: number): Promise<void> {
  const chunk = 250_000;
  const ranges: Array<[number, number]> = [];
  for (let f = from; f <= to; f += chunk) ranges.push([f, Math.min(to, f + chunk - 1)]);
  await Promise.all([0, 1].map(async () => {
    const c = await pgClient(url);
    try {
      for (let r = ranges.shift(); r; r = ranges.shift()) {
        await c.query(insertCustomersSql('postgres', schema, r[0], r[1]));
        await c.query(validPhonesSql(schema, r[0], r[1]));
      }
    } finally {
      await c.end();
    }
  }));
}

// ---------------------------------------------------------------------------------------------

interface Fakes {
  meta: GraphApiFake;
  google: GoogleFakes;
  /** /users requests the Meta fake received since the last take (the fake's own log is cleared as it goes). */
  metaUsers: Array<Record<string, unknown>>;
}

async function startFakes(): Promise<Fakes> {
  const meta = new GraphApiFake();
  await meta.start();
  meta.addAccount({ id: META_ACCOUNT, name: 'Bench account' });
  meta.validTokens.add(META_TOKEN);
  const metaUsers: Array<Record<string, unknown>> = [];
  meta.onRequest = (r) => {
    if (r.endpoint === 'users.add' || r.endpoint === 'users.remove') metaUsers.push({ method: r.method, path: r.path, query: r.query, contentType: r.contentType, body: r.body });
    meta.requests.length = 0;
  };
  const google = await startGoogleFakes();
  return { meta, google, metaUsers };
}

/** Writes the member requests the fake received for the last run (NDJSON) and forgets them. */
function takeRecorded(fakes: Fakes, destination: DestinationName, file: string): number {
  const fd = fs.openSync(file, 'w');
  let n = 0;
  try {
    if (destination === 'meta') {
      for (const r of fakes.metaUsers.splice(0)) { fs.writeSync(fd, `${JSON.stringify(r)}\n`); n++; }
    } else {
      for (const c of fakes.google.dataManager.calls.splice(0)) {
        if (c.method !== 'IngestAudienceMembers' && c.method !== 'RemoveAudienceMembers') continue;
        fs.writeSync(fd, `${JSON.stringify({ method: c.method, request: c.request })}\n`);
        n++;
      }
      fakes.google.ads.calls.length = 0;
    }
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------

export interface PhaseResult {
  size: number;
  destination: DestinationName;
  phase: 'initial' | 'churn';
  run: SyncRun;
  wallMs: number;
  rss: JobResult['rss'];
  memory?: JobResult['memory'];
  statements: StatementStats[];
  replay: { wallMs: number; requests: number; members: number };
  loadBefore: string;
  loadAfter: string;
  heldByFake: number;
}

interface SizeResult {
  size: number;
  generateMs: number;
  churn: { leave: number; change: number; join: number; ms: number };
  refreshMs: { initial: number; churn: number };
  segmentSize: { initial: number; churn: number };
  phases: PhaseResult[];
}

async function benchSize(server: BenchPostgres, fakes: Fakes, env: Record<string, string>, size: number, destinations: DestinationName[], tmp: string, onPhase: (p: PhaseResult) => void): Promise<SizeResult> {
  const tag = sizeTag(size);
  const schema = `syncbench_${tag}`;
  log(`${tag}: generating ${fmtInt(size)} customers`);
  let t = now();
  const admin = await pgClient(server.url);
  try {
    for (const sql of createCustomersSql('postgres', schema)) await admin.query(sql);
  } finally {
    await admin.end();
  }
  await insertCustomers(server.url, schema, 1, size);
  const admin2 = await pgClient(server.url);
  await admin2.query(`VACUUM (FREEZE, ANALYZE) ${q(schema)}.customers`);
  await admin2.end();
  const generateMs = msSince(t);

  const open = () => openRuntime(loadConfig({ ...env, DEMO: 'false', LOG_LEVEL: 'silent' }, ROOT), { log: () => {} });
  const segmentSlug = `syncbench-${tag}`;
  const slugOf = (d: DestinationName) => `${d}-${tag}`;
  const remote = new Map<DestinationName, string>();
  let runtime: Runtime = await open();
  let refreshInitial: number;
  let segmentInitial: number;
  try {
    await runtime.models.create({ ...modelDefinition(`syncbench-${tag}`, schema), name: `Sync benchmark customers (${tag})` });
    await runtime.segments.create({ slug: segmentSlug, name: `Every customer (${tag})`, model: `syncbench-${tag}`, rule: { '>=': [{ var: 'ltv' }, 0] }, tags: ['bench'] });
    for (const d of destinations) {
      const destination = d === 'meta'
        ? { slug: slugOf(d), name: `Meta (${tag})`, kind: 'meta_custom_audience' as const, config: { adAccountId: META_ACCOUNT }, credentials: { accessToken: META_TOKEN } }
        : { slug: slugOf(d), name: `Google (${d}, ${tag})`, kind: 'google_customer_match' as const, config: { customerId: GOOGLE_CUSTOMER }, credentials: GOOGLE_CREDENTIALS };
      await runtime.destinations.create(destination);
      const sync = await runtime.syncs.create({
        slug: slugOf(d), name: `Bench ${d} ${tag}`, segment: segmentSlug, destination: slugOf(d),
        mapping: d === 'meta' ? { email: 'email', phone: 'phone', external_id: 'external_id' } : { email: 'email', phone: 'phone' },
      });
      remote.set(d, sync.remoteAudienceId);
    }
    t = now();
    const refreshed = await runtime.refresh.start(segmentSlug, { wait: true });
    refreshInitial = msSince(t);
    if (refreshed.status !== 'succeeded') throw new Error(`refresh failed: ${refreshed.error}`);
    segmentInitial = refreshed.size ?? 0;
  } finally {
    await runtime.close();
  }
  log(`${tag}: segment ${fmtInt(segmentInitial)} members, refresh ${fmtMs(refreshInitial)}`);

  // Replay targets: another audience / list of the same fakes, filled by the initial replay, churned by the churn replay.
  const replayMeta = fakes.meta.addAudience({ account_id: META_ACCOUNT.replace(/^act_/, ''), name: `replay ${tag}` });
  const replayGoogle = new Map(destinations.filter((d) => d !== 'meta').map((d) => [d, fakes.google.backend.createList({ customerId: GOOGLE_CUSTOMER, name: `replay ${d} ${tag}`, type: 'CRM_BASED', uploadKeyType: 'CONTACT_INFO' })]));

  const phases: PhaseResult[] = [];
  const measure = async (phase: 'initial' | 'churn') => {
    for (const d of destinations) {
      fakes.google.dataManager.processingPolls = d === 'google-poll' ? 1 : 0;
      takeRecorded(fakes, d, path.join(tmp, 'discard.ndjson'));
      const loadBefore = loadAverage();
      log(`${tag} ${phase} ${d}: sync (load ${loadBefore})`);
      const sync = await runJob({ mode: 'sync', env, sync: slugOf(d) });
      const file = path.join(tmp, `${d}-${tag}-${phase}.ndjson`);
      const recorded = takeRecorded(fakes, d, file);
      const run = sync.run!;
      log(`${tag} ${phase} ${d}: ${run.status} in ${fmtMs(sync.wallMs)} (send ${fmtMs(run.timings.send)}), ${fmtInt(run.sent)} sent in ${run.requests} requests (${recorded} recorded); peak RSS ${fmtMiB(sync.rss.max)}`);
      const replay = d === 'meta'
        ? await runJob({ mode: 'replay-meta', baseUrl: fakes.meta.url, file, audienceId: replayMeta.id })
        : await runJob({ mode: 'replay-google', endpoint: fakes.google.endpoints.dataManager, file, listId: replayGoogle.get(d)!.id });
      fs.rmSync(file, { force: true });
      const loadAfter = loadAverage();
      log(`${tag} ${phase} ${d}: replay ${replay.requests} requests, ${fmtInt(replay.members)} members in ${fmtMs(replay.wallMs)} (load ${loadAfter})`);
      const heldByFake = d === 'meta' ? fakes.meta.audience(remote.get(d)!).members.size : (fakes.google.backend.lists.get(remote.get(d)!)?.members.size ?? 0);
      const result: PhaseResult = {
        size, destination: d, phase, run, wallMs: sync.wallMs, rss: sync.rss, ...(sync.memory ? { memory: sync.memory } : {}), statements: sync.statements ?? [],
        replay: { wallMs: replay.wallMs, requests: replay.requests ?? 0, members: replay.members ?? 0 }, loadBefore, loadAfter, heldByFake,
      };
      phases.push(result);
      onPhase(result);
    }
  };
  await measure('initial');

  // 1% churn: 0.4% leave, 0.2% change their email, 0.4% join.
  t = now();
  const c = await pgClient(server.url);
  let leave: number;
  let change: number;
  const join = Math.floor(size * 0.004);
  try {
    leave = (await c.query(`UPDATE ${q(schema)}.customers SET ltv = -1 WHERE customer_id % 250 = 0`)).rowCount ?? 0;
    change = (await c.query(`UPDATE ${q(schema)}.customers SET email = 'changed.' || customer_id || '@example.net' WHERE customer_id % 500 = 1`)).rowCount ?? 0;
  } finally {
    await c.end();
  }
  await insertCustomers(server.url, schema, size + 1, size + join);
  const c2 = await pgClient(server.url);
  await c2.query(`VACUUM (ANALYZE) ${q(schema)}.customers`);
  await c2.end();
  const churnMs = msSince(t);
  runtime = await open();
  let refreshChurn: number;
  let segmentChurn: number;
  try {
    t = now();
    const refreshed = await runtime.refresh.start(segmentSlug, { wait: true });
    refreshChurn = msSince(t);
    if (refreshed.status !== 'succeeded') throw new Error(`refresh failed: ${refreshed.error}`);
    segmentChurn = refreshed.size ?? 0;
  } finally {
    await runtime.close();
  }
  log(`${tag}: churn leave ${leave} change ${change} join ${join}; segment ${fmtInt(segmentChurn)}, refresh ${fmtMs(refreshChurn)}`);
  await measure('churn');

  // The fakes' memory is the parent's: forget this size's audiences.
  for (const id of [...remote.values()]) { fakes.meta.audiences.delete(id); fakes.google.backend.lists.delete(id); }
  fakes.meta.audiences.delete(replayMeta.id);
  for (const l of replayGoogle.values()) fakes.google.backend.lists.delete(l.id);
  fakes.google.dataManager.statuses.clear();
  const drop = await pgClient(server.url);
  await drop.query(`DROP SCHEMA ${q(schema)} CASCADE`);
  await drop.end();
  return { size, generateMs, churn: { leave, change, join, ms: churnMs }, refreshMs: { initial: refreshInitial, churn: refreshChurn }, segmentSize: { initial: segmentInitial, churn: segmentChurn }, phases };
}

// ---------------------------------------------------------------------------------------------

const planned = (r: SyncRun) => (r.planned ? r.planned.adds + r.planned.removes + r.planned.changes : 0);
const rate = (n: number, ms: number | undefined) => (ms && ms > 0 ? `${fmtInt(Math.round(n / (ms / 1000)))}/s` : 'n/a');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)}%`;

function renderReport(input: { startedAt: Date; environment: Array<[string, string]>; settings: Array<{ name: string; setting: string }>; sizes: SizeResult[]; partial: PhaseResult[]; failure?: unknown; done: boolean }): string {
  const out: string[] = [];
  out.push('# Sync benchmark', '');
  out.push(`Started ${input.startedAt.toISOString()}${input.done ? '' : ' — **partial: still running or interrupted**'}. Rerun: \`node --import tsx tests/bench/sync/run.ts\` (see the header of tests/bench/sync/run.ts for the knobs).`, '');
  out.push('| | |', '|---|---|', ...input.environment.map(([k, v]) => `| ${k} | ${v} |`), '');
  if (input.failure) out.push(`**Run failed:** ${input.failure instanceof Error ? input.failure.message : String(input.failure)}`, '');
  const all = [...input.sizes.flatMap((s) => s.phases), ...input.partial];

  out.push('## Members per second and overhead against the fake', '');
  out.push('members = planned rows (adds + removes + changes; a change is a remove and an add on the wire). Run = SyncsService.startRun(wait) wall time in the service process; send = the run\'s `timings.send`. Fake-only = the same requests (recorded by the fake) replayed one at a time, pre-serialized, from another process. Overhead = (service time − fake-only) / fake-only; target ≤ +10%.', '');
  out.push('| size | destination | phase | members | sent / requests | run | members/s (run) | send | members/s (send) | fake-only | fake members/s | overhead (send) | overhead (run) | load before → after |');
  out.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const p of all) {
    const n = planned(p.run);
    const send = p.run.timings.send ?? 0;
    out.push(`| ${sizeTag(p.size)} | ${p.destination} | ${p.phase} | ${fmtInt(n)} | ${fmtInt(p.run.sent)} / ${p.run.requests} | ${fmtMs(p.wallMs)} | ${rate(n, p.wallMs)} | ${fmtMs(send)} | ${rate(n, send)} | ${fmtMs(p.replay.wallMs)} | ${rate(p.replay.members, p.replay.wallMs)} | ${pct((send - p.replay.wallMs) / p.replay.wallMs)} | ${pct((p.wallMs - p.replay.wallMs) / p.replay.wallMs)} | ${p.loadBefore} → ${p.loadAfter} |`);
  }
  out.push('');

  out.push('## Where the time goes (run timings and warehouse statements)', '');
  out.push('| size | destination | phase | refresh | plan | send | commit | total | plan page reads: calls, total, first → last | delivered marks: calls, total, first → last |');
  out.push('|---:|---|---|---:|---:|---:|---:|---:|---|---|');
  for (const p of all) {
    const tm = p.run.timings;
    const st = (kind: string) => {
      const s = p.statements.find((x) => x.kind === kind);
      return s ? `${s.calls}, ${fmtMs(s.totalMs)}, ${fmtMs(s.firstMs)} → ${fmtMs(s.lastMs)}` : '—';
    };
    out.push(`| ${sizeTag(p.size)} | ${p.destination} | ${p.phase} | ${fmtMs(tm.refresh)} | ${fmtMs(tm.plan)} | ${fmtMs(tm.send)} | ${fmtMs(tm.commit)} | ${fmtMs(tm.total)} | ${st('read plan page')} | ${st('mark page delivered')} |`);
  }
  out.push('');

  out.push('## Peak RSS of the service process', '');
  out.push('Sampled every 50 ms during the run (max), and the kernel\'s ru_maxrss (whole process life, start-up included). Flat from 100k to 1M = the audience does not pass through memory all at once.', '');
  out.push('Heap: V8 heapUsed / external (off-heap buffers) at their peak (sampled every 100 ms), at the end of the run, and after a forced full GC (with the RSS then).', '');
  out.push('| size | destination | phase | RSS before | peak RSS (sampled) | ru_maxrss | RSS after | heap used peak | external peak | heap used at end → after GC | RSS after GC |');
  out.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const p of all) {
    const m = p.memory;
    out.push(`| ${sizeTag(p.size)} | ${p.destination} | ${p.phase} | ${fmtMiB(p.rss.before)} | ${fmtMiB(p.rss.max)} | ${fmtMiB(p.rss.maxRssKernel)} | ${fmtMiB(p.rss.after)} | ` +
      (m ? `${fmtMiB(m.heapUsedMax)} | ${fmtMiB(m.externalMax)} | ${fmtMiB(m.atEnd.heapUsed)} → ${fmtMiB(m.afterGc.heapUsed)} | ${fmtMiB(m.afterGc.rss)} |` : 'n/a | n/a | n/a | n/a |'));
  }
  out.push('');
  const sizes = [...new Set(all.map((p) => p.size))].sort((a, b) => a - b);
  if (sizes.length > 1) {
    const [lo, hi] = [sizes[0]!, sizes[sizes.length - 1]!];
    out.push(`Peak RSS ${sizeTag(hi)} vs ${sizeTag(lo)}:`, '');
    out.push('| destination | phase | peak RSS ' + sizeTag(lo) + ' | peak RSS ' + sizeTag(hi) + ' | ratio |', '|---|---|---:|---:|---:|');
    for (const p of all.filter((x) => x.size === hi)) {
      const base = all.find((x) => x.size === lo && x.destination === p.destination && x.phase === p.phase);
      if (base) out.push(`| ${p.destination} | ${p.phase} | ${fmtMiB(base.rss.max)} | ${fmtMiB(p.rss.max)} | ${(p.rss.max / base.rss.max).toFixed(2)}× |`);
    }
    out.push('');
  }

  if (input.sizes.length) {
    out.push('## Data', '');
    out.push('| size | generate | segment (initial → churn) | churn: leave / change / join | refresh initial | refresh churn |', '|---:|---:|---|---|---:|---:|');
    for (const s of input.sizes) out.push(`| ${sizeTag(s.size)} | ${fmtMs(s.generateMs)} | ${fmtInt(s.segmentSize.initial)} → ${fmtInt(s.segmentSize.churn)} | ${fmtInt(s.churn.leave)} / ${fmtInt(s.churn.change)} / ${fmtInt(s.churn.join)} | ${fmtMs(s.refreshMs.initial)} | ${fmtMs(s.refreshMs.churn)} |`);
    out.push('', 'Held by the fake after each run (members of the synced audience / list; Google merges members sharing an identifier):', '');
    out.push('| size | destination | phase | planned | rejected | held by fake |', '|---:|---|---|---:|---:|---:|');
    for (const p of input.sizes.flatMap((s) => s.phases)) out.push(`| ${sizeTag(p.size)} | ${p.destination} | ${p.phase} | ${p.run.planned ? `+${fmtInt(p.run.planned.adds)} −${fmtInt(p.run.planned.removes)} ~${fmtInt(p.run.planned.changes)}` : 'n/a'} | ${fmtInt(p.run.rejected)} | ${fmtInt(p.heldByFake)} |`);
    out.push('');
  }
  out.push('## Postgres settings', '', input.settings.map((s) => `${s.name}=${s.setting}`).join(', '), '');
  return out.join('\n');
}

function sourceVersion(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
    const head = git('log', '-1', '--format=%h %s').trim().slice(0, 100);
    const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).map((l) => l.slice(3));
    return `${head}${dirty.length ? `; uncommitted changes in ${dirty.join(', ')}` : '; src/ clean'}`;
  } catch {
    return 'unknown';
  }
}

export async function runSyncBench(): Promise<{ markdown: string; summary: string[]; file: string; failed: boolean }> {
  const config = benchConfig();
  const startedAt = new Date();
  const environment: Array<[string, string]> = [
    ['Machine', `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM (shared with other work)`],
    ['Node', process.version],
    ['Source (git)', process.env.SYNC_BENCH_SOURCE ?? sourceVersion()],
    ['Load average at start (1/5/15 min)', loadAverage()],
    ['Configuration', `SYNC_BENCH_SIZES=${config.sizes.join(',')}, SYNC_BENCH_DESTINATIONS=${config.destinations.join(',')}`],
  ];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'audiences-sync-bench-'));
  const server = await startBenchPostgres();
  const fakes = await startFakes();
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      currentChild?.kill('SIGKILL');
      void server.stop().catch(() => {}).finally(() => { fs.rmSync(tmp, { recursive: true, force: true }); process.exit(130); });
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  const env: Record<string, string> = {
    DATABASE_URL: server.url, WAREHOUSE_URL: server.url, STATE_SCHEMA, AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    META_GRAPH_URL: fakes.meta.url,
    GOOGLE_ADS_ENDPOINT: `${fakes.google.endpoints.googleAds.host}:${fakes.google.endpoints.googleAds.port}`,
    DATA_MANAGER_ENDPOINT: `${fakes.google.endpoints.dataManager.host}:${fakes.google.endpoints.dataManager.port}`,
    FILE_DESTINATION_ROOT: tmp,
  };
  const sizes: SizeResult[] = [];
  let partial: PhaseResult[] = [];
  let failure: unknown;
  let settings: Array<{ name: string; setting: string }> = [];
  const write = (done: boolean) => {
    const markdown = renderReport({ startedAt, environment: done ? [...environment, ['Load average at end (1/5/15 min)', loadAverage()]] : environment, settings, sizes, partial, failure, done });
    fs.writeFileSync(config.outFile, `${markdown}\n`);
    return markdown;
  };
  try {
    settings = await effectiveSettings(server.url);
    for (const size of config.sizes) {
      partial = [];
      sizes.push(await benchSize(server, fakes, env, size, config.destinations, tmp, (p) => { partial.push(p); write(false); }));
      partial = [];
      write(false);
    }
  } catch (error) {
    failure = error;
    log(`run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    await fakes.meta.close().catch(() => {});
    await fakes.google.stop().catch(() => {});
    await server.stop().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const markdown = write(true);
  log(`report written to ${config.outFile}`);
  const summary = sizes.flatMap((s) => s.phases.map((p) => `sync ${sizeTag(p.size)} ${p.destination} ${p.phase}: ${rate(planned(p.run), p.wallMs)}, overhead (send) ${pct(((p.run.timings.send ?? 0) - p.replay.wallMs) / p.replay.wallMs)}, peak RSS ${fmtMiB(p.rss.max)}`));
  if (failure) summary.push(`sync run FAILED: ${failure instanceof Error ? failure.message : String(failure)}`);
  return { markdown, summary, file: config.outFile, failed: failure !== undefined };
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  runSyncBench().then(
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
