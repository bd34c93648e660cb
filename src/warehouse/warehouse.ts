import type { DialectName } from '../compiler/dialects/dialect';
import type { Param } from '../compiler/ir';
import type { AttributeType } from '../models/model-schema';

/** A compiled, parameterized query: SQL text in one dialect plus its typed parameters in placeholder order. */
export interface CompiledQuery {
  readonly dialect: DialectName;
  readonly sql: string;
  /** Parameter i is placeholder i+1: `$1` (Postgres, DuckDB) or `@p1` (BigQuery, named by `name`). */
  readonly params: readonly Param[];
}

export interface WarehouseColumn {
  name: string;
  /** The engine's own type name, e.g. `character varying`, `timestamp with time zone`, `text[]`. */
  nativeType: string;
  /** The attribute type this column can back, or null when no attribute type fits. */
  attributeType: AttributeType | null;
  /** Every attribute type this column can back (an integer column also backs `number`). */
  compatibleTypes: AttributeType[];
  nullable: boolean;
}

export interface WarehouseForeignKey {
  columns: string[];
  referencedSchema: string;
  referencedTable: string;
  referencedColumns: string[];
}

export interface WarehouseTable {
  schema: string;
  name: string;
  kind: 'table' | 'view';
  columns: WarehouseColumn[];
  primaryKey: string[];
  foreignKeys: WarehouseForeignKey[];
  /** Foreign keys of other tables that point at this one (candidate has-many relationships). */
  referencedBy: Array<WarehouseForeignKey & { schema: string; table: string }>;
}

export interface TableRef {
  schema: string;
  name: string;
  kind: 'table' | 'view';
}

export interface ExecuteOptions {
  /**
   * Aborting cancels the query in the engine, not only the wait for it: an API request that timed
   * out or whose client went away stops costing the warehouse. The promise rejects with the
   * signal's reason.
   */
  signal?: AbortSignal;
}

/** What an aborted query rejects with: the signal's reason when it is an error. */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('the query was cancelled'), { name: 'AbortError' });
}

/**
 * What the service needs from a warehouse engine. Engines differ only behind this interface;
 * later issues add running compiled queries, streaming rows and loading key sets.
 */
export interface Warehouse {
  readonly dialect: DialectName;
  /** Schema used when a model names none. */
  readonly defaultSchema: string;
  ping(): Promise<void>;
  listTables(options: { schema?: string }): Promise<TableRef[]>;
  describeTable(ref: { schema: string; table: string }): Promise<WarehouseTable | null>;
  /** Runs a compiled query (its dialect must be this warehouse's); rows as plain objects. */
  execute<Row extends Record<string, unknown>>(query: CompiledQuery, options?: ExecuteOptions): Promise<Row[]>;
  /** Run a statement in this engine's own SQL with positional parameters; returns the rows. */
  query<Row extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Runs `work` on one connection inside a transaction; rolls back if it throws. */
  transaction<T>(work: (query: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
