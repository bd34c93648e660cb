import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DestinationError } from '../../../src/destinations/destination';
import { EndpointCustomer, toDestinationError, type GoogleCustomerMatchDestination } from '../../../src/destinations/google';
import { createIngestionClient } from '../../../src/destinations/google/clients';
import { adsError, rpcError, startGoogleFakes, type GoogleFakes } from '../../fakes/google';
import { contactMember, credentials, CUSTOMER, googleDestination, guardNetwork, SECRETS } from './helpers';

let fakes: GoogleFakes;
let dest: GoogleCustomerMatchDestination;
let listId: string;
const guard = guardNetwork();
const consent = { adUserData: 'GRANTED', adPersonalization: 'GRANTED' } as const;

beforeAll(async () => {
  fakes = await startGoogleFakes();
  // A deadline long enough for a busy machine; the deadline test below uses a destination of its own.
  dest = googleDestination(fakes, {}, { rpcTimeoutMs: 10_000 });
  await dest.testConnection(); // warm the Search client
  listId = (await dest.ensureAudience({ name: 'Errors', identifierKinds: ['email'] })).remoteId;
});
afterAll(async () => {
  await dest?.close();
  await fakes?.stop();
  guard.restore();
  expect(guard.attempts).toEqual([]);
});
afterEach(() => {
  fakes.ads.faults.clear();
  fakes.dataManager.faults.clear();
});

async function failure(p: Promise<unknown>): Promise<DestinationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DestinationError);
  const e = err as DestinationError;
  for (const s of SECRETS) expect(e.message).not.toContain(s);
  return e;
}

const stats = () => dest.audienceStats({ remoteId: listId });

