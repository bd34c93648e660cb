import {
  BIGINT, BOOLEAN, DOUBLE, DuckDBInstance, LIST, VARCHAR, listValue,
  type DuckDBConnection, type DuckDBType, type DuckDBValue,
} from '@duckdb/node-api';
import type { Param } from '../../src/compiler/ir';
import type { CompiledQuery } from '../../src/warehouse/warehouse';

/**
 * A minimal, independent DuckDB runner for differential tests: one in-memory database, one
 * connection, UTC session. Compiled parameters are bound positionally (param i → `$i+1`) with
 * explicit types; the dialect wraps every placeholder in a CAST, so timestamps bind as ISO text.
 * Deliberately not the production adapter, so the tests do not share its bugs.
 */
export class DuckDBRunner {
  private constructor(private readonly instance: DuckDBInstance, private readonly connection: DuckDBConnection) {}

  static async open(): Promise<DuckDBRunner> {
    const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
    const connection = await instance.connect();
    await connection.run(`SET TimeZone = 'UTC'`);
    return new DuckDBRunner(instance, connection);
  }

  /** Runs SQL (several statements when there are no values) and returns rows as JS values. */
  async run(sql: string, values?: DuckDBValue[], types?: DuckDBType[]): Promise<Record<string, unknown>[]> {
    const reader = values === undefined ? await this.connection.runAndReadAll(sql) : await this.connection.runAndReadAll(sql, values, types);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  }

  async execute(query: CompiledQuery): Promise<Record<string, unknown>[]> {
    if (query.dialect !== 'duckdb') throw new Error(`a ${query.dialect} query cannot run on DuckDB`);
    const bindings = query.params.map(duckdbBinding);
    return this.run(query.sql, bindings.map((b) => b.value), bindings.map((b) => b.type));
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/** A compiler parameter as DuckDB binds it. */
export function duckdbBinding(param: Param): { value: DuckDBValue; type: DuckDBType } {
  const v = param.value;
  switch (param.type) {
    case 'float': return { value: v as number | null, type: DOUBLE };
    case 'integer': return { value: v === null ? null : BigInt(v as number), type: BIGINT };
    case 'string': return { value: v as string | null, type: VARCHAR };
    case 'boolean': return { value: v as boolean | null, type: BOOLEAN };
    case 'timestamp': return { value: v === null ? null : String(v), type: VARCHAR };
    case 'string_array': return { value: v === null ? null : listValue(v as Array<string | null>), type: LIST(VARCHAR) };
    case 'float_array': return { value: v === null ? null : listValue(v as Array<number | null>), type: LIST(DOUBLE) };
  }
}
