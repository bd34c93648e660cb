import type { ParamType } from '../ir';
import { regexFor } from '../regex-subset';
import type { Dialect } from './dialect';

const PG_TYPES: Record<ParamType, string> = {
  float: 'double precision', integer: 'bigint', string: 'text', boolean: 'boolean',
  timestamp: 'timestamptz', string_array: 'text[]', float_array: 'double precision[]',
};

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';

export const quoteDoubled = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export const postgresDialect: Dialect = {
  name: 'postgres',
  quoteIdentifier: quoteDoubled,
  placeholder: (param, index) => `$${index}::${PG_TYPES[param.type]}`,
  paramName: (index) => `$${index}`,
  constant(value, type) {
    if (value === 'NaN') return `CAST('NaN' AS double precision)`;
    if (value === null) return `CAST(NULL AS ${PG_TYPES[type]})`;
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') return type === 'float' ? `CAST(${value} AS double precision)` : String(value);
    return `'${value}'`;
  },
  castColumn: (column, as) => `CAST(${column} AS ${as === 'float' ? 'double precision' : 'bigint'})`,
  // Bytewise (code point) order, whatever the database's default collation.
  stringCompare: (op, left, right) => `(${left} ${op} ${right} COLLATE "C")`,
  fn(fn, args) {
    const [a, b] = args;
    switch (fn) {
      case 'strpos': return `strpos(${a}, ${b})`;
      case 'starts_with': return `starts_with(${a}, ${b})`;
      case 'ends_with': return `(right(${a}, char_length(${b})) = ${b})`;
      case 'lower_ascii': return `translate(${a}, '${UPPER}', '${LOWER}')`;
      case 'least': return `LEAST(${args.join(', ')})`;
      case 'greatest': return `GREATEST(${args.join(', ')})`;
      case 'mod': return `mod(${a}, ${b})`;
      case 'array_length': return `cardinality(${a})`;
      case 'array_contains': return `(${b} = ANY(${a}))`;
      case 'negate': return `(- ${a})`;
      case 'date_to_timestamp': return `(CAST(${a} AS timestamp) AT TIME ZONE 'UTC')`;
      case 'to_float': return `CAST(${a} AS double precision)`;
      case 'is_nan': return `(${a} = CAST('NaN' AS double precision))`;
    }
  },
  regexMatch: (value, pattern) => `(${value} ~ ${pattern})`,
  regexSource: (pattern) => regexFor('postgres', pattern),
  arrayFrom: (array) => `unnest(${array}) AS "e"("v")`,
  elementColumn: '"e"."v"',
  tableName: (schema, table) => `${quoteDoubled(schema)}.${quoteDoubled(table)}`,
  castText: (value) => `CAST(${value} AS text)`,
  fingerprint: (values) => `md5(${values.length ? values.map((v) => `COALESCE(CAST(${v} AS text), '\\N')`).join(` || '|' || `) : `''`})`,
  driverValue: (param) => (param.type === 'float' && Object.is(param.value, -0) ? 0 : param.value),
};
