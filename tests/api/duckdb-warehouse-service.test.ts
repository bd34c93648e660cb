import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { injectAsAdmin } from '../support/auth';
import { loadConfig } from '../../src/config';
import { openRuntime, type Runtime } from '../../src/runtime';
import { createWarehouse } from '../../src/warehouse/create-warehouse';
import { createTestDatabase } from '../support/test-database';
import { REPO_ROOT } from '../support/test-service';

// The service with WAREHOUSE_URL=duckdb://…: models are checked against DuckDB, segments run there.
let dir: string;
let runtime: Runtime;
let app: FastifyInstance;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-duck-'));
  const file = path.join(dir, 'warehouse.duckdb');
  const seeder = createWarehouse(`duckdb://${file}`);
  await seeder.query(`create schema shop`);
  await seeder.query(`create table shop.people (id bigint primary key, email varchar, country varchar, spend double, tags varchar[], joined timestamptz)`);
  await seeder.query(`create table shop.purchases (id bigint, person_id bigint references shop.people(id), amount double, "at" timestamptz)`);
  await seeder.query(`insert into shop.people values
    (1, 'a@example.com', 'US', 120, ['vip'], '2026-10-30 00:00:00+00'),
    (2, NULL, 'US', NULL, [], '2025-01-01 00:00:00+00'),
    (3, 'c@example.com', NULL, 900, NULL, '2026-10-01 00:00:00+00'),
    (4, 'd@example.com', 'DE', 50, ['vip', 'new'], '2026-10-31 12:00:00+00')`);
  await seeder.query(`insert into shop.purchases values (1, 1, 10, '2026-10-29 00:00:00+00'), (2, 1, 20, '2026-09-01 00:00:00+00'), (3, 4, 5, '2026-10-30 00:00:00+00')`);
  await seeder.close();

  const database = await createTestDatabase();
  dropDatabase = database.drop;
  const config = loadConfig({ DATABASE_URL: database.url, WAREHOUSE_URL: `duckdb://${file}?schema=shop`, LOG_LEVEL: 'silent', FILE_DESTINATION_ROOT: path.join(dir, 'exports') }, REPO_ROOT);
  expect(config.demo).toBe(false);
  runtime = await openRuntime(config, { log: () => {} });
  app = await buildApp({ services: runtime, logLevel: 'silent' });
  await app.ready();
  await injectAsAdmin(app, runtime.tokens);
});

afterAll(async () => {
  await app?.close();
  await runtime?.close();
  await dropDatabase?.();
  await fs.rm(dir, { recursive: true, force: true });
});

const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

describe('a DuckDB warehouse behind the API', () => {
  it('drafts and validates models against DuckDB', async () => {
    const tables = (await app.inject({ url: '/v1/warehouse/tables?schema=shop' })).json();
    expect(tables.data.map((t: { name: string }) => t.name)).toEqual(['people', 'purchases']);
    const draft = (await app.inject({ url: '/v1/warehouse/tables/shop/people' })).json();
    expect(draft.draft.identifiers).toMatchObject({ email: 'email', country: 'country' });
    expect(draft.draft.relationships).toEqual([expect.objectContaining({ name: 'purchases', foreignKey: 'person_id', timeColumn: 'at' })]);
    const created = await post('/v1/models', { ...draft.draft, slug: 'people' });
    expect(created.statusCode).toBe(201);
    const wrong = await post('/v1/models', { ...draft.draft, slug: 'wrong', identifiers: {}, relationships: [], attributes: [{ name: 'spend', type: 'string' }] });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().errors[0].message).toContain('DOUBLE');
  });

  it('counts, previews and compiles segments in the DuckDB dialect', async () => {
    const segment = await post('/v1/segments', {
      slug: 'recent-vips', name: 'Recent VIPs', model: 'people',
      rule: { or: [{ in: ['vip', { var: 'tags' }] }, { '>=': [{ count: [{ var: 'purchases' }, true, [7, 'days']] }, 1] }] },
    });
    expect(segment.statusCode).toBe(201);
    const asOf = '2026-11-01T00:00:00Z';
    expect((await app.inject({ url: `/v1/segments/recent-vips/count?asOf=${asOf}` })).json().count).toBe(2);
    const compiled = (await app.inject({ method: 'POST', url: '/v1/segments/recent-vips/compile' })).json();
    expect(compiled.dialect).toBe('duckdb');
    const preview = (await post('/v1/segments/preview', { model: 'people', rule: { '!=': [{ var: 'country' }, 'US'] }, sampleSize: 10 })).json();
    expect(preview.count).toBe(2); // NULL != 'US' is true in JsonLogic
    expect(preview.sample.map((m: { memberKey: string }) => m.memberKey)).toEqual(['3', '4']);
    expect(preview.sample[0].identifiers.email).toBe('c***@example.com');
  });

  it('refreshes and syncs on DuckDB: adds, then a change and a remove after the data changed', async () => {
    expect((await post('/v1/destinations', { slug: 'files', name: 'Files', kind: 'file', config: { directory: 'duck' } })).statusCode).toBe(201);
    const created = await post('/v1/syncs', { slug: 'vips', name: 'VIPs', segment: 'recent-vips', destination: 'files', mapping: { email: 'email', country: 'country' } });
    expect(created.statusCode, created.body).toBe(201);
    // (DuckDB refuses updates of rows other tables reference: people 2 and 3 are the ones that change.)
    await runtime.warehouse.query(`update shop.people set tags = ['vip'] where id in (2, 3)`);
    // Stale (never refreshed): the run refreshes first. Now, nobody bought in the last 7 days: the VIP tag decides.
    const first = (await post('/v1/syncs/vips/runs?wait=true', {})).json();
    // Person 2 has no email, only a country: nothing Meta's rules can match on, so never sent.
    expect(first).toMatchObject({ status: 'succeeded', planned: { adds: 4, removes: 0, changes: 0 }, sent: 3, rejected: 1, failed: 0 });
    expect((await runtime.syncs.stateRows('vips')).map((r) => String(r.member_key)).sort()).toEqual(['1', '2', '3', '4']);

    await runtime.warehouse.query(`update shop.people set tags = [] where id = 2`);
    await runtime.warehouse.query(`update shop.people set email = 'c.new@example.com' where id = 3`);
    expect((await post('/v1/segments/recent-vips/refresh?wait=true', {})).json()).toMatchObject({ status: 'succeeded', entered: 0, exited: 1 });
    const second = (await post('/v1/syncs/vips/runs?wait=true', {})).json();
    // The change goes out as a remove of the old email and an add of the new one; person 2's remove has nothing to send.
    expect(second).toMatchObject({ status: 'succeeded', planned: { adds: 0, removes: 1, changes: 1 }, sent: 2, rejected: 1, failed: 0 });
    const state = await runtime.syncs.stateRows('vips');
    expect(state.map((r) => [String(r.member_key), r.email])).toEqual([['1', 'a@example.com'], ['3', 'c.new@example.com'], ['4', 'd@example.com']]);
  });
});
