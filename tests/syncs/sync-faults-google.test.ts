import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareMember } from '../../src/destinations/identity';
import type { SyncRun } from '../../src/syncs/sync-schema';
import { rpcError, startGoogleFakes, type GoogleFakes } from '../fakes/google';
import { credentials, CUSTOMER } from '../destinations/google/helpers';
import { diff, preparedSnapshot, startSyncFixture, type SyncFixture } from '../support/sync-fixture';

/**
 * Sync runs to Google Customer Match through the real SDKs (Google Ads API for the list, Data
 * Manager API for members) and our HTTP API, against the gRPC fakes, with RESOURCE_EXHAUSTED
 * storms. After each run the fake's list holds exactly the segment: each member's identifier set
 * against the snapshot's identifiers prepared as the engine prepares them.
 */
let fakes: GoogleFakes;
let fixture: SyncFixture;
const MAPPING = { email: 'email', phone: 'phone' } as const;
const SEGMENT = 'us-high-value';

beforeAll(async () => {
  fakes = await startGoogleFakes();
  // Final request status at the first look (the destination's short look would otherwise pause 1.5 s per batch).
  fakes.dataManager.processingPolls = 0;
  const endpoint = (e: { host: string; port: number }) => `${e.host}:${e.port}`;
  fixture = await startSyncFixture({
    customers: 4_000,
    env: { GOOGLE_ADS_ENDPOINT: endpoint(fakes.endpoints.googleAds), DATA_MANAGER_ENDPOINT: endpoint(fakes.endpoints.dataManager) },
  });
  const created = await fixture.send('POST', '/v1/destinations', {
    slug: 'google', name: 'Google Ads', kind: 'google_customer_match', config: { customerId: CUSTOMER }, credentials,
  });
  expect(created.statusCode, created.body).toBe(201);
  const tiny = await fixture.send('POST', '/v1/segments', { slug: 'first-fifty', name: 'First fifty', model: 'customers', rule: { '<=': [{ var: 'customer_id' }, 50] } });
  expect(tiny.statusCode, tiny.body).toBe(201);
}, 180_000);

afterAll(async () => {
  await fixture?.close();
  await fakes?.stop();
});

afterEach(() => {
  fakes.dataManager.faults.clear();
});

const googleEmail = (email: string) => {
  const p = prepareMember('google', 'x', { email }, { defaultRegion: 'US' });
  if (!p.ok || !p.member.identifiers.email) throw new Error(`email ${email} does not prepare`);
  return p.member.identifiers.email;
};
const canonical = (ids: Iterable<string>) => [...ids].sort().join('|');

/** What the list must hold: one identifier set per snapshot member. */
async function expectedList(segment = SEGMENT): Promise<Set<string>> {
  const out = new Set<string>();
  for (const p of await preparedSnapshot(fixture, segment, MAPPING, 'google')) {
    if (!p.ok) continue;
    const ids = [p.member.identifiers.email && `email:${p.member.identifiers.email}`, p.member.identifiers.phone && `phone:${p.member.identifiers.phone}`].filter(Boolean) as string[];
    if (ids.length) out.add(canonical(ids));
  }
  return out;
}

function heldList(listId: string): Set<string> {
  const list = fakes.backend.lists.get(listId);
  if (!list) throw new Error(`no list ${listId}`);
  return new Set([...list.members.values()].map((ids) => canonical(ids)));
}

async function expectListHoldsSegment(listId: string, segment = SEGMENT): Promise<void> {
  const want = await expectedList(segment);
  const held = heldList(listId);
  expect(diff(held, want)).toEqual({ missing: 0, extra: 0 });
  expect(fakes.backend.lists.get(listId)!.members.size).toBe(want.size);
}

let remoteIds: Record<string, string> = {};
const listIdOf = (slug: string) => remoteIds[slug]!;

async function runSync(slug: string): Promise<SyncRun> {
  const res = await fixture.send('POST', `/v1/syncs/${slug}/runs?wait=true`);
  expect(res.statusCode, res.body).toBe(200);
  remoteIds = { ...remoteIds, [slug]: (await fixture.runtime.syncs.get(slug)).remoteAudienceId };
  return res.json() as SyncRun;
}

const quota = (retryDelaySeconds?: number) =>
  rpcError(grpc.status.RESOURCE_EXHAUSTED, 'Quota exceeded for quota metric requests per minute.', { reason: 'RESOURCE_EXHAUSTED', ...(retryDelaySeconds !== undefined ? { retryDelaySeconds } : {}) });

