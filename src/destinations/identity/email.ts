import { reject, type Normalized } from './reasons';

/**
 * Email: trim + lowercase (both platforms), then a cheap shape check with no regex: this runs
 * millions of times per sync. Gmail dots and `+tags` are kept: neither Meta nor Google Ads
 * Customer Match requires removing them, and removing them would change every existing hash.
 *
 * `stripInnerWhitespace`: Google says to trim intermediate whitespace too; for Meta an inner
 * space makes the address invalid.
 */
export function normalizeEmail(raw: string, stripInnerWhitespace: boolean): Normalized {
  let value = raw.trim();
  if (value.length === 0) return reject('empty');
  value = value.toLowerCase();
  let at = -1;
  let dotAfterAt = false;
  let whitespace = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 64 /* @ */) {
      if (at !== -1) return reject('invalid_email');
      at = i;
    } else if (c === 46 /* . */) {
      if (at !== -1) dotAfterAt = true;
    } else if (c <= 32 || c === 0x7f || c === 0xa0) {
      whitespace = true;
    }
  }
  if (whitespace) {
    if (!stripInnerWhitespace) return reject('invalid_email');
    return normalizeEmail(value.replace(/[\s\u0000-\u001f\u007f]+/g, ''), false);
  }
  // local@domain.tld: something before the @, a dot in the domain, not ending in a dot.
  if (at <= 0 || !dotAfterAt || value.charCodeAt(value.length - 1) === 46 || value.charCodeAt(at + 1) === 46) return reject('invalid_email');
  return value;
}
