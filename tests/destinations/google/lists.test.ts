import { Value } from '@sinclair/typebox/value';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors';
import {
  GoogleCustomerMatchConfigSchema,
  GoogleCustomerMatchCredentialsSchema,
  googleDestinationKind,
  type GoogleCustomerMatchDestination,
} from '../../../src/destinations/google';
import { startGoogleFakes, type GoogleFakes } from '../../fakes/google';
import { CUSTOMER, credentials, googleDestination, guardNetwork, MANAGER } from './helpers';

let fakes: GoogleFakes;
let dest: GoogleCustomerMatchDestination;
const guard = guardNetwork();

beforeAll(async () => {
  fakes = await startGoogleFakes();
  dest = googleDestination(fakes);
});
afterAll(async () => {
  await dest?.close();
  await fakes?.stop();
  guard.restore();
  expect(guard.attempts).toEqual([]);
});
afterEach(() => fakes.ads.faults.clear());

async function rejectsWith(p: Promise<unknown>, status: number) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).status).toBe(status);
  return err as AppError;
}

describe('network guard', () => {
  it('refuses and records any non-loopback connection (so the tests prove nothing leaves 127.0.0.1)', async () => {
    const net = await import('node:net');
    const tls = await import('node:tls');
    const dns = await import('node:dns');
    expect(() => net.connect({ host: '203.0.113.7', port: 443 })).toThrow(/network guard/);
    expect(() => tls.connect({ host: 'oauth2.googleapis.com', port: 443 })).toThrow(/network guard/);
    expect(() => dns.lookup('metadata.google.internal', () => undefined)).toThrow(/network guard/);
    expect(guard.attempts.splice(0)).toEqual(['203.0.113.7:443', 'oauth2.googleapis.com:443', 'dns:metadata.google.internal']);
  });
});

describe('google_customer_match kind', () => {
  it('validates config and credentials with typebox schemas', () => {
    expect(Value.Check(GoogleCustomerMatchConfigSchema, { customerId: CUSTOMER })).toBe(true);
    expect(Value.Check(GoogleCustomerMatchConfigSchema, { customerId: '123-456-7890' })).toBe(false);
    expect(Value.Check(GoogleCustomerMatchConfigSchema, { customerId: CUSTOMER, uploadPath: 'offline_user_data_job', membershipLifeSpanDays: 10000 })).toBe(true);
    expect(Value.Check(GoogleCustomerMatchConfigSchema, { customerId: CUSTOMER, membershipLifeSpanDays: 541 })).toBe(false);
    expect(Value.Check(GoogleCustomerMatchCredentialsSchema, credentials)).toBe(true);
    expect(Value.Check(GoogleCustomerMatchCredentialsSchema, { developerToken: 'x' })).toBe(false);
    expect(googleDestinationKind.kind).toBe('google_customer_match');
    expect(googleDestinationKind.platform).toBe('google');
  });

  it('builds a destination from the registry entry against the endpoints', async () => {
    const d = googleDestinationKind.create({ config: { customerId: CUSTOMER }, credentials, endpoints: fakes.endpoints });
    const check = await d.testConnection();
    expect(check).toMatchObject({ ok: true, account: { id: CUSTOMER, currency: 'EUR' } });
    expect(check.detail).toContain('Data Manager API accepts the credentials');
    expect(fakes.dataManager.callsTo('RetrieveRequestStatus').at(-1)!.request).toEqual({ requestId: 'audiences-connection-check' });
    expect(d.limits.maxBatchSize).toBe(10_000);
    await d.close?.();
  });
});

