import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { startService, type RunningService } from '../../src/server';
import { ACCOUNT, TOKEN } from '../destinations/meta/helpers';
import { GraphApiFake } from '../fakes/graph-api-fake';
import { until } from '../support/sync-fixture';
import { createTestDatabase } from '../support/test-database';
import { REPO_ROOT } from '../support/test-service';

/**
 * The acceptance test of the logs: the service as `npm start` assembles it, logging at `trace`
 * into a capture, runs a refresh, a demo file sync, a Meta sync through a 5xx, a Meta sync
 * that fails with an error echoing the access token, a sync that follows a refresh as a job, and
 * a few failing requests. Then every email, phone (as written and as digits), first and last name
 * of the demo warehouse, the Meta access token and the API token are looked for in the captured
 * text: none may appear. The lines the runs should have written must be there, with their run
 * and request ids, so the test would notice logs that say nothing.
 */
const API_TOKEN = `leak-test-${randomBytes(24).toString('hex')}`;
let fake: GraphApiFake;
let service: RunningService;
let root: string;
let dropDatabase: () => Promise<void>;
const captured: string[] = [];
const logText = () => captured.join('');
const logLines = () => captured.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

interface Customer { email: string | null; phone: string | null; first_name: string | null; last_name: string | null }
interface Run { id: string; status: string; sent: number; confirmed: number; rejected: number; retries: number; error: string | null }
const scenario = {} as {
  customers: Customer[];
  refreshRunId: string;
  fileRun: Run;
  metaRun: Run;
  failingRun: Run;
  jobSyncRunId: string;
  metrics: string;
};

