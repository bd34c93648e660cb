import type { IdentifierKind, PreparedMember } from '../destination';
import { IDENTIFIER_KINDS } from '../destination';
import { countryAlpha2 } from './countries';
import { parseDateOfBirth } from './dates';
import { phoneRegion } from './phone';
import { RULES, type IdentityPlatform } from './platform-rules';
import { normalizeContext, prepareWithContext, type IdentityOptions } from './prepare-identifier';
import type { RejectReason } from './reasons';

export interface IdentifierRejection {
  kind: IdentifierKind;
  reason: RejectReason;
}

export interface MemberOptions extends IdentityOptions {
  /** Read a member's phone in the member's own country when it has one (default true). */
  phoneRegionFromCountry?: boolean;
}

export type PreparedMemberResult =
  | { ok: true; member: PreparedMember; rejected: IdentifierRejection[] }
  /** Nothing left that can identify the member: the row is not sent at all. */
  | { ok: false; reason: 'no_identifiers'; rejected: IdentifierRejection[] };

/** Kinds that identify someone alone (Meta); demographics (gender, birth date, location) only narrow a match. */
const META_IDENTIFYING: ReadonlySet<IdentifierKind> = new Set(['email', 'phone', 'mobile_ad_id', 'external_id', 'first_name', 'last_name']);
/** Google matches on a mailing address only when all four parts are there (`AddressInfo`: all required). */
const GOOGLE_ADDRESS: readonly IdentifierKind[] = ['first_name', 'last_name', 'country', 'zip'];

/**
 * Prepare one member for `platform`: each identifier normalized and hashed as the platform wants,
 * derived kinds filled in (Meta: first initial from the first name, birth year/month/day from the
 * date of birth, unless given), and values that cannot be used reported per kind, never sent.
 * Null, undefined and blank values are absent data, not rejections.
 */
export function prepareMember(
  platform: IdentityPlatform,
  memberKey: string,
  identifiers: Partial<Record<IdentifierKind, string | null>>,
  options?: MemberOptions,
): PreparedMemberResult {
  let context = normalizeContext(options);
  const rules = RULES[platform];
  const out: Partial<Record<IdentifierKind, string>> = {};
  const rejected: IdentifierRejection[] = [];

  if (options?.phoneRegionFromCountry !== false && present(identifiers.phone) && present(identifiers.country)) {
    const region = phoneRegion(countryAlpha2(identifiers.country));
    if (region && region !== context.region) context = normalizeContext({ defaultRegion: region, today: options?.today });
  }

  for (const kind of IDENTIFIER_KINDS) {
    const raw = identifiers[kind];
    if (!present(raw)) continue;
    // Meta's customer-file schema has no full-date key: the date goes out as its parts (below).
    if (platform === 'meta' && kind === 'date_of_birth') continue;
    const prepared = prepareWithContext(platform, kind, raw, context);
    if (prepared.ok) out[kind] = prepared.value;
    else rejected.push({ kind, reason: prepared.reason });
  }

  if (platform === 'meta') {
    if (rules.first_initial && out.first_initial === undefined && out.first_name !== undefined && present(identifiers.first_name)) {
      const initial = prepareWithContext(platform, 'first_initial', identifiers.first_name, context);
      // A pre-hashed first name has no initial to derive.
      if (initial.ok && !initial.prehashed) out.first_initial = initial.value;
    }
    const dob = identifiers.date_of_birth;
    if (present(dob)) {
      const parts = parseDateOfBirth(dob, context.today);
      if ('rejected' in parts) rejected.push({ kind: 'date_of_birth', reason: parts.rejected });
      else {
        const derived: Array<[IdentifierKind, string]> = [['birth_year', parts.year], ['birth_month', parts.month], ['birth_day', parts.day]];
        for (const [kind, value] of derived) {
          if (out[kind] !== undefined) continue; // given explicitly (and valid): that one wins
          const prepared = prepareWithContext(platform, kind, value, context);
          if (prepared.ok) out[kind] = prepared.value;
        }
      }
    }
  }

  if (platform === 'google') {
    const parts = GOOGLE_ADDRESS.filter((kind) => out[kind] !== undefined);
    if (parts.length > 0 && parts.length < GOOGLE_ADDRESS.length) {
      for (const kind of parts) {
        delete out[kind];
        rejected.push({ kind, reason: 'incomplete_address' });
      }
    }
  }

  const kinds = Object.keys(out) as IdentifierKind[];
  const identifying = platform === 'meta' ? kinds.some((kind) => META_IDENTIFYING.has(kind)) : kinds.length > 0;
  if (!identifying) return { ok: false, reason: 'no_identifiers', rejected };
  return { ok: true, member: { memberKey, identifiers: out }, rejected };
}

function present(value: string | null | undefined): value is string {
  return value !== null && value !== undefined && value.trim().length > 0;
}
