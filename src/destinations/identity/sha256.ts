import { hash } from 'node:crypto';

/**
 * SHA-256 as lowercase hex. `crypto.hash` (Node ≥ 20.12) is the one-shot API: no Hash object per
 * call, which is most of the cost for the short strings identifiers are.
 */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/** True for exactly 64 hex digits (either case): a value someone already hashed. */
export function isSha256Hex(value: string): boolean {
  if (value.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = value.charCodeAt(i);
    // 0-9, A-F, a-f
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}
