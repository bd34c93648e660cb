/**
 * Identity normalization: turns warehouse values into what Meta and Google match on —
 * normalized per each platform's documented rules, SHA-256 hex where the platform wants a hash.
 * Pure code: no I/O, no clock unless a birth date needs "today".
 */
export { NORMALIZER_VERSION, prepareIdentifier, type IdentityOptions, type PreparedIdentifier } from './prepare-identifier';
export { prepareMember, type IdentifierRejection, type MemberOptions, type PreparedMemberResult } from './prepare-member';
export { IDENTITY_PLATFORMS, RULES, type IdentityPlatform } from './platform-rules';
export { REJECT_REASONS, type RejectReason } from './reasons';
export { isSha256Hex, sha256Hex } from './sha256';
export { phoneRegion } from './phone';

import type { IdentifierKind } from '../destination';
import { RULES, type IdentityPlatform } from './platform-rules';

/** Kinds `platform` takes, and whether each is hashed. */
export function platformKinds(platform: IdentityPlatform): Array<{ kind: IdentifierKind; hashed: boolean }> {
  return Object.entries(RULES[platform]).map(([kind, rule]) => ({ kind: kind as IdentifierKind, hashed: rule.hashed }));
}
