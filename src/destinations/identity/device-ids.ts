import { reject, type Normalized } from './reasons';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * Mobile advertising id (IDFA / Android advertising id): a UUID, lowercased, sent in the clear.
 * The all-zero id is what devices report when tracking is limited: it identifies no one.
 */
export function mobileAdId(raw: string): Normalized {
  const value = raw.trim().toLowerCase();
  if (value.length === 0) return reject('empty');
  if (!UUID.test(value) || value === ZERO_UUID) return reject('invalid_mobile_ad_id');
  return value;
}

/** Advertiser's own user id (Meta EXTERN_ID, Google third_party_user_id): trimmed, case kept, in the clear. */
export function externalId(raw: string): Normalized {
  const value = raw.trim();
  if (value.length === 0) return reject('empty');
  // Control characters mean a broken export, not an id.
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 32) return reject('invalid_external_id');
  return value;
}
