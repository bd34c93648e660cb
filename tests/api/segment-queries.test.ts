import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service';

let service: TestService;
beforeAll(async () => { service = await startTestService({ customers: 400 }); });
afterAll(async () => { await service?.close(); });

const post = (url: string, body: unknown) =>
  service.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
const sqlCount = async (where: string, params: unknown[] = []) =>
  Number((await service.runtime.warehouse.query<{ n: string }>(`select count(*) as n from demo.customers where ${where}`, params))[0]!.n);

describe('compile, count, preview and evaluate', () => {
  it('compiles a segment for every dialect, with typed parameters and no literals in the SQL', async () => {
    for (const [dialect, placeholder] of [['postgres', '$1::text'], ['duckdb', 'CAST($1 AS VARCHAR)'], ['bigquery', '@p1']] as const) {
      const res = await service.app.inject({ method: 'POST', url: `/v1/segments/us-high-value/compile?dialect=${dialect}&asOf=2026-11-01T00:00:00Z` });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.dialect).toBe(dialect);
      expect(body.sql).toContain(placeholder);
      expect(body.sql).not.toMatch(/'US'|500/);
      expect(body.params).toEqual([{ name: 'p1', type: 'string', value: 'US' }, { name: 'p2', type: 'float', value: 500 }]);
      expect(body.asOf).toBe('2026-11-01T00:00:00.000Z');
    }
    const bad = await service.app.inject({ method: 'POST', url: '/v1/segments/us-high-value/compile?dialect=oracle' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].parameter).toBe('dialect');
    expect((await service.app.inject({ method: 'POST', url: '/v1/segments/nope/compile' })).statusCode).toBe(404);
  });

  it('counts a segment on the warehouse', async () => {
    const res = await service.app.inject({ url: '/v1/segments/us-high-value/count' });
    expect(res.statusCode).toBe(200);
    const expected = await sqlCount(`country = 'US' and ltv > 500`);
    expect(expected).toBeGreaterThan(0);
    expect(res.json().count).toBe(expected);
  });

  it('counts in_segment compositions and time windows against the as-of time', async () => {
    const composed = await service.app.inject({ url: '/v1/segments/pro-big-spenders/count' });
    expect(composed.json().count).toBe(await sqlCount(`country = 'US' and ltv > 500 and plan in ('pro', 'enterprise')`));
    const asOf = '2026-11-01T00:00:00.000Z';
    const recent = await service.app.inject({ url: `/v1/segments/new-eu-signups/count?asOf=${asOf}` });
    expect(recent.json().count).toBe(await sqlCount(
      `country in ('DE', 'FR') and created_at >= $1::timestamptz - interval '90 days' and created_at < $1::timestamptz and consent_ad_user_data and consent_ad_personalization`, [asOf]));
  });

  it('previews an unsaved rule with a masked sample, or revealed on request', async () => {
    const rule = { and: [{ '==': [{ var: 'country' }, 'US'] }, { '!': { missing: ['email'] } }] };
    const res = await post('/v1/segments/preview', { model: 'customers', rule, sampleSize: 5 });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.count).toBe(await sqlCount(`country = 'US' and email is not null and email <> ''`));
    expect(body.sample).toHaveLength(5);
    const keys = body.sample.map((m: { memberKey: string }) => Number(m.memberKey));
    expect(keys).toEqual([...keys].sort((a, b) => a - b));
    for (const member of body.sample) {
      expect(member.identifiers.email).toMatch(/^.\*\*\*@/);
      expect(member.identifiers.country).toBe('US');
    }
    const revealed = (await post('/v1/segments/preview', { model: 'customers', rule, sampleSize: 5, reveal: true })).json();
    const first = revealed.sample[0];
    const [row] = await service.runtime.warehouse.query<{ email: string }>('select email from demo.customers where customer_id = $1', [Number(first.memberKey)]);
    expect(first.identifiers.email).toBe(row!.email);
    expect(JSON.stringify(body)).not.toContain(row!.email);
  });

  it('refuses previews with type errors, too-large samples and unknown models', async () => {
    const typed = await post('/v1/segments/preview', { model: 'customers', rule: { and: [true, { '<': [{ var: 'email' }, 5] }] } });
    expect(typed.statusCode).toBe(400);
    expect(typed.json().errors[0]).toMatchObject({ pointer: '/rule/and/1/</0', expected: 'number', found: 'string' });
    const big = await post('/v1/segments/preview', { model: 'customers', rule: true, sampleSize: 101 });
    expect(big.statusCode).toBe(400);
    expect(big.json().errors[0].pointer).toBe('/sampleSize');
    const none = await post('/v1/segments/preview', { model: 'nope', rule: true });
    expect(none.json().errors).toEqual([{ pointer: '/model', message: 'model "nope" does not exist' }]);
  });

  it('evaluates one record with json-logic-js semantics', async () => {
    const member = await post('/v1/segments/us-high-value/evaluate', { record: { country: 'US', ltv: 812.5 } });
    expect(member.json()).toMatchObject({ member: true });
    expect((await post('/v1/segments/us-high-value/evaluate', { record: { country: 'US', ltv: null } })).json().member).toBe(false);
    const orders = [{ status: 'completed', ordered_at: '2026-10-30T00:00:00Z' }, { status: 'completed', ordered_at: '2026-10-20T00:00:00Z' }];
    const repeat = await post('/v1/segments/repeat-buyers-30d/evaluate', { record: { orders }, asOf: '2026-11-01T00:00:00Z' });
    expect(repeat.json()).toEqual({ member: true, asOf: '2026-11-01T00:00:00.000Z' });
    const later = await post('/v1/segments/repeat-buyers-30d/evaluate', { record: { orders }, asOf: '2026-11-25T00:00:00Z' });
    expect(later.json().member).toBe(false);
    const bad = await post('/v1/segments/us-high-value/evaluate', { record: { contry: 'US' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].pointer).toBe('/record/contry');
  });

  it('type-checks rules when segments are created and updated', async () => {
    const res = await post('/v1/segments', { slug: 'typed', name: 'Typed', model: 'customers', rule: { '==': [{ var: 'email' }, 5] } });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ pointer: '/rule/==/0', expected: 'string', found: 'number' });
    const div = await post('/v1/segments', { slug: 'typed', name: 'Typed', model: 'customers', rule: { '>': [{ '/': [{ var: 'ltv' }, { var: 'ltv' }] }, 1] } });
    expect(div.json().errors[0]).toMatchObject({ pointer: '/rule/>/0/~1/1' });
    expect(div.json().errors[0].message).toMatch(/non-zero number literal/);
    const patch = await service.app.inject({ method: 'PATCH', url: '/v1/segments/us-high-value', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ rule: { before: [{ var: 'ltv' }, '2026-01-01'] } }) });
    expect(patch.statusCode).toBe(400);
    expect(patch.json().errors[0]).toMatchObject({ pointer: '/rule/before/0', found: 'number' });
  });

  it('applies the model suppression rule to every segment', async () => {
    const model = (await service.app.inject({ url: '/v1/models/customers' })).json();
    const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...definition } = model;
    const bad = await service.app.inject({ method: 'PUT', url: '/v1/models/customers', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...definition, suppression: { '<': [{ var: 'email' }, 1] } }) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].pointer).toBe('/suppression/</0');
    const put = await service.app.inject({ method: 'PUT', url: '/v1/models/customers', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...definition, suppression: { '!': { var: 'marketing_opt_in' } } }) });
    expect(put.statusCode).toBe(200);
    expect(put.json().suppression).toEqual({ '!': { var: 'marketing_opt_in' } });
    const count = (await service.app.inject({ url: '/v1/segments/us-high-value/count' })).json().count;
    expect(count).toBe(await sqlCount(`country = 'US' and ltv > 500 and marketing_opt_in`));
    expect(count).toBeLessThan(await sqlCount(`country = 'US' and ltv > 500`));
    const evaluated = await post('/v1/segments/us-high-value/evaluate', { record: { country: 'US', ltv: 900, marketing_opt_in: false } });
    expect(evaluated.json().member).toBe(false);
  });
});

describe('warehouse data exceptions', () => {
  it('answers 422, not 500, when Postgres cannot evaluate arithmetic on the data (double overflow)', async () => {
    await service.runtime.warehouse.query(`update demo.customers set ltv = 9999999999.99 where customer_id = 1`);
    const res = await post('/v1/segments/preview', { model: 'customers', rule: { '>': [{ '*': [{ var: 'ltv' }, 1e300] }, 1] } });
    expect(res.statusCode).toBe(422);
    expect(res.json().detail).toMatch(/could not evaluate this rule on its data: value out of range/);
  });
});
