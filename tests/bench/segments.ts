/**
 * The five benchmark segments: the demo segments' rules (read from segments/*.segment.json) and,
 * for each, the SQL a competent engineer would write by hand for the same audience on the demo
 * schema. Hand-written queries count members; `$1` is always the as-of time, `$2…` window cutoffs.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface BenchSegment {
  slug: string;
  rule: unknown;
  /** Hand-written equivalent: a query returning one row with a `count` column. */
  handSql: (schema: string) => string;
  handParams: (asOf: Date) => unknown[];
  /** What the hand-written query does, for the report. */
  handShape: string;
  /**
   * Other shapes for the same rule, written in the compiler's style (quoted aliases, typed
   * placeholders): what a further change would buy, and the shapes the compiler emitted before
   * commit 5a6e571 (correlated COUNT(*) subqueries, COALESCE(…, FALSE) around every predicate).
   * `$1` is the as-of time, `$2` the window cutoff where there is one.
   */
  variants: Array<{ label: string; sql: (schema: string) => string }>;
}

const SEGMENTS_DIR = path.resolve(import.meta.dirname, '../../segments');
const DAY = 86_400_000;
const before = (asOf: Date, days: number) => new Date(asOf.getTime() - days * DAY).toISOString();

function ruleOf(slug: string): unknown {
  return (JSON.parse(fs.readFileSync(path.join(SEGMENTS_DIR, `${slug}.segment.json`), 'utf8')) as { rule: unknown }).rule;
}

