import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse';
import { PostgresWarehouse } from '../../src/warehouse/postgres/postgres-warehouse';
import type { CompiledQuery } from '../../src/warehouse/warehouse';
import { createTestDatabase } from '../support/test-database';

/**
 * An aborted query stops in the engine, not only in our wait for it: a preview that timed out
 * must not keep a warehouse busy. (BigQuery's jobs.cancel is tested against its fake in
 * bigquery-warehouse.test.ts.) A hang here, not a time bound, is what a broken cancel looks like.
 */

const sql = (dialect: 'postgres' | 'duckdb', text: string): CompiledQuery => ({ dialect, sql: text, params: [] });

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('Postgres', () => {
  let database: { url: string; drop(): Promise<void> };
  let wh: PostgresWarehouse;
  let observer: pg.Client;
  const sleeping = async () => (await observer.query(
    "select count(*)::int as n from pg_stat_activity where datname = current_database() and state = 'active' and query like 'select pg_sleep(%'",
  )).rows[0].n as number;

  beforeAll(async () => {
    database = await createTestDatabase();
    // One connection: the cancel has to work with the pool full, and the connection must be usable after it.
    wh = new PostgresWarehouse({ connectionString: database.url, maxConnections: 1 });
    observer = new pg.Client({ connectionString: database.url });
    await observer.connect();
  });
  afterAll(async () => {
    await observer?.end();
    await wh?.close();
    await database?.drop();
  });

  it('cancels the running statement on the server and rejects with the abort reason', async () => {
    const controller = new AbortController();
    const running = wh.execute(sql('postgres', 'select pg_sleep(600) as slept'), { signal: controller.signal });
    await until(async () => (await sleeping()) === 1);
    controller.abort(new Error('request timed out'));
    await expect(running).rejects.toThrow('request timed out');
    expect(await sleeping()).toBe(0);
    // The pool's only connection is fine afterwards.
    expect(await wh.execute(sql('postgres', 'select 1 as one'))).toEqual([{ one: 1 }]);
  });

  it('an abort after the query finished cancels nothing that runs later on the same connection', async () => {
    const controller = new AbortController();
    expect(await wh.execute(sql('postgres', 'select 2 as two'), { signal: controller.signal })).toEqual([{ two: 2 }]);
    const later = wh.execute(sql('postgres', 'select pg_sleep(0.3) is null as slept'));
    controller.abort(new Error('too late to matter'));
    expect(await later).toEqual([{ slept: false }]);
  });

  it('does not start a query whose signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(wh.execute(sql('postgres', 'select pg_sleep(600)'), { signal: controller.signal })).rejects.toThrow('gone');
    expect(await sleeping()).toBe(0);
  });

  it('errors other than the cancel pass through unchanged', async () => {
    const controller = new AbortController();
    await expect(wh.execute(sql('postgres', 'select 1/0'), { signal: controller.signal })).rejects.toMatchObject({ code: '22012' });
  });
});

describe('DuckDB', () => {
  let wh: DuckDBWarehouse;
  beforeAll(() => { wh = new DuckDBWarehouse({ path: ':memory:', maxConnections: 1 }); });
  afterAll(async () => { await wh?.close(); });

  it('interrupts the running query and rejects with the abort reason; the connection is fine afterwards', async () => {
    const controller = new AbortController();
    // Hours of work unless interrupted.
    const running = wh.execute(sql('duckdb', 'select sum(hash(i)) as h from range(1000000000000) t(i)'), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('request timed out')), 200);
    await expect(running).rejects.toThrow('request timed out');
    expect(await wh.execute(sql('duckdb', 'select 1 as one'))).toEqual([{ one: 1 }]);
  });

  it('an abort after the query finished does not interrupt the next one', async () => {
    const controller = new AbortController();
    expect(await wh.execute(sql('duckdb', 'select 2 as two'), { signal: controller.signal })).toEqual([{ two: 2 }]);
    controller.abort();
    expect(await wh.execute(sql('duckdb', 'select count(*)::int as n from range(1000000)'))).toEqual([{ n: 1000000 }]);
  });
});
