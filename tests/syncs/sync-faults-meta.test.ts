import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NORMALIZER_VERSION } from '../../src/destinations/identity';
import { metaSessionId } from '../../src/destinations/meta/destination';
import type { SyncRun } from '../../src/syncs/sync-schema';
import { GraphApiFake, type GraphFault, type GraphRecordedRequest } from '../fakes/graph-api-fake';
import { ACCOUNT, TOKEN } from '../destinations/meta/helpers';
import { diff, expectedMetaMembers, spawnSyncChild, startSyncFixture, until, type SyncChild, type SyncFixture } from '../support/sync-fixture';

/**
 * Sync runs to Meta through the real SDK and our HTTP API, against the Graph API fake, with
 * faults: rate-limit and 5xx storms, a storm longer than the retry budget, an audience flagged
 * mid-run, timeouts, the process killed mid-run, a removal spike. After every run that should
 * have converged, the fake holds exactly the segment (its member keys against the snapshot's
 * identifiers prepared as the engine prepares them).
 *
 * The segment is the first 10,500 customers of a 12,000-customer demo warehouse, so a full send
 * is two `/users` requests (Meta's 10,000-row limit): faults are injected on the second
 * one, after the first was delivered.
 */
let fake: GraphApiFake;
let fixture: SyncFixture;
let child: SyncChild;
let expected: Set<string>;
let segmentSize: number;
const MAPPING = { email: 'email', phone: 'phone', external_id: 'external_id' } as const;
const SEGMENT = 'first-customers';
const BATCH = 10_000;

beforeAll(async () => {
  fake = new GraphApiFake();
  await fake.start();
  fake.addAccount({ id: ACCOUNT, name: 'Acme Retail' });
  fake.validTokens.add(TOKEN);
  fixture = await startSyncFixture({ customers: 12_000, env: { META_GRAPH_URL: fake.url } });
  // A second service process for the kill test, started now so its start-up overlaps the other tests.
  child = spawnSyncChild(fixture);
  const segment = await fixture.send('POST', '/v1/segments', {
    slug: SEGMENT, name: 'First customers', model: 'customers', rule: { and: [{ '<=': [{ var: 'customer_id' }, 10_500] }, { '>=': [{ var: 'ltv' }, 0] }] },
  });
  expect(segment.statusCode, segment.body).toBe(201);
  const tiny = await fixture.send('POST', '/v1/segments', { slug: 'first-fifty', name: 'First fifty', model: 'customers', rule: { '<=': [{ var: 'customer_id' }, 50] } });
  expect(tiny.statusCode, tiny.body).toBe(201);
  for (const [slug, timeout] of [['meta', 60_000], ['meta-slow', 2_000]] as const) {
    const created = await fixture.send('POST', '/v1/destinations', {
      slug, name: `Meta (${slug})`, kind: 'meta_custom_audience', config: { adAccountId: ACCOUNT, requestTimeoutMs: timeout }, credentials: { accessToken: TOKEN },
    });
    expect(created.statusCode, created.body).toBe(201);
  }
  const refreshed = await fixture.runtime.refresh.start(SEGMENT, { wait: true });
  expect(refreshed.status).toBe('succeeded');
  expected = await expectedMetaMembers(fixture, SEGMENT, MAPPING);
  segmentSize = (await fixture.runtime.refresh.currentMemberKeys((await fixture.runtime.segments.get(SEGMENT)).id)).length;
  // Two requests per full send, and every member sendable (external_id is always there).
  expect(segmentSize).toBe(10_500);
  expect(expected.size).toBe(segmentSize);
}, 180_000);

afterAll(async () => {
  child?.kill();
  await child?.exited;
  await fixture?.close();
  await fake?.close();
});

afterEach(() => {
  fake.onRequest = undefined;
  fake.clearFaults();
});

