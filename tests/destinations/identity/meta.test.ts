import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { prepareIdentifier, type PreparedIdentifier } from '../../../src/destinations/identity';

/** Independent of the code under test (which uses the one-shot `crypto.hash`): hashes a hand-normalized literal. */
const sha = (literal: string) => createHash('sha256').update(literal, 'utf8').digest('hex');
const meta = (kind: Parameters<typeof prepareIdentifier>[1], raw: string | null | undefined, defaultRegion?: string) =>
  prepareIdentifier('meta', kind, raw, defaultRegion ? { defaultRegion } : undefined);
const ok = (normalized: string, value: string, hashed = true): PreparedIdentifier => ({ ok: true, normalized, value, hashed, prehashed: false });
const rejected = (reason: string) => ({ ok: false, reason });

describe('Meta: vectors from Meta’s documentation (customer information parameters)', () => {
  // Inputs, normalized forms and SHA-256 outputs as Meta publishes them.
  it.each([
    ['email', 'John_Smith@gmail.com', 'john_smith@gmail.com', '62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f'],
    ['phone', '(650)555-1212', '16505551212', 'e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176'],
    ['first_name', 'Mary', 'mary', '6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec'],
    ['first_name', '정', '정', '8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14'],
    ['first_name', 'Valéry', 'valéry', '08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c'],
    ['last_name', 'Valéry', 'valéry', '08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c'],
    ['gender', 'f', 'f', '252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111'],
    ['country', 'US', 'us', '79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621'],
  ] as const)('%s %s → %s', (kind, input, normalized, hash) => {
    expect(meta(kind, input)).toEqual(ok(normalized, hash));
  });
});

describe('Meta: email', () => {
  it('trims and lowercases, keeps dots and +tags (Meta does not ask to remove them)', () => {
    expect(meta('email', '  First.Last+News@Example.COM \t')).toEqual(ok('first.last+news@example.com', sha('first.last+news@example.com')));
  });
  it.each(['plainaddress', '@example.com', 'a@b', 'a@@b.com', 'a@b.com.', 'john smith@example.com', 'a@.com'])('refuses %j', (input) => {
    expect(meta('email', input)).toEqual(rejected('invalid_email'));
  });
  it('an empty, blank, null or undefined value is `empty`', () => {
    for (const input of ['', '   ', '\t\n', null, undefined]) expect(meta('email', input)).toEqual(rejected('empty'));
  });
  it('unicode local parts and domains are lowercased and hashed as UTF-8', () => {
    expect(meta('email', 'ÉLODIE@Exämple.fr')).toEqual(ok('élodie@exämple.fr', sha('élodie@exämple.fr')));
  });
});

describe('Meta: pre-hashed values', () => {
  const hex = 'e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176';
  it('64 hex chars pass through unhashed, lowercased, for every hashed kind', () => {
    for (const kind of ['email', 'phone', 'first_name', 'city', 'zip', 'country', 'gender', 'birth_year'] as const) {
      expect(meta(kind, hex.toUpperCase())).toEqual({ ok: true, normalized: hex, value: hex, hashed: true, prehashed: true });
      expect(meta(kind, ` ${hex} `)).toMatchObject({ ok: true, value: hex, prehashed: true });
    }
  });
  it('63 or 65 hex chars are not a hash: normalized like any other value', () => {
    expect(meta('email', hex.slice(1))).toEqual(rejected('invalid_email'));
    // a-f only survive the letters-only name rule; digits go.
    const name65 = `${hex}a`;
    const letters = name65.replace(/[^a-f]/g, '');
    expect(meta('first_name', name65)).toEqual(ok(letters, sha(letters)));
  });
  it('non-hex 64 chars are not a hash', () => {
    expect(meta('first_name', 'g'.repeat(64))).toEqual(ok('g'.repeat(64), sha('g'.repeat(64))));
  });
  it('MADID and EXTERN_ID are sent in the clear: a 64-hex external id is just an id', () => {
    expect(meta('external_id', hex.toUpperCase())).toEqual(ok(hex.toUpperCase(), hex.toUpperCase(), false));
  });
});

