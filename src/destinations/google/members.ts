/**
 * PreparedMember → Google wire formats. Members arrive normalized and hashed for Google
 * (email / phone / first / last name: SHA-256 hex; country and zip in the clear; mobile ad id and
 * external id in the clear). Which identifiers a member may carry depends on the list's upload
 * key type: a CONTACT_INFO list takes email / phone / address, MOBILE_ADVERTISING_ID takes mobile
 * ids, CRM_ID takes our external id (Google's third-party user id).
 */
import type { protos as dmProtos } from '@google-ads/datamanager';
import type { BatchContext, ConsentStatus, IdentifierKind, PreparedMember, RowRejection } from '../destination';

export type UploadKeyType = 'CONTACT_INFO' | 'CRM_ID' | 'MOBILE_ADVERTISING_ID';

/** Data Manager: members per request, identifiers per member. */
export const DM_MAX_MEMBERS_PER_REQUEST = 10_000;
export const DM_MAX_IDENTIFIERS_PER_MEMBER = 10;
/** OfflineUserDataJobService: identifiers per AddOfflineUserDataJobOperations request, per UserData. */
export const JOB_MAX_IDENTIFIERS_PER_REQUEST = 100_000;
export const JOB_MAX_IDENTIFIERS_PER_USER_DATA = 20;

const HEX64 = /^[0-9a-f]{64}$/;

/** The list's upload key type from the identifier kinds a sync maps (contact info wins: it matches best). */
export function uploadKeyTypeFor(kinds: readonly IdentifierKind[]): UploadKeyType | undefined {
  const has = (k: IdentifierKind) => kinds.includes(k);
  if (has('email') || has('phone') || (has('first_name') && has('last_name') && has('country') && has('zip'))) return 'CONTACT_INFO';
  if (has('mobile_ad_id')) return 'MOBILE_ADVERTISING_ID';
  if (has('external_id')) return 'CRM_ID';
  return undefined;
}

interface ContactParts {
  email?: string;
  phone?: string;
  address?: { firstName: string; lastName: string; country: string; zip: string };
}

function contactParts(m: PreparedMember): ContactParts {
  const id = m.identifiers;
  const hashed = (v: string | undefined) => (v && HEX64.test(v) ? v : undefined);
  const parts: ContactParts = { email: hashed(id.email), phone: hashed(id.phone) };
  const fn = hashed(id.first_name);
  const ln = hashed(id.last_name);
  const country = id.country?.trim().toUpperCase();
  const zip = id.zip?.trim();
  if (fn && ln && country && /^[A-Z]{2}$/.test(country) && zip) parts.address = { firstName: fn, lastName: ln, country, zip };
  return parts;
}

export interface EffectiveConsent {
  adUserData?: ConsentStatus;
  adPersonalization?: ConsentStatus;
}

/** The member's consent, completed from the sync's default. */
export function effectiveConsent(m: PreparedMember, context?: BatchContext): EffectiveConsent {
  return {
    adUserData: m.consent?.adUserData ?? context?.consent?.adUserData,
    adPersonalization: m.consent?.adPersonalization ?? context?.consent?.adPersonalization,
  };
}

const dmConsentStatus = (s: ConsentStatus | undefined) => (s === undefined ? undefined : s === 'GRANTED' ? 'CONSENT_GRANTED' : 'CONSENT_DENIED');

export function dmConsent(c: EffectiveConsent | undefined): dmProtos.google.ads.datamanager.v1.IConsent | undefined {
  if (!c || (c.adUserData === undefined && c.adPersonalization === undefined)) return undefined;
  return {
    ...(c.adUserData ? { adUserData: dmConsentStatus(c.adUserData) as 'CONSENT_GRANTED' } : {}),
    ...(c.adPersonalization ? { adPersonalization: dmConsentStatus(c.adPersonalization) as 'CONSENT_GRANTED' } : {}),
  };
}

export interface Mapped<T> {
  member: PreparedMember;
  payload: T;
  identifierCount: number;
}

export interface MappingResult<T> {
  mapped: Mapped<T>[];
  rejected: RowRejection[];
}

const noIdentifiers = (m: PreparedMember, keyType: UploadKeyType): RowRejection => ({
  memberKey: m.memberKey,
  reason: 'no_usable_identifiers',
  detail: `no identifier usable for a ${keyType} list`,
});

const tooMany = (m: PreparedMember, n: number, max: number): RowRejection => ({
  memberKey: m.memberKey,
  reason: 'too_many_identifiers',
  detail: `${n} identifiers, at most ${max} per member`,
});

