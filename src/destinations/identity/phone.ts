import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { reject, type Normalized } from './reasons';

/**
 * Phone → E.164 (`+14155550100`), parsed with libphonenumber's full metadata so that numbers that
 * cannot exist are refused rather than hashed into something that never matches.
 *
 * - Numbers written without a country code are read in `region` (the sync's default, or the
 *   member's own country).
 * - A leading `00` is the international prefix almost everywhere: read it as `+` even when the
 *   region's own prefix differs (US dials `011`), so `0044…` works with region US.
 * - Digits that are not a valid number in `region` but carry a country code without `+`
 *   (`447911123456`, as Meta's own examples are written) are tried as international. Only for
 *   11+ digits not starting with 0: shorter strings are national numbers, and guessing a country
 *   for them would hash a different person.
 */
export function normalizePhoneE164(raw: string, region: CountryCode): Normalized {
  const value = raw.trim();
  if (value.length === 0) return reject('empty');
  const input = value.charCodeAt(0) === 48 && value.charCodeAt(1) === 48 ? `+${value.slice(2)}` : value;
  const parsed = parsePhoneNumberFromString(input, region);
  if (parsed?.isValid()) return parsed.number;
  if (input.charCodeAt(0) !== 43 /* + */) {
    const digits = input.replace(/\D+/g, '');
    if (digits.length >= 11 && digits.charCodeAt(0) !== 48) {
      const international = parsePhoneNumberFromString(`+${digits}`);
      if (international?.isValid()) return international.number;
    }
  }
  return reject('invalid_phone');
}

/** Meta: the E.164 digits without `+` (country code first, so never a leading zero). */
export function normalizePhoneDigits(raw: string, region: CountryCode): Normalized {
  const e164 = normalizePhoneE164(raw, region);
  return typeof e164 === 'string' ? e164.slice(1) : e164;
}

/** A region libphonenumber knows (ISO alpha-2, uppercase), or undefined. */
export function phoneRegion(code: string | undefined): CountryCode | undefined {
  if (!code) return undefined;
  const upper = code.trim().toUpperCase();
  return isSupportedCountry(upper) ? upper : undefined;
}