describe('Meta: phone (digits with country code, no +, no leading zeros)', () => {
  it.each([
    ['(650)555-1212', 'US', '16505551212'],
    ['+1 650 555 1212', 'US', '16505551212'],
    ['1-650-555-1212', 'US', '16505551212'],
    ['16505551212', 'US', '16505551212'],
    ['650.555.1212 x123', 'US', '16505551212'],
    ['+44 20 7183 8750', 'US', '442071838750'],
    ['0044 20 7183 8750', 'US', '442071838750'],
    ['0044 20 7183 8750', 'GB', '442071838750'],
    ['011 44 20 7183 8750', 'US', '442071838750'],
    ['+44 (0)20 7183 8750', 'US', '442071838750'],
    ['020 7183 8750', 'GB', '442071838750'],
    ['07911 123456', 'GB', '447911123456'],
    ['447911123456', 'US', '447911123456'],
    ['030 123456', 'DE', '4930123456'],
    ['06 12 34 56 78', 'FR', '33612345678'],
    ['(02) 9374 4000', 'AU', '61293744000'],
    ['374-93-828222', 'US', '37493828222'],
  ])('%s in %s → %s', (input, region, digits) => {
    expect(meta('phone', input, region)).toEqual(ok(digits, sha(digits)));
  });
  it.each([
    ['020 7183 8750', 'US'], // a UK national number read in the US
    ['12345', 'US'],
    ['call me maybe', 'US'],
    ['+1 555 123 4567', 'US'], // 555-1xxx: not a real US number
    ['+44 7700 900123', 'US'], // Ofcom's drama range
  ])('refuses %s in %s', (input, region) => {
    expect(meta('phone', input, region)).toEqual(rejected('invalid_phone'));
  });
  it('an unknown default region is a programming error, not a rejected value', () => {
    expect(() => meta('phone', '650 555 1212', 'XX')).toThrow(RangeError);
  });
});

describe('Meta: names, initial, city', () => {
  it.each([
    ['  MARY  ', 'mary'],
    ["Mary-Ann O'Neil", 'maryannoneil'],
    ['Jean Luc', 'jeanluc'],
    ['Vale\u0301ry', 'valéry'], // decomposed é → NFC
    ['Zoë 😀', 'zoë'],
    ['Łukasz', 'łukasz'],
    ['Дмитрий', 'дмитрий'],
    ['山田', '山田'],
    ['R2-D2', 'rd'],
  ])('%j → %j', (input, normalized) => {
    expect(meta('first_name', input)).toEqual(ok(normalized, sha(normalized)));
  });
  it('a name with no letters is refused', () => {
    expect(meta('last_name', '😀🎉')).toEqual(rejected('invalid_name'));
    expect(meta('last_name', '123 - .')).toEqual(rejected('invalid_name'));
  });
  it('first initial: the first letter, a whole code point', () => {
    expect(meta('first_initial', '  Émile')).toEqual(ok('é', sha('é')));
    expect(meta('first_initial', "'Mary")).toEqual(ok('m', sha('m')));
    expect(meta('first_initial', '𝒜lice')).toEqual(ok('𝒜', sha('𝒜')));
  });
  it('city: lowercase letters only, no spaces or punctuation', () => {
    expect(meta('city', 'New York')).toEqual(ok('newyork', sha('newyork')));
    expect(meta('city', 'St. Louis')).toEqual(ok('stlouis', sha('stlouis')));
    expect(meta('city', 'São Paulo')).toEqual(ok('sãopaulo', sha('sãopaulo')));
    expect(meta('city', '123')).toEqual(rejected('invalid_city'));
  });
});

describe('Meta: state, zip, country', () => {
  it.each([
    ['CA', 'ca'], ['California', 'ca'], [' new york ', 'ny'], ['District of Columbia', 'dc'], ['Puerto Rico', 'pr'],
    ['Ontario', 'ontario'], ['Île-de-France', 'îledefrance'], ['ON', 'on'],
  ])('state %j → %j', (input, normalized) => {
    expect(meta('state', input)).toEqual(ok(normalized, sha(normalized)));
  });
  it.each([
    ['94025', '94025'], ['94025-1234', '94025'], ['94025 1234', '94025'], ['940251234', '94025'], ['02110', '02110'],
    ['SW1A 1AA', 'sw1a1'], ['sw1a1aa', 'sw1a1'], ['M1 1AE', 'm11'], ['K1A 0B1', 'k1a0b1'], ['H3Z-2Y7', 'h3z2y7'], ['75008', '75008'], ['1010', '1010'],
  ])('zip %j → %j', (input, normalized) => {
    expect(meta('zip', input)).toEqual(ok(normalized, sha(normalized)));
  });
  it('junk in a zip column is refused', () => {
    expect(meta('zip', 'n/a?')).toEqual(rejected('invalid_zip'));
    expect(meta('zip', '1')).toEqual(rejected('invalid_zip'));
  });
  it.each([
    ['us', 'us'], ['USA', 'us'], ['United States', 'us'], ['U.S.A.', 'us'], ['GBR', 'gb'], ['UK', 'gb'], ['United Kingdom', 'gb'],
    ['Germany', 'de'], ['DEU', 'de'], ['Côte d’Ivoire', 'ci'], [' fr ', 'fr'],
  ])('country %j → %j (hashed)', (input, normalized) => {
    expect(meta('country', input)).toEqual(ok(normalized, sha(normalized)));
  });
  it.each(['XX', 'ZZZ', 'Atlantis', 'EU', '1'])('refuses country %j', (input) => {
    expect(meta('country', input)).toEqual(rejected('invalid_country'));
  });
});

