/** Keys whose values are secrets wherever they appear (credentials, tokens, keys). */
const SECRET_KEY = /(secret|password|passwd|token|credential|api[_-]?key|private[_-]?key|authorization|cookie)/i;
/** Keys that only describe secrets (names, flags, prefixes) and are safe to keep. */
const SECRET_METADATA = new Set(['credentialsSet', 'credentialFields', 'prefix', 'tokenId']);

export const REDACTED = '[redacted]';

/**
 * A copy of a value with every secret replaced by "[redacted]": what the audit log stores.
 * The API's own representations already leave credentials out; this is the second line.
 */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, v]) => [
      key,
      SECRET_KEY.test(key) && !SECRET_METADATA.has(key) && v !== null && typeof v !== 'boolean' ? redactDeep(v) : redactSecrets(v),
    ]));
  }
  return value;
}

/** Keeps the shape (which fields were given) but none of the values. */
function redactDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).map((k) => [k, REDACTED]));
  return REDACTED;
}
