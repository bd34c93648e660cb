import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMIT_WAIT_MS, retryAfterFromHeaders, scrub } from '../../../src/destinations/meta';
import { TOKEN, expectFailure, members, startHarness, type Harness } from './helpers';

let h: Harness | undefined;
afterEach(async () => {
  await h?.fake.close();
  h = undefined;
});

async function withAudience(config: { requestTimeoutMs?: number } = {}) {
  h = await startHarness({ config });
  const audience = await h.destination.ensureAudience({ name: 'Errors', identifierKinds: ['email'] });
  return { ...h, audience };
}

describe('meta destination: rate limits', () => {
  it.each([
    [17, 3, 180_000],
    [613, 1, 60_000],
    [80003, 12, 720_000],
  ] as const)('code %i → rate_limited, retryAfterMs from X-Business-Use-Case-Usage (%i min)', async (code, minutes, expected) => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'rate_limit', code, regainMinutes: minutes });
    const err = await expectFailure(destination.add(audience, members(3)), 'rate_limited');
    expect(err.details).toMatchObject({ platform: 'meta', code: String(code), status: 400, retryAfterMs: expected });
    expect(err.retryable).toBe(true);
    // The retry succeeds (the fault was one-shot).
    expect((await destination.add(audience, members(3))).received).toBe(3);
  });

  it('code 4 (app limit, X-App-Usage at 100 %, no time given) → rate_limited with the default wait', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'rate_limit', code: 4 });
    const err = await expectFailure(destination.add(audience, members(1)), 'rate_limited');
    expect(err.details.retryAfterMs).toBe(DEFAULT_RATE_LIMIT_WAIT_MS);
  });

  it('HTTP 429 on the DELETE path → rate_limited, from the header', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.remove', { kind: 'rate_limit', code: 80003, regainMinutes: 2, status: 429 });
    const err = await expectFailure(destination.remove(audience, members(1)), 'rate_limited');
    expect(err.details).toMatchObject({ status: 429, retryAfterMs: 120_000 });
  });

  it('reads the usage headers', () => {
    const headers = (values: Record<string, string>) => (name: string) => values[name];
    expect(retryAfterFromHeaders(headers({
      'x-business-use-case-usage': JSON.stringify({
        '1': [{ type: 'ads_management', estimated_time_to_regain_access: 1 }, { type: 'custom_audience', estimated_time_to_regain_access: 5 }],
        '2': [{ type: 'custom_audience', estimated_time_to_regain_access: 0 }],
      }),
    }))).toBe(300_000);
    expect(retryAfterFromHeaders(headers({ 'x-ad-account-usage': '{"acc_id_util_pct":100,"reset_time_duration":45}' }))).toBe(45_000);
    expect(retryAfterFromHeaders(headers({ 'retry-after': '7' }))).toBe(7000);
    expect(retryAfterFromHeaders(headers({ 'x-app-usage': '{"call_count":100,"total_cputime":3,"total_time":4}' }))).toBe(DEFAULT_RATE_LIMIT_WAIT_MS);
    expect(retryAfterFromHeaders(headers({ 'x-app-usage': '{"call_count":40}' }))).toBeUndefined();
    expect(retryAfterFromHeaders(headers({ 'x-business-use-case-usage': 'not json' }))).toBeUndefined();
  });
});

describe('meta destination: transient failures', () => {
  it.each([500, 503])('HTTP %i → retryable (SDK path)', async (status) => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'server_error', status });
    const err = await expectFailure(destination.add(audience, members(2)), 'retryable');
    expect(err.details.status).toBe(status);
  });

  it('HTTP 503 → retryable (DELETE path)', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.remove', { kind: 'server_error', status: 503, code: 1 });
    const err = await expectFailure(destination.remove(audience, members(2)), 'retryable');
    expect(err.details).toMatchObject({ status: 503, code: '1' });
  });

  it('a non-JSON error page (proxy 502) → retryable on both paths', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'non_json', status: 502 });
    const a = await expectFailure(destination.add(audience, members(1)), 'retryable');
    expect(a.message).toMatch(/not JSON/);
    fake.inject('users.remove', { kind: 'non_json', status: 502 });
    const b = await expectFailure(destination.remove(audience, members(1)), 'retryable');
    expect(b.details.status).toBe(502);
  });

  it('a hung request times out → retryable (SDK path: abort signal through the seam)', async () => {
    const { destination, fake, audience } = await withAudience({ requestTimeoutMs: 150 });
    fake.inject('users.add', { kind: 'hang', ms: 30_000 });
    const started = Date.now();
    const err = await expectFailure(destination.add(audience, members(1)), 'retryable');
    // Our timeout ended it, long before the fake would have answered.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(err.details.code).toBe('timeout');
    expect(err.message).toMatch(/timed out after 150 ms/);
  });

  it('a hung request times out → retryable (DELETE path)', async () => {
    const { destination, fake, audience } = await withAudience({ requestTimeoutMs: 150 });
    fake.inject('users.remove', { kind: 'hang', ms: 5_000 });
    const err = await expectFailure(destination.remove(audience, members(1)), 'retryable');
    expect(err.details.code).toBe('timeout');
  });

  it('the caller\'s AbortSignal cancels a request', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'hang', ms: 5_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await expectFailure(destination.add(audience, members(1), { signal: controller.signal }), 'retryable');
    expect(err.details.code).toBe('aborted');
  });

  it('connection refused → retryable', async () => {
    const { destination, fake, audience } = await withAudience();
    await fake.close();
    await expectFailure(destination.add(audience, members(1)), 'retryable');
    await expectFailure(destination.remove(audience, members(1)), 'retryable');
  });

  it('2650 marked is_transient → retryable; otherwise permanent', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'update_failed', transient: true });
    await expectFailure(destination.add(audience, members(1)), 'retryable');
    fake.inject('users.add', { kind: 'update_failed' });
    const err = await expectFailure(destination.add(audience, members(1)), 'permanent');
    expect(err.details.code).toBe('2650');
    expect(err.message).toContain('FILE_IMPORTED.MULTI_HASHES');
  });
});

