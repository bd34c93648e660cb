/**
 * The forked processes of the sync benchmark (run.ts forks one per measurement), so that the
 * service's RSS and CPU are its own and the fakes (in the parent) do not count as service time.
 *
 *   sync:          openRuntime(loadConfig({DATABASE_URL, WAREHOUSE_URL, STATE_SCHEMA, META_GRAPH_URL,
 *                  GOOGLE_ADS_ENDPOINT, DATA_MANAGER_ENDPOINT, AUDIENCES_ENCRYPTION_KEY, …})), warm up,
 *                  then SyncsService.startRun(slug, {wait: true}) while sampling RSS every 50 ms; every
 *                  warehouse statement of the run is timed by kind (plan page reads, delivered marks, …).
 *   replay-meta:   the "fake's own capacity": the /users requests the service sent (recorded by the
 *                  parent as NDJSON), pre-serialized, sent again one at a time (the destination's
 *                  maxConcurrency is 1) to another audience of the same fake, timed.
 *   replay-google: the same for the Data Manager ingest/remove requests (gRPC, the same client
 *                  factory the destination uses), to another user list.
 *
 * Reads its job from SYNC_BENCH_JOB (JSON) and answers over IPC.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadConfig } from '../../../src/config';
import { createIngestionClient } from '../../../src/destinations/google/clients';
import { openRuntime } from '../../../src/runtime';
import type { SyncRun } from '../../../src/syncs/sync-schema';
import type { Warehouse } from '../../../src/warehouse/warehouse';
import { msSince, now, RssSampler } from '../refresh/util';

const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface RssReport { before: number; max: number; after: number; samples: number; maxRssKernel: number }

export type Job =
  | { mode: 'sync'; env: Record<string, string>; sync: string }
  | { mode: 'replay-meta'; baseUrl: string; file: string; audienceId: string }
  | { mode: 'replay-google'; endpoint: { host: string; port: number; insecure: boolean }; file: string; listId: string };

/** Time spent in warehouse statements of one kind. */
export interface StatementStats { kind: string; calls: number; totalMs: number; firstMs: number; lastMs: number; maxMs: number }

export interface JobResult {
  ok: boolean;
  error?: string;
  wallMs: number;
  run?: SyncRun;
  rss: RssReport;
  statements?: StatementStats[];
  /** Replays: requests sent and members in them. */
  requests?: number;
  members?: number;
  bodyBytes?: number;
  /** Sync: V8 heap and off-heap memory (peak during the run, at its end, and after a forced full GC). */
  memory?: { heapUsedMax: number; externalMax: number; atEnd: NodeJS.MemoryUsage; afterGc: NodeJS.MemoryUsage };
}

/** A full GC on demand (the flag set at run time, so the fork needs no --expose-gc). */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

function statementKind(sql: string): string {
  if (/^SELECT op, member_key/.test(sql) && /LIMIT \$/.test(sql)) return 'read plan page';
  if (/^UPDATE \S+ SET (removed_ok|added_ok) = TRUE WHERE op IN \S+, '\w+'\) AND \(op >/.test(sql)) return 'mark page delivered';
  if (/^CREATE TABLE \S*syncplan_/.test(sql)) return 'create plan';
  if (/^CREATE INDEX/.test(sql)) return 'index plan';
  if (/^SELECT op, COUNT/.test(sql)) return 'count plan';
  if (/^SELECT COUNT\(\*\)/.test(sql)) return 'count state/snapshot';
  if (/^DELETE FROM \S*sync_/.test(sql)) return 'commit: delete';
  if (/^INSERT INTO \S*sync_/.test(sql)) return 'commit: insert';
  return sql.replace(/\s+/g, ' ').slice(0, 50);
}

/** Times every warehouse statement by kind (wraps Warehouse.query / transaction; src/ untouched). */
function instrument(warehouse: Warehouse): Map<string, StatementStats> {
  const stats = new Map<string, StatementStats>();
  const record = (sql: string, ms: number) => {
    const kind = statementKind(sql);
    const s = stats.get(kind) ?? { kind, calls: 0, totalMs: 0, firstMs: ms, lastMs: ms, maxMs: 0 };
    s.calls++;
    s.totalMs += ms;
    s.lastMs = ms;
    s.maxMs = Math.max(s.maxMs, ms);
    stats.set(kind, s);
  };
  const query = warehouse.query.bind(warehouse);
  (warehouse as { query: Warehouse['query'] }).query = (async (sql: string, params?: unknown[]) => {
    const t = now();
    try {
      return await query(sql, params as never);
    } finally {
      record(sql, msSince(t));
    }
  }) as Warehouse['query'];
  const transaction = warehouse.transaction.bind(warehouse);
  (warehouse as { transaction: Warehouse['transaction'] }).transaction = (work) => transaction((q) => work(async (sql, params) => {
    const t = now();
    try {
      return await q(sql, params);
    } finally {
      record(sql, msSince(t));
    }
  }));
  return stats;
}