/** Data Manager AudienceMember per member (member-level consent only when the member has its own). */
export function toDataManagerMembers(
  members: PreparedMember[],
  keyType: UploadKeyType,
): MappingResult<dmProtos.google.ads.datamanager.v1.IAudienceMember> {
  const mapped: Mapped<dmProtos.google.ads.datamanager.v1.IAudienceMember>[] = [];
  const rejected: RowRejection[] = [];
  for (const m of members) {
    const consent = m.consent ? dmConsent({ adUserData: m.consent.adUserData, adPersonalization: m.consent.adPersonalization }) : undefined;
    let payload: dmProtos.google.ads.datamanager.v1.IAudienceMember | undefined;
    let count = 0;
    if (keyType === 'CONTACT_INFO') {
      const p = contactParts(m);
      const ids: dmProtos.google.ads.datamanager.v1.IUserIdentifier[] = [];
      if (p.email) ids.push({ emailAddress: p.email });
      if (p.phone) ids.push({ phoneNumber: p.phone });
      if (p.address) ids.push({ address: { givenName: p.address.firstName, familyName: p.address.lastName, regionCode: p.address.country, postalCode: p.address.zip } });
      count = ids.length;
      if (count) payload = { userData: { userIdentifiers: ids } };
    } else if (keyType === 'MOBILE_ADVERTISING_ID') {
      const id = m.identifiers.mobile_ad_id?.trim();
      if (id) {
        count = 1;
        payload = { mobileData: { mobileIds: [id] } };
      }
    } else {
      const id = m.identifiers.external_id?.trim();
      if (id) {
        count = 1;
        payload = { userIdData: { userId: id } };
      }
    }
    if (!payload) {
      rejected.push(noIdentifiers(m, keyType));
      continue;
    }
    if (count > DM_MAX_IDENTIFIERS_PER_MEMBER) {
      rejected.push(tooMany(m, count, DM_MAX_IDENTIFIERS_PER_MEMBER));
      continue;
    }
    if (consent) payload.consent = consent;
    mapped.push({ member: m, payload, identifierCount: count });
  }
  return { mapped, rejected };
}

/** Google Ads API `common.UserData` (snake_case, as google-ads-api sends it) per member; consent stays on the job. */
export interface AdsUserData {
  user_identifiers: Record<string, unknown>[];
}

export function toAdsUserData(members: PreparedMember[], keyType: UploadKeyType): MappingResult<AdsUserData> {
  const mapped: Mapped<AdsUserData>[] = [];
  const rejected: RowRejection[] = [];
  for (const m of members) {
    const ids: Record<string, unknown>[] = [];
    if (keyType === 'CONTACT_INFO') {
      const p = contactParts(m);
      if (p.email) ids.push({ hashed_email: p.email });
      if (p.phone) ids.push({ hashed_phone_number: p.phone });
      if (p.address) {
        ids.push({ address_info: { hashed_first_name: p.address.firstName, hashed_last_name: p.address.lastName, country_code: p.address.country, postal_code: p.address.zip } });
      }
    } else if (keyType === 'MOBILE_ADVERTISING_ID') {
      const id = m.identifiers.mobile_ad_id?.trim();
      if (id) ids.push({ mobile_id: id });
    } else {
      const id = m.identifiers.external_id?.trim();
      if (id) ids.push({ third_party_user_id: id });
    }
    if (!ids.length) {
      rejected.push(noIdentifiers(m, keyType));
      continue;
    }
    if (ids.length > JOB_MAX_IDENTIFIERS_PER_USER_DATA) {
      rejected.push(tooMany(m, ids.length, JOB_MAX_IDENTIFIERS_PER_USER_DATA));
      continue;
    }
    mapped.push({ member: m, payload: { user_identifiers: ids }, identifierCount: ids.length });
  }
  return { mapped, rejected };
}

/** Splits into chunks of at most `maxItems` items and `maxWeight` total weight. */
export function chunkBy<T>(items: T[], maxItems: number, weight: (t: T) => number, maxWeight = Infinity): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let w = 0;
  for (const item of items) {
    const iw = weight(item);
    if (current.length && (current.length >= maxItems || w + iw > maxWeight)) {
      chunks.push(current);
      current = [];
      w = 0;
    }
    current.push(item);
    w += iw;
  }
  if (current.length) chunks.push(current);
  return chunks;
}
