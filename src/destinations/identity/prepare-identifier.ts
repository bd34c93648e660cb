import type { CountryCode } from 'libphonenumber-js/max';
import type { IdentifierKind } from '../destination';
import { phoneRegion } from './phone';
import { RULES, type IdentityPlatform, type NormalizeContext } from './platform-rules';
import type { RejectReason } from './reasons';
import { isSha256Hex, sha256Hex } from './sha256';

/**
 * Stored with each sync: a change to any rule here changes hashes, so syncs prepared by another
 * version must be re-planned (fingerprints differ), not diffed.
 */
export const NORMALIZER_VERSION = 'identity-2026.12.1';

export interface IdentityOptions {
  /** ISO alpha-2 region for phone numbers without a country code (default `US`). */
  defaultRegion?: string;
  /** "Today" for refusing future birth dates (default: now). */
  today?: Date;
}

export type PreparedIdentifier =
  | {
      ok: true;
      /** The normalized value (for a pre-hashed input: the hash, lowercased). */
      normalized: string;
      /** What to send: the SHA-256 hex for hashed kinds, else the normalized value. */
      value: string;
      /** `value` is a SHA-256 hex. */
      hashed: boolean;
      /** The input already was a SHA-256 hex and was passed through, not hashed again. */
      prehashed: boolean;
    }
  | { ok: false; reason: RejectReason };

const contexts = new Map<string, NormalizeContext>();

/** One context per region, reused: the hot path allocates nothing for it. */
export function normalizeContext(options: IdentityOptions | undefined): NormalizeContext {
  const region = options?.defaultRegion ?? 'US';
  if (options?.today) return { region: checkedRegion(region), today: options.today };
  let context = contexts.get(region);
  if (!context) {
    context = { region: checkedRegion(region), today: undefined };
    contexts.set(region, context);
  }
  return context;
}

function checkedRegion(region: string): CountryCode {
  const code = phoneRegion(region);
  if (!code) throw new RangeError(`unknown phone region "${region}" (expected an ISO 3166-1 alpha-2 code, e.g. US)`);
  return code;
}

/** Normalize one raw value of `kind` for `platform`, and hash it when the platform wants a hash. */
export function prepareIdentifier(
  platform: IdentityPlatform,
  kind: IdentifierKind,
  raw: string | null | undefined,
  options?: IdentityOptions,
): PreparedIdentifier {
  return prepareWithContext(platform, kind, raw, normalizeContext(options));
}

export function prepareWithContext(
  platform: IdentityPlatform,
  kind: IdentifierKind,
  raw: string | null | undefined,
  context: NormalizeContext,
): PreparedIdentifier {
  const rule = RULES[platform][kind];
  if (!rule) return { ok: false, reason: 'unsupported_for_platform' };
  if (raw === null || raw === undefined) return { ok: false, reason: 'empty' };
  if (rule.hashed && raw.length >= 64) {
    // Already hashed upstream (a warehouse column of hashes): send as is, never hash a hash.
    const trimmed = raw.length === 64 ? raw : raw.trim();
    if (isSha256Hex(trimmed)) {
      const hex = trimmed.toLowerCase();
      return { ok: true, normalized: hex, value: hex, hashed: true, prehashed: true };
    }
  }
  const normalized = rule.normalize(raw, context);
  if (typeof normalized !== 'string') return { ok: false, reason: normalized.rejected };
  return rule.hashed
    ? { ok: true, normalized, value: sha256Hex(normalized), hashed: true, prehashed: false }
    : { ok: true, normalized, value: normalized, hashed: false, prehashed: false };
}
