import { enums } from 'google-ads-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DestinationError } from '../../../src/destinations/destination';
import type { GoogleCustomerMatchDestination } from '../../../src/destinations/google';
import { startGoogleFakes, type GoogleFakes } from '../../fakes/google';
import { contactMember, credentials, CUSTOMER, googleDestination, guardNetwork, uuid } from './helpers';

let fakes: GoogleFakes;
let dest: GoogleCustomerMatchDestination;
const guard = guardNetwork();
const consent = { adUserData: 'GRANTED', adPersonalization: 'GRANTED' } as const;

beforeAll(async () => {
  fakes = await startGoogleFakes({ allowlistedDeveloperTokens: [credentials.developerToken] });
  dest = googleDestination(fakes, { uploadPath: 'offline_user_data_job' });
  await dest.testConnection(); // builds the GoogleAdsService client (proto loading takes a moment) before timing-sensitive tests
});
afterAll(async () => {
  await dest?.close();
  await fakes?.stop();
  guard.restore();
  expect(guard.attempts).toEqual([]);
});
afterEach(() => {
  fakes.ads.faults.clear();
  fakes.backend.jobDurationMs = 20;
});

const jobsOf = (listId: string) => [...fakes.backend.jobs.values()].filter((j) => j.listId === listId && !j.external);