describe('a sync to Google through the Data Manager API', () => {
  let listId: string;

  it('initial run through a RESOURCE_EXHAUSTED storm (RetryInfo honoured): the list holds exactly the segment', async () => {
    const created = await fixture.send('POST', '/v1/syncs', { slug: 'hv-google', name: 'High value → Google', segment: SEGMENT, destination: 'google', mapping: MAPPING });
    expect(created.statusCode, created.body).toBe(201);
    listId = created.json().remoteAudienceId;
    expect(fakes.backend.lists.get(listId)).toMatchObject({ type: 'CRM_BASED', uploadKeyType: 'CONTACT_INFO' });

    fakes.dataManager.faults.inject({ method: 'IngestAudienceMembers', times: 2, error: quota(1) });
    const before = fakes.dataManager.callsTo('IngestAudienceMembers').length;
    const run = await runSync('hv-google');
    const members = (await fixture.runtime.refresh.currentMemberKeys((await fixture.runtime.segments.get(SEGMENT)).id)).length;
    expect(members).toBeGreaterThan(100);
    expect(run).toMatchObject({ status: 'succeeded', planned: { adds: members, removes: 0, changes: 0 }, failed: 0, retries: 2, error: null });
    const calls = fakes.dataManager.callsTo('IngestAudienceMembers').slice(before);
    expect(calls).toHaveLength(3);
    // RetryInfo said 1 s: each retry waited at least that.
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(950);
    expect(calls[2]!.request.encoding).toBe('HEX');
    await expectListHoldsSegment(listId);
    expect((await fixture.runtime.syncs.stateRows('hv-google')).length).toBe(members);
  });

  it('a churn run (leavers, joiners, changed emails) through a storm on removes: retried; the list holds exactly the segment', async () => {
    const members = [...(await fixture.runtime.refresh.currentMemberKeys((await fixture.runtime.segments.get(SEGMENT)).id))].map(Number).sort((a, b) => a - b);
    const leaving = members.slice(0, 8);
    const changing = members.slice(8, 12);
    const oldEmails = (await fixture.sql<{ customer_id: string; email: string }>(`select customer_id, email from demo.customers where customer_id = any($1::bigint[])`, [changing]))
      .map((r) => [String(r.customer_id), String(r.email)] as const);
    expect(oldEmails).toHaveLength(4);
    await fixture.sql(`update demo.customers set ltv = 1 where customer_id = any($1::bigint[])`, [leaving]);
    await fixture.sql(`update demo.customers set email = 'moved.' || customer_id || '@example.org' where customer_id = any($1::bigint[])`, [changing]);
    const joiners = await fixture.sql<{ customer_id: string }>(`update demo.customers set ltv = 9999 where customer_id in (select customer_id from demo.customers where country = 'US' and ltv <= 500 order by customer_id limit 6) returning customer_id`);
    expect(joiners).toHaveLength(6);
    expect((await fixture.runtime.refresh.start(SEGMENT, { wait: true })).status).toBe('succeeded');

    fakes.dataManager.faults.inject({ method: 'RemoveAudienceMembers', times: 3, error: quota() });
    const removesBefore = fakes.dataManager.callsTo('RemoveAudienceMembers').length;
    const run = await runSync('hv-google');
    expect(run).toMatchObject({ status: 'succeeded', planned: { adds: 6, removes: 8, changes: 4 }, sent: 8 + 4 + 4 + 6, failed: 0, retries: 3, error: null });
    const removes = fakes.dataManager.callsTo('RemoveAudienceMembers').slice(removesBefore);
    expect(removes).toHaveLength(4);
    expect(removes[3]!.request.audienceMembers).toHaveLength(12);
    await expectListHoldsSegment(listId);
    // A changed email: the old identifiers left the list with the member, the new ones are on it.
    const held = [...heldList(listId)].join('\n');
    for (const [id, email] of oldEmails) {
      expect(held).not.toContain(`email:${googleEmail(email)}`);
      expect(held).toContain(`email:${googleEmail(`moved.${id}@example.org`)}`);
    }
  });

  it('a storm longer than the retry budget: the run fails, commits nothing undelivered, and the next run sends what was missing', async () => {
    const members = [...(await fixture.runtime.refresh.currentMemberKeys((await fixture.runtime.segments.get(SEGMENT)).id))].map(Number).sort((a, b) => a - b);
    const joiners = await fixture.sql<{ customer_id: string }>(`update demo.customers set ltv = 8888 where customer_id in (select customer_id from demo.customers where country = 'US' and ltv <= 500 order by customer_id desc limit 5) returning customer_id`);
    expect((await fixture.runtime.refresh.start(SEGMENT, { wait: true })).status).toBe('succeeded');
    fakes.dataManager.faults.inject({ method: 'IngestAudienceMembers', times: 4, error: quota() });
    const failedRun = await runSync('hv-google');
    expect(failedRun).toMatchObject({ status: 'failed', planned: { adds: 5 }, sent: 0, failed: 5, retries: 3, requests: 4 });
    const state = new Set((await fixture.runtime.syncs.stateRows('hv-google')).map((r) => String(r.member_key)));
    expect(state.size).toBe(members.length);
    for (const j of joiners) expect(state.has(String(j.customer_id))).toBe(false);

    const next = await runSync('hv-google');
    expect(next).toMatchObject({ status: 'succeeded', planned: { adds: 5, removes: 0, changes: 0 }, sent: 5, failed: 0 });
    await expectListHoldsSegment(listId);
  });
});

