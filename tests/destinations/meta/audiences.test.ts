import { createHmac } from 'node:crypto';
import { FacebookAdsApi } from 'facebook-nodejs-business-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT, APP_SECRET, TOKEN, expectFailure, members, startHarness, type Harness } from './helpers';

let h: Harness | undefined;
afterEach(async () => {
  await h?.fake.close();
  h = undefined;
});

describe('meta destination: connection', () => {
  it('reads the ad account and reports it', async () => {
    h = await startHarness();
    const check = await h.destination.testConnection();
    expect(check).toMatchObject({ ok: true, account: { id: ACCOUNT, name: 'Acme Retail', currency: 'EUR' } });
    expect(check.detail).toContain('ACTIVE');
    const [read] = h.fake.requestsTo('account.read');
    expect(read!.path).toBe(`/v24.0/${ACCOUNT}`);
    expect(read!.query.fields!.split(',')).toEqual(expect.arrayContaining(['id', 'name', 'currency', 'account_status']));
    expect(read!.headers['user-agent']).toMatch(/^fbbizsdk-nodejs/); // the SDK made the call
  });

  it('says clearly when the Custom Audience terms are not accepted', async () => {
    h = await startHarness();
    h.fake.accounts.get(ACCOUNT)!.tos_accepted = {};
    const check = await h.destination.testConnection();
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/terms of service are not accepted/);
    expect(check.detail).toContain('customaudiences/tos.php?act=1234567890');
  });

  it('an expired token fails the check as permanent, without the token', async () => {
    h = await startHarness();
    h.fake.inject('account.read', { kind: 'token_expired', echoToken: true });
    const err = await expectFailure(h.destination.testConnection(), 'permanent');
    expect(err.message).toMatch(/reading ad account act_1234567890 failed: the access token is invalid or expired/);
    expect(err.details.code).toBe('190/463');
  });

  it('missing permissions and unknown accounts fail the check as permanent', async () => {
    h = await startHarness();
    h.fake.inject('account.read', { kind: 'permission' });
    expect((await expectFailure(h.destination.testConnection(), 'permanent')).message).toMatch(/lacks permission/);
    h.fake.accounts.clear();
    expect((await expectFailure(h.destination.testConnection(), 'permanent')).message).toMatch(/does not exist, or the token cannot see it/);
  });

  it('a rate-limited check fails as rate_limited', async () => {
    h = await startHarness();
    h.fake.inject('account.read', { kind: 'rate_limit', code: 80003, regainMinutes: 1 });
    const err = await expectFailure(h.destination.testConnection(), 'rate_limited');
    expect(err.details.retryAfterMs).toBe(60_000);
  });

  it('reports a disabled ad account', async () => {
    h = await startHarness();
    h.fake.accounts.get(ACCOUNT)!.account_status = 2;
    const check = await h.destination.testConnection();
    expect(check).toMatchObject({ ok: false });
    expect(check.detail).toContain('DISABLED');
  });

  it('sends appsecret_proof on every call when an app secret is configured', async () => {
    h = await startHarness({ credentials: { appSecret: APP_SECRET } });
    h.fake.appSecret = APP_SECRET;
    const proof = createHmac('sha256', APP_SECRET).update(TOKEN).digest('hex');
    expect((await h.destination.testConnection()).ok).toBe(true);
    const { remoteId } = await h.destination.ensureAudience({ name: 'With proof', identifierKinds: ['email'] });
    await h.destination.add({ remoteId }, members(3));
    await h.destination.remove({ remoteId }, members(1));
    await h.destination.audienceStats({ remoteId });
    expect(h.fake.requests).toHaveLength(5);
    for (const r of h.fake.requests) expect(r.query.appsecret_proof ?? r.body.appsecret_proof).toBe(proof);
  });

  it('a wrong app secret is refused by the fake (and reported without secrets)', async () => {
    h = await startHarness({ credentials: { appSecret: 'not-the-secret' } });
    h.fake.appSecret = APP_SECRET;
    const err = await expectFailure(h.destination.ensureAudience({ name: 'x', identifierKinds: ['email'] }), 'invalid_request');
    expect(err.message).toMatch(/appsecret_proof/);
    expect(err.message).not.toContain('not-the-secret');
  });
});