describe('members through OfflineUserDataJobService (allowlisted tokens)', () => {
  it('adds in one job with job-level consent, runs it and polls until it succeeds; removes in a separate job', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Job list', identifierKinds: ['email', 'phone', 'first_name', 'last_name', 'country', 'zip'] });
    fakes.backend.jobDurationMs = 60;
    const members = Array.from({ length: 50 }, (_, i) => contactMember(i, {}, i % 5 === 0));
    const searchesBefore = fakes.ads.callsTo('Search').length;
    const added = await dest.add({ remoteId }, members, { consent });

    const [job] = jobsOf(remoteId);
    expect(job).toMatchObject({ type: 'CUSTOMER_MATCH_USER_LIST', status: 'SUCCESS', kind: 'create', consent: { ad_user_data: 'GRANTED', ad_personalization: 'GRANTED' } });
    expect(job!.operationLevelConsent).toBe(0);
    const create = fakes.ads.callsTo('CreateOfflineUserDataJob').at(-1)!.request;
    expect(create.job.customer_match_user_list_metadata.user_list).toBe(`customers/${CUSTOMER}/userLists/${remoteId}`);
    const addOps = fakes.ads.callsTo('AddOfflineUserDataJobOperations').at(-1)!.request;
    expect(addOps.enable_partial_failure).toBe(true);
    expect(addOps.operations[0].create.user_identifiers).toEqual([
      expect.objectContaining({ hashed_email: members[0]!.identifiers.email }),
      expect.objectContaining({ hashed_phone_number: members[0]!.identifiers.phone }),
      expect.objectContaining({ address_info: expect.objectContaining({ country_code: 'DE', postal_code: '10115' }) }),
    ]);
    // Polled through GAQL until SUCCESS (job runs 60 ms, polls every 5 ms).
    const polls = fakes.ads.callsTo('Search').slice(searchesBefore).filter((c) => String(c.request.query).includes('FROM offline_user_data_job'));
    expect(polls.length).toBeGreaterThan(1);
    expect(added).toMatchObject({ received: 50, invalid: 0, rejected: [], requestIds: [job!.resourceName] });
    expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(50);

    const removed = await dest.remove({ remoteId }, members.slice(0, 20));
    const jobs = jobsOf(remoteId);
    expect(jobs).toHaveLength(2);
    expect(jobs[1]).toMatchObject({ kind: 'remove', status: 'SUCCESS' });
    expect(jobs[1]!.operations.every((o) => o.kind === 'remove')).toBe(true);
    expect(removed).toMatchObject({ received: 20, rejected: [] });
    expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(30);
  });

  it('splits members with different consent into one job per consent (consent is job-level)', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Consent groups', identifierKinds: ['email'] });
    await dest.add({ remoteId }, [contactMember(1), contactMember(2, { consent: { adPersonalization: 'DENIED' } }), contactMember(3)], { consent });
    const jobs = jobsOf(remoteId);
    expect(jobs.map((j) => [j.consent, j.operations.length])).toEqual([
      [{ ad_user_data: 'GRANTED', ad_personalization: 'GRANTED' }, 2],
      [{ ad_user_data: 'GRANTED', ad_personalization: 'DENIED' }, 1],
    ]);
  });

  it('decodes partial failures into per-row rejections and still runs the job', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Partial', identifierKinds: ['mobile_ad_id'] });
    const result = await dest.add(
      { remoteId },
      [
        { memberKey: 'ok-1', identifiers: { mobile_ad_id: uuid(1) } },
        { memberKey: 'broken', identifiers: { mobile_ad_id: 'garbage' } },
        { memberKey: 'ok-2', identifiers: { mobile_ad_id: uuid(2) } },
      ],
      { consent },
    );
    expect(result.rejected).toEqual([
      { memberKey: 'broken', reason: 'invalid_mobile_id_format', detail: 'offline_user_data_job_error.INVALID_MOBILE_ID_FORMAT: The mobile ID is malformed.' },
    ]);
    expect(result).toMatchObject({ received: 2, invalid: 1 });
    expect(jobsOf(remoteId)[0]).toMatchObject({ status: 'SUCCESS' });
    expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(2);
  });

  it('serializes uploads per list: concurrent calls never run two jobs on one list', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Serial', identifierKinds: ['email'] });
    fakes.backend.jobDurationMs = 25;
    const other = googleDestination(fakes, { uploadPath: 'offline_user_data_job' });
    try {
      const results = await Promise.all([
        dest.add({ remoteId }, [contactMember(1), contactMember(2)], { consent }),
        other.remove({ remoteId }, [contactMember(1)]),
        dest.add({ remoteId }, [contactMember(3)], { consent }),
      ]);
      expect(results.map((r) => r.received)).toEqual([2, 1, 1]);
      const jobs = jobsOf(remoteId).sort((a, b) => a.startedAt! - b.startedAt!);
      expect(jobs).toHaveLength(3);
      for (let i = 1; i < jobs.length; i++) expect(jobs[i]!.startedAt!).toBeGreaterThanOrEqual(jobs[i - 1]!.finishedAt!);
      // Order of the calls is kept: add, remove, add.
      expect(jobs.map((j) => j.kind)).toEqual(['create', 'remove', 'create']);
      expect(fakes.backend.lists.get(remoteId)!.members.size).toBe(2);
    } finally {
      await other.close();
    }
  });

  it('maps CONCURRENT_MODIFICATION (a job of another process on the list) to retryable', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Busy', identifierKinds: ['email'] });
    fakes.backend.startExternalJob(CUSTOMER, remoteId, 60_000);
    const err = await dest.add({ remoteId }, [contactMember(1)], { consent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DestinationError);
    expect(err).toMatchObject({ failure: 'retryable', retryable: true, details: { code: 'database_error.CONCURRENT_MODIFICATION', platform: 'google' } });
  });

  it('refuses to mix creates and removes in one job (the fake enforces Google’s rule)', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Mixed', identifierKinds: ['email'] });
    const { EndpointCustomer } = await import('../../../src/destinations/google');
    const customer = new EndpointCustomer(
      { client_id: credentials.clientId, client_secret: credentials.clientSecret, developer_token: credentials.developerToken },
      { customer_id: CUSTOMER, refresh_token: credentials.refreshToken },
      { endpoint: fakes.endpoints.googleAds, oauth: credentials, gax: { timeoutMs: 3_000 } },
    );
    try {
      const { resource_name } = await customer.offlineUserDataJobs.createOfflineUserDataJob({
        customer_id: CUSTOMER,
        job: { type: enums.OfflineUserDataJobType.CUSTOMER_MATCH_USER_LIST, customer_match_user_list_metadata: { user_list: `customers/${CUSTOMER}/userLists/${remoteId}` } },
      } as never);
      const userData = { user_identifiers: [{ hashed_email: contactMember(1).identifiers.email }] };
      await customer.offlineUserDataJobs.addOfflineUserDataJobOperations({ resource_name, operations: [{ create: userData }] } as never);
      const err = await customer.offlineUserDataJobs
        .addOfflineUserDataJobOperations({ resource_name, operations: [{ remove: userData }] } as never)
        .catch((e: unknown) => e);
      const { toDestinationError } = await import('../../../src/destinations/google');
      expect(toDestinationError(err, 'Google Ads API', (s) => s)).toMatchObject({
        failure: 'invalid_request',
        details: { code: 'offline_user_data_job_error.CONFLICTING_OPERATION' },
      });
    } finally {
      await customer.close();
    }
  });

  it('a developer token that is not allowlisted gets CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE: permanent', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'Not allowlisted', identifierKinds: ['email'] });
    const newToken = googleDestination(fakes, { uploadPath: 'offline_user_data_job' }, {}, { ...credentials, developerToken: 'devtoken-NEW-2026' });
    try {
      const err = await newToken.add({ remoteId }, [contactMember(1)], { consent }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        failure: 'permanent',
        retryable: false,
        details: { code: 'not_allowlisted_error.CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE', platform: 'google' },
      });
      expect((err as Error).message).not.toContain('devtoken-NEW-2026');
      // The same token uploads through the Data Manager API (the default path).
      const dm = googleDestination(fakes, {}, {}, { ...credentials, developerToken: 'devtoken-NEW-2026' });
      expect(await dm.add({ remoteId }, [contactMember(1)], { consent })).toMatchObject({ received: 1 });
      await dm.close();
    } finally {
      await newToken.close();
    }
  });

  it('customer data terms not accepted: permanent', async () => {
    const { remoteId } = await dest.ensureAudience({ name: 'No terms', identifierKinds: ['email'] });
    fakes.backend.termsNotAccepted.add(CUSTOMER);
    try {
      await expect(dest.add({ remoteId }, [contactMember(1)], { consent })).rejects.toMatchObject({
        failure: 'permanent',
        details: { code: 'offline_user_data_job_error.CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS' },
      });
    } finally {
      fakes.backend.termsNotAccepted.delete(CUSTOMER);
    }
  });
});
