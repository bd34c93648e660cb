import {
  BIGINT, BLOB, BOOLEAN, DOUBLE, HUGEINT, LIST, TIMESTAMPTZ, VARCHAR,
  DuckDBArrayValue, DuckDBBitValue, DuckDBBlobValue, DuckDBDateValue, DuckDBDecimalValue, DuckDBIntervalValue, DuckDBListValue,
  DuckDBMapValue, DuckDBStructValue, DuckDBTimestampMillisecondsValue, DuckDBTimestampNanosecondsValue, DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue, DuckDBTimestampValue, DuckDBTimeTZValue, DuckDBTimeValue, DuckDBUnionValue, DuckDBUUIDValue,
  blobValue, listValue, timestampTZValue,
  type DuckDBType, type DuckDBValue,
} from '@duckdb/node-api';
import type { Param } from '../../compiler/ir';
import type { AttributeType } from '../../models/model-schema';

/** A value ready for `bindValue`, with the DuckDB type it binds as (inferred by the library when absent). */
export interface DuckDBBinding {
  value: DuckDBValue;
  type?: DuckDBType;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A compiler parameter as DuckDB binds it, with an explicit type. A NULL binds as DuckDB's
 * untyped NULL (the C API has no typed NULL value); the dialect's `CAST($n AS type)` around every
 * placeholder gives it its type. Timestamps bind as their ISO-8601 text, which the placeholder's
 * `CAST(… AS TIMESTAMPTZ)` parses (keeping microseconds a JS Date would drop).
 */
export function duckdbParam(param: Param, value: unknown = param.value): DuckDBBinding {
  const fail = (expected: string): never => {
    throw new TypeError(`parameter ${param.name} (${param.type}) must be ${expected}, got ${describe(value)}`);
  };
  switch (param.type) {
    case 'float':
      if (value === null || typeof value === 'number') return { value, type: DOUBLE };
      return fail('a number');
    case 'integer':
      if (value === null) return { value, type: BIGINT };
      if (typeof value === 'number' && Number.isInteger(value)) return { value: BigInt(value), type: BIGINT };
      if (typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX) return { value, type: BIGINT };
      return fail('an integer within BIGINT range');
    case 'string':
      if (value === null || typeof value === 'string') return { value, type: VARCHAR };
      return fail('a string');
    case 'boolean':
      if (value === null || typeof value === 'boolean') return { value, type: BOOLEAN };
      return fail('a boolean');
    case 'timestamp':
      if (value === null || typeof value === 'string') return { value, type: VARCHAR };
      if (value instanceof Date && !Number.isNaN(value.getTime())) return { value: value.toISOString(), type: VARCHAR };
      return fail('an ISO-8601 string');
    case 'string_array':
      if (value === null) return { value, type: LIST(VARCHAR) };
      if (Array.isArray(value) && value.every((v) => v === null || typeof v === 'string')) return { value: listValue(value as Array<string | null>), type: LIST(VARCHAR) };
      return fail('an array of strings');
    case 'float_array':
      if (value === null) return { value, type: LIST(DOUBLE) };
      if (Array.isArray(value) && value.every((v) => v === null || typeof v === 'number')) return { value: listValue(value as Array<number | null>), type: LIST(DOUBLE) };
      return fail('an array of numbers');
  }
}

/** A plain JS value (from `Warehouse.query`) as DuckDB binds it; SQL context may still cast it. */
export function inferDuckDBParam(value: unknown, index: number): DuckDBBinding {
  if (value === null || value === undefined) return { value: null };
  switch (typeof value) {
    case 'boolean': return { value, type: BOOLEAN };
    case 'string': return { value, type: VARCHAR };
    case 'number': return Number.isSafeInteger(value) ? { value: BigInt(value), type: BIGINT } : { value, type: DOUBLE };
    case 'bigint': return value >= INT64_MIN && value <= INT64_MAX ? { value, type: BIGINT } : { value, type: HUGEINT };
    default: break;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`parameter $${index} is an invalid Date`);
    return { value: timestampTZValue(BigInt(value.getTime()) * 1000n), type: TIMESTAMPTZ };
  }
  if (value instanceof Uint8Array) return { value: blobValue(value), type: BLOB };
  if (Array.isArray(value)) {
    const items = value.filter((v) => v !== null && v !== undefined);
    if (items.every((v) => typeof v === 'string')) return { value: listValue(value.map((v) => v ?? null)), type: LIST(VARCHAR) };
    if (items.every((v) => typeof v === 'number')) return { value: listValue(value.map((v) => v ?? null)), type: LIST(DOUBLE) };
    if (items.every((v) => typeof v === 'boolean')) return { value: listValue(value.map((v) => v ?? null)), type: LIST(BOOLEAN) };
    throw new TypeError(`parameter $${index}: arrays must hold only strings, only numbers or only booleans`);
  }
  // Values built with the library's constructors (dateValue, decimalValue, …) bind as they are.
  if (isDuckDBValueObject(value)) return { value };
  throw new TypeError(`parameter $${index}: cannot bind ${describe(value)}`);
}

