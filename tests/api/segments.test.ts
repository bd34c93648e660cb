import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service';

let service: TestService;
beforeAll(async () => { service = await startTestService(); });
afterAll(async () => { await service?.close(); });

const json = (body: unknown) => ({ 'content-type': 'application/json', payload: JSON.stringify(body) });

async function create(body: Record<string, unknown>) {
  return service.app.inject({ method: 'POST', url: '/v1/segments', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
}

const base = { name: 'Test', model: 'customers', rule: { '==': [{ var: 'country' }, 'US'] } };

describe('segments API', () => {
  it('lists the demo segments with cursor pagination', async () => {
    const slugs: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await service.app.inject({ url: `/v1/segments?limit=3${cursor ? `&cursor=${cursor}` : ''}` });
      expect(res.statusCode).toBe(200);
      const page = res.json() as { data: Array<{ slug: string }>; nextCursor: string | null };
      expect(page.data.length).toBeLessThanOrEqual(3);
      slugs.push(...page.data.map((s) => s.slug));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(slugs).toEqual([...slugs].sort());
    expect(new Set(slugs).size).toBe(slugs.length);
    expect(slugs).toEqual(expect.arrayContaining(['us-high-value', 'repeat-buyers-30d', 'cart-abandoners', 'lapsed-customers', 'new-eu-signups']));
    expect(pages).toBeGreaterThan(1);
  });

  it('filters by tag and model', async () => {
    const res = await service.app.inject({ url: '/v1/segments?tag=eu&model=customers' });
    expect(res.json().data.map((s: { slug: string }) => s.slug)).toEqual(['new-eu-signups']);
    const none = await service.app.inject({ url: '/v1/segments?model=nope' });
    expect(none.json().data).toEqual([]);
  });

  it('rejects a bad cursor with a parameter pointer', async () => {
    const res = await service.app.inject({ url: '/v1/segments?cursor=garbage!' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().errors).toEqual([{ parameter: 'cursor', message: 'invalid cursor' }]);
  });

  it('creates, reads by id and slug, updates with If-Match, keeps versions, deletes', async () => {
    const created = await create({ ...base, slug: 'crud-one', tags: ['t1'] });
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    expect(created.headers.location).toBe('/v1/segments/crud-one');
    const segment = created.json();
    expect(segment).toMatchObject({ slug: 'crud-one', version: 1, model: 'customers', description: '', tags: ['t1'], rule: base.rule });

    const byId = await service.app.inject({ url: `/v1/segments/${segment.id}` });
    expect(byId.json().slug).toBe('crud-one');
    expect(byId.headers.etag).toBe('"1"');

    const updated = await service.app.inject({ method: 'PATCH', url: '/v1/segments/crud-one', headers: { 'if-match': '"1"', 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'Renamed', rule: { '>': [{ var: 'ltv' }, 10] } }) });
    expect(updated.statusCode).toBe(200);
    expect(updated.headers.etag).toBe('"2"');
    expect(updated.json()).toMatchObject({ name: 'Renamed', version: 2, rule: { '>': [{ var: 'ltv' }, 10] } });

    const stale = await service.app.inject({ method: 'PATCH', url: '/v1/segments/crud-one', headers: { 'if-match': '"1"', 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'Lost update' }) });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().title).toBe('Precondition failed');
    expect((await service.app.inject({ url: '/v1/segments/crud-one' })).json().name).toBe('Renamed');

    const noop = await service.app.inject({ method: 'PATCH', url: '/v1/segments/crud-one', ...json({ name: 'Renamed' }), headers: { 'content-type': 'application/json' } });
    expect(noop.json().version).toBe(2);

    const versions = await service.app.inject({ url: '/v1/segments/crud-one/versions' });
    expect(versions.json().data.map((v: { version: number; name: string }) => [v.version, v.name])).toEqual([[2, 'Renamed'], [1, 'Test']]);
    expect(versions.json().data[1].rule).toEqual(base.rule);

    const wrongDelete = await service.app.inject({ method: 'DELETE', url: '/v1/segments/crud-one', headers: { 'if-match': '"1"' } });
    expect(wrongDelete.statusCode).toBe(412);
    const deleted = await service.app.inject({ method: 'DELETE', url: '/v1/segments/crud-one', headers: { 'if-match': '"2"' } });
    expect(deleted.statusCode).toBe(204);
    expect((await service.app.inject({ url: '/v1/segments/crud-one' })).statusCode).toBe(404);
    expect((await service.app.inject({ url: `/v1/segments/${segment.id}/versions` })).statusCode).toBe(404);
  });

  it('refuses a duplicate slug with 409 and a UUID-shaped slug with 400', async () => {
    expect((await create({ ...base, slug: 'dup' })).statusCode).toBe(201);
    const again = await create({ ...base, slug: 'dup' });
    expect(again.statusCode).toBe(409);
    expect(again.json().detail).toContain('dup');
    const rename = await service.app.inject({ method: 'PATCH', url: '/v1/segments/dup', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ slug: 'us-high-value' }) });
    expect(rename.statusCode).toBe(409);
    const bad = await create({ ...base, slug: 'Not A Slug' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].pointer).toBe('/slug');
  });

  it('reports every rule problem with a JSON pointer', async () => {
    const res = await create({
      ...base, slug: 'bad-rule',
      rule: { and: [
        { '==': [{ var: 'contry' }, 'US'] },
        { frobnicate: [1] },
        { some: [{ var: 'orders' }, { '>': [{ var: 'totl' }, 1] }] },
        { '==': [1] },
        { '/': [{ var: 'ltv' }, 2], x: 1 },
        { var: 'orders' },
        { count: [{ var: 'events' }, true, [3, 'fortnights']] },
      ] },
    });
    expect(res.statusCode).toBe(400);
    const pointers = (res.json().errors as Array<{ pointer: string }>).map((e) => e.pointer);
    expect(pointers).toEqual([
      '/rule/and/0/==/0/var',
      '/rule/and/1/frobnicate',
      '/rule/and/2/some/1/>/0/var',
      '/rule/and/3/==',
      '/rule/and/4',
      '/rule/and/5/var',
      '/rule/and/6/count/2/1',
    ]);
    expect((await service.app.inject({ url: '/v1/segments/bad-rule' })).statusCode).toBe(404);
  });

  it('rejects an unknown model and validates rules against the segment model', async () => {
    const res = await create({ ...base, slug: 'no-model', model: 'ghosts' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ pointer: '/model', message: 'model "ghosts" does not exist' }]);
  });

  it('enforces size and depth limits on rules', async () => {
    let deep: unknown = { var: 'ltv' };
    for (let i = 0; i < 40; i++) deep = { '!': [deep] };
    const res = await create({ ...base, slug: 'too-deep', rule: deep });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].message).toMatch(/deeper than 32/);
    const wide = { or: Array.from({ length: 3000 }, (_, i) => ({ '==': [{ var: 'zip' }, String(i)] })) };
    const big = await create({ ...base, slug: 'too-big', rule: wide });
    expect(big.statusCode).toBe(400);
    expect(big.json().errors[0].message).toMatch(/more than 5000 nodes/);
  });

  it('resolves in_segment, refuses cycles, and protects referenced segments', async () => {
    expect((await create({ ...base, slug: 'ref-a' })).statusCode).toBe(201);
    expect((await create({ ...base, slug: 'ref-b', rule: { and: [{ in_segment: ['ref-a'] }, { '>': [{ var: 'ltv' }, 5] }] } })).statusCode).toBe(201);
    const missing = await create({ ...base, slug: 'ref-c', rule: { in_segment: ['nope'] } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().errors[0].message).toContain('no such segment');
    const cycle = await service.app.inject({ method: 'PATCH', url: '/v1/segments/ref-a', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ rule: { in_segment: ['ref-b'] } }) });
    expect(cycle.statusCode).toBe(400);
    expect(cycle.json().errors[0].message).toContain('cycle');
    const del = await service.app.inject({ method: 'DELETE', url: '/v1/segments/ref-a' });
    expect(del.statusCode).toBe(409);
    expect(del.json().detail).toContain('ref-b');
  });
});
