import { afterEach, describe, expect, it } from 'vitest';
import { metaSessionId } from '../../../src/destinations/meta';
import { GraphApiFake } from '../../fakes/graph-api-fake';
import { TOKEN, expectFailure, member, members, sha, startHarness, type Harness } from './helpers';

let h: Harness | undefined;
afterEach(async () => {
  await h?.fake.close();
  h = undefined;
});

async function withAudience() {
  h = await startHarness();
  const audience = await h.destination.ensureAudience({ name: 'Members', identifierKinds: ['email', 'phone'] });
  return { ...h, audience };
}

describe('meta destination: add', () => {
  it('POSTs /{id}/users through the SDK with a JSON body: multi-key schema of the columns present, hashed data', async () => {
    const { destination, fake, audience } = await withAudience();
    const batch = [
      member(1, ['email', 'phone', 'first_name', 'last_name', 'country']),
      member(2, ['email']),
      member(3, ['phone', 'mobile_ad_id', 'external_id']),
    ];
    const result = await destination.add(audience, batch);
    expect(result).toEqual({ received: 3, invalid: 0, rejected: [], requestIds: [expect.stringMatching(/^session:/)] });

    const [req] = fake.requestsTo('users.add');
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe(`/v24.0/${audience.remoteId}/users`);
    expect(req!.contentType).toMatch(/application\/json/);
    expect(req!.tokenIn).toBe('query'); // the SDK's way: ?access_token=… (we scrub it from errors)
    const payload = req!.body.payload as { schema: string[]; data: string[][] };
    expect(payload.schema).toEqual(['EXTERN_ID', 'EMAIL', 'PHONE', 'FN', 'LN', 'COUNTRY', 'MADID']);
    expect(payload.data[1]).toEqual(['', sha('email:2'), '', '', '', '', '']);
    expect(payload.data[2]).toEqual(['cust-3', '', sha('phone:3'), '', '', '', '6032d997-3ab0-4de0-aa16-000000000003']);
    expect(req!.body.session).toBeUndefined();
    expect(fake.audience(audience.remoteId).members.size).toBe(3);
  });

  it('sends only the columns present in the batch', async () => {
    const { destination, fake, audience } = await withAudience();
    await destination.add(audience, members(4, ['email']));
    expect((fake.requestsTo('users.add')[0]!.body.payload as { schema: string[] }).schema).toEqual(['EMAIL']);
  });

  it('carries the session: numeric session_id, batch_seq from 1, last_batch_flag, estimated_num_total', async () => {
    const { destination, fake, audience } = await withAudience();
    const id = '5b0e7c3e-1f57-4a53-9e0c-6a1c1f0d4b2e';
    await destination.add(audience, members(3, ['email'], 0), { session: { id, batchSeq: 1, lastBatch: false, estimatedTotal: 5 } });
    await destination.add(audience, members(2, ['email'], 3), { session: { id, batchSeq: 2, lastBatch: true, estimatedTotal: 5 } });
    const sessions = fake.requestsTo('users.add').map((r) => r.body.session);
    const sessionId = metaSessionId(id);
    expect(typeof sessionId).toBe('number');
    expect(sessions).toEqual([
      { session_id: sessionId, batch_seq: 1, last_batch_flag: false, estimated_num_total: 5 },
      { session_id: sessionId, batch_seq: 2, last_batch_flag: true, estimated_num_total: 5 },
    ]);
    const session = fake.audience(audience.remoteId).sessions.get(String(sessionId))!;
    expect(session).toMatchObject({ batches: [1, 2], lastBatchSeen: true, received: 5, estimatedTotal: 5 });
    expect(metaSessionId(id)).toBe(sessionId); // stable: a retried batch stays in its session
    expect(metaSessionId('12345')).toBe(12345);
  });

  it('splits more than 10,000 members into requests of 10,000 when there is no session', async () => {
    const { destination, fake, audience } = await withAudience();
    const result = await destination.add(audience, members(10_001));
    expect(fake.requestsTo('users.add').map((r) => (r.body.payload as { data: unknown[] }).data.length)).toEqual([10_000, 1]);
    expect(result).toMatchObject({ received: 10_001, invalid: 0, rejected: [] });
    expect(fake.audience(audience.remoteId).members.size).toBe(10_001);
  });

  it('refuses more than 10,000 members in one session batch (batch_seq is the caller\'s)', async () => {
    const { destination, fake, audience } = await withAudience();
    const err = await expectFailure(
      destination.add(audience, members(10_001), { session: { id: 's1', batchSeq: 1, lastBatch: true } }),
      'invalid_request',
    );
    expect(err.message).toContain('at most 10000 rows per request');
    expect(fake.requestsTo('users.add')).toHaveLength(0);
    expect(destination.limits.maxBatchSize).toBe(10_000);
  });

  it('the fake itself refuses > 10,000 rows and schema/data width mismatches (code 100)', async () => {
    const fake = new GraphApiFake();
    await fake.start();
    try {
      fake.addAccount({ id: 'act_1' });
      const audience = fake.addAudience({ account_id: '1' });
      const post = async (payload: unknown) => {
        const res = await fetch(`${fake.url}/v24.0/${audience.id}/users?access_token=t`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ payload: JSON.stringify(payload) }),
        });
        return { status: res.status, body: (await res.json()) as { error?: { code: number; message: string } } };
      };
      const big = await post({ schema: ['EMAIL'], data: Array.from({ length: 10_001 }, (_, i) => [sha(String(i))]) });
      expect(big).toMatchObject({ status: 400, body: { error: { code: 100 } } });
      expect(big.body.error!.message).toMatch(/at most 10000/);
      const narrow = await post({ schema: ['EMAIL', 'PHONE'], data: [[sha('a')]] });
      expect(narrow.body.error).toMatchObject({ code: 100, message: '(#100) Data is missing or does not match schema' });
      const ok = await post({ schema: 'EMAIL', data: [[sha('a')]] }); // form-encoded, single-key schema
      expect(ok.body).toMatchObject({ num_received: 1, num_invalid_entries: 0 });
    } finally {
      await fake.close();
    }
  });

  it('reports invalid entries per row with Meta\'s samples, and rows without identifiers without sending them', async () => {
    const { destination, fake, audience } = await withAudience();
    const batch = [
      member(1, ['email']),
      { memberKey: 'bad-hash', identifiers: { email: 'not-a-hash' } },
      { memberKey: 'upper-hex', identifiers: { email: sha('x').toUpperCase() } },
      { memberKey: 'empty', identifiers: { date_of_birth: sha('19800101') } }, // no Meta key for it
      member(2, ['email']),
    ];
    const result = await destination.add(audience, batch);
    expect(result.received).toBe(4);
    expect(result.invalid).toBe(2);
    expect(result.invalidSamples).toEqual(['not-a-hash', sha('x').toUpperCase()]);
    expect(result.rejected).toEqual([
      { memberKey: 'empty', reason: 'no_identifiers', detail: 'no identifier Meta can match on' },
      { memberKey: 'bad-hash', reason: 'invalid_entry', detail: 'Invalid EMAIL: not a SHA-256 hex hash' },
      { memberKey: 'upper-hex', reason: 'invalid_entry', detail: 'Invalid EMAIL: not a SHA-256 hex hash' },
    ]);
    expect((fake.requestsTo('users.add')[0]!.body.payload as { data: unknown[] }).data).toHaveLength(4);
    expect(fake.audience(audience.remoteId).members.size).toBe(2);
  });

  it('sends nothing when no member has a usable identifier', async () => {
    const { destination, fake, audience } = await withAudience();
    const result = await destination.add(audience, [{ memberKey: 'x', identifiers: {} }]);
    expect(result).toEqual({ received: 0, invalid: 0, rejected: [{ memberKey: 'x', reason: 'no_identifiers', detail: 'no identifier Meta can match on' }] });
    expect(fake.requestsTo('users.add')).toHaveLength(0);
  });
});

