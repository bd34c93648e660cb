import {
  BigQueryDate, BigQueryDatetime, BigQueryInt, BigQueryTime, BigQueryTimestamp, Geography,
} from '@google-cloud/bigquery';

/**
 * A row as the library parses it (with `wrapIntegers: true`) → plain JSON-friendly values:
 * TIMESTAMP → ISO-8601 string (`…sss Z`, or microseconds when there are any), DATE →
 * `YYYY-MM-DD`, DATETIME / TIME → BigQuery's canonical string, INT64 → number (a string when
 * it does not fit a double exactly), NUMERIC / BIGNUMERIC → number when exact else a decimal
 * string, BYTES → base64, GEOGRAPHY → WKT, STRUCT → object, ARRAY → array, NULL → null.
 */
export function plainRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) out[key] = plainValue(value);
  return out;
}

export function plainValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(plainValue);
  if (value instanceof BigQueryTimestamp) return isoTimestamp(value.value);
  if (value instanceof BigQueryDate || value instanceof BigQueryDatetime || value instanceof BigQueryTime) return String(value.value);
  if (value instanceof Geography) return value.value;
  if (value instanceof BigQueryInt) return exactNumber(value.value);
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (isBig(value)) return exactNumber(value.toFixed());
  if (value instanceof Date) return value.toISOString();
  if (Object.getPrototypeOf(value) === Object.prototype) return plainRow(value as Record<string, unknown>);
  // RANGE and anything newer: its own `value` when it has one.
  const inner = (value as { value?: unknown }).value;
  return inner === undefined ? String(value) : plainValue(inner);
}

/** `2024-01-02T03:04:05.123456000Z` (PreciseDate's nanoseconds) → `2024-01-02T03:04:05.123456Z`; whole milliseconds keep JS's `.sssZ`. */
export function isoTimestamp(value: string): string {
  return value.replace(/\.(\d{3,})Z$/, (_m, fraction: string) => `.${fraction.replace(/0+$/, '').padEnd(3, '0')}Z`);
}

/** A decimal string as a number when the number prints back identically, else the string. */
export function exactNumber(decimal: string): number | string {
  const n = Number(decimal);
  return Number.isFinite(n) && String(n) === decimal ? n : decimal;
}

/** big.js values (NUMERIC, BIGNUMERIC), recognized without depending on big.js directly. */
function isBig(value: object): value is { toFixed(): string } {
  const v = value as { c?: unknown; e?: unknown; s?: unknown; toFixed?: unknown };
  return Array.isArray(v.c) && typeof v.e === 'number' && typeof v.s === 'number' && typeof v.toFixed === 'function';
}
