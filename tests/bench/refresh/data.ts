/**
 * The benchmark's data: N customers generated set-based in SQL (generate_series in Postgres,
 * range() in DuckDB), deterministic (a multiplicative hash of the customer id picks every value),
 * the model over them, the segment, and the 1% churn applied between the two refreshes.
 *
 * Segment: marketing_opt_in = true AND country in 10 of the 12 generated countries
 * → 50% × 10/12 ≈ 41.7% of customers.
 * Churn: NOT marketing_opt_in for customer_id % 1000 < 12 in those countries (1.2% × 10/12 = 1% of
 * rows: ≈ 0.5% of customers leave, ≈ 0.5% join), plus new email and phone for customer_id % 1000
 * = 500 (0.1% of rows: identifier changes, which move fingerprints but not membership).
 */
import type { ModelDefinition } from '../../../src/models/model-schema';

export type Engine = 'postgres' | 'duckdb';

/** Countries drawn for customers (US three times as likely) and those the segment selects. */
const COUNTRIES = ['US', 'US', 'US', 'GB', 'CA', 'DE', 'FR', 'AU', 'NL', 'SE', 'BR', 'JP'];
export const SEGMENT_COUNTRIES = ['US', 'GB', 'CA', 'DE', 'FR', 'AU', 'NL', 'SE', 'ES', 'IT'];

export const SEGMENT_RULE = {
  and: [
    { '==': [{ var: 'marketing_opt_in' }, true] },
    { in: [{ var: 'country' }, SEGMENT_COUNTRIES] },
  ],
};

/** The same filter, hand-written (the baseline's WHERE). */
export const BASELINE_FILTER = `marketing_opt_in AND country IN (${SEGMENT_COUNTRIES.map((c) => `'${c}'`).join(', ')})`;