async function call(method: string, url: string, options: { requestId: string; body?: unknown }): Promise<{ status: number; body: any }> {
  const res = await fetch(`${service.url}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${API_TOKEN}`, 'x-request-id': options.requestId,
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

/** A sync run over HTTP; a scheduled run of the same sync may hold it for a moment (409). */
async function runSync(slug: string, requestId: string): Promise<Run> {
  for (let attempt = 0; ; attempt++) {
    const res = await call('POST', `/v1/syncs/${slug}/runs?wait=true`, { requestId });
    if (res.status === 409 && attempt < 60) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as Run;
  }
}

beforeAll(async () => {
  fake = new GraphApiFake();
  await fake.start();
  fake.addAccount({ id: ACCOUNT, name: 'Acme Retail' });
  fake.validTokens.add(TOKEN);
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-leak-'));
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  const config = loadConfig({
    DATABASE_URL: database.url, DEMO: 'true', DEMO_CUSTOMERS: '2000', PORT: '0', LOG_LEVEL: 'trace',
    AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'), FILE_DESTINATION_ROOT: root,
    META_GRAPH_URL: fake.url, AUDIENCES_BOOTSTRAP_TOKEN: API_TOKEN,
  }, REPO_ROOT);
  service = await startService(config, { log: () => {}, logDestination: { write: (line: string) => { captured.push(line); } } });

  // A refresh, and the demo file sync of its segment.
  const refresh = await call('POST', '/v1/segments/us-high-value/refresh?wait=true', { requestId: 'leak-refresh' });
  expect(refresh.status, JSON.stringify(refresh.body)).toBe(200);
  scenario.refreshRunId = refresh.body.id;
  scenario.fileRun = await runSync('us-high-value-to-files', 'leak-file-sync');
  expect(scenario.fileRun.status).toBe('succeeded');

  // Members, revealed, over two pages: responses and cursors are never logged.
  const page = await call('GET', '/v1/segments/us-high-value/members?limit=2&reveal=true', { requestId: 'leak-members' });
  expect(page.status).toBe(200);
  expect((await call('GET', `/v1/segments/us-high-value/members?limit=2&reveal=true&cursor=${page.body.nextCursor}`, { requestId: 'leak-members-2' })).status).toBe(200);

  // Meta: a destination with the access token, a sync through a rate limit.
  const destination = await call('POST', '/v1/destinations', {
    requestId: 'leak-create-destination',
    body: { slug: 'meta', name: 'Meta', kind: 'meta_custom_audience', config: { adAccountId: ACCOUNT }, credentials: { accessToken: TOKEN } },
  });
  expect(destination.status, JSON.stringify(destination.body)).toBe(201);
  const mapping = { email: 'email', phone: 'phone', first_name: 'first_name', last_name: 'last_name', country: 'country', external_id: 'external_id' };
  for (const slug of ['us-high-value-to-meta', 'us-high-value-to-meta-2']) {
    const created = await call('POST', '/v1/syncs', { requestId: `leak-create-${slug}`, body: { slug, name: slug, segment: 'us-high-value', destination: 'meta', mapping } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }
  // A 5xx (not a rate limit: Meta's code 17 asks for a 60 s pause).
  fake.inject('users.add', { kind: 'server_error' }, 1);
  scenario.metaRun = await runSync('us-high-value-to-meta', 'leak-meta-sync');
  expect(scenario.metaRun).toMatchObject({ status: 'succeeded', retries: 1 });
  // A permanent platform error whose message carries the access token.
  fake.inject('users.add', { kind: 'token_expired', echoToken: true }, 1);
  scenario.failingRun = await runSync('us-high-value-to-meta-2', 'leak-meta-sync-failing');
  expect(scenario.failingRun.status).toBe('failed');
  expect(scenario.failingRun.error).toContain('Error validating access token');

  // Failing requests: a 400 whose body holds a customer's email, a connection test and a sync
  // creation the platform refuses (the latter a 502).
  const [someone] = await service.runtime.warehouse.query<{ email: string }>('select email from demo.customers where email is not null order by customer_id limit 1');
  const invalid = await call('POST', '/v1/segments', {
    requestId: 'leak-bad-request',
    body: { slug: 'one-person', name: 'One person', model: 'customers', rule: { '==': [{ var: 'emial' }, someone!.email] } },
  });
  expect(invalid.status).toBe(400);
  fake.inject('*', { kind: 'token_expired', echoToken: true }, 1);
  const check = await call('POST', '/v1/destinations/meta/test', { requestId: 'leak-destination-test' });
  expect(check.body).toMatchObject({ ok: false });
  fake.inject('audiences.create', { kind: 'tos_not_accepted' }, 1);
  const refused = await call('POST', '/v1/syncs', { requestId: 'leak-create-refused', body: { slug: 'refused', name: 'Refused', segment: 'us-high-value', destination: 'meta', mapping } });
  expect(refused.status, JSON.stringify(refused.body)).toBe(502);

  // A sync that follows its segment's refresh runs as a job.
  const lapsed = await call('POST', '/v1/segments/lapsed-customers/refresh?wait=true', { requestId: 'leak-refresh-lapsed' });
  expect(lapsed.body.status).toBe('succeeded');
  await until('the follower sync job to finish', () => logLines().some((l) => l.msg === 'job finished' && l.queue === 'sync'), 60_000, 200);
  scenario.jobSyncRunId = String(logLines().find((l) => l.msg === 'job finished' && l.queue === 'sync')!.runId);

  scenario.metrics = await (await fetch(`${service.url}/metrics`)).text();
  scenario.customers = await service.runtime.warehouse.query<Customer & Record<string, unknown>>('select email, phone, first_name, last_name from demo.customers');
  await service.stop();
}, 240_000);

afterAll(async () => {
  await service?.stop();
  await fake?.close();
  await dropDatabase?.();
  await fs.rm(root, { recursive: true, force: true });
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the logs of a full run at trace level', () => {
  it('name no customer: no email, phone, phone digits, first or last name, member key or hash', () => {
    const text = logText();
    expect(scenario.customers.length).toBe(2000);
    const found = new Set<string>();
    for (const c of scenario.customers) {
      for (const email of [c.email, c.email?.trim(), c.email?.trim().toLowerCase()]) if (email && text.includes(email)) found.add(email);
      if (c.phone && text.includes(c.phone)) found.add(c.phone);
      const digits = c.phone?.replace(/\D/g, '');
      // Whole numbers only: a phone's digits inside a longer number (a remote audience id) is no leak.
      if (digits && new RegExp(`(?<![0-9])${digits}(?![0-9])`).test(text)) found.add(digits);
      for (const name of [c.first_name, c.last_name]) {
        if (name && new RegExp(`(?<![\\p{L}])${escape(name)}(?![\\p{L}])`, 'u').test(text)) found.add(name);
      }
    }
    expect([...found]).toEqual([]);
    // Member keys and hashed identifiers are personal data too.
    expect(text).not.toMatch(/"member_?[kK]ey":(?!"\[redacted\]")/);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });

  it('hold no secret: the Meta access token, the API token, an Authorization header', () => {
    const text = logText();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(TOKEN.slice(0, 24));
    expect(text).not.toContain(API_TOKEN);
    expect(text).not.toMatch(/bearer /i);
  });

  it('tell each run from start to finish, with its run id and the request that started it', () => {
    const lines = logLines();
    const find = (fields: Record<string, unknown>) => lines.filter((l) => Object.entries(fields).every(([k, v]) => l[k] === v));

    // HTTP: fastify's request lines carry the request id.
    expect(find({ requestId: 'leak-refresh', msg: 'incoming request' })).toHaveLength(1);
    expect(find({ requestId: 'leak-refresh', msg: 'request completed' })).toHaveLength(1);
    expect(find({ requestId: 'leak-bad-request', msg: 'request completed' })[0]!.res).toEqual({ statusCode: 400 });
    expect(find({ requestId: 'leak-members-2', msg: 'incoming request' })[0]!.req).toMatchObject({ url: expect.stringContaining('cursor=***') });

    // The refresh: started, stages, finished with counts.
    const refresh = { runId: scenario.refreshRunId, requestId: 'leak-refresh', segment: 'us-high-value' };
    expect(find({ ...refresh, msg: 'refresh started' })).toHaveLength(1);
    expect(find({ ...refresh, msg: 'refresh stage done' }).map((l) => l.stage)).toEqual(['snapshot', 'membership_log', 'commit']);
    const refreshed = find({ ...refresh, msg: 'refresh finished' });
    expect(refreshed).toHaveLength(1);
    expect(refreshed[0]).toMatchObject({ status: 'succeeded', size: expect.any(Number), entered: expect.any(Number), durationMs: expect.any(Number) });

    // The file sync.
    const file = { runId: scenario.fileRun.id, requestId: 'leak-file-sync', sync: 'us-high-value-to-files', destination: 'demo-files', destinationKind: 'file' };
    expect(find({ ...file, msg: 'sync run started' })).toHaveLength(1);
    expect(find({ ...file, msg: 'sync run planned' })).toHaveLength(1);
    expect(find({ ...file, msg: 'sync run finished' })[0]).toMatchObject({ status: 'succeeded', sent: scenario.fileRun.sent });

    // The Meta sync: a retried batch (class, status, delay), delivered batches, finished with counts.
    const meta = { runId: scenario.metaRun.id, requestId: 'leak-meta-sync', destinationKind: 'meta_custom_audience' };
    const retried = find({ ...meta, msg: 'batch failed, retrying' });
    expect(retried).toHaveLength(1);
    expect(retried[0]).toMatchObject({ errorClass: 'retryable', failure: 'retryable', status: 500, attempt: 1, retryInMs: expect.any(Number) });
    const delivered = find({ ...meta, msg: 'batch delivered' });
    expect(delivered.reduce((n, l) => n + Number(l.rows), 0)).toBe(scenario.metaRun.sent);
    expect(find({ ...meta, msg: 'sync run finished' })[0]).toMatchObject({ status: 'succeeded', sent: scenario.metaRun.sent, confirmed: scenario.metaRun.confirmed, retries: 1 });

    // The failing Meta sync: the permanent error, not retried, its message scrubbed.
    const failing = { runId: scenario.failingRun.id, requestId: 'leak-meta-sync-failing' };
    const stopped = find({ ...failing, msg: 'batch failed, not retried' });
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatchObject({ errorClass: 'permanent', retryInMs: null });
    expect(String(stopped[0]!.error)).toMatch(/Error validating access token: .*\(token (\[redacted\]|\*\*\*)\)/);
    expect(find({ ...failing, msg: 'sync run finished' })[0]).toMatchObject({ status: 'failed', error: expect.stringContaining('Error validating access token') });

    // The follower sync: enqueued, started and finished as a job; its run's lines carry the job id.
    const enqueued = find({ msg: 'job enqueued', queue: 'sync', trigger: 'after_refresh' });
    expect(enqueued.length).toBeGreaterThanOrEqual(1);
    const jobId = find({ msg: 'job finished', queue: 'sync', runId: scenario.jobSyncRunId })[0]!.jobId;
    expect(enqueued.map((l) => l.jobId)).toContain(jobId);
    expect(find({ msg: 'job started', jobId })).toHaveLength(1);
    expect(find({ msg: 'sync run finished', runId: scenario.jobSyncRunId, jobId, sync: 'lapsed-customers-to-files' })).toHaveLength(1);
  });

  it('are matched by the metrics: rows sent to Meta, platform errors by class', () => {
    const value = (series: string) => Number(new RegExp(`^${escape(series)} (\\S+)$`, 'm').exec(scenario.metrics)?.[1]);
    expect(value('audiences_sync_rows_sent_total{destination="meta",destination_kind="meta_custom_audience"}')).toBe(scenario.metaRun.sent);
    expect(value('audiences_platform_errors_total{destination_kind="meta_custom_audience",class="retryable"}')).toBe(1);
    expect(value('audiences_platform_errors_total{destination_kind="meta_custom_audience",class="permanent"}')).toBe(1);
    expect(value('audiences_sync_runs_total{status="failed"}')).toBe(1);
  });
});
