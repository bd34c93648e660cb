import { BigQuery, BigQueryTimestamp } from '@google-cloud/bigquery';
import type { Param, ParamType } from '../../compiler/ir';

/** A parameter type as `@google-cloud/bigquery`'s `types` option spells it: `'INT64'` or `['STRING']` for ARRAY<STRING>. */
export type BigQueryParamType = string | [string];

/** Our parameter types in BigQuery (the dialect's BIGQUERY_TYPES, as the client library wants them). */
export const BIGQUERY_PARAM_TYPES: Record<ParamType, BigQueryParamType> = {
  float: 'FLOAT64', integer: 'INT64', string: 'STRING', boolean: 'BOOL', timestamp: 'TIMESTAMP',
  string_array: ['STRING'], float_array: ['FLOAT64'],
};

/**
 * Compiled parameters (`p1`, `p2`, … matching `@p1`, `@p2` in the SQL) as the library's
 * `params` + `types` options: every parameter carries an explicit type, so NULLs and empty
 * arrays are sent typed instead of being guessed from their value (the library refuses to guess
 * those). Scalar values go out as strings, as the REST API's `QueryParameterValue.value` is one
 * (`NaN`/`Infinity` survive, which JSON numbers would not).
 */
export function namedQueryParams(params: readonly Param[]): { params: Record<string, unknown>; types: Record<string, BigQueryParamType> } {
  const values: Record<string, unknown> = {};
  const types: Record<string, BigQueryParamType> = {};
  for (const param of params) {
    if (Object.hasOwn(values, param.name)) throw new TypeError(`parameter ${param.name} appears twice`);
    values[param.name] = wireValue(param.type, param.value, param.name);
    types[param.name] = BIGQUERY_PARAM_TYPES[param.type];
  }
  return { params: values, types };
}

/**
 * Positional parameters (`?`) for `Warehouse.query`: types inferred from the JS values. A NULL
 * has no type of its own and is sent as a NULL STRING; write `CAST(? AS INT64)` (or use a
 * compiled query, whose parameters are typed) when the type matters.
 */
export function positionalQueryParams(values: readonly unknown[]): { params: unknown[]; types: BigQueryParamType[] } {
  const params: unknown[] = [];
  const types: BigQueryParamType[] = [];
  values.forEach((value, i) => {
    const type = inferParamType(value, `#${i + 1}`);
    types.push(type);
    params.push(wireValue(paramTypeOf(type), value, `#${i + 1}`));
  });
  return { params, types };
}

function inferParamType(value: unknown, name: string): BigQueryParamType {
  if (value === null || value === undefined) return 'STRING';
  if (typeof value === 'string') return 'STRING';
  if (typeof value === 'boolean') return 'BOOL';
  if (typeof value === 'bigint') return 'INT64';
  if (typeof value === 'number') return Number.isSafeInteger(value) ? 'INT64' : 'FLOAT64';
  if (value instanceof Date) return 'TIMESTAMP';
  if (Array.isArray(value)) {
    const first = value.find((v) => v !== null && v !== undefined);
    if (first === undefined || typeof first === 'string') return ['STRING'];
    if (typeof first === 'number') return value.every((v) => Number.isSafeInteger(v)) ? ['INT64'] : ['FLOAT64'];
    if (typeof first === 'boolean') return ['BOOL'];
  }
  throw new TypeError(`parameter ${name}: cannot send ${describe(value)} to BigQuery`);
}

function paramTypeOf(type: BigQueryParamType): ParamType | 'int_array' | 'bool_array' {
  switch (Array.isArray(type) ? `ARRAY<${type[0]}>` : type) {
    case 'FLOAT64': return 'float';
    case 'INT64': return 'integer';
    case 'BOOL': return 'boolean';
    case 'TIMESTAMP': return 'timestamp';
    case 'ARRAY<STRING>': return 'string_array';
    case 'ARRAY<FLOAT64>': return 'float_array';
    case 'ARRAY<INT64>': return 'int_array';
    case 'ARRAY<BOOL>': return 'bool_array';
    default: return 'string';
  }
}

/** The value handed to the library for a parameter of `type`; throws on a value of the wrong kind. */
export function wireValue(type: ParamType | 'int_array' | 'bool_array', value: unknown, name: string): unknown {
  const fail = (): never => { throw new TypeError(`parameter ${name}: ${describe(value)} is not a valid ${type} value`); };
  switch (type) {
    case 'string_array':
    case 'float_array':
    case 'int_array':
    case 'bool_array': {
      // The REST API has no NULL array parameter the library can send; an empty array is not the same thing.
      if (!Array.isArray(value)) return fail();
      const element = ({ string_array: 'string', float_array: 'float', int_array: 'integer', bool_array: 'boolean' } as const)[type];
      return value.map((v, i) => {
        if (v === null || v === undefined) throw new TypeError(`parameter ${name}: BigQuery arrays cannot hold NULL (element ${i})`);
        return wireValue(element, v, `${name}[${i}]`);
      });
    }
    default:
      if (value === null || value === undefined) return null;
  }
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : fail();
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : fail();
    case 'float':
      if (typeof value === 'number' || typeof value === 'bigint') return String(value);
      return typeof value === 'string' && /^(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Infinity|NaN)$/.test(value) ? value : fail();
    case 'integer':
      if (typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value))) return String(value);
      return typeof value === 'string' && /^-?\d{1,19}$/.test(value) ? value : fail();
    case 'timestamp':
      return timestampValue(value) ?? fail();
  }
}

/**
 * TIMESTAMP parameters: ISO-8601 strings with an explicit zone (or a bare date, UTC midnight) or
 * Dates. A zone-less date-time is refused rather than read in this process's local time zone.
 * The library reads a TIMESTAMP parameter's value from a BigQueryTimestamp (a plain string would
 * be sent as NULL).
 */
function timestampValue(value: unknown): BigQueryTimestamp | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : BigQuery.timestamp(value);
  if (typeof value !== 'string') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}(?:$|[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$)/i.test(value)) return undefined;
  if (Number.isNaN(Date.parse(value.replace(' ', 'T')))) return undefined;
  return BigQuery.timestamp(value.replace(' ', 'T'));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'an invalid Date';
  return typeof value === 'string' ? JSON.stringify(value).slice(0, 60) : `a ${typeof value}`;
}