const FIRST = ['James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'William', 'Elizabeth', 'David', 'Barbara', 'José', 'Zoë', 'Mohammed', 'Aoife'];
const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', "O'Brien", 'Müller', 'Nguyen', 'Kowalski', 'Dubois', 'Rossi'];
const CITIES = ['Springfield', 'Portland', 'Austin', 'London', 'Toronto', 'Berlin', 'Paris', 'Sydney', 'Amsterdam', 'Stockholm', 'São Paulo', 'Tokyo'];
const STATES = ['CA', 'NY', 'TX', 'WA', 'OR', 'IL', 'MA', 'FL'];
const DOMAINS = ['gmail.com', 'yahoo.com', 'outlook.com', 'example.org', 'icloud.com', 'proton.me'];

const literalArray = (values: string[]) => `(ARRAY[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ')}])`;
/** Deterministic pseudo-random non-negative integer from the id `i` and a salt (fits in BIGINT for i ≤ 3·10^9). */
const h = (salt: number) => `((i * 2654435761 + ${salt * 40503 + 7}) % 2147483647)`;
const pick = (values: string[], salt: number) => `${literalArray(values)}[CAST(1 + ${h(salt)} % ${values.length} AS INTEGER)]`;

export const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function createCustomersSql(engine: Engine, schema: string): string[] {
  const unlogged = engine === 'postgres' ? 'UNLOGGED ' : '';
  return [
    `CREATE SCHEMA IF NOT EXISTS ${q(schema)}`,
    `DROP TABLE IF EXISTS ${q(schema)}.customers`,
    `CREATE ${unlogged}TABLE ${q(schema)}.customers (
       customer_id BIGINT NOT NULL, email VARCHAR, phone VARCHAR, first_name VARCHAR, last_name VARCHAR,
       city VARCHAR, state VARCHAR, zip VARCHAR, country VARCHAR, date_of_birth DATE, gender VARCHAR,
       ltv DECIMAL(12,2) NOT NULL, plan VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL,
       marketing_opt_in BOOLEAN NOT NULL, consent_ad_user_data BOOLEAN NOT NULL, consent_ad_personalization BOOLEAN NOT NULL)`,
  ];
}

/** INSERT of customers with ids in [from, to] (inclusive). */
export function insertCustomersSql(engine: Engine, schema: string, from: number, to: number): string {
  const series = engine === 'postgres' ? `generate_series(${from}::bigint, ${to}::bigint) AS g(i)` : `range(${from}, ${to + 1}) AS g(i)`;
  const str = (x: string) => `CAST(${x} AS VARCHAR)`;
  return `INSERT INTO ${q(schema)}.customers
    SELECT i,
           CASE WHEN ${h(1)} % 33 = 0 THEN NULL ELSE 'customer' || ${str('i')} || '@' || ${pick(DOMAINS, 2)} END,
           CASE WHEN ${h(3)} % 5 = 0 THEN NULL ELSE '+1555' || lpad(${str(`${h(4)} % 10000000`)}, 7, '0') END,
           ${pick(FIRST, 5)}, ${pick(LAST, 6)}, ${pick(CITIES, 7)}, ${pick(STATES, 8)},
           lpad(${str(`${h(9)} % 100000`)}, 5, '0'),
           ${pick(COUNTRIES, 10)},
           DATE '1950-01-01' + CAST(${h(12)} % 20000 AS INTEGER),
           ${pick(['female', 'male', 'female', 'male', 'other'], 13)},
           CAST(CAST(${h(14)} % 200000 AS DECIMAL(14,2)) / 100 AS DECIMAL(12,2)),
           ${pick(['free', 'free', 'pro', 'enterprise'], 15)},
           TIMESTAMPTZ '2020-01-01 00:00:00+00' + (${h(16)} % 2000) * INTERVAL '1 day',
           ${h(11)} % 2 = 0,
           ${h(17)} % 10 < 8,
           ${h(18)} % 10 < 7
      FROM ${series}`;
}

/** 1% membership churn and 0.1% identifier changes (see the header). */
export function churnSql(schema: string): string[] {
  const countries = SEGMENT_COUNTRIES.map((c) => `'${c}'`).join(', ');
  return [
    `UPDATE ${q(schema)}.customers SET marketing_opt_in = NOT marketing_opt_in WHERE customer_id % 1000 < 12 AND country IN (${countries})`,
    `UPDATE ${q(schema)}.customers SET email = 'changed.' || CAST(customer_id AS VARCHAR) || '@example.net', phone = '+1555' || lpad(CAST(customer_id % 9999991 AS VARCHAR), 7, '0') WHERE customer_id % 1000 = 500`,
  ];
}

export function modelDefinition(slug: string, schema: string): ModelDefinition {
  return {
    slug,
    name: `Refresh benchmark customers (${schema})`,
    description: 'Generated by tests/bench/refresh.',
    schema,
    table: 'customers',
    primaryKey: 'customer_id',
    attributes: [
      { name: 'customer_id', type: 'integer' },
      { name: 'email', type: 'string' },
      { name: 'phone', type: 'string' },
      { name: 'first_name', type: 'string' },
      { name: 'last_name', type: 'string' },
      { name: 'city', type: 'string' },
      { name: 'state', type: 'string' },
      { name: 'zip', type: 'string' },
      { name: 'country', type: 'string' },
      { name: 'date_of_birth', type: 'date' },
      { name: 'gender', type: 'string' },
      { name: 'ltv', type: 'number' },
      { name: 'plan', type: 'string' },
      { name: 'created_at', type: 'timestamp' },
      { name: 'marketing_opt_in', type: 'boolean' },
      { name: 'consent_ad_user_data', type: 'boolean' },
      { name: 'consent_ad_personalization', type: 'boolean' },
    ],
    identifiers: {
      email: 'email', phone: 'phone', first_name: 'first_name', last_name: 'last_name', city: 'city', state: 'state',
      zip: 'zip', country: 'country', date_of_birth: 'date_of_birth', gender: 'gender', external_id: 'customer_id',
    },
    consent: { ad_user_data: 'consent_ad_user_data', ad_personalization: 'consent_ad_personalization' },
    relationships: [],
  } as ModelDefinition;
}