describe('meta destination: remove', () => {
  it('sends DELETE /{id}/users with a JSON body (not a giant URL), token in the body', async () => {
    const { destination, fake, audience } = await withAudience();
    await destination.add(audience, members(10_000));
    const result = await destination.remove(audience, members(10_000), {
      session: { id: 'removal-run', batchSeq: 1, lastBatch: true, estimatedTotal: 10_000 },
    });
    expect(result).toMatchObject({ received: 10_000, invalid: 0, rejected: [] });

    const [del] = fake.requestsTo('users.remove');
    expect(del!.method).toBe('DELETE');
    expect(del!.path).toBe(`/v24.0/${audience.remoteId}/users`);
    expect(del!.contentType).toBe('application/json');
    expect(del!.urlLength).toBeLessThan(100); // no payload, no token in the URL
    expect(del!.query).toEqual({});
    expect(del!.tokenIn).toBe('body');
    expect(del!.bodyLength).toBeGreaterThan(640_000); // 10,000 × 64-hex hashes travel in the body
    expect(del!.body.access_token).toBe(TOKEN);
    expect((del!.body.payload as { schema: string[]; data: unknown[] }).schema).toEqual(['EMAIL']);
    expect((del!.body.payload as { data: unknown[] }).data).toHaveLength(10_000);
    expect(del!.body.session).toEqual({ session_id: metaSessionId('removal-run'), batch_seq: 1, last_batch_flag: true, estimated_num_total: 10_000 });
    expect(fake.audience(audience.remoteId).members.size).toBe(0);
  });

  it('removes exactly the rows that were added (same multi-key row)', async () => {
    const { destination, fake, audience } = await withAudience();
    await destination.add(audience, members(5, ['email', 'phone']));
    await destination.remove(audience, [member(2, ['email', 'phone'])]);
    const remaining = fake.audience(audience.remoteId).members;
    expect(remaining.size).toBe(4);
    expect(remaining.has(GraphApiFake.memberKey(['EMAIL', 'PHONE'], [sha('email:2'), sha('phone:2')]))).toBe(false);
  });

  it('removal refused because the audience would become too small is permanent, with a clear message', async () => {
    const { destination, fake, audience } = await withAudience();
    await destination.add(audience, members(150));
    fake.minimumSizeAfterRemoval = 100;
    const err = await expectFailure(destination.remove(audience, members(60)), 'permanent');
    expect(err.message).toMatch(/refused the removal because the audience would become too small/);
    expect(err.details).toMatchObject({ code: '200/1870047', status: 400 });
    expect(fake.audience(audience.remoteId).members.size).toBe(150);
  });

  it('splits removals of more than 10,000 members without a session', async () => {
    const { destination, fake, audience } = await withAudience();
    const result = await destination.remove(audience, members(10_002));
    expect(result.received).toBe(10_002);
    expect(fake.requestsTo('users.remove')).toHaveLength(2);
  });
});
