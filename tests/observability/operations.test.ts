import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { startService, type RunningService } from '../../src/server';
import { createTestDatabase } from '../support/test-database';
import { REPO_ROOT } from '../support/test-service';

/**
 * /healthz, /readyz and /metrics of the service as `npm start` assembles it (workers off, so
 * nothing runs but what the test starts), and /readyz of one whose warehouse is unreachable.
 */
const TOKEN = `ops-test-${randomBytes(24).toString('hex')}`;
let service: RunningService;
let broken: RunningService | undefined;
let root: string;
let dropDatabase: () => Promise<void>;

function env(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl, PORT: '0', LOG_LEVEL: 'silent', WORKERS: 'false', AUDIENCES_BOOTSTRAP_TOKEN: TOKEN,
    AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'), FILE_DESTINATION_ROOT: root, ...extra,
  };
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-ops-'));
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  service = await startService(loadConfig(env(database.url, { DEMO: 'true', DEMO_CUSTOMERS: '500' }), REPO_ROOT), { log: () => {} });
}, 120_000);
afterAll(async () => {
  await broken?.stop();
  await service?.stop();
  await dropDatabase?.();
  await fs.rm(root, { recursive: true, force: true });
});

const get = (base: string, url: string, headers: Record<string, string> = {}) => fetch(`${base}${url}`, { headers });
const api = (method: string, url: string) => fetch(`${service.url}${url}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });

/** `name{labels} value` lines of an exposition, by series. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('health', () => {
  it('/healthz answers 200 without a token', async () => {
    const res = await get(service.url, '/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz checks the database, the warehouse and the job queue, and says the workers are off', async () => {
    const res = await get(service.url, '/readyz');
    const body = await res.json() as { status: string; checks: Record<string, { status: string; latencyMs: number; detail?: string }> };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks).sort()).toEqual(['database', 'jobs', 'warehouse']);
    for (const check of Object.values(body.checks)) {
      expect(check.status).toBe('ok');
      expect(check.latencyMs).toBeGreaterThanOrEqual(0);
      expect(check.latencyMs).toBeLessThan(2_000);
    }
    expect(body.checks.jobs!.detail).toMatch(/^workers off in this process .*; queued: sync 0, refresh 0$/);
  });

  it('/readyz answers 503 naming the warehouse when it is unreachable (the process stays alive)', async () => {
    const deadPort = await freePort();
    const database = service.runtime.databaseUrl;
    broken = await startService(loadConfig(env(database, { DEMO: 'false', WAREHOUSE_URL: `postgres://nobody@127.0.0.1:${deadPort}/nowhere` }), REPO_ROOT), { log: () => {} });
    expect((await get(broken.url, '/healthz')).status).toBe(200);
    const res = await get(broken.url, '/readyz');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = await res.json() as { status: number; detail: string; errors: Array<{ message: string }>; requestId: string };
    expect(problem).toMatchObject({ status: 503, detail: 'Not ready: warehouse failed.' });
    expect(problem.errors).toHaveLength(1);
    expect(problem.errors[0]!.message).toMatch(/^warehouse: failed \(ECONNREFUSED\) \(\d+ ms\)$/);
    expect(problem.requestId).toBe(res.headers.get('x-request-id'));
  });
});

describe('metrics', () => {
  it('counts requests by route pattern, refresh and sync runs, and rows per destination', async () => {
    const segment = await api('GET', '/v1/segments/us-high-value');
    expect(segment.status).toBe(200);
    const refresh = await api('POST', '/v1/segments/us-high-value/refresh?wait=true');
    const refreshed = await refresh.json() as { status: string; size: number };
    expect(refresh.status, JSON.stringify(refreshed)).toBe(200);
    expect(refreshed.status).toBe('succeeded');
    const runRes = await api('POST', '/v1/syncs/us-high-value-to-files/runs?wait=true');
    const run = await runRes.json() as { status: string; sent: number; confirmed: number; rejected: number };
    expect(runRes.status, JSON.stringify(run)).toBe(200);
    expect(run.status).toBe('succeeded');
    expect(run.sent).toBeGreaterThan(0);

    const res = await get(service.url, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const m = samples(text);
    // Route patterns, never raw URLs.
    expect(m.get('audiences_http_request_duration_seconds_count{method="GET",route="/v1/segments/:segment",status_code="200"}')).toBe(1);
    expect(m.get('audiences_http_request_duration_seconds_count{method="POST",route="/v1/segments/:segment/refresh",status_code="200"}')).toBe(1);
    expect(text).not.toMatch(/route="[^"]*us-high-value/);
    expect(m.get('audiences_refresh_runs_total{status="succeeded"}')).toBe(1);
    expect(m.get('audiences_refresh_duration_seconds_count{status="succeeded"}')).toBe(1);
    expect(m.get('audiences_refresh_duration_seconds_sum{status="succeeded"}')).toBeGreaterThan(0);
    expect(m.get('audiences_sync_runs_total{status="succeeded"}')).toBe(1);
    expect(m.get('audiences_sync_duration_seconds_count{status="succeeded"}')).toBe(1);
    const files = 'destination="demo-files",destination_kind="file"';
    expect(m.get(`audiences_sync_rows_sent_total{${files}}`)).toBe(run.sent);
    expect(m.get(`audiences_sync_rows_confirmed_total{${files}}`)).toBe(run.confirmed);
    const rejected = [...m].filter(([series]) => series.startsWith(`audiences_sync_rows_rejected_total{${files},`)).reduce((n, [, v]) => n + v, 0);
    expect(rejected).toBe(run.rejected);
    expect(m.get('audiences_job_queue_depth{queue="sync"}')).toBe(0);
    expect(m.get('audiences_job_queue_depth{queue="refresh"}')).toBe(0);
    // Default process metrics, from this runtime's own registry.
    expect(m.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  }, 60_000);
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
