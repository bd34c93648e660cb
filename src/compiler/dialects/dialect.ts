import type { DialectFunction, Param, ParamType } from '../ir';

export type DialectName = 'postgres' | 'duckdb' | 'bigquery';
export const DIALECTS: readonly DialectName[] = ['postgres', 'duckdb', 'bigquery'];

/**
 * What differs between SQL engines, and nothing else (after Kysely's compilers and Malloy's
 * Dialect). Identifiers reaching `quoteIdentifier` come from the model, never from rule text,
 * and are still quoted; rule literals only ever reach SQL through `placeholder`.
 */
export interface Dialect {
  readonly name: DialectName;
  quoteIdentifier(name: string): string;
  /** `$1::text`, `@p1`, …: `index` is 1-based in order of first appearance. */
  placeholder(param: Param, index: number): string;
  /** Parameter name as the driver wants it (BigQuery names its parameters). */
  paramName(index: number): string;
  /** Compiler-owned constant of a type (never rule text). */
  constant(value: boolean | 0 | 1 | '' | 'null' | 'true' | 'false' | 'NaN' | null, type: ParamType): string;
  castColumn(column: string, as: 'float' | 'integer'): string;
  stringCompare(op: '<' | '<=' | '>' | '>=', left: string, right: string): string;
  fn(fn: DialectFunction, args: string[]): string;
  regexMatch(value: string, pattern: string): string;
  /** Regex source in this engine's syntax, from our validated subset (see regex-subset.ts). */
  regexSource(pattern: string): string;
  /** FROM clause ranging over the elements of an array value; elements are `elementColumn`. */
  arrayFrom(array: string): string;
  readonly elementColumn: string;
  tableName(schema: string, table: string): string;
  /** Any value as text (identifiers stored in snapshots). */
  castText(value: string): string;
  /** A hex digest of values (NULL-safe, order-sensitive): detects changed identifiers between refreshes. */
  fingerprint(values: string[]): string;
  /** The value handed to the driver for a parameter. */
  driverValue(param: Param): unknown;
}
