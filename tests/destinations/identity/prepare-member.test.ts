import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { prepareMember } from '../../../src/destinations/identity';

const sha = (literal: string) => createHash('sha256').update(literal, 'utf8').digest('hex');

describe('prepareMember: Meta', () => {
  it('normalizes and hashes each identifier, derives the first initial and the birth date parts', () => {
    const result = prepareMember('meta', 'cust-1', {
      email: ' Jane.Doe@Example.com ', phone: '(650) 555-1212', first_name: 'Émilie', last_name: 'Doe', city: 'Menlo Park', state: 'California',
      zip: '94025-1234', country: 'United States', date_of_birth: '1990-02-16', gender: 'Female', mobile_ad_id: 'AECE52E7-03EE-455A-B3C4-E57283966239', external_id: 'cust-1',
    });
    expect(result).toEqual({
      ok: true,
      rejected: [],
      member: {
        memberKey: 'cust-1',
        identifiers: {
          email: sha('jane.doe@example.com'), phone: sha('16505551212'), first_name: sha('émilie'), last_name: sha('doe'), first_initial: sha('é'),
          city: sha('menlopark'), state: sha('ca'), zip: sha('94025'), country: sha('us'),
          birth_year: sha('1990'), birth_month: sha('02'), birth_day: sha('16'), gender: sha('f'),
          mobile_ad_id: 'aece52e7-03ee-455a-b3c4-e57283966239', external_id: 'cust-1',
        },
      },
    });
  });

  it('reports unusable values per kind and sends the rest; null and blank values are absent, not rejected', () => {
    const result = prepareMember('meta', 'k', { email: 'a@b.co', phone: 'n/a', gender: 'x', date_of_birth: '2023-02-30', city: null, zip: '  ', last_name: undefined });
    expect(result).toEqual({
      ok: true,
      member: { memberKey: 'k', identifiers: { email: sha('a@b.co') } },
      rejected: [{ kind: 'phone', reason: 'invalid_phone' }, { kind: 'gender', reason: 'invalid_gender' }, { kind: 'date_of_birth', reason: 'invalid_date' }],
    });
  });

  it('an invalid explicit birth part is reported and the date of birth fills it in', () => {
    const result = prepareMember('meta', 'k', { email: 'a@b.co', date_of_birth: '1990-02-16', birth_month: '13' });
    expect(result.rejected).toEqual([{ kind: 'birth_month', reason: 'invalid_date' }]);
    expect(result.ok && result.member.identifiers.birth_month).toBe(sha('02'));
  });

  it('explicit birth parts and first initial win over derived ones', () => {
    const result = prepareMember('meta', 'k', { email: 'a@b.co', first_name: 'Anna', first_initial: 'B', date_of_birth: '1990-02-16', birth_year: '1991' });
    expect(result.ok && result.member.identifiers).toMatchObject({ first_initial: sha('b'), birth_year: sha('1991'), birth_month: sha('02'), birth_day: sha('16') });
  });

  it('reads the phone in the member’s own country; the default region otherwise', () => {
    const uk = prepareMember('meta', 'k', { phone: '07911 123456', country: 'GB' }, { defaultRegion: 'US' });
    expect(uk.ok && uk.member.identifiers.phone).toBe(sha('447911123456'));
    const noCountry = prepareMember('meta', 'k', { phone: '07911 123456' }, { defaultRegion: 'US' });
    expect(noCountry).toEqual({ ok: false, reason: 'no_identifiers', rejected: [{ kind: 'phone', reason: 'invalid_phone' }] });
    const off = prepareMember('meta', 'k', { phone: '07911 123456', country: 'GB' }, { defaultRegion: 'US', phoneRegionFromCountry: false });
    expect(off.rejected).toEqual([{ kind: 'phone', reason: 'invalid_phone' }]);
  });

  it('a member with only demographics (no email, phone, id or name) is rejected as a whole', () => {
    expect(prepareMember('meta', 'k', { gender: 'm', country: 'us', zip: '94025' })).toEqual({ ok: false, reason: 'no_identifiers', rejected: [] });
    expect(prepareMember('meta', 'k', {})).toEqual({ ok: false, reason: 'no_identifiers', rejected: [] });
  });

  it('a pre-hashed first name passes through and no initial is derived from the hash', () => {
    const hex = sha('anna');
    const result = prepareMember('meta', 'k', { first_name: hex });
    expect(result.ok && result.member.identifiers).toEqual({ first_name: hex });
  });
});

describe('prepareMember: Google', () => {
  it('takes email, phone (E.164), a complete address, mobile id and user id; reports the kinds Google does not take', () => {
    const result = prepareMember('google', 'g1', {
      email: 'Jane@Example.com', phone: '650-555-1212', first_name: 'Jane', last_name: 'Doe', country: 'US', zip: '94043-1351',
      city: 'Mountain View', gender: 'f', date_of_birth: '1990-02-16',
    });
    expect(result).toEqual({
      ok: true,
      member: {
        memberKey: 'g1',
        identifiers: { email: sha('jane@example.com'), phone: sha('+16505551212'), first_name: sha('jane'), last_name: sha('doe'), country: 'US', zip: '94043-1351' },
      },
      rejected: [
        { kind: 'city', reason: 'unsupported_for_platform' },
        { kind: 'date_of_birth', reason: 'unsupported_for_platform' },
        { kind: 'gender', reason: 'unsupported_for_platform' },
      ],
    });
  });

  it('drops an incomplete address (Google matches an address only with first name, last name, country and postal code)', () => {
    const result = prepareMember('google', 'g2', { email: 'a@b.co', first_name: 'Jane', last_name: 'Doe', zip: '94043' });
    expect(result).toEqual({
      ok: true,
      member: { memberKey: 'g2', identifiers: { email: sha('a@b.co') } },
      rejected: [
        { kind: 'first_name', reason: 'incomplete_address' },
        { kind: 'last_name', reason: 'incomplete_address' },
        { kind: 'zip', reason: 'incomplete_address' },
      ],
    });
    const invalidCountry = prepareMember('google', 'g3', { first_name: 'Jane', last_name: 'Doe', zip: '94043', country: 'Atlantis' });
    expect(invalidCountry.ok).toBe(false);
    expect(invalidCountry.rejected).toContainEqual({ kind: 'country', reason: 'invalid_country' });
  });

  it('a member with nothing Google can take is rejected as a whole', () => {
    expect(prepareMember('google', 'g4', { city: 'Paris', gender: 'f' })).toEqual({
      ok: false,
      reason: 'no_identifiers',
      rejected: [{ kind: 'city', reason: 'unsupported_for_platform' }, { kind: 'gender', reason: 'unsupported_for_platform' }],
    });
  });
});