async function createSync(slug: string, options: { destination?: string; segment?: string } = {}): Promise<string> {
  const res = await fixture.send('POST', '/v1/syncs', {
    slug, name: `First customers → Meta (${slug})`, segment: options.segment ?? SEGMENT, destination: options.destination ?? 'meta', mapping: MAPPING,
  });
  expect(res.statusCode, res.body).toBe(201);
  const remoteId = res.json().remoteAudienceId as string;
  expect(fake.audience(remoteId).subtype).toBe('CUSTOM');
  return remoteId;
}

async function runSync(slug: string): Promise<SyncRun> {
  const res = await fixture.send('POST', `/v1/syncs/${slug}/runs?wait=true`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as SyncRun;
}

const usersRequests = (remoteId: string, endpoint: 'users.add' | 'users.remove' = 'users.add') =>
  fake.requests.filter((r) => r.endpoint === endpoint && r.node === `${remoteId}/users`);

/** Calls `action` on the n-th (1-based, from now on) `/users` add request to the audience. */
function onNthAdd(remoteId: string, n: number, action: (request: GraphRecordedRequest) => void): void {
  let seen = 0;
  fake.onRequest = (request) => {
    if (request.endpoint !== 'users.add' || request.node !== `${remoteId}/users`) return;
    seen += 1;
    if (seen === n) action(request);
  };
}

/** A storm: `times` faults, starting with the second add request of the next run. */
function stormOnSecondBatch(remoteId: string, fault: GraphFault, times: number): void {
  onNthAdd(remoteId, 2, () => fake.inject('users.add', fault, times));
}

const externIds = (request: GraphRecordedRequest): string[] => {
  const payload = request.body.payload as { schema: string[]; data: string[][] };
  const i = payload.schema.indexOf('EXTERN_ID');
  return payload.data.map((row) => row[i]!);
};
const heldExternIds = (remoteId: string) => new Set([...fake.audience(remoteId).members].map((m) => (JSON.parse(m) as { EXTERN_ID: string }).EXTERN_ID));

async function stateKeys(slug: string): Promise<Set<string>> {
  return new Set((await fixture.runtime.syncs.stateRows(slug)).map((r) => String(r.member_key)));
}

function expectHoldsSegment(remoteId: string, want: Set<string> = expected): void {
  const held = fake.audience(remoteId).members;
  expect(diff(held, want)).toEqual({ missing: 0, extra: 0 });
  expect(held.size).toBe(want.size);
}

describe('a large sync to Meta', () => {
  it('sends the segment in sessions of 10,000-row batches; the fake holds exactly the segment', async () => {
    const remoteId = await createSync('initial');
    const run = await runSync('initial');
    expect(run).toMatchObject({ status: 'succeeded', planned: { adds: segmentSize, removes: 0, changes: 0 }, sent: segmentSize, failed: 0, retries: 0, requests: 2, error: null });
    expectHoldsSegment(remoteId);
    expect(await stateKeys('initial')).toEqual(heldExternIds(remoteId));

    const requests = usersRequests(remoteId);
    expect(requests.map((r) => (r.body.payload as { data: unknown[] }).data.length)).toEqual([BATCH, segmentSize - BATCH]);
    expect(requests.map((r) => (r.body.payload as { schema: string[] }).schema)).toEqual([
      ['EXTERN_ID', 'EMAIL', 'PHONE'], ['EXTERN_ID', 'EMAIL', 'PHONE'],
    ].map((s) => expect.arrayContaining(s)));
    const sessions = requests.map((r) => r.body.session as { session_id: number; batch_seq: number; last_batch_flag: boolean; estimated_num_total: number });
    expect(sessions.map((s) => [s.batch_seq, s.last_batch_flag])).toEqual([[1, false], [2, true]]);
    expect(new Set(sessions.map((s) => s.session_id))).toEqual(new Set([metaSessionId(`${run.id}-add`)]));
    expect(sessions[0]!.estimated_num_total).toBe(segmentSize);
    const session = fake.audience(remoteId).sessions.get(String(metaSessionId(`${run.id}-add`)))!;
    expect(session).toMatchObject({ batches: [1, 2], lastBatchSeen: true, received: segmentSize, invalid: 0 });

    // Nothing changed: the next run sends nothing.
    const quiet = await runSync('initial');
    expect(quiet).toMatchObject({ status: 'succeeded', planned: { adds: 0, removes: 0, changes: 0 }, sent: 0, requests: 0 });
    expect(usersRequests(remoteId)).toHaveLength(2);
  });
});

describe('storms the retry budget absorbs', () => {
  it('a rate-limit storm (80003 with X-Business-Use-Case-Usage) mid-run: retried after the wait Meta asks for, and the run succeeds', async () => {
    const remoteId = await createSync('storm-429');
    const arrivals: number[] = [];
    let seen = 0;
    fake.onRequest = (request) => {
      if (request.endpoint !== 'users.add' || request.node !== `${remoteId}/users`) return;
      arrivals.push(Date.now());
      // 0.005 minutes to regain access: 300 ms.
      if (++seen === 2) fake.inject('users.add', { kind: 'rate_limit', code: 80003, regainMinutes: 0.005 }, 3);
    };
    const run = await runSync('storm-429');
    expect(run).toMatchObject({ status: 'succeeded', sent: segmentSize, failed: 0, retries: 3, requests: 5, error: null });
    expectHoldsSegment(remoteId);
    expect(usersRequests(remoteId)).toHaveLength(5);
    // Each retry waited at least what the usage header said.
    const gaps = arrivals.slice(2).map((t, i) => t - arrivals[i + 1]!);
    expect(gaps).toHaveLength(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(280);
    expect(await stateKeys('storm-429')).toEqual(heldExternIds(remoteId));
  });

  it('a 5xx storm mid-run (500, 503, a non-JSON 502): retried, and the run succeeds', async () => {
    const remoteId = await createSync('storm-5xx');
    onNthAdd(remoteId, 2, () => {
      fake.inject('users.add', { kind: 'server_error', status: 500 }, 1);
      fake.inject('users.add', { kind: 'server_error', status: 503, code: 1 }, 1);
      fake.inject('users.add', { kind: 'non_json', status: 502 }, 1);
    });
    const run = await runSync('storm-5xx');
    expect(run).toMatchObject({ status: 'succeeded', sent: segmentSize, failed: 0, retries: 3, requests: 5, error: null });
    expectHoldsSegment(remoteId);
  });

  it('timeouts (the fake holds the request past requestTimeoutMs): retried, then success', async () => {
    const remoteId = await createSync('timeouts', { destination: 'meta-slow' });
    // The first (10,000-row) request is answered in time; the second hangs twice past the 2 s timeout.
    stormOnSecondBatch(remoteId, { kind: 'hang', ms: 5_000 }, 2);
    const started = Date.now();
    const run = await runSync('timeouts');
    expect(run).toMatchObject({ status: 'succeeded', sent: segmentSize, failed: 0, error: null });
    expect(run.retries).toBeGreaterThanOrEqual(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * 2_000);
    // The hung requests were abandoned by the client, not applied late: exactly the segment.
    expectHoldsSegment(remoteId);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expectHoldsSegment(remoteId);
  });
});

describe('removes through the DELETE path (fetch, not the SDK)', () => {
  it('a removal that times out is retried, and the fake holds exactly the segment', async () => {
    const segment = await fixture.send('POST', '/v1/segments', {
      slug: 'remove-probe', name: 'Remove probe', model: 'customers', rule: { and: [{ '>': [{ var: 'customer_id' }, 11_000] }, { '<=': [{ var: 'customer_id' }, 11_100] }, { '>=': [{ var: 'ltv' }, 0] }] },
    });
    expect(segment.statusCode, segment.body).toBe(201);
    const created = await fixture.send('POST', '/v1/syncs', { slug: 'remove-probe', name: 'Remove probe → Meta', segment: 'remove-probe', destination: 'meta-slow', mapping: MAPPING });
    expect(created.statusCode, created.body).toBe(201);
    const remoteId = created.json().remoteAudienceId as string;
    expect(await runSync('remove-probe')).toMatchObject({ status: 'succeeded', sent: 100, failed: 0 });
    await fixture.sql(`update demo.customers set ltv = -5 where customer_id between 11001 and 11005`);
    expect((await fixture.runtime.refresh.start('remove-probe', { wait: true })).status).toBe('succeeded');
    fake.inject('users.remove', { kind: 'hang', ms: 5_000 }, 1);
    const run = await runSync('remove-probe');
    expect(run).toMatchObject({ status: 'succeeded', planned: { adds: 0, removes: 5, changes: 0 }, sent: 5, failed: 0, retries: 1, requests: 2 });
    expect(usersRequests(remoteId, 'users.remove')).toHaveLength(2);
    expectHoldsSegment(remoteId, await expectedMetaMembers(fixture, 'remove-probe', MAPPING));
  });
});

describe('a graceful stop mid-run', () => {
  it('commits what was delivered; the next run sends the rest', async () => {
    const remoteId = await createSync('stopped');
    let arrived!: () => void;
    const second = new Promise<void>((resolve) => { arrived = resolve; });
    onNthAdd(remoteId, 2, () => {
      fake.inject('users.add', { kind: 'hang', ms: 30_000 }, 1);
      arrived();
    });
    const started = await fixture.send('POST', '/v1/syncs/stopped/runs');
    expect(started.statusCode, started.body).toBe(202);
    await second;
    await fixture.runtime.syncs.stop();
    const missing = segmentSize - BATCH;
    const run = (await fixture.send('GET', `/v1/sync-runs/${started.json().id}`)).json() as SyncRun;
    expect(run).toMatchObject({ status: 'failed', sent: BATCH, failed: missing });
    expect(run.finishedAt).not.toBeNull();
    expect(await stateKeys('stopped')).toEqual(heldExternIds(remoteId));
    expect(heldExternIds(remoteId).size).toBe(BATCH);
    fake.onRequest = undefined;
    const next = await runSync('stopped');
    expect(next).toMatchObject({ status: 'succeeded', planned: { adds: missing, removes: 0, changes: 0 }, sent: missing, failed: 0 });
    expectHoldsSegment(remoteId);
  });
});

describe('failures that stop a run', () => {
  it('a storm longer than the retry budget: the run fails with what was not delivered; the next run re-sends exactly that', async () => {
    const remoteId = await createSync('storm-long');
    // 4 attempts per batch: the second batch never gets through.
    stormOnSecondBatch(remoteId, { kind: 'server_error', status: 503 }, 4);
    const failedRun = await runSync('storm-long');
    const missing = segmentSize - BATCH;
    expect(failedRun).toMatchObject({ status: 'failed', sent: BATCH, failed: missing, retries: 3, requests: 5 });
    expect(failedRun.error).toMatch(/could not be delivered/);
    // Committed: the first batch only, and exactly what the fake holds.
    const [first] = usersRequests(remoteId);
    const firstBatch = new Set(externIds(first!));
    const state = await stateKeys('storm-long');
    expect(state).toEqual(firstBatch);
    expect(heldExternIds(remoteId)).toEqual(state);

    fake.clearFaults();
    fake.onRequest = undefined;
    const before = usersRequests(remoteId).length;
    const next = await runSync('storm-long');
    expect(next).toMatchObject({ status: 'succeeded', planned: { adds: missing, removes: 0, changes: 0 }, sent: missing, failed: 0 });
    const resent = usersRequests(remoteId).slice(before).flatMap(externIds);
    expect(resent).toHaveLength(missing);
    const all = await stateKeys('initial');
    expect(new Set(resent)).toEqual(new Set([...all].filter((k) => !firstBatch.has(k))));
    expectHoldsSegment(remoteId);
  });

  it('a rate limit asking for a longer wait than allowed stops the run at once; the next run resumes', async () => {
    const remoteId = await createSync('long-wait');
    // 5 minutes to regain access, more than the policy's 2 s: no retry, the run stops.
    stormOnSecondBatch(remoteId, { kind: 'rate_limit', code: 80003, regainMinutes: 5 }, 1);
    const stopped = await runSync('long-wait');
    const missing = segmentSize - BATCH;
    expect(stopped).toMatchObject({ status: 'failed', sent: BATCH, failed: missing, retries: 0, requests: 2 });
    expect(stopped.error).toMatch(/^rate_limited: .*wait 300 s; the next run resumes/);
    expect(await stateKeys('long-wait')).toEqual(heldExternIds(remoteId));
    expect(heldExternIds(remoteId).size).toBe(BATCH);
    const resumed = await runSync('long-wait');
    expect(resumed).toMatchObject({ status: 'succeeded', planned: { adds: missing }, sent: missing, failed: 0 });
    expectHoldsSegment(remoteId);
  });

  it('an audience flagged mid-run (471, subcode 1713230): a permanent stop, what was delivered is committed; after unflagging a run completes', async () => {
    const remoteId = await createSync('flagged');
    onNthAdd(remoteId, 2, () => fake.flagAudience(remoteId));
    const stopped = await runSync('flagged');
    const missing = segmentSize - BATCH;
    expect(stopped).toMatchObject({ status: 'failed', sent: BATCH, failed: missing, retries: 0, requests: 2 });
    expect(stopped.error).toMatch(/^permanent: .*flagged/);
    expect(stopped.error).not.toContain(TOKEN);
    const firstBatch = new Set(externIds(usersRequests(remoteId)[0]!));
    expect(await stateKeys('flagged')).toEqual(firstBatch);
    expect(heldExternIds(remoteId)).toEqual(firstBatch);

    // Still flagged: the next run stops at once, sending nothing new.
    const again = await runSync('flagged');
    expect(again).toMatchObject({ status: 'failed', planned: { adds: missing }, sent: 0, failed: missing, retries: 0, requests: 1 });

    fake.audience(remoteId).operation_status = { code: 200, description: 'Normal' };
    const resumed = await runSync('flagged');
    expect(resumed).toMatchObject({ status: 'succeeded', planned: { adds: missing, removes: 0, changes: 0 }, sent: missing, failed: 0 });
    expectHoldsSegment(remoteId);
  });
});

describe('the process killed mid-run', () => {
  it('the next run marks the dead run abandoned, re-sends what was not committed, and the fake holds exactly the segment', async () => {
    const remoteId = await createSync('killed');
    let secondBatch!: () => void;
    const secondBatchArrived = new Promise<void>((resolve) => { secondBatch = resolve; });
    // The second batch hangs (the child waits on it): the kill lands after one batch of two.
    onNthAdd(remoteId, 2, () => {
      fake.inject('users.add', { kind: 'hang', ms: 60_000 }, 1);
      secondBatch();
    });
    try {
      const recorded = await child.start('killed');
      expect(recorded.status).toBe('running');
      await Promise.race([secondBatchArrived, child.exited.then(() => { throw new Error(`the child exited before its second batch; stderr: ${child.stderr()}`); })]);
      // Some but not all: the first batch landed, the second is in flight.
      expect(fake.audience(remoteId).members.size).toBe(BATCH);
      // This process is refused while the child holds the sync.
      const refused = await fixture.send('POST', '/v1/syncs/killed/runs');
      expect(refused.statusCode).toBe(409);
      expect(refused.body).toContain(recorded.id);

      child.kill();
      expect((await child.exited).signal).toBe('SIGKILL');
      expect((await fixture.send('GET', `/v1/sync-runs/${recorded.id}`)).json().status).toBe('running');
      // Nothing was committed by the dead process.
      expect((await stateKeys('killed')).size).toBe(0);

      // Postgres releases the dead session's advisory lock once it notices: retry 409s.
      let next: SyncRun | undefined;
      await until('a run to be accepted after the kill', async () => {
        const res = await fixture.send('POST', '/v1/syncs/killed/runs?wait=true');
        if (res.statusCode === 409) return false;
        expect(res.statusCode, res.body).toBe(200);
        next = res.json() as SyncRun;
        return true;
      }, 20_000, 100);
      const dead = (await fixture.send('GET', `/v1/sync-runs/${recorded.id}`)).json();
      expect(dead).toMatchObject({ status: 'failed', error: expect.stringMatching(/^abandoned/) });
      // The dead run committed nothing, so everything is re-sent (adds are idempotent on Meta).
      expect(next).toMatchObject({ status: 'succeeded', planned: { adds: segmentSize, removes: 0, changes: 0 }, sent: segmentSize, failed: 0 });
      expectHoldsSegment(remoteId);
      expect(await stateKeys('killed')).toEqual(heldExternIds(remoteId));
    } finally {
      child.kill();
    }
  });
});

describe('a retried request for a run whose process died', () => {
  it('is not answered with that run as still running (nobody will finish it)', async () => {
    await createSync('dead-replay');
    const sync = await fixture.runtime.syncs.get('dead-replay');
    // What a SIGKILL leaves behind (as the test above shows): a run marked running, with no process and no lock.
    const [dead] = await fixture.runtime.db('sync_runs').insert({
      sync_id: sync.id, status: 'running', trigger: 'api', idempotency_key: 'nightly-2026-12-02', normalizer_version: NORMALIZER_VERSION, started_at: fixture.runtime.db.fn.now(),
    }).returning('id') as Array<{ id: string }>;
    // The client (or a scheduler keyed by its slot) retries its request after the crash.
    const retried = await fixture.send('POST', '/v1/syncs/dead-replay/runs?wait=true', undefined, { 'idempotency-key': 'nightly-2026-12-02' });
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json().id).toBe(dead!.id);
    // The sync's lock is free, so the run is known to be abandoned: answering "running" leaves the client waiting forever.
    expect(retried.json().status).not.toBe('running');
  });
});

describe('lookalikes through the API', () => {
  it('a seed that is too small is a 422 with the numbers; a big enough one is created and shows its remote status', async () => {
    const tinyRemote = await createSync('tiny', { segment: 'first-fifty' });
    const tinyRun = await runSync('tiny');
    expect(tinyRun).toMatchObject({ status: 'succeeded', sent: 50 });
    expect(fake.audience(tinyRemote).members.size).toBe(50);
    const lookalikesBefore = [...fake.audiences.values()].filter((a) => a.subtype === 'LOOKALIKE').length;

    const small = await fixture.send('POST', '/v1/syncs/tiny/lookalikes', { name: 'Tiny lookalike', meta: { ratio: 0.01, country: 'US' } });
    expect(small.statusCode, small.body).toBe(422);
    expect(small.body).toMatch(/\b50 members\b/);
    expect(small.body).toMatch(/at least 100\b/);
    expect(small.json().errors.map((e: { pointer: string }) => e.pointer)).toContain('/seedSize');
    expect([...fake.audiences.values()].filter((a) => a.subtype === 'LOOKALIKE')).toHaveLength(lookalikesBefore);

    const created = await fixture.send('POST', '/v1/syncs/initial/lookalikes', { name: 'US lookalike 1%', meta: { ratio: 0.01, country: 'US' } });
    expect(created.statusCode, created.body).toBe(201);
    const lookalike = created.json();
    expect(lookalike.seedSize).toBe(segmentSize);
    const initialRemote = (await fixture.runtime.syncs.get('initial')).remoteAudienceId;
    expect(fake.audience(lookalike.remoteId)).toMatchObject({ subtype: 'LOOKALIKE', origin_audience_id: initialRemote, lookalike_spec: { ratio: 0.01, country: 'US' } });

    fake.audience(lookalike.remoteId).operation_status = { code: 441, description: 'This lookalike audience is being created.' };
    const read = await fixture.send('GET', `/v1/lookalikes/${lookalike.id}`);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toMatchObject({ id: lookalike.id, remoteId: lookalike.remoteId, status: { code: 441, description: 'This lookalike audience is being created.' } });
    // Created lookalikes are audited; refused ones leave nothing.
    const events = (await fixture.send('GET', '/v1/audit-events?action=lookalike.create&limit=10')).json().data as Array<Record<string, any>>;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ resource: { type: 'lookalike', id: lookalike.id }, before: null, after: { remoteId: lookalike.remoteId, seedSize: segmentSize }, requestId: created.headers['x-request-id'] });

    // A lookalike made on Meta that cannot be saved here (the audit log refuses): 500 naming it, nothing recorded.
    const db = fixture.runtime.db;
    await db.raw(`create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit log unavailable'; end $$;
      create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit();`);
    let unsaved;
    try {
      unsaved = await fixture.send('POST', '/v1/syncs/initial/lookalikes', { name: 'US lookalike 2%', meta: { ratio: 0.02, country: 'US' } });
    } finally {
      await db.raw('drop trigger refuse_audit on audit_events; drop function refuse_audit();');
    }
    expect(unsaved.statusCode).toBe(500);
    const orphan = [...fake.audiences.values()].find((a) => a.subtype === 'LOOKALIKE' && a.name === 'US lookalike 2%');
    expect(orphan).toBeDefined();
    expect(unsaved.json().detail).toContain(`lookalike created on the platform for it (${orphan!.id}) is not recorded`);
    expect(unsaved.body).not.toContain('audit log unavailable');
    expect((await fixture.send('GET', '/v1/syncs/initial/lookalikes')).json().data.map((l: { remoteId: string }) => l.remoteId)).toEqual([lookalike.remoteId]);
  });
});

