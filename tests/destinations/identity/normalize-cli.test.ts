import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../support/test-service';

const run = promisify(execFile);
// A database URL nothing listens on: `normalize` must not need one (it is pure).
const env = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
const cli = (...args: string[]) => run(process.execPath, ['src/bin.mjs', 'normalize', ...args], { cwd: REPO_ROOT, env });
const lines = (stdout: string) => stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
const sha = (literal: string) => createHash('sha256').update(literal, 'utf8').digest('hex');
const failure = (promise: Promise<unknown>) => promise.then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);

describe('audiences normalize', { timeout: 120_000 }, () => {
  it('prints one JSON line per value: normalized + hash, or the rejection reason', async () => {
    const { stdout } = await cli('--platform', 'meta', '--field', 'email', 'John_Smith@gmail.com', 'not-an-email', '');
    expect(lines(stdout)).toEqual([
      { input: 'John_Smith@gmail.com', normalized: 'john_smith@gmail.com', hash: '62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f' },
      { input: 'not-an-email', rejected: 'invalid_email' },
      { input: '', rejected: 'empty' },
    ]);
  });

  it('uses --region for phone numbers without a country code; Google gets E.164 with +', async () => {
    const { stdout } = await cli('--platform', 'google', '--field', 'phone', '--region', 'GB', '020 7183 8750', '+1 (650) 555-1212');
    expect(lines(stdout)).toEqual([
      { input: '020 7183 8750', normalized: '+442071838750', hash: sha('+442071838750') },
      { input: '+1 (650) 555-1212', normalized: '+16505551212', hash: sha('+16505551212') },
    ]);
  });

  it('kinds sent in the clear print `value` and no hash; pre-hashed values say so; unsupported kinds are a rejection', async () => {
    const country = await cli('--platform', 'google', '--field', 'country', 'usa');
    expect(lines(country.stdout)).toEqual([{ input: 'usa', normalized: 'US', value: 'US' }]);
    const hex = sha('x').toUpperCase();
    const prehashed = await cli('--platform', 'meta', '--field', 'first_name', hex, '--', '-Anna-');
    expect(lines(prehashed.stdout)).toEqual([
      { input: hex, normalized: hex.toLowerCase(), hash: hex.toLowerCase(), prehashed: true },
      { input: '-Anna-', normalized: 'anna', hash: sha('anna') },
    ]);
    const city = await cli('--platform', 'google', '--field', 'city', 'Paris');
    expect(lines(city.stdout)).toEqual([{ input: 'Paris', rejected: 'unsupported_for_platform' }]);
  });

  it('exits 2 with a clear message for an unknown platform, field or region, or no values', async () => {
    const platform = await failure(cli('--platform', 'tiktok', '--field', 'email', 'a@b.co'));
    expect(platform.code).toBe(2);
    expect(platform.stderr).toContain('--platform must be one of meta, google');
    const field = await failure(cli('--platform', 'meta', '--field', 'shoe_size', '42'));
    expect(field.code).toBe(2);
    expect(field.stderr).toContain('--field must be one of email, phone');
    const region = await failure(cli('--platform', 'meta', '--field', 'phone', '--region', 'XX', '555'));
    expect(region.code).toBe(2);
    expect(region.stderr).toContain('--region');
    const none = await failure(cli('--platform', 'meta', '--field', 'email'));
    expect(none.code).toBe(2);
    const unknownOption = await failure(cli('--platform', 'meta', '--field', 'email', '--hash', 'x'));
    expect(unknownOption.code).toBe(2);
  }, 180_000); // five CLI starts (each loads the whole CLI through tsx)
});
