import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service';

let service: TestService;
beforeAll(async () => {
  service = await startTestService();
  // A table the demo model does not use, with an array column and an unsupported type.
  await service.runtime.warehouse.query(`create table demo.stores (store_id text primary key, name text not null, opened date, tags text[], location point)`);
});
afterAll(async () => { await service?.close(); });

const people = {
  slug: 'people', name: 'People', schema: 'demo', table: 'customers', primaryKey: 'customer_id',
  attributes: [
    { name: 'customer_id', type: 'integer' },
    { name: 'email', type: 'string' },
    { name: 'country', type: 'string' },
    { name: 'spend', column: 'ltv', type: 'number' },
    { name: 'consent', column: 'consent_ad_user_data', type: 'boolean' },
  ],
  identifiers: { email: 'email', country: 'country' },
  consent: { ad_user_data: 'consent' },
  relationships: [{ name: 'orders', table: 'orders', foreignKey: 'customer_id', timeColumn: 'ordered_at', attributes: [{ name: 'total', type: 'number' }] }],
};

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  service.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) });
const put = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  service.app.inject({ method: 'PUT', url, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) });

describe('models API', () => {
  it('serves the demo model applied from segments/', async () => {
    const res = await service.app.inject({ url: '/v1/models/customers' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ slug: 'customers', schema: 'demo', table: 'customers', primaryKey: 'customer_id', version: 1 });
    expect(res.json().relationships.map((r: { name: string }) => r.name)).toEqual(['orders', 'events']);
  });

  it('creates a model checked against the warehouse, with column mapping', async () => {
    const res = await post('/v1/models', people);
    expect(res.statusCode).toBe(201);
    expect(res.headers.etag).toBe('"1"');
    expect(res.json()).toMatchObject({ slug: 'people', description: '', version: 1, identifiers: { email: 'email' }, consent: { ad_user_data: 'consent' } });
    const list = await service.app.inject({ url: '/v1/models?limit=1' });
    expect(list.json().data.map((m: { slug: string }) => m.slug)).toEqual(['customers']);
    const next = await service.app.inject({ url: `/v1/models?limit=1&cursor=${list.json().nextCursor}` });
    expect(next.json()).toMatchObject({ data: [{ slug: 'people' }], nextCursor: null });
  });

  it('answers 422 listing every mismatch with the live warehouse', async () => {
    const res = await post('/v1/models', {
      ...people, slug: 'broken',
      attributes: [
        { name: 'customer_id', type: 'integer' },
        { name: 'email', type: 'number' },
        { name: 'nickname', type: 'string' },
        { name: 'country', type: 'string' },
      ],
      identifiers: { email: 'email' },
      consent: {},
      relationships: [
        { name: 'orders', table: 'orderz', foreignKey: 'customer_id', attributes: [{ name: 'total', type: 'number' }] },
        { name: 'events', table: 'events', foreignKey: 'cust', timeColumn: 'name', attributes: [{ name: 'nope', type: 'string' }] },
      ],
    });
    // identifiers.email names a number attribute: that is caught before the warehouse is asked.
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ pointer: '/identifiers/email', message: 'identifier email needs a string attribute; "email" is number' }]);

    const live = await post('/v1/models', {
      ...people, slug: 'broken', identifiers: {}, consent: {},
      attributes: [{ name: 'customer_id', type: 'integer' }, { name: 'email', type: 'number' }, { name: 'nickname', type: 'string' }],
      relationships: [
        { name: 'orders', table: 'orderz', foreignKey: 'customer_id', attributes: [{ name: 'total', type: 'number' }] },
        { name: 'events', table: 'events', foreignKey: 'cust', timeColumn: 'name', attributes: [{ name: 'nope', type: 'string' }] },
      ],
    });
    expect(live.statusCode).toBe(422);
    expect(live.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(live.json().errors.map((e: { pointer: string }) => e.pointer)).toEqual([
      '/attributes/1/type',
      '/attributes/2',
      '/relationships/0/table',
      '/relationships/1/attributes/0',
      '/relationships/1/foreignKey',
      '/relationships/1/timeColumn',
    ]);
    expect(live.json().errors[0].message).toContain('text');
    expect((await service.app.inject({ url: '/v1/models/broken' })).statusCode).toBe(404);
  });

  it('reports a missing table and internal inconsistencies', async () => {
    const missing = await post('/v1/models', { ...people, slug: 'ghost', table: 'ghosts' });
    expect(missing.statusCode).toBe(422);
    expect(missing.json().errors).toEqual([{ pointer: '/table', message: 'table demo.ghosts does not exist in the warehouse' }]);
    const dup = await post('/v1/models', { ...people, slug: 'dupattr', attributes: [...people.attributes, { name: 'email', column: 'phone', type: 'string' }] });
    expect(dup.statusCode).toBe(400);
    expect(dup.json().errors[0]).toEqual({ pointer: '/attributes/5/name', message: 'duplicate attribute name "email"' });
    const badType = await post('/v1/models', { ...people, slug: 'badtype', attributes: [{ name: 'x', type: 'float' }] });
    expect(badType.statusCode).toBe(400);
    expect(badType.json().errors[0].pointer).toBe('/attributes/0/type');
    expect(badType.json().errors[0].message).toContain('must be one of');
  });

  it('replaces with If-Match and refuses changes that break segments', async () => {
    const seg = await post('/v1/segments', { slug: 'people-spenders', name: 'Spenders', model: 'people', rule: { '>': [{ var: 'spend' }, 100] } });
    expect(seg.statusCode).toBe(201);
    const stale = await put('/v1/models/people', { ...people, name: 'Renamed' }, { 'if-match': '"7"' });
    expect(stale.statusCode).toBe(412);
    const ok = await put('/v1/models/people', { ...people, name: 'Renamed' }, { 'if-match': '"1"' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ name: 'Renamed', version: 2 });
    expect(ok.headers.etag).toBe('"2"');
    const breaking = await put('/v1/models/people', { ...people, attributes: people.attributes.filter((a) => a.name !== 'spend') });
    expect(breaking.statusCode).toBe(409);
    expect(breaking.json().errors[0].message).toContain('people-spenders');
    expect((await service.app.inject({ url: '/v1/models/people' })).json().attributes).toHaveLength(5);
  });

  it('refuses to delete a model that segments use, then deletes it', async () => {
    const refused = await service.app.inject({ method: 'DELETE', url: '/v1/models/people' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toContain('people-spenders');
    expect((await service.app.inject({ method: 'DELETE', url: '/v1/segments/people-spenders' })).statusCode).toBe(204);
    expect((await service.app.inject({ method: 'DELETE', url: '/v1/models/people' })).statusCode).toBe(204);
    expect((await service.app.inject({ url: '/v1/models/people' })).statusCode).toBe(404);
  });

  it('lists warehouse tables and drafts a model from one', async () => {
    const tables = await service.app.inject({ url: '/v1/warehouse/tables?schema=demo' });
    expect(tables.json().data.map((t: { name: string }) => t.name)).toEqual(['_seed', 'customers', 'events', 'orders', 'stores']);

    const draft = await service.app.inject({ url: '/v1/warehouse/tables/demo/customers' });
    expect(draft.statusCode).toBe(200);
    const body = draft.json();
    expect(body.table.primaryKey).toEqual(['customer_id']);
    expect(body.draft).toMatchObject({ slug: 'customers', schema: 'demo', table: 'customers', primaryKey: 'customer_id' });
    expect(body.draft.identifiers).toMatchObject({ email: 'email', phone: 'phone', first_name: 'first_name', zip: 'zip', date_of_birth: 'date_of_birth' });
    expect(body.draft.relationships.map((r: { name: string; timeColumn: string }) => [r.name, r.timeColumn]).sort()).toEqual([['events', 'occurred_at'], ['orders', 'ordered_at']]);
    expect(body.draft.attributes).toContainEqual({ name: 'interests', type: 'string_array' });

    const stores = (await service.app.inject({ url: '/v1/warehouse/tables/demo/stores' })).json();
    expect(stores.draft.attributes).toEqual([
      { name: 'store_id', type: 'string' }, { name: 'name', type: 'string' }, { name: 'opened', type: 'date' }, { name: 'tags', type: 'string_array' },
    ]);
    expect(stores.notes).toEqual(['column "location" (point) has no attribute type and was left out']);

    // A draft is directly creatable once given a fresh slug.
    const created = await post('/v1/models', { ...body.draft, slug: 'drafted' });
    expect(created.statusCode).toBe(201);

    expect((await service.app.inject({ url: '/v1/warehouse/tables/demo/nope' })).statusCode).toBe(404);
    const bad = await service.app.inject({ url: '/v1/warehouse/tables/demo/bad%20name' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].parameter).toBe('table');
  });
});