describe('Meta: gender, dates', () => {
  it.each([['M', 'm'], ['male', 'm'], [' Male ', 'm'], ['F', 'f'], ['FEMALE', 'f'], ['Woman', 'f'], ['f.', 'f']])('gender %j → %j', (input, normalized) => {
    expect(meta('gender', input)).toEqual(ok(normalized, sha(normalized)));
  });
  it.each(['x', 'unknown', 'nonbinary', 'constructor', '0'])('gender %j is refused, never guessed', (input) => {
    expect(meta('gender', input)).toEqual(rejected('invalid_gender'));
  });
  it.each([
    ['1990-02-16', '19900216'], ['1990/2/6', '19900206'], ['19900216', '19900216'], ['1990-02-16T10:00:00Z', '19900216'], ['2000-02-29', '20000229'],
  ])('date of birth %j → %j (Meta’s db format)', (input, normalized) => {
    expect(meta('date_of_birth', input)).toEqual(ok(normalized, sha(normalized)));
  });
  it.each(['2023-02-30', '1900-02-29', '2023-13-01', '2023-00-10', '02/16/1990', '16.02.1990', '1899-12-31', '1990216', '2999-01-01', 'yesterday'])(
    'date of birth %j is refused',
    (input) => {
      expect(meta('date_of_birth', input)).toEqual(rejected('invalid_date'));
    },
  );
  it('a birth date after "today" is refused; today is injectable', () => {
    const today = new Date('2020-06-01T00:00:00Z');
    expect(prepareIdentifier('meta', 'date_of_birth', '2020-06-01', { today })).toMatchObject({ ok: true });
    expect(prepareIdentifier('meta', 'date_of_birth', '2020-06-02', { today })).toEqual(rejected('invalid_date'));
  });
  it('birth year / month / day', () => {
    expect(meta('birth_year', '1990')).toEqual(ok('1990', sha('1990')));
    expect(meta('birth_month', '2')).toEqual(ok('02', sha('02')));
    expect(meta('birth_day', '09')).toEqual(ok('09', sha('09')));
    expect(meta('birth_year', '90')).toEqual(rejected('invalid_date'));
    expect(meta('birth_month', '13')).toEqual(rejected('invalid_date'));
    expect(meta('birth_day', '32')).toEqual(rejected('invalid_date'));
  });
});

describe('Meta: MADID and EXTERN_ID (in the clear)', () => {
  it('MADID: lowercased UUID, not hashed', () => {
    expect(meta('mobile_ad_id', ' AECE52E7-03EE-455A-B3C4-E57283966239 ')).toEqual(ok('aece52e7-03ee-455a-b3c4-e57283966239', 'aece52e7-03ee-455a-b3c4-e57283966239', false));
  });
  it('MADID: not a UUID, or the all-zero id of limited ad tracking, is refused', () => {
    expect(meta('mobile_ad_id', 'not-an-id')).toEqual(rejected('invalid_mobile_ad_id'));
    expect(meta('mobile_ad_id', '00000000-0000-0000-0000-000000000000')).toEqual(rejected('invalid_mobile_ad_id'));
  });
  it('EXTERN_ID: trimmed, case kept, not hashed', () => {
    expect(meta('external_id', '  Cust-0042 ')).toEqual(ok('Cust-0042', 'Cust-0042', false));
    expect(meta('external_id', 'a\u0000b')).toEqual(rejected('invalid_external_id'));
  });
});