const VALUE_CLASSES = [
  DuckDBArrayValue, DuckDBBitValue, DuckDBBlobValue, DuckDBDateValue, DuckDBDecimalValue, DuckDBIntervalValue, DuckDBListValue,
  DuckDBMapValue, DuckDBStructValue, DuckDBTimestampMillisecondsValue, DuckDBTimestampNanosecondsValue, DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue, DuckDBTimestampValue, DuckDBTimeTZValue, DuckDBTimeValue, DuckDBUnionValue, DuckDBUUIDValue,
];

function isDuckDBValueObject(value: object): value is Exclude<DuckDBValue, null | boolean | number | bigint | string> {
  return VALUE_CLASSES.some((cls) => value instanceof cls);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const ONE_MILLION = 1_000_000n;
const MAX_JS_MILLIS = 8_640_000_000_000_000n;

/** `2020-01-02T03:04:05.123Z`, with 6 or 9 fractional digits only when the value has them. */
function isoFromNanos(nanos: bigint, finite: boolean, fallback: string): string {
  if (!finite) return nanos > 0n ? 'infinity' : '-infinity';
  let millis = nanos / ONE_MILLION;
  let rest = nanos % ONE_MILLION;
  if (rest < 0n) { millis -= 1n; rest += ONE_MILLION; }
  if (millis > MAX_JS_MILLIS || millis < -MAX_JS_MILLIS) return fallback;
  const iso = new Date(Number(millis)).toISOString();
  if (rest === 0n) return iso;
  const extra = rest.toString().padStart(6, '0');
  return `${iso.slice(0, -1)}${extra.endsWith('000') ? extra.slice(0, 3) : extra}Z`;
}

/**
 * A DuckDB result value as a plain JS value the API can serialize: integers as numbers when
 * exact (else decimal strings), DECIMAL as a number, DATE as `YYYY-MM-DD`, every timestamp as an
 * ISO string in UTC with `Z`, LIST/ARRAY as arrays, STRUCT as objects, other types as DuckDB prints them.
 */
export function fromDuckDBValue(value: DuckDBValue): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value.toString();
  if (value instanceof DuckDBDecimalValue) return value.toDouble();
  if (value instanceof DuckDBDateValue) {
    if (value.isFinite) return value.toString();
    return value.days > 0 ? 'infinity' : '-infinity';
  }
  if (value instanceof DuckDBTimestampTZValue || value instanceof DuckDBTimestampValue) return isoFromNanos(value.micros * 1000n, value.isFinite, value.toString());
  if (value instanceof DuckDBTimestampMillisecondsValue) return isoFromNanos(value.millis * ONE_MILLION, value.isFinite, value.toString());
  if (value instanceof DuckDBTimestampSecondsValue) return isoFromNanos(value.seconds * 1_000_000_000n, value.isFinite, value.toString());
  if (value instanceof DuckDBTimestampNanosecondsValue) return isoFromNanos(value.nanos, value.isFinite, value.toString());
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(fromDuckDBValue);
  if (value instanceof DuckDBStructValue) return Object.fromEntries(Object.entries(value.entries).map(([k, v]) => [k, fromDuckDBValue(v)]));
  if (value instanceof DuckDBMapValue) return value.entries.map((e) => ({ key: fromDuckDBValue(e.key), value: fromDuckDBValue(e.value) }));
  if (value instanceof DuckDBBlobValue) return Buffer.from(value.bytes);
  return value.toString();
}

const INTEGER_TYPES = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT']);
const TIMESTAMP_TYPES = new Set(['TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP_S', 'TIMESTAMP_MS', 'TIMESTAMP_NS']);

/** Attribute types a DuckDB column type (as `duckdb_columns().data_type` prints it) can back; the first is the suggestion. */
export function attributeTypesForDuckDB(dataType: string): AttributeType[] {
  if (dataType === 'VARCHAR') return ['string'];
  if (INTEGER_TYPES.has(dataType)) return ['integer', 'number'];
  if (dataType === 'DOUBLE' || dataType === 'FLOAT' || /^DECIMAL\(\d+,\s*\d+\)$/.test(dataType)) return ['number'];
  if (dataType === 'BOOLEAN') return ['boolean'];
  if (dataType === 'DATE') return ['date'];
  if (TIMESTAMP_TYPES.has(dataType)) return ['timestamp'];
  if (dataType === 'VARCHAR[]') return ['string_array'];
  return [];
}