describe('a removal spike', () => {
  it('is held for approval with no removes sent; approval sends them and the fake holds exactly the segment', async () => {
    const remoteId = (await fixture.runtime.syncs.get('initial')).remoteAudienceId;
    expectHoldsSegment(remoteId);
    // A quarter of the members get a negative lifetime value (a bad load): > 20 % of the audience leaves.
    const moved = await fixture.sql<{ n: number }>(`with m as (update demo.customers set ltv = -1 where customer_id <= 10500 and customer_id % 4 = 0 returning 1) select count(*)::int as n from m`);
    const leaving = moved[0]!.n;
    expect(leaving / segmentSize).toBeGreaterThan(0.2);
    expect((await fixture.runtime.refresh.start(SEGMENT, { wait: true })).status).toBe('succeeded');
    const now = await expectedMetaMembers(fixture, SEGMENT, MAPPING);
    expect(now.size).toBe(segmentSize - leaving);

    const removesBefore = fake.requests.filter((r) => r.endpoint === 'users.remove').length;
    const held = await runSync('initial');
    expect(held).toMatchObject({ status: 'needs_approval', planned: { adds: 0, removes: leaving, changes: 0 }, sent: 0 });
    expect(held.reason).toMatch(new RegExp(`remove ${leaving} of ${segmentSize} members .*more than the removal threshold of 20%`));
    expect(fake.requests.filter((r) => r.endpoint === 'users.remove')).toHaveLength(removesBefore);
    expectHoldsSegment(remoteId, expected);

    const approved = await fixture.send('POST', `/v1/sync-runs/${held.id}/approve?wait=true`);
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({ status: 'succeeded', sent: leaving, failed: 0, approvedAt: expect.any(String) });
    expect(usersRequests(remoteId, 'users.remove').flatMap(externIds)).toHaveLength(leaving);
    expectHoldsSegment(remoteId, now);
    expect((await stateKeys('initial')).size).toBe(now.size);
  });
});

