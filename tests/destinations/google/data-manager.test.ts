import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GoogleCustomerMatchDestination } from '../../../src/destinations/google';
import { rpcError, startGoogleFakes, type GoogleFakes } from '../../fakes/google';
import { contactMember, CUSTOMER, googleDestination, guardNetwork, MANAGER, sha256, uuid } from './helpers';

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
afterEach(() => {
  fakes.dataManager.faults.clear();
  fakes.dataManager.processingPolls = 1;
});

const consent = { adUserData: 'GRANTED', adPersonalization: 'GRANTED' } as const;

describe('members through the Data Manager API (default path)', () => {
  it('adds 25,000 members in 3 requests of at most 10,000, HEX-encoded, with the default consent', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Big list', identifierKinds: ['email', 'phone', 'first_name', 'last_name', 'country', 'zip'] });
    const members = Array.from({ length: 25_000 }, (_, i) => contactMember(i, {}, i % 2 === 0));
    const result = await dest.add({ remoteId }, members, { consent });

    const ingests = fakes.dataManager.callsTo('IngestAudienceMembers');
    expect(ingests.map((c) => c.request.audienceMembers.length)).toEqual([10_000, 10_000, 5_000]);
    const first = ingests[0]!.request;
    expect(first.encoding).toBe('HEX');
    expect(first.consent).toEqual({ adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_GRANTED' });
    expect(first.destinations).toEqual([
      {
        operatingAccount: { accountType: 'GOOGLE_ADS', accountId: CUSTOMER },
        loginAccount: { accountType: 'GOOGLE_ADS', accountId: MANAGER },
        productDestinationId: remoteId,
      },
    ]);
    expect(first.audienceMembers[0].userData.userIdentifiers).toEqual([
      { emailAddress: sha256('user0@example.com'), identifier: 'emailAddress' },
      { phoneNumber: members[0]!.identifiers.phone, identifier: 'phoneNumber' },
      {
        address: { givenName: sha256('ada'), familyName: sha256('lovelace0'), regionCode: 'DE', postalCode: '10115' },
        identifier: 'address',
      },
    ]);
    expect(first.audienceMembers.every((m: { userData: { userIdentifiers: unknown[] } }) => m.userData.userIdentifiers.length <= 10)).toBe(true);

    expect(result.received).toBe(25_000);
    expect(result.invalid).toBe(0);
    expect(result.rejected).toEqual([]);
    expect(result.requestIds).toHaveLength(3);
    // Per-request status: PROCESSING first, then final.
    expect(fakes.dataManager.callsTo('RetrieveRequestStatus').length).toBeGreaterThanOrEqual(6);
    expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(25_000);

    const removed = await dest.remove({ remoteId }, members.slice(0, 12_000));
    expect(fakes.dataManager.callsTo('RemoveAudienceMembers').map((c) => c.request.audienceMembers.length)).toEqual([10_000, 2_000]);
    expect(fakes.dataManager.callsTo('RemoveAudienceMembers')[0]!.request.consent).toBeUndefined();
    expect(removed).toMatchObject({ received: 12_000, invalid: 0, rejected: [] });
    expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(13_000);
  });

  it('sends member consent on the member, and counts records Google reports failed', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Consent list', identifierKinds: ['email'] });
    fakes.dataManager.processingPolls = 0;
    const members = [
      contactMember(1),
      contactMember(2, { consent: { adUserData: 'DENIED' } }),
      contactMember(3, { consent: { adPersonalization: 'DENIED' } }),
    ];
    const result = await dest.add({ remoteId }, members, { consent });
    const req = fakes.dataManager.callsTo('IngestAudienceMembers').at(-1)!.request;
    expect(req.audienceMembers[0].consent).toBeUndefined();
    expect(req.audienceMembers[1].consent).toEqual({ adUserData: 'CONSENT_DENIED' });
    expect(req.audienceMembers[2].consent).toEqual({ adPersonalization: 'CONSENT_DENIED' });
    expect(result).toMatchObject({ received: 3, invalid: 1, rejected: [] });
    expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(2);
  });

  it('rejects rows without a usable identifier locally and never sends them', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Local rejections', identifierKinds: ['email'] });
    const result = await dest.add(
      { remoteId },
      [contactMember(1), { memberKey: 'bad', identifiers: { email: 'not-a-hash@example.com' } }, { memberKey: 'empty', identifiers: { city: 'berlin' } }],
      { consent },
    );
    expect(result.rejected).toEqual([
      { memberKey: 'bad', reason: 'no_usable_identifiers', detail: expect.any(String) },
      { memberKey: 'empty', reason: 'no_usable_identifiers', detail: expect.any(String) },
    ]);
    expect(result).toMatchObject({ received: 1, invalid: 2 });
    expect(fakes.dataManager.callsTo('IngestAudienceMembers').at(-1)!.request.audienceMembers).toHaveLength(1);
  });

  it('uses mobileData for a mobile list and turns Google field violations into per-row rejections', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Mobile', identifierKinds: ['mobile_ad_id'] });
    const before = fakes.dataManager.callsTo('IngestAudienceMembers').length;
    const result = await dest.add(
      { remoteId },
      [
        { memberKey: 'a', identifiers: { mobile_ad_id: uuid(1) } },
        { memberKey: 'b', identifiers: { mobile_ad_id: 'not-a-device-id' } },
        { memberKey: 'c', identifiers: { mobile_ad_id: uuid(3) } },
      ],
      { consent },
    );
    const calls = fakes.dataManager.callsTo('IngestAudienceMembers').slice(before);
    expect(calls).toHaveLength(2); // refused once (INVALID_ARGUMENT naming member 1), re-sent without it
    expect(calls[0]!.request.audienceMembers[0]).toMatchObject({ mobileData: { mobileIds: [uuid(1)] } });
    expect(calls[1]!.request.audienceMembers).toHaveLength(2);
    expect(result.rejected).toEqual([{ memberKey: 'b', reason: 'invalid_mobile_id_format', detail: 'Mobile ID format is not valid.' }]);
    expect(result).toMatchObject({ received: 2, invalid: 1 });
    expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(2);
  });

  it('uses userIdData for a CRM_ID list and looks the key type up for a list it did not create', async () => {
    const list = fakes.backend.createList({ customerId: CUSTOMER, name: 'CRM from elsewhere', type: 'CRM_BASED', uploadKeyType: 'CRM_ID' });
    const fresh = googleDestination(fakes);
    try {
      const result = await fresh.add({ remoteId: list.id }, [{ memberKey: 'x', identifiers: { external_id: 'cust-42', email: sha256('x@example.com') } }], { consent });
      expect(result.received).toBe(1);
      expect(fakes.dataManager.callsTo('IngestAudienceMembers').at(-1)!.request.audienceMembers[0]).toMatchObject({ userIdData: { userId: 'cust-42' } });
      expect(fakes.ads.callsTo('Search').at(-1)!.request.query).toContain('upload_key_type');
    } finally {
      await fresh.close();
    }
  });

  it('a list that no longer exists is a permanent failure', async () => {
    await expect(dest.add({ remoteId: '777777' }, [contactMember(1)], { consent })).rejects.toMatchObject({
      failure: 'permanent',
      details: { code: 'USER_LIST_NOT_FOUND' },
    });
  });

  it('reads retryAfterMs from RetryInfo when the Data Manager API is out of quota', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Quota', identifierKinds: ['email'] });
    fakes.dataManager.faults.inject({
      method: 'IngestAudienceMembers',
      times: 1,
      error: rpcError(grpc.status.RESOURCE_EXHAUSTED, 'Too many requests.', { reason: 'RESOURCE_EXHAUSTED', retryDelaySeconds: 30 }),
    });
    await expect(dest.add({ remoteId }, [contactMember(1)], { consent })).rejects.toMatchObject({
      failure: 'rate_limited',
      details: { retryAfterMs: 30_000, status: grpc.status.RESOURCE_EXHAUSTED, platform: 'google' },
    });
    // Nothing retried inside gax: exactly one attempt reached the fake, and the next call succeeds.
    expect(await dest.add({ remoteId }, [contactMember(1)], { consent })).toMatchObject({ received: 1 });
  });
});
