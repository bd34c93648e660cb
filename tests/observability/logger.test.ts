import { describe, expect, it } from 'vitest';
import { createLogger, urlForLog } from '../../src/observability/logger';
import { checkReadiness } from '../../src/observability/readiness';

/** Lines a logger wrote, parsed. */
function capture() {
  const text: string[] = [];
  return { destination: { write: (line: string) => { text.push(line); } }, lines: () => text.map((l) => JSON.parse(l) as Record<string, unknown>), text: () => text.join('') };
}

describe('the root logger', () => {
  it('redacts credentials and identifiers that slip into a log object', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.destination });
    logger.info({
      req: { headers: { authorization: 'Bearer secret-bearer-value', cookie: 'sid=secret-cookie' } },
      credentials: { accessToken: 'EAAsecret' }, config: { accessToken: 'EAAsecret2', developerToken: 'dev-secret' },
      email: 'ann@example.com', member: { phone: '+1 212 555 0100', memberKey: '42' }, size: 3,
    }, 'something');
    const text = out.text();
    for (const secret of ['secret-bearer-value', 'secret-cookie', 'EAAsecret', 'EAAsecret2', 'dev-secret', 'ann@example.com', '212 555 0100']) expect(text).not.toContain(secret);
    expect(out.lines()[0]).toMatchObject({ msg: 'something', size: 3, email: '[redacted]' });
  });

  it('keeps only the type, message, code and stack of errors (SDK errors carry their requests)', () => {
    const out = capture();
    const error = Object.assign(new Error('request failed'), { code: 'E_X', config: { headers: { Authorization: 'OAuth EAAleaky' } }, response: { data: 'x' } });
    createLogger({ level: 'info', destination: out.destination }).error({ err: error }, 'failed');
    expect(out.text()).not.toContain('EAAleaky');
    expect(out.lines()[0]!.err).toMatchObject({ type: 'Error', message: 'request failed', code: 'E_X' });
  });

  it('is silent at level silent', () => {
    const out = capture();
    createLogger({ level: 'silent', destination: out.destination }).error('nothing');
    expect(out.text()).toBe('');
  });

  it('masks cursors (they encode member keys) and tokens in logged URLs', () => {
    expect(urlForLog('/v1/segments/vip/members?limit=2&cursor=eyJhZnRlciI6IjEwMTcifQ&reveal=false')).toBe('/v1/segments/vip/members?limit=2&cursor=***&reveal=false');
    expect(urlForLog('/x?access_token=abc')).toBe('/x?access_token=***');
    expect(urlForLog('/v1/segments')).toBe('/v1/segments');
  });
});

describe('readiness checks', () => {
  it('bound each check by the timeout and report a failure by its code, not its message', async () => {
    const result = await checkReadiness([
      { name: 'fast', run: async () => 'fine' },
      { name: 'hung', run: () => new Promise(() => {}) },
      { name: 'refused', run: async () => { throw Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432 user=admin'), { code: 'ECONNREFUSED' }); } },
    ], { timeoutMs: 50 });
    expect(result.ready).toBe(false);
    expect(result.checks.fast).toMatchObject({ status: 'ok', detail: 'fine' });
    expect(result.checks.hung).toMatchObject({ status: 'failed', detail: 'timed out after 50 ms' });
    expect(result.checks.hung!.latencyMs).toBeGreaterThanOrEqual(45);
    expect(result.checks.refused).toMatchObject({ status: 'failed', detail: 'failed (ECONNREFUSED)' });
  });
});
