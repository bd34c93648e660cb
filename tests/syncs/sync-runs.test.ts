import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service';

/**
 * Syncs end to end on the demo warehouse and the file destination: plan, run, commit, changes,
 * guardrails and approval, rejections, idempotency. The files are the platform here: after every
 * run, what they describe must equal the segment.
 */
let service: TestService;
let root: string;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-sync-'));
  service = await startTestService({ customers: 400, env: { AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'), FILE_DESTINATION_ROOT: root } });
  const res = await send('POST', '/v1/destinations', { slug: 'files', name: 'Files', kind: 'file', config: { directory: 'out' } });
  expect(res.statusCode, res.body).toBe(201);
});
afterAll(async () => {
  await service?.close();
  await fs.rm(root, { recursive: true, force: true });
});

function send(method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) {
  return service.app.inject({ method, url, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
}
const sql = (text: string, params: unknown[] = []) => service.runtime.warehouse.query(text, params);

/** What the files of an audience say it holds: the set of email hashes (adds minus removes, in write order). */
async function fileAudience(remoteId: string): Promise<Set<string>> {
  const { destination } = await service.runtime.destinations.instantiate('files');
  const stats = await destination.audienceStats({ remoteId });
  const dir = path.join(root, 'out', remoteId);
  const held = new Set<string>();
  const files = await Promise.all((await fs.readdir(dir)).map(async (name) => ({ name, mtime: (await fs.stat(path.join(dir, name))).mtimeMs })));
  files.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name));
  for (const { name } of files) {
    for (const line of (await fs.readFile(path.join(dir, name), 'utf8')).split('\n').filter(Boolean)) {
      const { op, identifiers } = JSON.parse(line) as { op: string; identifiers: { external_id: string } };
      if (op === 'add') held.add(identifiers.external_id);
      else held.delete(identifiers.external_id);
    }
  }
  expect(stats.approximateSize?.lower).toBe(held.size);
  return held;
}

async function segmentKeys(slug: string): Promise<Set<string>> {
  return new Set(await service.runtime.refresh.currentMemberKeys((await service.runtime.segments.get(slug)).id));
}

describe('a sync to the file destination', () => {
  let remoteId: string;

  it('creates the remote audience once and plans adds with hashed samples', async () => {
    const created = await send('POST', '/v1/syncs', {
      slug: 'hv-files', name: 'High value → files', segment: 'us-high-value', destination: 'files',
      mapping: { email: 'email', phone: 'phone', external_id: 'external_id' },
    });
    expect(created.statusCode, created.body).toBe(201);
    remoteId = created.json().remoteAudienceId;
    expect(remoteId).toBe('high-value-files');
    expect(created.json().options).toMatchObject({ mode: 'mirror', removalThreshold: 0.2, defaultRegion: 'US' });

    // Before the first refresh there is nothing to plan against.
    expect((await send('POST', '/v1/syncs/hv-files/plan')).statusCode).toBe(409);
    await service.runtime.refresh.start('us-high-value', { wait: true });
    const plan = (await send('POST', '/v1/syncs/hv-files/plan')).json();
    const members = await segmentKeys('us-high-value');
    expect(members.size).toBeGreaterThan(5);
    expect(plan).toMatchObject({ adds: members.size, removes: 0, changes: 0, destinationSize: 0, segmentSize: members.size, needsApproval: null });
    const sample = plan.samples[0];
    expect(sample.op).toBe('add');
    expect(sample.identifiers.email).toMatch(/^[0-9a-f]{64}$/);
    // Hashes only: the sample's email is the SHA-256 of the normalized address.
    const [row] = await sql('select email from demo.customers where customer_id = $1', [Number(sample.memberKey)]);
    expect(sample.identifiers.email).toBe(sha(String(row!.email).trim().toLowerCase()));
    expect(JSON.stringify(plan)).not.toContain('@');
  });

  it('a run sends every add, commits, and the files hold exactly the segment', async () => {
    const res = await send('POST', '/v1/syncs/hv-files/runs?wait=true', undefined, { 'idempotency-key': 'first-run' });
    expect(res.statusCode, res.body).toBe(200);
    const run = res.json();
    const members = await segmentKeys('us-high-value');
    expect(run).toMatchObject({ status: 'succeeded', planned: { adds: members.size, removes: 0, changes: 0 }, sent: members.size, failed: 0, error: null });
    expect(run.timings).toHaveProperty('send');
    expect(await fileAudience(remoteId)).toEqual(new Set([...members].map((k) => k)));
    expect((await service.runtime.syncs.stateRows('hv-files')).map((r) => String(r.member_key)).sort()).toEqual([...members].sort());

    // The same Idempotency-Key: the same run, not a second one.
    const again = await send('POST', '/v1/syncs/hv-files/runs', undefined, { 'idempotency-key': 'first-run' });
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().id).toBe(run.id);
    expect((await send('GET', '/v1/syncs/hv-files/runs')).json().data).toHaveLength(1);

    // Nothing changed: the next run sends nothing.
    const quiet = (await send('POST', '/v1/syncs/hv-files/runs?wait=true')).json();
    expect(quiet).toMatchObject({ status: 'succeeded', planned: { adds: 0, removes: 0, changes: 0 }, sent: 0, requests: 0 });
  });

  it('after a data change and a refresh: removes for who left, remove-then-add for changed identifiers, adds for who joined', async () => {
    const members = [...(await segmentKeys('us-high-value'))].sort();
    const leaving = members.slice(0, 2);
    const changing = members[2]!;
    await sql(`update demo.customers set ltv = 1 where customer_id = any($1::bigint[])`, [leaving.map(Number)]);
    await sql(`update demo.customers set email = 'changed.' || customer_id || '@example.org' where customer_id = $1`, [Number(changing)]);
    const [joiner] = await sql(`select customer_id from demo.customers where country = 'US' and ltv <= 500 order by customer_id limit 1`);
    await sql(`update demo.customers set ltv = 9999 where customer_id = $1`, [joiner!.customer_id]);
    await service.runtime.refresh.start('us-high-value', { wait: true });

    const plan = (await send('POST', '/v1/syncs/hv-files/plan')).json();
    expect(plan).toMatchObject({ adds: 1, removes: 2, changes: 1, needsApproval: null });
    const change = plan.samples.find((s: { op: string }) => s.op === 'change');
    expect(change.identifiers.email).toBe(sha(`changed.${changing}@example.org`));
    expect(change.previous.email).not.toBe(change.identifiers.email);

    const run = (await send('POST', '/v1/syncs/hv-files/runs?wait=true')).json();
    // A change is sent twice (old identifiers removed, new added).
    expect(run).toMatchObject({ status: 'succeeded', planned: { adds: 1, removes: 2, changes: 1 }, sent: 5, failed: 0 });
    const held = await fileAudience(remoteId);
    expect(held).toEqual(await segmentKeys('us-high-value'));
    for (const key of leaving) expect(held.has(key)).toBe(false);
    expect(held.has(String(joiner!.customer_id))).toBe(true);
  });

  it('a removal spike waits for approval; approval sends it', async () => {
    const members = [...(await segmentKeys('us-high-value'))].sort();
    const leaving = members.slice(0, Math.ceil(members.length / 2));
    await sql(`update demo.customers set ltv = 1 where customer_id = any($1::bigint[])`, [leaving.map(Number)]);
    await service.runtime.refresh.start('us-high-value', { wait: true });
    const sync = await service.runtime.syncs.get('hv-files');
    // A small sync: lower the floor so the threshold applies.
    expect((await send('PUT', '/v1/syncs/hv-files', { slug: 'hv-files', name: sync.name, segment: 'us-high-value', destination: 'files', mapping: sync.mapping, options: { removalFloor: 0 } })).statusCode).toBe(200);

    const held = (await send('POST', '/v1/syncs/hv-files/runs?wait=true')).json();
    expect(held.status).toBe('needs_approval');
    expect(held.reason).toMatch(new RegExp(`remove ${leaving.length} of ${members.length} members .* more than the removal threshold of 20%`));
    expect(held.sent).toBe(0);
    // Nothing was sent: the files still hold everyone.
    expect((await fileAudience(remoteId)).size).toBe(members.length);

    const approved = await send('POST', `/v1/sync-runs/${held.id}/approve?wait=true`);
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({ status: 'succeeded', sent: leaving.length, approvedAt: expect.any(String) });
    expect(await fileAudience(remoteId)).toEqual(await segmentKeys('us-high-value'));
    expect((await send('POST', `/v1/sync-runs/${held.id}/approve`)).statusCode).toBe(409);
    // The held run and its approval are in the audit log, each with the request that asked for it.
    const events = (await send('GET', '/v1/audit-events?resource=hv-files&limit=10')).json().data as Array<Record<string, any>>;
    expect(events[0]).toMatchObject({ action: 'sync_run.approve', resource: { type: 'sync_run', id: held.id }, before: { status: 'needs_approval' }, after: { status: 'running' }, requestId: approved.headers['x-request-id'] });
    expect(events.find((e) => e.action === 'sync.run' && e.resource.id === held.id)).toMatchObject({ before: null, after: { status: 'running' } });
  });

  it('an emptied segment is held, not mirrored', async () => {
    await sql(`update demo.customers set ltv = 0 where country = 'US'`);
    await service.runtime.refresh.start('us-high-value', { wait: true });
    const held = (await send('POST', '/v1/syncs/hv-files/runs?wait=true')).json();
    expect(held.status).toBe('needs_approval');
    expect(held.reason).toMatch(/segment is empty/);
    // A newer run supersedes the held one, and the metrics count it as cancelled.
    const cancelled = async () => Number(/^audiences_sync_runs_total\{status="cancelled"\} (\d+)$/m.exec((await service.runtime.metrics.scrape()).body)?.[1] ?? 0);
    const cancelledBefore = await cancelled();
    const newer = (await send('POST', '/v1/syncs/hv-files/runs?wait=true')).json();
    expect(newer.status).toBe('needs_approval');
    expect((await send('GET', `/v1/sync-runs/${held.id}`)).json().status).toBe('cancelled');
    expect(await cancelled()).toBe(cancelledBefore + 1);
  });
});

