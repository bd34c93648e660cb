import type { Warehouse } from '../warehouse/warehouse';

export interface SeedDemoOptions {
  schema?: string;
  customers: number;
  /** Day the synthetic history ends on; times are spread over the ~3 years before it. */
  anchor?: Date;
  /**
   * Each customer gets between 0 and this many events (inclusive), uniformly. Default 15 (about
   * 7.5 events per customer); at most 99, so `customer_id * 100 + k` stays unique per event.
   */
  maxEventsPerCustomer?: number;
}

export interface SeedResult {
  seeded: boolean;
  customers: number;
  orders: number;
  events: number;
}

const SEED_VERSION = 2;

/**
 * Seeds a demo warehouse with deterministic synthetic data: every value is a function of the
 * row number (md5-based), so two seeds of the same size are identical apart from the anchor day.
 * Runs entirely in Postgres (generate_series), so 50,000 customers take a few seconds.
 * Idempotent: an existing seed of the same version is left alone.
 */
export async function seedDemo(warehouse: Warehouse, options: SeedDemoOptions): Promise<SeedResult> {
  const schema = options.schema ?? 'demo';
  const q = (name: string) => `"${schema}".${name}`;
  const existing = await warehouse.query<{ version: number; customers: number; orders: number; events: number }>(
    `select version, customers, orders, events from ${q('_seed')} limit 1`,
  ).catch(() => []);
  if (existing[0]?.version === SEED_VERSION) {
    const { customers, orders, events } = existing[0];
    return { seeded: false, customers, orders, events };
  }

  // Both values are ours (validated integer and ISO day), so they can be SQL literals.
  const anchor = (options.anchor ?? new Date()).toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(anchor)) throw new Error(`bad anchor ${anchor}`);
  const anchorDate = `date '${anchor}'`;
  const customers = Math.trunc(options.customers);
  const maxEvents = options.maxEventsPerCustomer ?? 15;
  if (!Number.isInteger(maxEvents) || maxEvents < 0 || maxEvents > 99) throw new Error(`maxEventsPerCustomer must be an integer from 0 to 99, got ${maxEvents}`);
  const statements = [
    `drop schema if exists "${schema}" cascade`,
    `create schema "${schema}"`,
    // h(i, salt): a deterministic pseudo-random integer in [0, 2^32).
    `create function ${q('h')}(i bigint, salt text) returns bigint language sql immutable parallel safe as
       $$ select ('x' || substr(md5(i::text || ':' || salt), 1, 8))::bit(32)::bigint $$`,
    `create function ${q('pick')}(i bigint, salt text, options text[]) returns text language sql immutable parallel safe as
       $$ select options[1 + (${q('h')}(i, salt) % array_length(options, 1))::int] $$`,
    `create table ${q('customers')} (
       customer_id bigint primary key,
       email text, phone text, first_name text, last_name text,
       city text, state text, zip text, country text,
       date_of_birth date, gender text,
       ltv numeric(12,2) not null default 0,
       plan text not null,
       interests text[] not null default '{}',
       created_at timestamptz not null,
       marketing_opt_in boolean not null,
       consent_ad_user_data boolean not null,
       consent_ad_personalization boolean not null
     )`,
    `with base as (
       select i,
              ${q('pick')}(i, 'fn', array['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth','David','Barbara','Richard','Susan','José','Zoë','Mohammed','Aoife','Łukasz','Chloé']) as fn,
              ${q('pick')}(i, 'ln', array['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Rodriguez','Martinez','O''Brien','Müller','Nguyen','Kowalski','Dubois','Rossi','Silva','Kim','Patel','Cohen']) as ln,
              ${q('h')}(i, 'country') % 100 as cpick
         from generate_series(1, ${customers}) as g(i)
     ), placed as (
       select *, case when cpick < 60 then 'US' when cpick < 72 then 'GB' when cpick < 80 then 'CA' when cpick < 88 then 'DE' when cpick < 94 then 'FR' else 'AU' end as country
         from base
     )
     insert into ${q('customers')}
     select i,
            -- 3% have no email; some are typed with stray case and spaces, as real CRMs hold them.
            case when ${q('h')}(i, 'noemail') % 100 < 3 then null
                 when ${q('h')}(i, 'emailcase') % 10 = 0 then ' ' || fn || '.' || ln || i || '@' || ${q('pick')}(i, 'dom', array['Example.com','Gmail.com','Mail.Example.org']) || ' '
                 else lower(translate(fn || '.' || ln, 'éöüÉłŁë''', 'eouElLe')) || i || '@' || ${q('pick')}(i, 'dom', array['example.com','gmail.com','mail.example.org']) end,
            case when ${q('h')}(i, 'nophone') % 100 < 10 then null
                 when country = 'US' or country = 'CA' then
                   (select case ${q('h')}(i, 'pfmt') % 4
                             when 0 then '(' || area || ') ' || left(num, 3) || '-' || right(num, 4)
                             when 1 then '+1 ' || area || ' ' || left(num, 3) || ' ' || right(num, 4)
                             when 2 then '1-' || area || '-' || left(num, 3) || '-' || right(num, 4)
                             else area || num end
                      -- Assigned area codes and exchanges 200-999: numbers libphonenumber accepts, as a real CRM's mostly are.
                      from (select case when country = 'CA' then ${q('pick')}(i, 'area', array['416','514','604','613','647','778','403','905'])
                                        else ${q('pick')}(i, 'area', array['212','213','305','312','404','415','503','512','602','617','702','713','718','206','303','214']) end as area,
                                   (200 + ${q('h')}(i, 'exch') % 800)::text || lpad((${q('h')}(i, 'ph') % 10000)::text, 4, '0') as num) p)
                 -- Mobile ranges only (076 is pagers, 070 personal numbers).
                 when country = 'GB' then '07' || ${q('pick')}(i, 'gbm', array['4','5','7','8','9']) || lpad((${q('h')}(i, 'ph') % 100000000)::text, 8, '0')
                 when country = 'DE' then '+49 151 ' || lpad((${q('h')}(i, 'ph') % 100000000)::text, 8, '0')
                 -- Not 0639 or 069x: those are the overseas departments' mobiles, not metropolitan France's.
                 when country = 'FR' then '06 ' || ${q('pick')}(i, 'frm', array['1','2','4','5','6','7','8']) || lpad((${q('h')}(i, 'ph') % 10000000)::text, 7, '0')
                 -- 040-043: long-assigned Australian mobile ranges.
                 else '+61 4' || (${q('h')}(i, 'aum') % 4)::text || lpad((${q('h')}(i, 'ph') % 10000000)::text, 7, '0') end,
            fn, ln,
            case country when 'US' then ${q('pick')}(i, 'city', array['New York','Los Angeles','Chicago','Houston','Phoenix','San Francisco','Seattle','Austin'])
                         when 'GB' then ${q('pick')}(i, 'city', array['London','Manchester','Leeds','Bristol'])
                         when 'CA' then ${q('pick')}(i, 'city', array['Toronto','Montréal','Vancouver'])
                         when 'DE' then ${q('pick')}(i, 'city', array['Berlin','München','Hamburg'])
                         when 'FR' then ${q('pick')}(i, 'city', array['Paris','Lyon','Marseille'])
                         else ${q('pick')}(i, 'city', array['Sydney','Melbourne']) end,
            case country when 'US' then ${q('pick')}(i, 'state', array['NY','CA','IL','TX','AZ','WA','FL','MA'])
                         when 'CA' then ${q('pick')}(i, 'state', array['ON','QC','BC']) else null end,
            case country when 'US' then lpad((${q('h')}(i, 'zip') % 99999 + 1)::text, 5, '0') || case when ${q('h')}(i, 'zip4') % 5 = 0 then '-' || lpad((${q('h')}(i, 'zip4') % 10000)::text, 4, '0') else '' end
                         when 'GB' then ${q('pick')}(i, 'zip', array['SW1A 1AA','M1 1AE','LS1 4AP','BS1 5TR'])
                         else lpad((${q('h')}(i, 'zip') % 99999)::text, 5, '0') end,
            country,
            case when ${q('h')}(i, 'nodob') % 100 < 20 then null else date '1950-01-01' + (${q('h')}(i, 'dob') % 20000)::int end,
            case when ${q('h')}(i, 'gender') % 100 < 10 then null when ${q('h')}(i, 'gender') % 2 = 0 then 'female' else 'male' end,
            0,
            ${q('pick')}(i, 'plan', array['free','free','free','pro','pro','enterprise']),
            array(select x from unnest(array['running','cooking','travel','gaming','music','fashion']) with ordinality t(x, n) where ${q('h')}(i, 'int' || n) % 4 = 0),
            ${anchorDate} - make_interval(secs => (${q('h')}(i, 'created') % (3 * 365 * 86400))::double precision),
            ${q('h')}(i, 'optin') % 100 >= 8,
            ${q('h')}(i, 'cud') % 100 >= 15,
            ${q('h')}(i, 'cap') % 100 >= 25
       from placed`,
    `create table ${q('orders')} (
       order_id bigint primary key,
       customer_id bigint not null references ${q('customers')}(customer_id),
       ordered_at timestamptz not null,
       total numeric(10,2) not null,
       status text not null,
       channel text not null
     )`,
    `insert into ${q('orders')}
     select row_number() over (order by c.customer_id, k),
            c.customer_id,
            greatest(c.created_at, ${anchorDate} - make_interval(secs => (${q('h')}(c.customer_id * 100 + k, 'ot') % (3 * 365 * 86400))::double precision)),
            round(((5 + ${q('h')}(c.customer_id * 100 + k, 'amt') % 30000 / 100.0) * case when ${q('h')}(c.customer_id * 100 + k, 'big') % 50 = 0 then 8 else 1 end)::numeric, 2),
            ${q('pick')}(c.customer_id * 100 + k, 'st', array['completed','completed','completed','completed','completed','completed','refunded','cancelled']),
            ${q('pick')}(c.customer_id * 100 + k, 'ch', array['web','web','app','store'])
       from ${q('customers')} c, generate_series(1, (${q('h')}(c.customer_id, 'norders') % 7)::int) as s(k)
      where ${q('h')}(c.customer_id, 'buyer') % 100 < 75`,
    `update ${q('customers')} c set ltv = o.total from (
       select customer_id, sum(total) as total from ${q('orders')} where status = 'completed' group by customer_id
     ) o where o.customer_id = c.customer_id`,
    `create table ${q('events')} (
       event_id bigint primary key,
       customer_id bigint not null references ${q('customers')}(customer_id),
       occurred_at timestamptz not null,
       name text not null,
       channel text not null
     )`,
    `insert into ${q('events')}
     select row_number() over (order by c.customer_id, k),
            c.customer_id,
            greatest(c.created_at, ${anchorDate} - make_interval(secs => (${q('h')}(c.customer_id * 100 + k, 'et') % (180 * 86400))::double precision)),
            ${q('pick')}(c.customer_id * 100 + k, 'en', array['page_view','page_view','page_view','product_view','product_view','add_to_cart','checkout_started','app_open','email_open','email_click']),
            ${q('pick')}(c.customer_id * 100 + k, 'ec', array['web','app','email'])
       from ${q('customers')} c, generate_series(1, (${q('h')}(c.customer_id, 'nevents') % ${maxEvents + 1})::int) as s(k)`,
    `create index on ${q('orders')} (customer_id, ordered_at)`,
    `create index on ${q('events')} (customer_id, occurred_at)`,
    `create table ${q('_seed')} (version int not null, anchor date not null, customers bigint not null, orders bigint not null, events bigint not null, seeded_at timestamptz not null default now())`,
    `insert into ${q('_seed')} (version, anchor, customers, orders, events)
     select ${SEED_VERSION}, ${anchorDate}, (select count(*) from ${q('customers')}), (select count(*) from ${q('orders')}), (select count(*) from ${q('events')})`,
    `analyze ${q('customers')}`, `analyze ${q('orders')}`, `analyze ${q('events')}`,
  ];
  // One transaction: a seed interrupted half-way leaves no half-seeded schema behind.
  await warehouse.transaction(async (query) => {
    for (const sql of statements) await query(sql);
  });
  const [counts] = await warehouse.query<{ customers: number; orders: number; events: number }>(`select customers, orders, events from ${q('_seed')}`);
  return { seeded: true, ...counts! };
}