describe('the session of a run whose last page has nothing to send', () => {
  it('still ends with one batch carrying last_batch_flag', async () => {
    // 10,001 members, keys '1'…'10001' in (op, member_key) order: the second page is customer 9999 alone.
    const segment = await fixture.send('POST', '/v1/segments', { slug: 'first-10001', name: 'First 10,001', model: 'customers', rule: { '<=': [{ var: 'customer_id' }, 10_001] } });
    expect(segment.statusCode, segment.body).toBe(201);
    // ...and customer 9999 has neither an email nor a phone: nothing of that page can be sent.
    await fixture.sql(`update demo.customers set email = null, phone = null where customer_id = 9999`);
    const created = await fixture.send('POST', '/v1/syncs', { slug: 'last-empty', name: 'First 10,001 → Meta', segment: 'first-10001', destination: 'meta', mapping: { email: 'email', phone: 'phone' } });
    expect(created.statusCode, created.body).toBe(201);
    const remoteId = created.json().remoteAudienceId as string;
    const run = await runSync('last-empty');
    expect(run).toMatchObject({ status: 'succeeded', planned: { adds: 10_001 }, failed: 0 });
    expect(run.rejected).toBeGreaterThanOrEqual(1);
    expect(await fixture.runtime.db('sync_rejections').where({ run_id: run.id, member_key: '9999' }).first('reason')).toEqual({ reason: 'no_identifiers' });
    const sessions = usersRequests(remoteId).map((r) => r.body.session as { batch_seq: number; last_batch_flag: boolean });
    expect(sessions.map((s) => s.batch_seq)).toEqual([1]);
    // Meta closes a session with its last batch: the run must flag one.
    expect(sessions.filter((s) => s.last_batch_flag)).toHaveLength(1);
    expect(fake.audience(remoteId).sessions.get(String(metaSessionId(`${run.id}-add`)))?.lastBatchSeen).toBe(true);
  });
});