describe('Google Ads API failures', () => {
  it('a RESOURCE_EXHAUSTED storm: each attempt is rate_limited with retryAfterMs from the quota details, gax does not retry', async () => {
    fakes.ads.faults.inject({
      method: 'Search',
      times: 3,
      error: adsError(grpc.status.RESOURCE_EXHAUSTED, [
        { code: { quota_error: 'RESOURCE_EXHAUSTED' }, message: 'Too many requests. Retry in 7 seconds.', retryDelaySeconds: 7 },
      ]),
    });
    const before = fakes.ads.callsTo('Search').length;
    for (let i = 0; i < 3; i++) {
      const e = await failure(stats());
      expect(e).toMatchObject({ failure: 'rate_limited', retryable: true, details: { code: 'quota_error.RESOURCE_EXHAUSTED', retryAfterMs: 7000, status: grpc.status.RESOURCE_EXHAUSTED } });
    }
    expect(fakes.ads.callsTo('Search').length - before).toBe(3);
    expect(await stats()).toMatchObject({ remoteId: listId });
  });

  it('UNAVAILABLE is retryable, answered at once (no 600 s gax retry loop)', async () => {
    fakes.ads.faults.inject({ method: 'Search', times: 1, error: { code: grpc.status.UNAVAILABLE, details: 'The service is currently unavailable.' } });
    const before = fakes.ads.callsTo('Search').length;
    const e = await failure(stats());
    expect(e).toMatchObject({ failure: 'retryable', details: { status: grpc.status.UNAVAILABLE, code: 'UNAVAILABLE' } });
    // One call: gax did not retry it (our sync engine does, with its own backoff).
    expect(fakes.ads.callsTo('Search').length - before).toBe(1);
  });

  it('a slow answer hits our deadline: DEADLINE_EXCEEDED is retryable', async () => {
    const slow = googleDestination(fakes, {}, { rpcTimeoutMs: 1_000 });
    try {
      fakes.ads.faults.inject({ method: 'Search', times: 1, delayMs: 30_000 });
      const started = Date.now();
      const e = await failure(slow.audienceStats({ remoteId: listId }));
      expect(e).toMatchObject({ failure: 'retryable', details: { status: grpc.status.DEADLINE_EXCEEDED } });
      // Our deadline ended it, long before the fake would have answered.
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await slow.close();
    }
  });

  it('internal errors are retryable', async () => {
    fakes.ads.faults.inject({ method: 'Search', times: 1, error: adsError(grpc.status.INTERNAL, [{ code: { internal_error: 'INTERNAL_ERROR' }, message: 'An internal error has occurred.' }]) });
    expect(await failure(stats())).toMatchObject({ failure: 'retryable', details: { code: 'internal_error.INTERNAL_ERROR' } });
  });

  it('permission denied and unauthenticated are permanent; testConnection throws them classified', async () => {
    fakes.ads.faults.inject({
      method: 'Search',
      times: 2,
      error: adsError(grpc.status.PERMISSION_DENIED, [{ code: { authorization_error: 'USER_PERMISSION_DENIED' }, message: "User doesn't have permission to access customer." }]),
    });
    expect(await failure(stats())).toMatchObject({ failure: 'permanent', retryable: false, details: { code: 'authorization_error.USER_PERMISSION_DENIED', status: 7 } });
    expect(await failure(dest.testConnection())).toMatchObject({ failure: 'permanent', details: { code: 'authorization_error.USER_PERMISSION_DENIED' } });

    fakes.ads.faults.inject({ method: 'Search', times: 1, error: { code: grpc.status.UNAUTHENTICATED, details: 'Request had invalid authentication credentials.' } });
    expect(await failure(stats())).toMatchObject({ failure: 'permanent', details: { status: grpc.status.UNAUTHENTICATED } });
  });

  it('INVALID_ARGUMENT is invalid_request', async () => {
    fakes.ads.faults.inject({ method: 'Search', times: 1, error: adsError(grpc.status.INVALID_ARGUMENT, [{ code: { query_error: 'BAD_FIELD_NAME' }, message: 'Unrecognized field.' }]) });
    expect(await failure(stats())).toMatchObject({ failure: 'invalid_request', details: { code: 'query_error.BAD_FIELD_NAME' } });
  });

  it('never puts credentials in an error message, even when Google echoes them', async () => {
    fakes.ads.faults.inject({
      method: 'Search',
      times: 1,
      error: adsError(grpc.status.UNAUTHENTICATED, [
        { code: { authentication_error: 'OAUTH_TOKEN_INVALID' }, message: `token ${credentials.refreshToken} / developer token ${credentials.developerToken} rejected, Bearer ya29.abcDEF123` },
      ]),
    });
    const e = await failure(stats());
    expect(e.message).toContain('[redacted]');
    expect(e.message).not.toContain('ya29.abcDEF123');
    expect(e.failure).toBe('permanent');
  });

  it('an unreachable endpoint is retryable and quick', async () => {
    const down = await startGoogleFakes();
    await down.stop();
    const d = googleDestination(down, {}, { rpcTimeoutMs: 1_000 });
    try {
      const started = Date.now();
      const e = await failure(d.audienceStats({ remoteId: '1' }));
      expect(e.failure).toBe('retryable');
      // Not gax's 600 s retry loop.
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await d.close();
    }
  });
});

