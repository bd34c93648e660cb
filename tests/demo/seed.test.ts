import { prepareIdentifier } from '../../src/destinations/identity/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo, type SeedResult } from '../../src/demo/seed-demo';
import { createWarehouse } from '../../src/warehouse/create-warehouse';
import type { Warehouse } from '../../src/warehouse/warehouse';
import { createTestDatabase } from '../support/test-database';

const CUSTOMERS = 1000;
const ANCHOR = new Date('2026-11-01T00:00:00Z');
const COUNTRIES = ['US', 'GB', 'CA', 'DE', 'FR', 'AU'];

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let warehouse: Warehouse;
let first: SeedResult;
let second: SeedResult;

/** md5 over every row of a table, in primary-key order, computed by Postgres. */
async function tableHash(schema: string, table: string, key: string, columns = `t::text`): Promise<string> {
  const [row] = await warehouse.query<{ hash: string | null; n: number }>(
    `select md5(string_agg(${columns}, E'\\n' order by t.${key})) as hash, count(*)::int as n from "${schema}".${table} t`,
  );
  expect(row!.n).toBeGreaterThan(0);
  return row!.hash!;
}

async function seedHashes(schema: string) {
  return {
    customers: await tableHash(schema, 'customers', 'customer_id'),
    orders: await tableHash(schema, 'orders', 'order_id'),
    events: await tableHash(schema, 'events', 'event_id'),
  };
}