describe('a change whose remove half failed', () => {
  it('leaves nothing behind on the platform once the member leaves', async () => {
    const segment = await fixture.send('POST', '/v1/segments', {
      slug: 'change-probe', name: 'Change probe', model: 'customers', rule: { and: [{ '<=': [{ var: 'customer_id' }, 300] }, { '>=': [{ var: 'ltv' }, 0] }] },
    });
    expect(segment.statusCode, segment.body).toBe(201);
    const mapping = { email: 'email' } as const;
    const created = await fixture.send('POST', '/v1/syncs', { slug: 'change-probe', name: 'Change probe → Meta', segment: 'change-probe', destination: 'meta', mapping });
    expect(created.statusCode, created.body).toBe(201);
    const remoteId = created.json().remoteAudienceId as string;
    expect(await runSync('change-probe')).toMatchObject({ status: 'succeeded', failed: 0 });
    expectHoldsSegment(remoteId, await expectedMetaMembers(fixture, 'change-probe', mapping));

    // A member changes their email; the run's remove phase (the old email) fails past the retry budget, its add phase goes through.
    const [member] = await fixture.sql<{ customer_id: string }>(`select customer_id from demo.customers where customer_id <= 300 and ltv >= 0 and email like '%@%' order by customer_id limit 1`);
    const id = Number(member!.customer_id);
    await fixture.sql(`update demo.customers set email = 'probe.' || customer_id || '@example.org' where customer_id = $1`, [id]);
    expect((await fixture.runtime.refresh.start('change-probe', { wait: true })).status).toBe('succeeded');
    fake.inject('users.remove', { kind: 'server_error', status: 503 }, 4);
    const partial = await runSync('change-probe');
    expect(partial).toMatchObject({ status: 'failed', planned: { adds: 0, removes: 0, changes: 1 }, failed: 1 });
    fake.clearFaults();

    // Then the member leaves the segment: the next run must take every identifier of theirs off the platform.
    await fixture.sql(`update demo.customers set ltv = -5 where customer_id = $1`, [id]);
    expect((await fixture.runtime.refresh.start('change-probe', { wait: true })).status).toBe('succeeded');
    const after = await runSync('change-probe');
    expect(after).toMatchObject({ status: 'succeeded', planned: { removes: 1 }, failed: 0 });
    const newEmail = GraphApiFake.memberKey(['EMAIL'], [createHash('sha256').update(`probe.${id}@example.org`).digest('hex')]);
    expect(fake.audience(remoteId).members.has(newEmail), 'the new email of a member who left is still on the platform').toBe(false);
    expectHoldsSegment(remoteId, await expectedMetaMembers(fixture, 'change-probe', mapping));
  });
});