describe('lists through UserListService', () => {
  it('creates a CONTACT_INFO list from contact identifiers, with life span and headers', async () => {
    const created = await dest.ensureAudience({ name: 'VIP customers', description: 'top spenders', identifierKinds: ['email', 'phone', 'mobile_ad_id'] });
    expect(created).toMatchObject({ created: true, name: 'VIP customers' });
    const list = fakes.backend.lists.get(created.remoteId)!;
    expect(list).toMatchObject({ type: 'CRM_BASED', uploadKeyType: 'CONTACT_INFO', membershipLifeSpan: 540, customerId: CUSTOMER });
    const call = fakes.ads.callsTo('MutateUserLists').at(-1)!;
    expect(call.metadata['developer-token']).toBe(credentials.developerToken);
    expect(call.metadata['login-customer-id']).toBe(MANAGER);
    expect(call.request.operations[0].create).toMatchObject({
      name: 'VIP customers',
      crm_based_user_list: { upload_key_type: 'CONTACT_INFO', data_source_type: 'FIRST_PARTY' },
    });
  });

  it('picks MOBILE_ADVERTISING_ID and CRM_ID from the identifier kinds', async () => {
    const mobile = await dest.ensureAudience({ name: 'App users', identifierKinds: ['mobile_ad_id', 'external_id'], membershipLifeSpanDays: 10000 });
    expect(fakes.backend.lists.get(mobile.remoteId)).toMatchObject({ uploadKeyType: 'MOBILE_ADVERTISING_ID', membershipLifeSpan: 10000 });
    const crm = await dest.ensureAudience({ name: 'CRM ids', identifierKinds: ['external_id'] });
    expect(fakes.backend.lists.get(crm.remoteId)).toMatchObject({ uploadKeyType: 'CRM_ID' });
    // An address alone is contact info only when complete.
    const address = await dest.ensureAudience({ name: 'Addresses', identifierKinds: ['first_name', 'last_name', 'country', 'zip'] });
    expect(fakes.backend.lists.get(address.remoteId)).toMatchObject({ uploadKeyType: 'CONTACT_INFO' });
  });

  it('refuses identifier kinds Customer Match cannot use (422)', async () => {
    const err = await rejectsWith(dest.ensureAudience({ name: 'Nope', identifierKinds: ['city', 'gender'] }), 422);
    expect(err.errors?.[0]?.pointer).toBe('/identifierKinds');
  });

  it('maps a Google rejection of the list (duplicate name) to invalid_request', async () => {
    await dest.ensureAudience({ name: 'Twice', identifierKinds: ['email'] });
    await expect(dest.ensureAudience({ name: 'Twice', identifierKinds: ['email'] })).rejects.toMatchObject({
      name: 'DestinationError',
      failure: 'invalid_request',
      details: { code: 'user_list_error.NAME_ALREADY_USED', platform: 'google' },
    });
  });

  it('adopts an existing CRM-based list by id after checking it', async () => {
    const existing = fakes.backend.createList({ customerId: CUSTOMER, name: 'Made in the UI', type: 'CRM_BASED', uploadKeyType: 'CONTACT_INFO' });
    const adopted = await dest.ensureAudience({ name: 'ignored', existingId: existing.id, identifierKinds: ['email'] });
    expect(adopted).toEqual({ remoteId: existing.id, created: false, name: 'Made in the UI' });
    const search = fakes.ads.callsTo('Search').at(-1)!;
    expect(search.request.query).toContain(`user_list.id = ${existing.id}`);
  });

  it('refuses to adopt a missing list, a non-CRM list, or a list whose key type the sync cannot fill', async () => {
    let err = await rejectsWith(dest.ensureAudience({ name: 'x', existingId: '424242', identifierKinds: ['email'] }), 422);
    expect(err.errors?.[0]).toMatchObject({ pointer: '/existingId' });
    const rule = fakes.backend.createList({ customerId: CUSTOMER, name: 'Site visitors', type: 'RULE_BASED' });
    err = await rejectsWith(dest.ensureAudience({ name: 'x', existingId: rule.id, identifierKinds: ['email'] }), 422);
    expect(err.message).toContain('RULE_BASED');
    const other = fakes.backend.createList({ customerId: '5555555555', name: 'Other account', type: 'CRM_BASED', uploadKeyType: 'CONTACT_INFO' });
    await rejectsWith(dest.ensureAudience({ name: 'x', existingId: other.id, identifierKinds: ['email'] }), 422);
    const mobile = fakes.backend.createList({ customerId: CUSTOMER, name: 'Mobile list', type: 'CRM_BASED', uploadKeyType: 'MOBILE_ADVERTISING_ID' });
    err = await rejectsWith(dest.ensureAudience({ name: 'x', existingId: mobile.id, identifierKinds: ['email', 'phone'] }), 422);
    expect(err.errors?.[0]).toMatchObject({ pointer: '/identifierKinds' });
    await rejectsWith(dest.ensureAudience({ name: 'x', existingId: 'abc', identifierKinds: ['email'] }), 422);
  });
});

