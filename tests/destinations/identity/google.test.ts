import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IDENTIFIER_KINDS } from '../../../src/destinations/destination';
import { prepareIdentifier, type PreparedIdentifier } from '../../../src/destinations/identity';

const sha = (literal: string) => createHash('sha256').update(literal, 'utf8').digest('hex');
const google = (kind: Parameters<typeof prepareIdentifier>[1], raw: string | null | undefined, defaultRegion?: string) =>
  prepareIdentifier('google', kind, raw, defaultRegion ? { defaultRegion } : undefined);
const hashed = (normalized: string): PreparedIdentifier => ({ ok: true, normalized, value: sha(normalized), hashed: true, prehashed: false });
const clear = (normalized: string): PreparedIdentifier => ({ ok: true, normalized, value: normalized, hashed: false, prehashed: false });
const rejected = (reason: string) => ({ ok: false, reason });

describe('Google: examples from Google’s documentation', () => {
  it('Data Manager "format user data": (800)555-0100 → +18005550100, hashed', () => {
    expect(google('phone', '(800)555-0100')).toEqual(hashed('+18005550100'));
  });
  it('Data Manager: a non-Gmail address keeps dots and +tags, lowercased (user.name+NYC@Example.com)', () => {
    expect(google('email', 'user.name+NYC@Example.com')).toEqual(hashed('user.name+nyc@example.com'));
  });
  it('the same email hashes as Meta’s documented vector (both: trim + lowercase)', () => {
    expect(google('email', ' John_Smith@gmail.com ')).toMatchObject({ value: '62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f' });
  });
});

describe('Google: email', () => {
  it('no Gmail dot removal (design: Google does not require it; changing it would change every hash)', () => {
    expect(google('email', 'John.Smith@Gmail.com')).toEqual(hashed('john.smith@gmail.com'));
  });
  it('intermediate whitespace is removed (Google: trim leading, trailing and intermediate whitespace)', () => {
    expect(google('email', ' john smith@example.com ')).toEqual(hashed('johnsmith@example.com'));
  });
  it('refuses what is not an address', () => {
    expect(google('email', 'nobody')).toEqual(rejected('invalid_email'));
    expect(google('email', '  ')).toEqual(rejected('empty'));
  });
});

describe('Google: phone (E.164 with +, hashed)', () => {
  it.each([
    ['(650) 555-1212', 'US', '+16505551212'],
    ['+44 20 7183 8750', 'US', '+442071838750'],
    ['0044 20 7183 8750', 'US', '+442071838750'],
    ['020 7183 8750', 'GB', '+442071838750'],
    ['+44 (0)20 7183 8750', 'FR', '+442071838750'],
    ['4915112345678', 'US', '+4915112345678'],
    ['030 123456', 'DE', '+4930123456'],
    ['+81 3-1234-5678', 'US', '+81312345678'],
  ])('%s in %s → %s', (input, region, e164) => {
    expect(google('phone', input, region)).toEqual(hashed(e164));
  });
  it('refuses numbers that cannot exist in the region', () => {
    expect(google('phone', '020 7183 8750', 'US')).toEqual(rejected('invalid_phone'));
    expect(google('phone', '555-0100', 'US')).toEqual(rejected('invalid_phone'));
  });
});

describe('Google: names (lowercase, no punctuation, single inner spaces, no titles)', () => {
  it.each([
    ['  Mary  ', 'first_name', 'mary'],
    ['Mary   Ann', 'first_name', 'mary ann'],
    ['Mrs. Mary', 'first_name', 'mary'],
    ['Dr Jane', 'first_name', 'jane'],
    ['Jean-Luc', 'first_name', 'jeanluc'],
    ['Valéry', 'first_name', 'valéry'],
    ['Vale\u0301ry', 'first_name', 'valéry'],
    ['Zoë 🎉', 'first_name', 'zoë'],
    ["O'Brien", 'last_name', 'obrien'],
    ['Smith Jr.', 'last_name', 'smith'],
    ['King III', 'last_name', 'king'],
    ['van der Berg', 'last_name', 'van der berg'],
    ['정', 'last_name', '정'],
  ] as const)('%j (%s) → %j', (input, kind, normalized) => {
    expect(google(kind, input)).toEqual(hashed(normalized));
  });
  it('a title alone is kept (it is all there is), emoji alone is refused', () => {
    expect(google('first_name', 'Dr')).toEqual(hashed('dr'));
    expect(google('first_name', '🎉')).toEqual(rejected('invalid_name'));
  });
});

describe('Google: postal code and country code are sent in the clear', () => {
  it.each([
    ['94043', '94043'], ['94043-1351', '94043-1351'], ['94043 1351', '94043-1351'], ['940431351', '94043-1351'],
    ['k1a 0b1', 'K1A 0B1'], [' SW1A  1AA ', 'SW1A 1AA'], ['75008', '75008'],
  ])('postal code %j → %j', (input, normalized) => {
    expect(google('zip', input)).toEqual(clear(normalized));
  });
  it.each([['us', 'US'], ['USA', 'US'], ['United Kingdom', 'GB'], ['uk', 'GB'], ['de', 'DE']])('country %j → %j', (input, normalized) => {
    expect(google('country', input)).toEqual(clear(normalized));
  });
  it('a 64-hex postal code or country is not a hash (they are never hashed for Google)', () => {
    expect(google('country', 'a'.repeat(64))).toEqual(rejected('invalid_country'));
    expect(google('zip', 'A'.repeat(64))).toEqual(rejected('invalid_zip'));
  });
  it('refuses unknown countries', () => {
    expect(google('country', 'XX')).toEqual(rejected('invalid_country'));
  });
});

describe('Google: mobile id and third-party user id in the clear; the rest unsupported', () => {
  it('mobile id and external id', () => {
    expect(google('mobile_ad_id', 'AECE52E7-03EE-455A-B3C4-E57283966239')).toEqual(clear('aece52e7-03ee-455a-b3c4-e57283966239'));
    expect(google('external_id', ' crm-42 ')).toEqual(clear('crm-42'));
  });
  it.each(['city', 'state', 'gender', 'date_of_birth', 'birth_year', 'birth_month', 'birth_day', 'first_initial'] as const)('%s → unsupported_for_platform', (kind) => {
    expect(google(kind, 'anything')).toEqual(rejected('unsupported_for_platform'));
    expect(google(kind, null)).toEqual(rejected('unsupported_for_platform'));
  });
  it('pre-hashed 64-hex passes through for the hashed kinds', () => {
    const hex = sha('+16505551212');
    for (const kind of ['email', 'phone', 'first_name', 'last_name'] as const) {
      expect(google(kind, hex.toUpperCase())).toEqual({ ok: true, normalized: hex, value: hex, hashed: true, prehashed: true });
    }
  });
  it('every identifier kind has a rule or a stable refusal on both platforms', () => {
    for (const platform of ['meta', 'google'] as const) {
      for (const kind of IDENTIFIER_KINDS) {
        const result = prepareIdentifier(platform, kind, '');
        expect(result.ok).toBe(false);
        expect(['empty', 'unsupported_for_platform']).toContain((result as { reason: string }).reason);
      }
    }
  });
});