describe('meta destination: audiences', () => {
  it('creates a CUSTOM audience with customer_file_source through the SDK', async () => {
    h = await startHarness();
    const remote = await h.destination.ensureAudience({ name: 'High value', description: 'LTV > 1000', identifierKinds: ['email', 'phone'] });
    expect(remote).toMatchObject({ created: true, name: 'High value' });
    expect(remote.remoteId).toMatch(/^[0-9]+$/);
    const [create] = h.fake.requestsTo('audiences.create');
    expect(create!.path).toBe(`/v24.0/${ACCOUNT}/customaudiences`);
    expect(create!.contentType).toMatch(/application\/json/);
    expect(create!.body).toMatchObject({
      name: 'High value', description: 'LTV > 1000', subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY',
    });
    expect(h.fake.audience(remote.remoteId)).toMatchObject({ subtype: 'CUSTOM', account_id: '1234567890' });
  });

  it('uses the configured customer_file_source and API version', async () => {
    h = await startHarness({ config: { apiVersion: 'v25.0', customerFileSource: 'PARTNER_PROVIDED_ONLY' }, version: 'v25.0' });
    const { remoteId } = await h.destination.ensureAudience({ name: 'v25', identifierKinds: ['email'] });
    await h.destination.remove({ remoteId }, members(1)); // the fetch path follows the version too
    expect(h.fake.requests.map((r) => r.version)).toEqual(['v25.0', 'v25.0']);
    expect(h.fake.requests[0]!.body.customer_file_source).toBe('PARTNER_PROVIDED_ONLY');
  });

  it('adopts an existing CUSTOM audience of the account without creating one', async () => {
    h = await startHarness();
    const existing = h.fake.addAudience({ account_id: '1234567890', name: 'Made in Ads Manager' });
    const remote = await h.destination.ensureAudience({ name: 'ignored', existingId: existing.id, identifierKinds: ['email'] });
    expect(remote).toEqual({ remoteId: existing.id, created: false, name: 'Made in Ads Manager' });
    expect(h.fake.requestsTo('audiences.create')).toHaveLength(0);
    expect(h.fake.requestsTo('audience.read')[0]!.query.fields).toContain('subtype');
  });

  it('refuses to adopt an audience of another account, a non-CUSTOM one, a flagged one, or a missing one', async () => {
    h = await startHarness();
    const other = h.fake.addAudience({ account_id: '999' });
    const err1 = await expectFailure(h.destination.ensureAudience({ name: 'x', existingId: other.id, identifierKinds: ['email'] }), 'invalid_request');
    expect(err1.message).toContain('belongs to ad account act_999');

    const website = h.fake.addAudience({ account_id: '1234567890', subtype: 'WEBSITE' });
    const err2 = await expectFailure(h.destination.ensureAudience({ name: 'x', existingId: website.id, identifierKinds: ['email'] }), 'invalid_request');
    expect(err2.message).toContain('WEBSITE');

    const flagged = h.fake.addAudience({ account_id: '1234567890' });
    h.fake.flagAudience(flagged.id);
    const err3 = await expectFailure(h.destination.ensureAudience({ name: 'x', existingId: flagged.id, identifierKinds: ['email'] }), 'permanent');
    expect(err3.message).toContain('operation_status 471');

    const err4 = await expectFailure(h.destination.ensureAudience({ name: 'x', existingId: '424242', identifierKinds: ['email'] }), 'permanent');
    expect(err4.details.code).toBe('100/33');
  });

  it('maps ToS not accepted on create to a permanent error naming the fix', async () => {
    h = await startHarness();
    h.fake.accounts.get(ACCOUNT)!.tos_accepted = {};
    const err = await expectFailure(h.destination.ensureAudience({ name: 'x', identifierKinds: ['email'] }), 'permanent');
    expect(err.message).toMatch(/terms of service are not accepted for ad account act_1234567890/);
    expect(err.details).toMatchObject({ platform: 'meta', code: '200/1870034', status: 400 });
  });

  it('reads audience stats', async () => {
    h = await startHarness();
    const { remoteId } = await h.destination.ensureAudience({ name: 'Stats', identifierKinds: ['email'] });
    expect(await h.destination.audienceStats({ remoteId })).toEqual({
      remoteId,
      deliveryStatus: { code: 300, description: 'This audience is too small to use.' },
      operationStatus: { code: 200, description: 'Normal' },
    });
    await h.destination.add({ remoteId }, members(5000));
    const stats = await h.destination.audienceStats({ remoteId });
    expect(stats.approximateSize).toEqual({ lower: 4500, upper: 5500 });
    const read = h.fake.requestsTo('audience.read').at(-1)!;
    expect(read.query.fields!.split(',').sort()).toEqual(
      ['approximate_count_lower_bound', 'approximate_count_upper_bound', 'delivery_status', 'id', 'operation_status'],
    );
  });
});

describe('meta destination: endpoint seam', () => {
  it('is scoped per call: the SDK keeps its own endpoint outside our calls', async () => {
    h = await startHarness();
    await h.destination.testConnection();
    expect(FacebookAdsApi.GRAPH).toBe('https://graph.facebook.com');
    expect(FacebookAdsApi.VERSION).toBe('v24.0');
    expect(FacebookAdsApi.getDefaultApi()).toBeUndefined(); // we never install a global default api
  });

  it('two destinations at two endpoints run concurrently without crossing', async () => {
    h = await startHarness();
    const second = await startHarness();
    try {
      const [a, b] = await Promise.all([
        h.destination.ensureAudience({ name: 'A', identifierKinds: ['email'] }),
        second.destination.ensureAudience({ name: 'B', identifierKinds: ['email'] }),
      ]);
      await Promise.all([h.destination.add(a, members(10)), second.destination.add(b, members(20))]);
      expect(h.fake.audience(a.remoteId).members.size).toBe(10);
      expect(second.fake.audience(b.remoteId).members.size).toBe(20);
      expect(h.fake.requests.every((r) => r.body.name !== 'B')).toBe(true);
    } finally {
      await second.fake.close();
    }
  });
});