async function runSync(job: Extract<Job, { mode: 'sync' }>): Promise<JobResult> {
  const runtime = await openRuntime(loadConfig({ ...job.env, DEMO: 'false', LOG_LEVEL: 'silent' }, ROOT), { log: () => {} });
  try {
    await runtime.warehouse.ping();
    await runtime.syncs.get(job.sync);
    const stats = instrument(runtime.warehouse);
    const sampler = new RssSampler(50).start();
    let heapUsedMax = 0;
    let externalMax = 0;
    const heapTimer = setInterval(() => {
      const m = process.memoryUsage();
      heapUsedMax = Math.max(heapUsedMax, m.heapUsed);
      externalMax = Math.max(externalMax, m.external);
    }, 100);
    const start = now();
    const { run } = await runtime.syncs.startRun(job.sync, { wait: true, trigger: 'api' });
    const wallMs = msSince(start);
    const rss = sampler.stop();
    clearInterval(heapTimer);
    const atEnd = process.memoryUsage();
    collectGarbage();
    const afterGc = process.memoryUsage();
    return { ok: run.status === 'succeeded', ...(run.error ? { error: run.error } : {}), wallMs, run, rss, statements: [...stats.values()], memory: { heapUsedMax, externalMax, atEnd, afterGc } };
  } finally {
    await runtime.close();
  }
}

async function* lines(file: string): AsyncGenerator<Record<string, unknown>> {
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) if (line) yield JSON.parse(line) as Record<string, unknown>;
}

function formEncode(body: Record<string, unknown>): string {
  return new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();
}

async function replayMeta(job: Extract<Job, { mode: 'replay-meta' }>): Promise<JobResult> {
  // Pre-built, outside the timing: method, URL and serialized body of every request.
  const prepared: Array<{ method: string; url: string; contentType: string; body: string; members: number }> = [];
  for await (const r of lines(job.file)) {
    const body = r.body as Record<string, unknown>;
    const contentType = String(r.contentType ?? 'application/json');
    const node = String(r.path).replace(/^\/(v[0-9.]+)\/[0-9]+\/users$/, `/$1/${job.audienceId}/users`);
    const query = new URLSearchParams(r.query as Record<string, string>).toString();
    prepared.push({
      method: String(r.method), url: `${job.baseUrl}${node}${query ? `?${query}` : ''}`, contentType,
      body: contentType.includes('json') ? JSON.stringify(body) : formEncode(body),
      members: ((body.payload as { data?: unknown[] } | undefined)?.data ?? []).length,
    });
  }
  const sampler = new RssSampler(50).start();
  const start = now();
  let members = 0;
  let bodyBytes = 0;
  for (const p of prepared) {
    const res = await fetch(p.url, { method: p.method, headers: { 'content-type': p.contentType }, body: p.body });
    const text = await res.text();
    if (!res.ok) throw new Error(`replay: ${p.method} ${p.url.split('?')[0]} → ${res.status} ${text.slice(0, 300)}`);
    members += p.members;
    bodyBytes += p.body.length;
  }
  const wallMs = msSince(start);
  return { ok: true, wallMs, rss: sampler.stop(), requests: prepared.length, members, bodyBytes };
}

async function replayGoogle(job: Extract<Job, { mode: 'replay-google' }>): Promise<JobResult> {
  const client = createIngestionClient(job.endpoint, { clientId: 'bench', clientSecret: 'bench', refreshToken: 'bench' }, { timeoutMs: 600_000 });
  try {
    const prepared: Array<{ method: string; request: Record<string, unknown>; members: number }> = [];
    for await (const r of lines(job.file)) {
      const request = r.request as Record<string, unknown> & { destinations: Array<Record<string, unknown>>; audienceMembers: unknown[] };
      request.destinations = request.destinations.map((d) => ({ ...d, productDestinationId: job.listId }));
      prepared.push({ method: String(r.method), request, members: request.audienceMembers.length });
    }
    // One call outside the timing: channel and OAuth set up, as in the service's steady state.
    await client.retrieveRequestStatus({ requestId: 'warm-up' }).catch(() => {});
    const sampler = new RssSampler(50).start();
    const start = now();
    let members = 0;
    for (const p of prepared) {
      if (p.method === 'IngestAudienceMembers') await client.ingestAudienceMembers(p.request as never);
      else await client.removeAudienceMembers(p.request as never);
      members += p.members;
    }
    const wallMs = msSince(start);
    return { ok: true, wallMs, rss: sampler.stop(), requests: prepared.length, members };
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.SYNC_BENCH_JOB ?? 'null') as Job | null;
  if (!job) throw new Error('SYNC_BENCH_JOB is not set (this file is forked by tests/bench/sync/run.ts)');
  let result: JobResult;
  try {
    result = job.mode === 'sync' ? await runSync(job) : job.mode === 'replay-meta' ? await replayMeta(job) : await replayGoogle(job);
  } catch (error) {
    result = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error), wallMs: 0, rss: { before: 0, max: 0, after: 0, samples: 0, maxRssKernel: 0 } };
  }
  // Every answer also as a line of JSON (raw numbers for a later look): SYNC_BENCH_JOBS_LOG, default in the temp dir.
  fs.appendFileSync(process.env.SYNC_BENCH_JOBS_LOG ?? path.join(os.tmpdir(), 'audiences-sync-bench-jobs.ndjson'), `${JSON.stringify({ at: new Date().toISOString(), job: { ...job, env: undefined }, loadavg: os.loadavg(), result })}\n`);
  await new Promise<void>((resolve, reject) => process.send!(result, (error: Error | null) => (error ? reject(error) : resolve())));
}

main().then(
  () => process.disconnect?.(),
  (error: unknown) => {
    process.stderr.write(`sync bench process failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
    process.disconnect?.();
  },
);
