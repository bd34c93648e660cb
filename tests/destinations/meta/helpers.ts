import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { DestinationError, type FailureClass, type IdentifierKind, type PreparedMember } from '../../../src/destinations/destination';
import { metaDestinationKind, type MetaCustomAudienceConfig, type MetaCustomAudienceCredentials } from '../../../src/destinations/meta';
import { GraphApiFake } from '../../fakes/graph-api-fake';

export const ACCOUNT = 'act_1234567890';
/** Looks like a real long-lived token, so a leak would be visible. */
export const TOKEN = `EAAJtestToken${'Zq9'.repeat(30)}`;
export const APP_SECRET = 'app-secret-0123456789abcdef';

export const sha = (value: string) => createHash('sha256').update(value).digest('hex');

export interface Harness {
  fake: GraphApiFake;
  destination: ReturnType<typeof metaDestinationKind.create>;
}

export async function startHarness(options: {
  config?: Partial<MetaCustomAudienceConfig>;
  credentials?: Partial<MetaCustomAudienceCredentials>;
  version?: string;
} = {}): Promise<Harness> {
  const fake = new GraphApiFake();
  if (options.version) fake.version = options.version;
  await fake.start();
  fake.addAccount({ id: ACCOUNT, name: 'Acme Retail', currency: 'EUR' });
  fake.validTokens.add(TOKEN);
  const destination = metaDestinationKind.create({
    config: { adAccountId: ACCOUNT, ...options.config },
    credentials: { accessToken: TOKEN, ...options.credentials },
    endpoints: { metaGraphUrl: fake.url },
  });
  return { fake, destination };
}

/** A member with hashed identifiers for the given kinds (MADID / EXTERN_ID in the clear, as Meta wants). */
export function member(i: number, kinds: IdentifierKind[] = ['email']): PreparedMember {
  const identifiers: Partial<Record<IdentifierKind, string>> = {};
  for (const kind of kinds) {
    if (kind === 'mobile_ad_id') identifiers[kind] = `6032d997-3ab0-4de0-aa16-${String(i).padStart(12, '0')}`;
    else if (kind === 'external_id') identifiers[kind] = `cust-${i}`;
    else identifiers[kind] = sha(`${kind}:${i}`);
  }
  return { memberKey: `m${i}`, identifiers };
}

export const members = (count: number, kinds?: IdentifierKind[], from = 0) =>
  Array.from({ length: count }, (_, i) => member(from + i, kinds));

/** Awaits a rejection with a DestinationError of the given class; checks no secret leaked into it. */
export async function expectFailure(promise: Promise<unknown>, failure: FailureClass): Promise<DestinationError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected a ${failure} DestinationError, got success`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DestinationError);
  const de = err as DestinationError;
  expect({ failure: de.failure, message: de.message }).toMatchObject({ failure });
  expectNoSecrets(de);
  return de;
}

export function expectNoSecrets(value: unknown): void {
  const text = value instanceof Error ? `${value.message}\n${value.stack ?? ''}\n${JSON.stringify(value)}` : JSON.stringify(value);
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain(APP_SECRET);
  expect((value as { cause?: unknown })?.cause).toBeUndefined();
}