describe('Data Manager API failures', () => {
  const add = () => dest.add({ remoteId: listId }, [contactMember(1)], { consent });

  it('UNAVAILABLE and DEADLINE_EXCEEDED are retryable; INTERNAL too', async () => {
    fakes.dataManager.faults.inject({ method: 'IngestAudienceMembers', times: 1, error: rpcError(grpc.status.UNAVAILABLE, 'unavailable') });
    expect(await failure(add())).toMatchObject({ failure: 'retryable', details: { status: grpc.status.UNAVAILABLE } });
    expect(fakes.dataManager.callsTo('IngestAudienceMembers').at(-1)).toBeDefined();
    const slow = googleDestination(fakes, {}, { rpcTimeoutMs: 1_000 });
    try {
      fakes.dataManager.faults.inject({ method: 'IngestAudienceMembers', times: 1, delayMs: 30_000 });
      expect(await failure(slow.add({ remoteId: listId }, [contactMember(1)], { consent }))).toMatchObject({ failure: 'retryable', details: { status: grpc.status.DEADLINE_EXCEEDED } });
    } finally {
      await slow.close();
    }
    fakes.dataManager.faults.inject({ method: 'IngestAudienceMembers', times: 1, error: rpcError(grpc.status.INTERNAL, 'boom', { reason: 'INTERNAL_ERROR' }) });
    expect(await failure(add())).toMatchObject({ failure: 'retryable', details: { code: 'INTERNAL_ERROR' } });
  });

  it('terms not accepted and permission denied are permanent', async () => {
    fakes.backend.termsNotAccepted.add(CUSTOMER);
    try {
      expect(await failure(add())).toMatchObject({ failure: 'permanent', details: { code: 'TERMS_AND_CONDITIONS_NOT_SIGNED', status: grpc.status.PERMISSION_DENIED } });
    } finally {
      fakes.backend.termsNotAccepted.delete(CUSTOMER);
    }
    fakes.dataManager.faults.inject({ method: 'RemoveAudienceMembers', times: 1, error: rpcError(grpc.status.PERMISSION_DENIED, 'The caller does not have permission', { reason: 'PERMISSION_DENIED' }) });
    expect(await failure(dest.remove({ remoteId: listId }, [contactMember(1)]))).toMatchObject({ failure: 'permanent' });
  });

  it('testConnection reports a Data Manager refusal (e.g. a refresh token without the datamanager scope)', async () => {
    fakes.dataManager.faults.inject({
      method: 'RetrieveRequestStatus',
      times: 1,
      error: rpcError(grpc.status.PERMISSION_DENIED, 'Request had insufficient authentication scopes.', { reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', domain: 'googleapis.com' }),
    });
    const e = await failure(dest.testConnection());
    expect(e).toMatchObject({ failure: 'permanent', details: { status: grpc.status.PERMISSION_DENIED } });
    expect(e.message).toContain('insufficient authentication scopes');
    expect((await dest.testConnection()).ok).toBe(true);
  });

  it('INVALID_ARGUMENT that names no member is invalid_request', async () => {
    fakes.dataManager.faults.inject({
      method: 'IngestAudienceMembers',
      times: 1,
      error: rpcError(grpc.status.INVALID_ARGUMENT, 'This Destination is not valid.', { reason: 'INVALID_DESTINATION', fieldViolations: [{ field: 'destinations[0]', description: 'bad' }] }),
    });
    expect(await failure(add())).toMatchObject({ failure: 'invalid_request', details: { code: 'INVALID_DESTINATION' } });
  });

  it('an OAuth refresh failure (surfacing as UNAVAILABLE) is permanent', () => {
    const e = toDestinationError({ code: grpc.status.UNAVAILABLE, details: 'Getting metadata from plugin failed with error: invalid_grant', metadata: new grpc.Metadata() }, 'Data Manager API', (s) => s);
    expect(e).toMatchObject({ failure: 'permanent', details: { code: 'oauth_refresh_failed' } });
  });
});

describe('the seam in production mode', () => {
  it('without endpoints, clients target Google over TLS with refresh-token credentials and build no channel until used', async () => {
    const customer = new EndpointCustomer(
      { client_id: credentials.clientId, client_secret: credentials.clientSecret, developer_token: credentials.developerToken },
      { customer_id: CUSTOMER, refresh_token: credentials.refreshToken },
      { oauth: credentials, gax: { timeoutMs: 60_000 } },
    );
    const ads = customer.gapic<{ _opts: Record<string, any> }>('UserListServiceClient');
    expect(ads._opts).toMatchObject({ servicePath: 'googleads.googleapis.com', port: 443, universeDomain: 'googleapis.com' });
    expect(ads._opts.sslCreds).toBeUndefined();
    expect(ads._opts.credentials).toMatchObject({ type: 'authorized_user', client_id: credentials.clientId });
    expect(ads._opts.clientConfig.interfaces['google.ads.googleads.v24.services.UserListService'].methods.MutateUserLists).toMatchObject({
      timeout_millis: 60_000,
      retry_codes_name: 'no_retry',
    });
    await customer.close();
    const dm = createIngestionClient(undefined, credentials, { timeoutMs: 60_000 }) as unknown as { _opts: Record<string, any>; close(): Promise<void> };
    expect(dm._opts).toMatchObject({ servicePath: 'datamanager.googleapis.com', port: 443 });
    expect(dm._opts.sslCreds).toBeUndefined();
    await dm.close();
  });
});
