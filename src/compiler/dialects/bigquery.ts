import type { ParamType } from '../ir';
import { regexFor } from '../regex-subset';
import type { Dialect } from './dialect';

export const BIGQUERY_TYPES: Record<ParamType, string> = {
  float: 'FLOAT64', integer: 'INT64', string: 'STRING', boolean: 'BOOL',
  timestamp: 'TIMESTAMP', string_array: 'ARRAY<STRING>', float_array: 'ARRAY<FLOAT64>',
};

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const quote = (name: string) => `\`${name.replace(/[`\\]/g, (c) => `\\${c}`)}\``;

/** GoogleSQL: backticks, named typed parameters (@p1), UNNEST, REGEXP_CONTAINS. */
export const bigqueryDialect: Dialect = {
  name: 'bigquery',
  quoteIdentifier: quote,
  placeholder: (_param, index) => `@p${index}`,
  paramName: (index) => `p${index}`,
  constant(value, type) {
    if (value === 'NaN') return `CAST('NaN' AS FLOAT64)`;
    if (value === null) return `CAST(NULL AS ${BIGQUERY_TYPES[type]})`;
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') return type === 'float' ? `CAST(${value} AS FLOAT64)` : String(value);
    return `'${value}'`;
  },
  castColumn: (column, as) => `CAST(${column} AS ${as === 'float' ? 'FLOAT64' : 'INT64'})`,
  // GoogleSQL orders STRING by code point.
  stringCompare: (op, left, right) => `(${left} ${op} ${right})`,
  fn(fn, args) {
    const [a, b] = args;
    switch (fn) {
      case 'strpos': return `STRPOS(${a}, ${b})`;
      case 'starts_with': return `STARTS_WITH(${a}, ${b})`;
      case 'ends_with': return `ENDS_WITH(${a}, ${b})`;
      case 'lower_ascii': return `TRANSLATE(${a}, '${UPPER}', '${LOWER}')`;
      case 'least': return `LEAST(${args.join(', ')})`;
      case 'greatest': return `GREATEST(${args.join(', ')})`;
      case 'mod': return `MOD(${a}, ${b})`;
      case 'array_length': return `ARRAY_LENGTH(${a})`;
      case 'array_contains': return `(${b} IN UNNEST(${a}))`;
      case 'negate': return `(- ${a})`;
      case 'date_to_timestamp': return `TIMESTAMP(${a})`;
      case 'to_float': return `CAST(${a} AS FLOAT64)`;
      case 'is_nan': return `IS_NAN(${a})`;
    }
  },
  regexMatch: (value, pattern) => `REGEXP_CONTAINS(${value}, ${pattern})`,
  regexSource: (pattern) => regexFor('re2', pattern),
  arrayFrom: (array) => `UNNEST(${array}) AS \`v\``,
  elementColumn: '`v`',
  tableName: (schema, table) => `${quote(schema)}.${quote(table)}`,
  castText: (value) => `CAST(${value} AS STRING)`,
  fingerprint: (values) => `TO_HEX(MD5(${values.length ? `CONCAT(${values.map((v) => `COALESCE(CAST(${v} AS STRING), '\\\\N')`).join(`, '|', `)})` : `''`}))`,
  driverValue: (param) => param.value,
};