describe('meta destination: permanent failures', () => {
  it('flagged audience (operation_status 471, 100/1713230) → permanent on add and remove', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.flagAudience(audience.remoteId);
    const add = await expectFailure(destination.add(audience, members(1)), 'permanent');
    expect(add.message).toMatch(/flagged by Meta \(operation_status 471/);
    expect(add.details.code).toBe('100/1713230');
    const remove = await expectFailure(destination.remove(audience, members(1)), 'permanent');
    expect(remove.details.code).toBe('100/1713230');
    const stats = await destination.audienceStats(audience);
    expect(stats.operationStatus?.code).toBe(471);
  });

  it('queued flagged fault → permanent', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'flagged' });
    await expectFailure(destination.add(audience, members(1)), 'permanent');
  });

  it.each([1870034, 1870090, 1870092])('ToS not accepted (200/%i) → permanent', async (subcode) => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'tos_not_accepted', subcode });
    const err = await expectFailure(destination.add(audience, members(1)), 'permanent');
    expect(err.message).toMatch(/terms of service are not accepted/);
    expect(err.details.code).toBe(`200/${subcode}`);
  });

  it('token expired (190/463) → permanent; the token never appears, even when Meta echoes it', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'token_expired', echoToken: true });
    const err = await expectFailure(destination.add(audience, members(1)), 'permanent');
    expect(err.message).toMatch(/access token is invalid or expired/);
    expect(err.message).toContain('[redacted]');
    expect(err.details.code).toBe('190/463');
    fake.inject('users.remove', { kind: 'token_expired', echoToken: true });
    await expectFailure(destination.remove(audience, members(1)), 'permanent');
    fake.expiredTokens.add(TOKEN);
    await expectFailure(destination.audienceStats(audience), 'permanent');
  });

  it('permission error (10) → permanent', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'permission' });
    const err = await expectFailure(destination.add(audience, members(1)), 'permanent');
    expect(err.details).toMatchObject({ code: '10', status: 403 });
  });

  it('invalid parameter (100) → invalid_request', async () => {
    const { destination, fake, audience } = await withAudience();
    fake.inject('users.add', { kind: 'invalid_parameter', message: '(#100) Invalid parameter' });
    await expectFailure(destination.add(audience, members(1)), 'invalid_request');
  });

  it('no thrown message carries the access token, whatever the failure', async () => {
    const { destination, fake, audience } = await withAudience({ requestTimeoutMs: 100 });
    const faults = [
      { kind: 'rate_limit', code: 17, regainMinutes: 1 },
      { kind: 'server_error' },
      { kind: 'flagged' },
      { kind: 'tos_not_accepted' },
      { kind: 'token_expired', echoToken: true },
      { kind: 'raw', status: 400, error: { message: `Bad token ${TOKEN} in https://x/?access_token=${TOKEN}&x=1`, code: 100 } },
      { kind: 'hang', ms: 1_000 },
      { kind: 'non_json' },
    ] as const;
    for (const fault of faults) {
      for (const call of [() => destination.add(audience, members(1)), () => destination.remove(audience, members(1))]) {
        fake.inject('*', fault);
        const err = await call().then(() => undefined, (e: unknown) => e as Error);
        expect(err, fault.kind).toBeInstanceOf(Error);
        expect(`${err!.message} ${err!.stack}`).not.toContain(TOKEN);
      }
    }
  });

  it('scrub removes literal secrets and token parameters', () => {
    expect(scrub(`GET /v24.0/act_1?access_token=EAAB123&fields=id failed (token ${TOKEN})`, [TOKEN])).toBe(
      'GET /v24.0/act_1?access_token=[redacted]&fields=id failed (token [redacted])',
    );
    expect(scrub('{"access_token":"abc","appsecret_proof":"def"}', [])).toBe('{"access_token":"[redacted]","appsecret_proof":"[redacted]"}');
  });
});