describe('rejections and mapping checks', () => {
  it('members without a usable identifier are recorded as rejected, never sent, and not re-sent', async () => {
    await sql(`update demo.customers set ltv = 2000, email = 'not an email', phone = null where customer_id in (select customer_id from demo.customers where country = 'DE' order by customer_id limit 3)`);
    const created = await send('POST', '/v1/syncs', {
      slug: 'de-files', name: 'DE → files', segment: 'pro-big-spenders', destination: 'files', mapping: { email: 'email', phone: 'phone' },
    });
    expect(created.statusCode, created.body).toBe(201);
    const run = (await send('POST', '/v1/syncs/de-files/runs?wait=true')).json();
    expect(run.status, run.error).toBe('succeeded');
    const rejections = (await send('GET', `/v1/sync-runs/${run.id}/rejections`)).json().data;
    expect(rejections.length).toBe(run.rejected);
    for (const r of rejections) {
      expect(r).toMatchObject({ op: 'add', reason: 'no_identifiers' });
      expect(JSON.stringify(r)).not.toContain('not an email');
    }
    const next = (await send('POST', '/v1/syncs/de-files/runs?wait=true')).json();
    expect(next).toMatchObject({ status: 'succeeded', sent: 0, rejected: 0 });
  });

  it('refuses a mapping the model or the platform cannot satisfy, with pointers', async () => {
    const res = await send('POST', '/v1/syncs', {
      slug: 'bad-map', name: 'Bad', segment: 'us-high-value', destination: 'files', mapping: { email: 'mobile_ad_id', shoe_size: 'email' },
      schedule: { type: 'cron', cron: '0 6 * * * *', timezone: 'Mars/Olympus' },
    });
    expect(res.statusCode).toBe(400);
    const pointers = res.json().errors.map((e: { pointer: string }) => e.pointer);
    // email ← mobile_ad_id: the model has no such identifier; shoe_size: no platform field of that name.
    expect(pointers).toEqual(expect.arrayContaining(['/mapping/email', '/mapping/shoe_size', '/schedule/cron', '/schedule/timezone']));
    const short = await send('POST', '/v1/syncs', { slug: 'bad-cron', name: 'Bad', segment: 'us-high-value', destination: 'files', mapping: { email: 'email' }, schedule: { type: 'cron', cron: '* *' } });
    expect(short.statusCode).toBe(400);
    expect(short.json().errors.map((e: { pointer: string }) => e.pointer)).toContain('/schedule/cron');
  });
});