async function one<T extends Record<string, unknown>>(sql: string): Promise<T> {
  const rows = await warehouse.query<T>(sql);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

beforeAll(async () => {
  database = await createTestDatabase();
  warehouse = createWarehouse(database.url, { defaultSchema: 'demo' });
  first = await seedDemo(warehouse, { schema: 'seed_a', customers: CUSTOMERS, anchor: ANCHOR });
  second = await seedDemo(warehouse, { schema: 'seed_b', customers: CUSTOMERS, anchor: ANCHOR });
});

afterAll(async () => {
  await warehouse?.close();
  await database?.drop();
});

describe('demo seed', () => {
  it('reports what it wrote', async () => {
    expect(first.seeded).toBe(true);
    expect(first.customers).toBe(CUSTOMERS);
    expect(first.orders).toBeGreaterThan(CUSTOMERS);
    expect(first.events).toBeGreaterThan(CUSTOMERS);
    const counts = await one<{ customers: number; orders: number; events: number }>(
      `select (select count(*)::int from seed_a.customers) as customers, (select count(*)::int from seed_a.orders) as orders, (select count(*)::int from seed_a.events) as events`,
    );
    expect(counts).toEqual({ customers: first.customers, orders: first.orders, events: first.events });
  });

  it('is deterministic: same size and anchor give identical rows in another schema', async () => {
    expect(second).toEqual(first);
    const [a, b] = [await seedHashes('seed_a'), await seedHashes('seed_b')];
    expect(b).toEqual(a);
  });

  it('depends on the anchor only for times', async () => {
    const other = await seedDemo(warehouse, { schema: 'seed_c', customers: CUSTOMERS, anchor: new Date('2025-03-15T00:00:00Z') });
    expect(other).toEqual({ ...first, seeded: true });
    const timeless = 'row(t.customer_id, t.email, t.phone, t.first_name, t.last_name, t.city, t.state, t.zip, t.country, t.date_of_birth, t.gender, t.ltv, t.plan, t.interests, t.marketing_opt_in)::text';
    expect(await tableHash('seed_c', 'customers', 'customer_id', timeless)).toBe(await tableHash('seed_a', 'customers', 'customer_id', timeless));
    expect(await tableHash('seed_c', 'customers', 'customer_id')).not.toBe(await tableHash('seed_a', 'customers', 'customer_id'));
    const anchors = await one<{ a: string; c: string }>(`select (select anchor::text from seed_a._seed) as a, (select anchor::text from seed_c._seed) as c`);
    expect(anchors).toEqual({ a: '2026-11-01', c: '2025-03-15' });
  });

  it('a second seed of an existing schema is a no-op', async () => {
    const before = await seedHashes('seed_a');
    const seededAt = await one<{ at: string }>(`select seeded_at::text as at from seed_a._seed`);
    const again = await seedDemo(warehouse, { schema: 'seed_a', customers: CUSTOMERS, anchor: ANCHOR });
    expect(again).toMatchObject({ seeded: false, customers: first.customers, orders: first.orders, events: first.events });
    expect(await seedHashes('seed_a')).toEqual(before);
    expect(await one<{ at: string }>(`select seeded_at::text as at from seed_a._seed`)).toEqual(seededAt);
    expect(await one<{ n: number }>(`select count(*)::int as n from seed_a._seed`)).toEqual({ n: 1 });
  });

  it('holds messy, realistic emails: stray case and spaces, some missing', async () => {
    const emails = await one<{ total: number; missing: number; untidy: number; upper: number; padded: number; tidy: number }>(`
      select count(*)::int as total,
             count(*) filter (where email is null)::int as missing,
             count(*) filter (where email <> lower(btrim(email)))::int as untidy,
             count(*) filter (where email ~ '[A-Z]')::int as upper,
             count(*) filter (where email <> btrim(email))::int as padded,
             count(*) filter (where email = lower(btrim(email)) and email ~ '^[a-z.]+[0-9]+@[a-z.]+$')::int as tidy
        from seed_a.customers`);
    expect(emails.total).toBe(CUSTOMERS);
    expect(emails.missing).toBeGreaterThan(0);
    expect(emails.missing).toBeLessThan(CUSTOMERS * 0.1);
    expect(emails.upper).toBeGreaterThan(0);
    expect(emails.padded).toBeGreaterThan(0);
    expect(emails.untidy).toBeLessThan(CUSTOMERS * 0.3);
    // Most are clean, and every non-null email is an address once trimmed.
    expect(emails.tidy).toBeGreaterThan(CUSTOMERS * 0.5);
    const malformed = await one<{ n: number }>(`select count(*)::int as n from seed_a.customers where email is not null and btrim(email) !~ '^[^@\\s]+@[^@\\s]+\\.[a-zA-Z]+$'`);
    expect(malformed).toEqual({ n: 0 });
    // Unique once normalised (the row number is part of the local part).
    const duplicates = await one<{ n: number }>(`select (count(email) - count(distinct lower(btrim(email))))::int as n from seed_a.customers`);
    expect(duplicates).toEqual({ n: 0 });
  });

  it('holds phones in several formats, some missing', async () => {
    const phones = await one<{ missing: number; shapes: number }>(`
      select count(*) filter (where phone is null)::int as missing,
             count(distinct regexp_replace(phone, '[0-9]', '9', 'g'))::int as shapes
        from seed_a.customers`);
    expect(phones.missing).toBeGreaterThan(0);
    expect(phones.missing).toBeLessThan(CUSTOMERS * 0.2);
    expect(phones.shapes).toBeGreaterThanOrEqual(4);
    const byFormat = await warehouse.query<{ format: string; n: number }>(`
      select case when phone ~ '^\\+' then 'international' when phone ~ '^\\(' then 'parenthesised area code' when phone ~ '^0' then 'national trunk prefix' else 'other' end as format,
             count(*)::int as n
        from seed_a.customers where phone is not null group by 1 order by 1`);
    expect(byFormat.map((r) => r.format)).toEqual(expect.arrayContaining(['international', 'parenthesised area code', 'national trunk prefix']));
    // Whatever the format, a phone holds a plausible number of digits.
    const digits = await one<{ min: number; max: number }>(`
      select min(length(regexp_replace(phone, '[^0-9]', '', 'g')))::int as min, max(length(regexp_replace(phone, '[^0-9]', '', 'g')))::int as max
        from seed_a.customers where phone is not null`);
    expect(digits.min).toBeGreaterThanOrEqual(10);
    expect(digits.max).toBeLessThanOrEqual(13);
    // Messy in format, but real numbers: normalization accepts every one (it rejected ~half of the
    // US/CA ones when area codes and exchanges were drawn at random).
    const all = await warehouse.query<{ phone: string; country: string }>(`select phone, country from seed_a.customers where phone is not null`);
    const rejected = all.filter((r) => !prepareIdentifier('meta', 'phone', r.phone, { defaultRegion: r.country }).ok);
    expect(rejected.slice(0, 5)).toEqual([]);
    expect(all.length).toBeGreaterThan(CUSTOMERS * 0.8);
  });

  it('places every customer in one of the seeded countries, each of them used', async () => {
    const rows = await warehouse.query<{ country: string | null; n: number }>(`select country, count(*)::int as n from seed_a.customers group by country order by n desc`);
    expect(rows.map((r) => r.country).sort()).toEqual([...COUNTRIES].sort());
    expect(rows[0]).toMatchObject({ country: 'US' });
  });

  it('ltv is the sum of completed order totals (and 0 without completed orders)', async () => {
    const mismatch = await warehouse.query<{ customer_id: number; ltv: string; completed: string }>(`
      select c.customer_id, c.ltv::text, coalesce(o.total, 0)::text as completed
        from seed_a.customers c
        left join (select customer_id, sum(total) as total from seed_a.orders where status = 'completed' group by customer_id) o using (customer_id)
       where c.ltv <> coalesce(o.total, 0)
       limit 5`);
    expect(mismatch).toEqual([]);
    const spread = await one<{ with_completed: number; without_orders: number; refunded_or_cancelled: number }>(`
      select (select count(distinct customer_id)::int from seed_a.orders where status = 'completed') as with_completed,
             (select count(*)::int from seed_a.customers c where not exists (select 1 from seed_a.orders o where o.customer_id = c.customer_id)) as without_orders,
             (select count(*)::int from seed_a.orders where status <> 'completed') as refunded_or_cancelled`);
    expect(spread.with_completed).toBeGreaterThan(CUSTOMERS * 0.5);
    expect(spread.without_orders).toBeGreaterThan(0);
    expect(spread.refunded_or_cancelled).toBeGreaterThan(0);
  });

  it('keeps times within the history before the anchor, orders after signup', async () => {
    // The seed computes times from the anchor day in the session's time zone; compare in the same terms.
    const anchor = '(select anchor::timestamptz from seed_a._seed)';
    const times = await one<{ created_after_anchor: number; created_before_history: number; orders_before_signup: number; orders_after_anchor: number; events_after_anchor: number }>(`
      select (select count(*)::int from seed_a.customers where created_at > ${anchor}) as created_after_anchor,
             (select count(*)::int from seed_a.customers where created_at < ${anchor} - interval '3 years 1 day') as created_before_history,
             (select count(*)::int from seed_a.orders o join seed_a.customers c using (customer_id) where o.ordered_at < c.created_at) as orders_before_signup,
             (select count(*)::int from seed_a.orders where ordered_at > ${anchor}) as orders_after_anchor,
             (select count(*)::int from seed_a.events where occurred_at > ${anchor}) as events_after_anchor`);
    expect(times).toEqual({ created_after_anchor: 0, created_before_history: 0, orders_before_signup: 0, orders_after_anchor: 0, events_after_anchor: 0 });
  });
});
