import type { CountryCode } from 'libphonenumber-js/max';
import type { IdentifierKind } from '../destination';
import { birthMonthOrDay, birthYear, parseDateOfBirth } from './dates';
import { externalId, mobileAdId } from './device-ids';
import { normalizeEmail } from './email';
import { gender } from './gender';
import { country, googleZip, metaState, metaZip } from './location';
import { firstInitial, googleName, lettersOnly } from './names';
import { normalizePhoneDigits, normalizePhoneE164 } from './phone';
import type { Normalized } from './reasons';

/** Platforms with their own normalization rules (a file destination picks the one whose hashes it hands off). */
export type IdentityPlatform = 'meta' | 'google';
export const IDENTITY_PLATFORMS: readonly IdentityPlatform[] = ['meta', 'google'];

export interface NormalizeContext {
  /** Region for phone numbers written without a country code. */
  region: CountryCode;
  /** "Today", for refusing birth dates in the future (undefined: now). */
  today: Date | undefined;
}

export interface KindRule {
  normalize(raw: string, context: NormalizeContext): Normalized;
  /** SHA-256 the normalized value (else it is sent in the clear). */
  hashed: boolean;
}

function dateOfBirth(raw: string, context: NormalizeContext): Normalized {
  const parts = parseDateOfBirth(raw, context.today);
  return 'rejected' in parts ? parts : parts.year + parts.month + parts.day;
}

/**
 * Meta Custom Audiences (customer file): everything is hashed except MADID and EXTERN_ID.
 * `date_of_birth` normalizes to YYYYMMDD (Meta's `db` format); the customer-file schema itself
 * takes the parts (DOBY, DOBM, DOBD), which `prepareMember` derives.
 */
const META: Record<IdentifierKind, KindRule> = {
  email: { hashed: true, normalize: (raw) => normalizeEmail(raw, false) },
  phone: { hashed: true, normalize: (raw, { region }) => normalizePhoneDigits(raw, region) },
  first_name: { hashed: true, normalize: (raw) => lettersOnly(raw, 'invalid_name') },
  last_name: { hashed: true, normalize: (raw) => lettersOnly(raw, 'invalid_name') },
  first_initial: { hashed: true, normalize: firstInitial },
  city: { hashed: true, normalize: (raw) => lettersOnly(raw, 'invalid_city') },
  state: { hashed: true, normalize: metaState },
  zip: { hashed: true, normalize: metaZip },
  country: { hashed: true, normalize: (raw) => country(raw, 'lower') },
  date_of_birth: { hashed: true, normalize: dateOfBirth },
  birth_year: { hashed: true, normalize: (raw, { today }) => birthYear(raw, today) },
  birth_month: { hashed: true, normalize: (raw) => birthMonthOrDay(raw, 12) },
  birth_day: { hashed: true, normalize: (raw) => birthMonthOrDay(raw, 31) },
  gender: { hashed: true, normalize: gender },
  mobile_ad_id: { hashed: false, normalize: mobileAdId },
  external_id: { hashed: false, normalize: externalId },
};

/**
 * Google Customer Match (Google Ads API and Data Manager API): email, phone and names hashed;
 * country code, postal code, mobile id and third-party user id in the clear. Google takes no
 * city, state, gender or birth date for Customer Match.
 */
const GOOGLE: Partial<Record<IdentifierKind, KindRule>> = {
  email: { hashed: true, normalize: (raw) => normalizeEmail(raw, true) },
  phone: { hashed: true, normalize: (raw, { region }) => normalizePhoneE164(raw, region) },
  first_name: { hashed: true, normalize: (raw) => googleName(raw, 'given') },
  last_name: { hashed: true, normalize: (raw) => googleName(raw, 'family') },
  zip: { hashed: false, normalize: googleZip },
  country: { hashed: false, normalize: (raw) => country(raw, 'upper') },
  mobile_ad_id: { hashed: false, normalize: mobileAdId },
  external_id: { hashed: false, normalize: externalId },
};

export const RULES: Record<IdentityPlatform, Partial<Record<IdentifierKind, KindRule>>> = { meta: META, google: GOOGLE };
