import { reject, type Normalized, type RejectReason } from './reasons';

/**
 * Names and cities. Meta: lowercase letters only — no spaces, punctuation, digits or emoji — with
 * letters of any script kept as UTF-8 (Meta's own examples: `Valéry` → `valéry`, `정` → `정`).
 * Google: lowercase, no punctuation, whitespace trimmed and inner runs collapsed to one space.
 *
 * Text is NFC-normalized first so a decomposed `é` (e + combining accent, common from macOS
 * input) hashes like the precomposed one.
 */

const NOT_LETTER = /[^\p{L}\p{M}]+/gu;
const PUNCTUATION_OR_SYMBOL = /[\p{P}\p{S}\p{Cc}\p{Cf}]+/gu;
const WHITESPACE_RUN = /\s+/g;

/** True when the string is already lowercase ASCII letters only: the common case, no allocation. */
function isLowerAsciiLetters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 97 || c > 122) return false;
  }
  return value.length > 0;
}

function isAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 127) return false;
  return true;
}

/** Meta FN/LN/CT: lowercase letters (any script) only. */
export function lettersOnly(raw: string, invalid: RejectReason): Normalized {
  if (isLowerAsciiLetters(raw)) return raw;
  const text = isAscii(raw) ? raw : raw.normalize('NFC');
  if (text.trim().length === 0) return reject('empty');
  const letters = text.toLowerCase().replace(NOT_LETTER, '');
  return letters.length > 0 ? letters : reject(invalid);
}

/** Meta FI: the first letter of the normalized first name (a whole code point, not half a surrogate pair). */
export function firstInitial(raw: string): Normalized {
  const letters = lettersOnly(raw, 'invalid_name');
  if (typeof letters !== 'string') return letters;
  return String.fromCodePoint(letters.codePointAt(0)!);
}

// Google asks for names without titles ("Don't include prefixes such as Mrs." / "suffixes such as Jr.").
const GIVEN_NAME_PREFIXES = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof']);
const FAMILY_NAME_SUFFIXES = new Set(['jr', 'sr', 'ii', 'iii', 'iv', 'phd', 'md']);

/** Google given/family name: lowercase, no punctuation, single inner spaces, titles dropped. */
export function googleName(raw: string, part: 'given' | 'family'): Normalized {
  if (isLowerAsciiLetters(raw)) return raw;
  const text = isAscii(raw) ? raw : raw.normalize('NFC');
  if (text.trim().length === 0) return reject('empty');
  let name = text.toLowerCase().replace(PUNCTUATION_OR_SYMBOL, '').replace(WHITESPACE_RUN, ' ').trim();
  if (name.includes(' ')) {
    const words = name.split(' ');
    if (part === 'given' && GIVEN_NAME_PREFIXES.has(words[0]!)) words.shift();
    if (part === 'family' && FAMILY_NAME_SUFFIXES.has(words[words.length - 1]!)) words.pop();
    name = words.join(' ');
  }
  return name.length > 0 ? name : reject('invalid_name');
}
