/** Stable reason codes for identifiers we refuse to send (recorded per row, shown by the CLI). */
export const REJECT_REASONS = [
  'empty',
  'invalid_email',
  'invalid_phone',
  'invalid_name',
  'invalid_city',
  'invalid_state',
  'invalid_zip',
  'invalid_country',
  'invalid_date',
  'invalid_gender',
  'invalid_mobile_ad_id',
  'invalid_external_id',
  'unsupported_for_platform',
  /** Google: an address (first name, last name, country, zip) is only usable complete. */
  'incomplete_address',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** What a normalizer returns when it refuses a value: one shared frozen object per reason (no allocation on the reject path). */
export interface Rejection {
  readonly rejected: RejectReason;
}

const REJECTIONS = Object.fromEntries(REJECT_REASONS.map((reason) => [reason, Object.freeze({ rejected: reason })])) as Record<RejectReason, Rejection>;

export function reject(reason: RejectReason): Rejection {
  return REJECTIONS[reason];
}

/** A normalizer returns the normalized string, or a rejection. */
export type Normalized = string | Rejection;

export function isRejection(value: Normalized): value is Rejection {
  return typeof value !== 'string';
}