export const BENCH_SEGMENTS: BenchSegment[] = [
  {
    slug: 'us-high-value',
    rule: ruleOf('us-high-value'),
    handSql: (s) => `select count(*) as count from "${s}".customers where country = 'US' and ltv > 500`,
    handParams: () => [],
    handShape: 'plain filter on customers',
    variants: [
      { label: 'NaN guard on the raw column (an untyped \'NaN\' takes the column\'s type), so the double cast runs once per row, not twice', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE (("t"."country" = 'US') AND (COALESCE(CAST("t"."ltv" AS double precision), CAST(0 AS double precision)) > CAST(500 AS double precision)) AND (NOT COALESCE(("t"."ltv" = 'NaN'), FALSE)))` },
      { label: 'numeric column compared as numeric (no cast; needs the native column type), NaN guard on the raw column', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE (("t"."country" = 'US') AND (COALESCE("t"."ltv", 0) > CAST(500 AS numeric)) AND (NOT COALESCE(("t"."ltv" = 'NaN'), FALSE)))` },
      { label: 'compiled without the NaN guard (what the guard costs)', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE (("t"."country" = 'US') AND (COALESCE(CAST("t"."ltv" AS double precision), CAST(0 AS double precision)) > CAST(500 AS double precision)))` },
    ],
  },
  {
    slug: 'repeat-buyers-30d',
    rule: ruleOf('repeat-buyers-30d'),
    // The audience is a set of customers: the qualifying keys are matched against customers, as the
    // compiled query must (a warehouse need not enforce orders.customer_id → customers). Counting
    // the groups of orders alone (the earlier hand-written query) skips that join and does less work;
    // it is kept as a variant.
    handSql: (s) => `select count(*) as count from "${s}".customers c
       where c.customer_id in (
         select customer_id from "${s}".orders
          where status = 'completed' and ordered_at >= $2 and ordered_at < $1
          group by customer_id having count(*) >= 2)`,
    handParams: (asOf) => [asOf.toISOString(), before(asOf, 30)],
    handShape: 'customers semi-joined (IN) to GROUP BY customer_id HAVING count(*) >= 2 over the window of orders',
    variants: [
      { label: 'groups of orders counted without customers (relies on orders.customer_id being a foreign key: not the same work; the hand-written query of the first runs)', sql: (s) => `select count(*) as count from (select customer_id from "${s}".orders where status = 'completed' and ordered_at >= $2 and ordered_at < $1 group by customer_id having count(*) >= 2) x` },
      { label: 'qualifying keys as an InitPlan array, t.customer_id = ANY(ARRAY(SELECT … GROUP BY … HAVING …)): index probes into customers instead of a merge join over all of them', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE ("t"."customer_id" = ANY(ARRAY(SELECT "r"."customer_id" FROM "${s}"."orders" AS "r" WHERE "r"."customer_id" IS NOT NULL AND (("r"."status" = 'completed') AND (("r"."ordered_at" >= $2::timestamptz) AND ("r"."ordered_at" < $1::timestamptz))) GROUP BY "r"."customer_id" HAVING COUNT(*) >= CAST(2 AS bigint))))` },
      { label: 'as compiled before 5a6e571: correlated (SELECT COUNT(*) …) >= 2, COALESCE wrappers', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE COALESCE(((SELECT COUNT(*) FROM "${s}"."orders" AS "r" WHERE "r"."customer_id" = "t"."customer_id" AND (COALESCE(("r"."status" = 'completed'), FALSE) AND COALESCE((("r"."ordered_at" >= $2::timestamptz) AND ("r"."ordered_at" < $1::timestamptz)), FALSE))) >= CAST(2 AS double precision)), FALSE)` },
    ],
  },
  {
    slug: 'cart-abandoners',
    rule: ruleOf('cart-abandoners'),
    handSql: (s) => `select count(*) as count from "${s}".customers c
       where c.marketing_opt_in
         and exists (select 1 from "${s}".events e where e.customer_id = c.customer_id and e.name = 'add_to_cart' and e.occurred_at >= $2 and e.occurred_at < $1)
         and not exists (select 1 from "${s}".orders o where o.customer_id = c.customer_id and o.ordered_at >= $2 and o.ordered_at < $1)`,
    handParams: (asOf) => [asOf.toISOString(), before(asOf, 7)],
    handShape: 'EXISTS (semi-join) on events + NOT EXISTS (anti-join) on orders',
    variants: [
      { label: 'as compiled before 5a6e571: correlated (SELECT COUNT(*) …) > 0 and = 0, COALESCE wrappers', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE (COALESCE("t"."marketing_opt_in", FALSE) AND COALESCE(((SELECT COUNT(*) FROM "${s}"."events" AS "r" WHERE "r"."customer_id" = "t"."customer_id" AND (COALESCE(("r"."name" = 'add_to_cart'), FALSE) AND COALESCE((("r"."occurred_at" >= $2::timestamptz) AND ("r"."occurred_at" < $1::timestamptz)), FALSE))) > CAST(0 AS double precision)), FALSE) AND COALESCE(((SELECT COUNT(*) FROM "${s}"."orders" AS "r" WHERE "r"."customer_id" = "t"."customer_id" AND COALESCE((("r"."ordered_at" >= $2::timestamptz) AND ("r"."ordered_at" < $1::timestamptz)), FALSE)) = CAST(0 AS double precision)), FALSE))` },
      { label: 'EXISTS / NOT EXISTS but with the COALESCE wrappers kept (half of the 5a6e571 change)', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE (COALESCE("t"."marketing_opt_in", FALSE) AND EXISTS (SELECT 1 FROM "${s}"."events" AS "r" WHERE "r"."customer_id" = "t"."customer_id" AND (COALESCE(("r"."name" = 'add_to_cart'), FALSE) AND COALESCE((("r"."occurred_at" >= $2::timestamptz) AND ("r"."occurred_at" < $1::timestamptz)), FALSE))) AND (NOT EXISTS (SELECT 1 FROM "${s}"."orders" AS "r" WHERE "r"."customer_id" = "t"."customer_id" AND COALESCE((("r"."ordered_at" >= $2::timestamptz) AND ("r"."ordered_at" < $1::timestamptz)), FALSE))))` },
    ],
  },
  {
    slug: 'lapsed-customers',
    rule: ruleOf('lapsed-customers'),
    handSql: (s) => `select count(*) as count from "${s}".customers c
       where exists (select 1 from "${s}".orders o where o.customer_id = c.customer_id and o.status = 'completed')
         and not exists (select 1 from "${s}".orders o where o.customer_id = c.customer_id and o.ordered_at >= $2 and o.ordered_at < $1)`,
    handParams: (asOf) => [asOf.toISOString(), before(asOf, 180)],
    handShape: 'EXISTS + NOT EXISTS on orders',
    variants: [
      { label: 'as compiled before 5a6e571: COALESCE wrappers in the EXISTS subqueries', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE (EXISTS (SELECT 1 FROM "${s}"."orders" AS "r" WHERE "r"."customer_id" = "t"."customer_id" AND COALESCE(("r"."status" = 'completed'), FALSE)) AND (NOT EXISTS (SELECT 1 FROM "${s}"."orders" AS "r" WHERE "r"."customer_id" = "t"."customer_id" AND COALESCE((("r"."ordered_at" >= $2::timestamptz) AND ("r"."ordered_at" < $1::timestamptz)), FALSE))))` },
    ],
  },
  {
    slug: 'new-eu-signups',
    rule: ruleOf('new-eu-signups'),
    handSql: (s) => `select count(*) as count from "${s}".customers
       where country in ('DE', 'FR') and created_at >= $2 and created_at < $1
         and consent_ad_user_data and consent_ad_personalization`,
    handParams: (asOf) => [asOf.toISOString(), before(asOf, 90)],
    handShape: 'plain filter on customers',
    variants: [
      { label: 'as compiled before 5a6e571: COALESCE wrappers', sql: (s) => `SELECT COUNT(*) AS "count" FROM "${s}"."customers" AS "t" WHERE (COALESCE(("t"."country" = ANY('{DE,FR}'::text[])), FALSE) AND COALESCE((("t"."created_at" >= $2::timestamptz) AND ("t"."created_at" < $1::timestamptz)), FALSE) AND COALESCE("t"."consent_ad_user_data", FALSE) AND COALESCE("t"."consent_ad_personalization", FALSE))` },
    ],
  },
];
