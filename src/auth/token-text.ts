import { createHash, randomBytes } from 'node:crypto';

/** `aud_` + 32 base64url characters (192 random bits). */
export const TOKEN_PREFIX = 'aud_';
/** Tokens given from outside (AUDIENCES_BOOTSTRAP_TOKEN) must be at least this strong. */
export const EXTERNAL_TOKEN = /^[A-Za-z0-9_-]{32,256}$/;
/** What a bearer credential may look like at all (RFC 6750 b64token); anything else is refused before any lookup. */
export const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]{1,512}=*$/;

export function newTokenText(): string {
  return TOKEN_PREFIX + randomBytes(24).toString('base64url');
}

export function hashToken(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** What lists show to tell tokens apart: the first 8 characters after the prefix. */
export function displayPrefix(text: string): string {
  return text.startsWith(TOKEN_PREFIX) ? text.slice(0, TOKEN_PREFIX.length + 8) : text.slice(0, 8);
}
