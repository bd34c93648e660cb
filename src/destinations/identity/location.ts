import { countryAlpha2 } from './countries';
import { lettersOnly } from './names';
import { reject, type Normalized } from './reasons';
import { usStateCode } from './us-states';

/** Meta ST: US states as their 2-letter code (`California` → `ca`); elsewhere lowercase letters only. */
export function metaState(raw: string): Normalized {
  const letters = lettersOnly(raw, 'invalid_state');
  if (typeof letters !== 'string') return letters;
  return usStateCode(letters) ?? letters;
}

const US_ZIP = /^(\d{5})(?:[\s-]*\d{4})?$/;
// UK postcode: outward code (area + district) and inward code (sector digit + unit letters).
const UK_POSTCODE = /^([a-z]{1,2}\d[a-z\d]?)\s*(\d)[a-z]{2}$/;

/**
 * Meta ZIP: lowercase, no spaces or dashes. US ZIP+4 → the first 5 digits; UK postcodes → area,
 * district and sector (`SW1A 1AA` → `sw1a1`), as Meta asks. Other countries as written, cleaned.
 * Four-digit "US" zips that lost their leading zero in a numeric column are not padded: four
 * digits is also a whole postcode in many countries.
 */
export function metaZip(raw: string): Normalized {
  const value = raw.trim().toLowerCase();
  if (value.length === 0) return reject('empty');
  const us = US_ZIP.exec(value);
  if (us) return us[1]!;
  const uk = UK_POSTCODE.exec(value);
  if (uk) return uk[1]! + uk[2]!;
  const cleaned = value.replace(/[\s\-.]+/g, '');
  return isPostcodeLike(cleaned) ? cleaned : reject('invalid_zip');
}

/**
 * Google postal code (sent in the clear): trimmed, single spaces, uppercase. US: 5 digits, or
 * ZIP+4 as `12345-6789` (Google: the extension may improve the match rate).
 */
export function googleZip(raw: string): Normalized {
  const value = raw.trim().toUpperCase().replace(/\s+/g, ' ');
  if (value.length === 0) return reject('empty');
  const us = /^(\d{5})(?:[\s-]*(\d{4}))?$/.exec(value);
  if (us) return us[2] ? `${us[1]}-${us[2]}` : us[1]!;
  return isPostcodeLike(value.replace(/[\s-]/g, '')) ? value : reject('invalid_zip');
}

/** 2–10 ASCII letters and digits: anything else in a zip column is junk, not a postcode. */
function isPostcodeLike(value: string): boolean {
  if (value.length < 2 || value.length > 10) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90))) return false;
  }
  return true;
}

/** Meta COUNTRY: ISO alpha-2, lowercase (and hashed). Google region code: ISO alpha-2, uppercase, in the clear. */
export function country(raw: string, letterCase: 'lower' | 'upper'): Normalized {
  if (raw.trim().length === 0) return reject('empty');
  const code = countryAlpha2(raw);
  if (!code) return reject('invalid_country');
  return letterCase === 'lower' ? code.toLowerCase() : code;
}
