import type { IdentifierKind, PreparedMember, RowRejection } from '../destination';

/**
 * Members → the `/users` multi-key payload `{schema: [...], data: [[...]]}`.
 *
 * Values arrive normalized and hashed by the identity layer (SHA-256 hex, except MADID and
 * EXTERN_ID which Meta wants in the clear). Only the columns some member of the batch has are
 * sent; a member without a value for a column sends `''` (Meta: "In case a key is unknown, it
 * should be left blank").
 */

export const META_KEY_BY_KIND: Partial<Record<IdentifierKind, string>> = {
  external_id: 'EXTERN_ID',
  email: 'EMAIL',
  phone: 'PHONE',
  first_name: 'FN',
  last_name: 'LN',
  first_initial: 'FI',
  city: 'CT',
  state: 'ST',
  zip: 'ZIP',
  country: 'COUNTRY',
  birth_year: 'DOBY',
  birth_month: 'DOBM',
  birth_day: 'DOBD',
  gender: 'GEN',
  mobile_ad_id: 'MADID',
  // `date_of_birth` has no Meta key: the identity layer derives birth_year/month/day from it.
};

/** Column order on the wire (stable, so equal batches give equal payloads). */
const KIND_ORDER = Object.keys(META_KEY_BY_KIND) as IdentifierKind[];

export interface UsersPayload {
  schema: string[];
  data: string[][];
}

export interface BuiltPayload {
  payload: UsersPayload;
  /** The members sent, in `data` order. */
  sent: PreparedMember[];
  /** Members not sent (nothing Meta can match on). */
  rejected: RowRejection[];
}

export function buildUsersPayload(members: PreparedMember[]): BuiltPayload {
  const rejected: RowRejection[] = [];
  const sent: PreparedMember[] = [];
  const present = new Set<IdentifierKind>();
  for (const member of members) {
    let any = false;
    for (const kind of KIND_ORDER) {
      const value = member.identifiers[kind];
      if (value !== undefined && value !== '') {
        present.add(kind);
        any = true;
      }
    }
    if (any) sent.push(member);
    else rejected.push({ memberKey: member.memberKey, reason: 'no_identifiers', detail: 'no identifier Meta can match on' });
  }
  const kinds = KIND_ORDER.filter((kind) => present.has(kind));
  return {
    payload: {
      schema: kinds.map((kind) => META_KEY_BY_KIND[kind]!),
      data: sent.map((member) => kinds.map((kind) => member.identifiers[kind] ?? '')),
    },
    sent,
    rejected,
  };
}

/**
 * `invalid_entry_samples` as Meta sends it: a map `{<sample>: <reason>}` (documented as
 * `map<string, string>`); older responses used an array of samples. Samples are hashed values
 * or rows, never raw identifiers (we only send hashes and ad ids).
 */
export function parseInvalidSamples(raw: unknown): Array<{ sample: string; reason?: string }> {
  if (Array.isArray(raw)) return raw.map((s) => ({ sample: typeof s === 'string' ? s : JSON.stringify(s) }));
  if (raw && typeof raw === 'object') {
    return Object.entries(raw as Record<string, unknown>).map(([sample, reason]) => ({
      sample,
      ...(reason === undefined || reason === null ? {} : { reason: String(reason) }),
    }));
  }
  return [];
}

/** Names the members behind Meta's invalid samples (a sample is one value, or a row as JSON). */
export function rejectionsFromSamples(
  samples: Array<{ sample: string; reason?: string }>,
  payload: UsersPayload,
  sent: PreparedMember[],
): RowRejection[] {
  const byValue = new Map<string, string>();
  payload.data.forEach((row, i) => {
    const key = sent[i]!.memberKey;
    byValue.set(JSON.stringify(row), key);
    for (const value of row) if (value !== '' && !byValue.has(value)) byValue.set(value, key);
  });
  const seen = new Set<string>();
  const out: RowRejection[] = [];
  for (const { sample, reason } of samples) {
    const memberKey = byValue.get(sample);
    if (memberKey === undefined || seen.has(memberKey)) continue;
    seen.add(memberKey);
    out.push({ memberKey, reason: 'invalid_entry', ...(reason ? { detail: reason } : {}) });
  }
  return out;
}
