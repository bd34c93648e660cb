import type { ParamType } from '../ir';
import { regexFor } from '../regex-subset';
import type { Dialect } from './dialect';
import { postgresDialect, quoteDoubled } from './postgres';

const DUCK_TYPES: Record<ParamType, string> = {
  float: 'DOUBLE', integer: 'BIGINT', string: 'VARCHAR', boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMPTZ', string_array: 'VARCHAR[]', float_array: 'DOUBLE[]',
};

/** DuckDB reads like Postgres; only types, a few functions and array unnesting differ. */
export const duckdbDialect: Dialect = {
  ...postgresDialect,
  name: 'duckdb',
  placeholder: (param, index) => `CAST($${index} AS ${DUCK_TYPES[param.type]})`,
  constant(value, type) {
    if (value === 'NaN') return `CAST('NaN' AS DOUBLE)`;
    if (value === null) return `CAST(NULL AS ${DUCK_TYPES[type]})`;
    if (typeof value === 'number') return type === 'float' ? `CAST(${value} AS DOUBLE)` : String(value);
    return postgresDialect.constant(value, type);
  },
  castColumn: (column, as) => `CAST(${column} AS ${as === 'float' ? 'DOUBLE' : 'BIGINT'})`,
  // DuckDB compares strings bytewise by default.
  stringCompare: (op, left, right) => `(${left} ${op} ${right})`,
  fn(fn, args) {
    const [a, b] = args;
    switch (fn) {
      case 'ends_with': return `ends_with(${a}, ${b})`;
      case 'mod': return `(${a} % ${b})`;
      case 'array_length': return `len(${a})`;
      case 'array_contains': return `list_contains(${a}, ${b})`;
      case 'date_to_timestamp': return `CAST(${a} AS TIMESTAMPTZ)`;
      case 'to_float': return `CAST(${a} AS DOUBLE)`;
      case 'is_nan': return `isnan(${a})`;
      default: return postgresDialect.fn(fn, args);
    }
  },
  regexMatch: (value, pattern) => `regexp_matches(${value}, ${pattern})`,
  regexSource: (pattern) => regexFor('re2', pattern),
  arrayFrom: (array) => `(SELECT unnest(${array}) AS "v") AS "e"`,
  tableName: (schema, table) => `${quoteDoubled(schema)}.${quoteDoubled(table)}`,
  castText: (value) => `CAST(${value} AS VARCHAR)`,
  fingerprint: (values) => `md5(${values.length ? values.map((v) => `COALESCE(CAST(${v} AS VARCHAR), '\\N')`).join(` || '|' || `) : `''`})`,
  driverValue: (param) => param.value,
};