describe('Google lookalikes through the API', () => {
  it('a seed that is too small is a 422 with the numbers; a big enough one is created and shows its remote status', async () => {
    const created = await fixture.send('POST', '/v1/syncs', { slug: 'tiny-google', name: 'First fifty → Google', segment: 'first-fifty', destination: 'google', mapping: MAPPING });
    expect(created.statusCode, created.body).toBe(201);
    const tinyRun = await runSync('tiny-google');
    expect(tinyRun).toMatchObject({ status: 'succeeded', failed: 0 });
    expect(tinyRun.sent + tinyRun.rejected).toBe(50);
    const listsBefore = fakes.backend.lists.size;
    const small = await fixture.send('POST', '/v1/syncs/tiny-google/lookalikes', { name: 'Tiny lookalike', google: { expansionLevel: 'NARROW', countryCodes: ['US'] } });
    expect(small.statusCode, small.body).toBe(422);
    expect(small.body).toMatch(/\b\d+ members\b/);
    expect(small.body).toMatch(/at least 100\b/);
    expect(fakes.backend.lists.size).toBe(listsBefore);

    const big = await fixture.send('POST', '/v1/syncs/hv-google/lookalikes', { name: 'High value lookalike', google: { expansionLevel: 'BALANCED', countryCodes: ['US'] } });
    expect(big.statusCode, big.body).toBe(201);
    const lookalike = big.json();
    const seedId = (await fixture.runtime.syncs.get('hv-google')).remoteAudienceId;
    expect(fakes.backend.lists.get(lookalike.remoteId)).toMatchObject({ type: 'LOOKALIKE', lookalike: { seedIds: [seedId], expansionLevel: 'BALANCED', countryCodes: ['US'] } });
    fakes.backend.lists.get(lookalike.remoteId)!.membershipStatus = 'CLOSED';
    const read = await fixture.send('GET', `/v1/lookalikes/${lookalike.id}`);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toMatchObject({ id: lookalike.id, remoteId: lookalike.remoteId, status: { code: 'CLOSED' } });
  });
});

describe('the seed size of a lookalike', () => {
  it('counts the members the platform was sent, not rows rejected for want of an identifier', async () => {
    // first-fifty: 50 members, some without an email or a phone (rejected, never sent, yet settled in the sync state).
    const runs = (await fixture.send('GET', '/v1/syncs/tiny-google/runs')).json().data as SyncRun[];
    const sent = runs.reduce((n, r) => n + r.sent, 0);
    const rejected = runs.reduce((n, r) => n + r.rejected, 0);
    expect(rejected).toBeGreaterThan(0);
    const listId = (await fixture.runtime.syncs.get('tiny-google')).remoteAudienceId;
    expect(fakes.backend.lists.get(listId)!.members.size).toBe(sent);
    const small = await fixture.send('POST', '/v1/syncs/tiny-google/lookalikes', { name: 'Tiny lookalike 2', google: { expansionLevel: 'NARROW', countryCodes: ['US'] } });
    expect(small.statusCode).toBe(422);
    // The 422 must report the seed the platform holds.
    expect(small.json().detail).toContain(`${sent} members`);
  });
});

describe('a sync whose state table an earlier version wrote', () => {
  it('still runs and commits (state tables outlive upgrades)', async () => {
    const created = await fixture.send('POST', '/v1/syncs', { slug: 'upgraded', name: 'High value → Google (upgraded)', segment: SEGMENT, destination: 'google', mapping: MAPPING });
    expect(created.statusCode, created.body).toBe(201);
    expect(await runSync('upgraded')).toMatchObject({ status: 'succeeded', failed: 0 });
    const sync = await fixture.runtime.syncs.get('upgraded');
    const schema = fixture.runtime.config.stateSchema;
    const table = `sync_${sync.id.replace(/-/g, '').slice(0, 20)}`;
    const [exists] = await fixture.sql<{ n: number }>(`select count(*)::int as n from information_schema.tables where table_schema = $1 and table_name = $2`, [schema, table]);
    expect(exists!.n).toBe(1);
    // The state table as the first release of syncs created it: member_key and the mapped columns only.
    await fixture.sql(`alter table "${schema}"."${table}" drop column if exists unsent`);
    const joiners = await fixture.sql<{ customer_id: string }>(`update demo.customers set ltv = 7777 where customer_id in (select customer_id from demo.customers where country = 'US' and ltv <= 500 and email is not null order by customer_id limit 1 offset 20) returning customer_id`);
    expect(joiners).toHaveLength(1);
    expect((await fixture.runtime.refresh.start(SEGMENT, { wait: true })).status).toBe('succeeded');
    const run = await runSync('upgraded');
    expect(run, run.error ?? '').toMatchObject({ status: 'succeeded', planned: { adds: 1, removes: 0, changes: 0 }, sent: 1, failed: 0, error: null });
    await expectListHoldsSegment(listIdOf('upgraded'));
  });
});