describe('GAQL through the library’s gRPC SearchStream', () => {
  it('serves reportStreamRaw from the fake (the library builds the GoogleAdsService client through the seam)', async () => {
    const { EndpointCustomer } = await import('../../../src/destinations/google');
    const customer = new EndpointCustomer(
      { client_id: credentials.clientId, client_secret: credentials.clientSecret, developer_token: credentials.developerToken },
      { customer_id: CUSTOMER, refresh_token: credentials.refreshToken },
      { endpoint: fakes.endpoints.googleAds, oauth: credentials, gax: { timeoutMs: 3_000 } },
    );
    try {
      const stream = await customer.reportStreamRaw({ entity: 'user_list', attributes: ['user_list.id', 'user_list.name'] });
      const chunks: { results: { user_list: { name: string } }[] }[] = [];
      for await (const chunk of stream as AsyncIterable<{ results: { user_list: { name: string } }[] }>) chunks.push(chunk);
      expect(chunks.flatMap((c) => c.results.map((r) => r.user_list.name))).toContain('VIP customers');
      expect(fakes.ads.callsTo('SearchStream').at(-1)!.request.query).toMatch(/FROM user_list/);
    } finally {
      await customer.close();
    }
  });
});

describe('stats through GAQL', () => {
  it('reads size_for_search, size_for_display and match_rate_percentage', async () => {
    const list = fakes.backend.createList({ customerId: CUSTOMER, name: 'Sized', type: 'CRM_BASED', uploadKeyType: 'CONTACT_INFO' });
    fakes.backend.addMembers(list, [['email:a'], ['email:b'], ['email:c']]);
    const stats = await dest.audienceStats({ remoteId: list.id });
    expect(stats).toEqual({ remoteId: list.id, sizeForSearch: 3, sizeForDisplay: 3, matchRatePercentage: 72, operationStatus: { code: 'OPEN' } });
    const q = fakes.ads.callsTo('Search').at(-1)!.request.query as string;
    expect(q).toMatch(/user_list\.size_for_search.*user_list\.size_for_display.*user_list\.match_rate_percentage/);
    await rejectsWith(dest.audienceStats({ remoteId: '99999' }), 404);
  });
});

describe('lookalike lists', () => {
  it('creates a lookalike_user_list from a seed', async () => {
    const seed = await dest.ensureAudience({ name: 'Seed', identifierKinds: ['email'] });
    const lookalike = await dest.createLookalike({
      name: 'Seed lookalike',
      seedRemoteId: seed.remoteId,
      seedSize: 2500,
      google: { expansionLevel: 'BALANCED', countryCodes: ['de', 'AT'] },
    });
    expect(fakes.backend.lists.get(lookalike.remoteId)).toMatchObject({
      type: 'LOOKALIKE',
      lookalike: { seedIds: [seed.remoteId], expansionLevel: 'BALANCED', countryCodes: ['DE', 'AT'] },
    });
    expect(await dest.getLookalike(lookalike.remoteId)).toMatchObject({ remoteId: lookalike.remoteId, status: { code: 'OPEN' } });
  });

  it('refuses a seed that is too small before calling Google (422 with the numbers)', async () => {
    const before = fakes.ads.callsTo('MutateUserLists').length;
    const err = await rejectsWith(
      dest.createLookalike({ name: 'Too small', seedRemoteId: '1', seedSize: 42, google: { expansionLevel: 'NARROW', countryCodes: ['US'] } }),
      422,
    );
    expect(err.message).toContain('42');
    expect(err.message).toContain('100');
    expect(err.errors).toEqual([{ pointer: '/seedSize', message: expect.stringContaining('42') }]);
    expect(fakes.ads.callsTo('MutateUserLists').length).toBe(before);
  });
});
