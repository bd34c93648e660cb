import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { startService, type RunningService } from '../../src/server';
import { injectAsAdmin } from '../support/auth';
import { until } from '../support/refresh-fixture';
import { createTestDatabase } from '../support/test-database';
import { REPO_ROOT } from '../support/test-service';

/**
 * The demo end to end, as `npm start` assembles it (in-process, on a database of its own): the
 * demo destination writes hashed files; a refresh makes the sync that follows it run; a data
 * change and a refresh produce the matching removes.
 */
let service: RunningService;
let root: string;
let dropDatabase: () => Promise<void>;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-demo-'));
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  const config = loadConfig({
    DATABASE_URL: database.url, DEMO: 'true', DEMO_CUSTOMERS: '3000', PORT: '0', LOG_LEVEL: 'silent',
    AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'), FILE_DESTINATION_ROOT: root,
  }, REPO_ROOT);
  service = await startService(config, { log: () => {} });
  await injectAsAdmin(service.app, service.runtime.tokens);
}, 120_000);
afterAll(async () => {
  await service?.stop();
  await dropDatabase?.();
  await fs.rm(root, { recursive: true, force: true });
});

async function lines(dir: string): Promise<Array<{ file: string; op: string; identifiers: Record<string, string> }>> {
  const out = [];
  for (const file of (await fs.readdir(dir).catch(() => [] as string[])).sort()) {
    for (const line of (await fs.readFile(path.join(dir, file), 'utf8')).split('\n').filter(Boolean)) out.push({ file, ...(JSON.parse(line) as { op: string; identifiers: Record<string, string> }) });
  }
  return out;
}

it('a refresh runs the demo sync that follows it: hashed adds, then removes after a data change', async () => {
  const { runtime } = service;
  const res = await service.app.inject({ url: '/v1/syncs' });
  expect(res.json().data.map((s: { slug: string }) => s.slug)).toEqual(['lapsed-customers-to-files', 'us-high-value-to-files']);
  const sync = await runtime.syncs.get('lapsed-customers-to-files');
  const dir = path.join(root, 'demo', sync.remoteAudienceId);

  const refresh = await service.app.inject({ method: 'POST', url: '/v1/segments/lapsed-customers/refresh?wait=true' });
  expect(refresh.json().status).toBe('succeeded');
  const members = await runtime.refresh.currentMemberKeys(sync.segmentId);
  expect(members.length).toBeGreaterThan(10);
  await until('the follower sync to write its adds', async () => (await lines(dir)).filter((l) => l.op === 'add').length === members.length, 30_000);
  const adds = await lines(dir);
  // Hashes, never raw values: the external id is Meta's one clear-text key, everything else is hex.
  for (const line of adds) {
    for (const [kind, value] of Object.entries(line.identifiers)) if (kind !== 'external_id') expect(value).toMatch(/^[0-9a-f]{64}$/);
  }
  const [first] = await runtime.warehouse.query<{ email: string; customer_id: string }>('select email, customer_id from demo.customers where customer_id = $1', [Number(members[0])]);
  expect(adds.some((l) => l.identifiers.email === sha(first!.email.trim().toLowerCase()))).toBe(true);

  // Three members place an order today: they are no longer lapsed.
  const leaving = members.slice(0, 3).map(Number);
  await runtime.warehouse.query(`insert into demo.orders (order_id, customer_id, ordered_at, total, status, channel)
    select 900000000 + customer_id, customer_id, now(), 10, 'completed', 'web' from demo.customers where customer_id = any($1::bigint[])`, [leaving]);
  expect((await service.app.inject({ method: 'POST', url: '/v1/segments/lapsed-customers/refresh?wait=true' })).json().exited).toBe(3);
  await until('the removes', async () => (await lines(dir)).filter((l) => l.op === 'remove').length === 3, 30_000);
  const removes = (await lines(dir)).filter((l) => l.op === 'remove');
  expect(removes.map((l) => l.identifiers.external_id).sort()).toEqual(leaving.map(String).sort());
  const runsNow = async () => (await service.app.inject({ url: '/v1/syncs/lapsed-customers-to-files/runs' })).json().data as Array<{ status: string; trigger: string }>;
  await until('the second run to finish', async () => (await runsNow()).every((r) => r.status !== 'running'), 30_000);
  const runs = await runsNow();
  expect(runs.map((r: { trigger: string; status: string }) => [r.trigger, r.status])).toEqual([['after_refresh', 'succeeded'], ['after_refresh', 'succeeded']]);
}, 90_000);
