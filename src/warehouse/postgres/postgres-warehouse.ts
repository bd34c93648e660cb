import pg from 'pg';
import { postgresDialect } from '../../compiler/dialects/postgres';
import { abortError, type CompiledQuery, type ExecuteOptions, type TableRef, type Warehouse, type WarehouseForeignKey, type WarehouseTable } from '../warehouse';
import { attributeTypesForPostgres, nativeTypeName } from './postgres-types';

// Return dates and timestamps as ISO strings and bigint/numeric as JS values the API can serialize.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // int8: a number when exact, else the decimal string (never silently rounded).
    if (oid === 20 /* int8 */) return (value: string) => (Number.isSafeInteger(Number(value)) ? Number(value) : value);
    if (oid === 1082 /* date */) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

export interface PostgresWarehouseOptions {
  connectionString: string;
  defaultSchema?: string;
  maxConnections?: number;
}

export class PostgresWarehouse implements Warehouse {
  readonly dialect = 'postgres' as const;
  readonly defaultSchema: string;
  private readonly pool: pg.Pool;
  private readonly connectionString: string;

  constructor(options: PostgresWarehouseOptions) {
    const url = new URL(options.connectionString);
    // `?schema=` names the default schema; pg itself does not understand it.
    const schema = url.searchParams.get('schema');
    url.searchParams.delete('schema');
    this.defaultSchema = options.defaultSchema ?? schema ?? 'public';
    // UTC sessions: timestamps without time zone and date arithmetic mean the same everywhere.
    this.connectionString = url.toString();
    this.pool = new pg.Pool({ connectionString: this.connectionString, max: options.maxConnections ?? 10, types, options: '-c TimeZone=UTC' });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
  }

  async ping(): Promise<void> {
    await this.pool.query('select 1');
  }

  async execute<Row extends Record<string, unknown>>(query: CompiledQuery, options: ExecuteOptions = {}): Promise<Row[]> {
    if (query.dialect !== 'postgres') throw new Error(`a ${query.dialect} query cannot run on Postgres`);
    const params = query.params.map((p) => postgresDialect.driverValue(p));
    return options.signal ? this.cancellable<Row>(query.sql, params, options.signal) : this.query<Row>(query.sql, params);
  }

  /**
   * Runs a query that an abort cancels on the server (pg_cancel_backend from a connection of its
   * own, since the pool may be full). The connection goes back to the pool only after the cancel
   * has been answered, so a late cancel can never hit the next query run on it.
   */
  private async cancellable<Row extends Record<string, unknown>>(sql: string, params: unknown[], signal: AbortSignal): Promise<Row[]> {
    if (signal.aborted) throw abortError(signal);
    const client = await this.pool.connect();
    let cancelling: Promise<void> | null = null;
    const cancel = () => { cancelling = this.cancelBackend((client as unknown as { processID: number }).processID); };
    signal.addEventListener('abort', cancel, { once: true });
    try {
      if (signal.aborted) throw abortError(signal);
      return (await client.query(sql, params)).rows as Row[];
    } catch (error) {
      // 57014 query_canceled: ours, by the abort.
      if (signal.aborted && (error as { code?: string }).code === '57014') throw abortError(signal);
      throw error;
    } finally {
      signal.removeEventListener('abort', cancel);
      if (cancelling) await cancelling;
      client.release();
    }
  }

  private async cancelBackend(pid: number): Promise<void> {
    const canceller = new pg.Client({ connectionString: this.connectionString });
    try {
      await canceller.connect();
      await canceller.query('select pg_cancel_backend($1)', [pid]);
    } catch {
      // The query then runs to its end: nothing worse than without a cancel.
    } finally {
      await canceller.end().catch(() => {});
    }
  }

  async query<Row extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> {
    const result = await this.pool.query(sql, params);
    return result.rows as Row[];
  }

  async transaction<T>(work: (query: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const result = await work(async (sql, params = []) => (await client.query(sql, params)).rows);
      await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async listTables(options: { schema?: string }): Promise<TableRef[]> {
    const rows = await this.query<{ schema: string; name: string; kind: string }>(
      `select table_schema as schema, table_name as name, table_type as kind
         from information_schema.tables
        where table_schema not in ('pg_catalog', 'information_schema')
          and table_schema not like 'pg\\_%'
          and ($1::text is null or table_schema = $1)
        order by table_schema, table_name`,
      [options.schema ?? null],
    );
    return rows.map((r) => ({ schema: r.schema, name: r.name, kind: r.kind === 'VIEW' ? 'view' : 'table' }));
  }

  async describeTable(ref: { schema: string; table: string }): Promise<WarehouseTable | null> {
    const tables = await this.query<{ kind: string }>(
      'select table_type as kind from information_schema.tables where table_schema = $1 and table_name = $2',
      [ref.schema, ref.table],
    );
    if (tables.length === 0) return null;
    const columns = await this.query<{ name: string; data_type: string; udt_name: string; is_nullable: string }>(
      `select column_name as name, data_type, udt_name, is_nullable
         from information_schema.columns
        where table_schema = $1 and table_name = $2
        order by ordinal_position`,
      [ref.schema, ref.table],
    );
    const constraints = await this.query<{
      type: string; schema: string; table: string; columns: string[]; ref_schema: string | null; ref_table: string | null; ref_columns: string[] | null;
    }>(
      `select c.contype as type, ns.nspname as schema, t.relname as table,
              array(select a.attname::text from unnest(c.conkey) with ordinality k(n, i)
                     join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i) as columns,
              rns.nspname as ref_schema, rt.relname as ref_table,
              case when c.confrelid = 0 then null else
                array(select a.attname::text from unnest(c.confkey) with ordinality k(n, i)
                       join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i) end as ref_columns
         from pg_constraint c
         join pg_class t on t.oid = c.conrelid
         join pg_namespace ns on ns.oid = t.relnamespace
         left join pg_class rt on rt.oid = c.confrelid
         left join pg_namespace rns on rns.oid = rt.relnamespace
        where c.contype in ('p', 'f')
          and ((ns.nspname = $1 and t.relname = $2) or (c.contype = 'f' and rns.nspname = $1 and rt.relname = $2))`,
      [ref.schema, ref.table],
    );
    const own = constraints.filter((c) => c.schema === ref.schema && c.table === ref.table);
    const toForeignKey = (c: (typeof constraints)[number]): WarehouseForeignKey => ({
      columns: c.columns, referencedSchema: c.ref_schema ?? '', referencedTable: c.ref_table ?? '', referencedColumns: c.ref_columns ?? [],
    });
    return {
      schema: ref.schema,
      name: ref.table,
      kind: tables[0]!.kind === 'VIEW' ? 'view' : 'table',
      columns: columns.map((c) => {
        const compatibleTypes = attributeTypesForPostgres(c.data_type, c.udt_name);
        return {
          name: c.name,
          nativeType: nativeTypeName(c.data_type, c.udt_name),
          attributeType: compatibleTypes[0] ?? null,
          compatibleTypes,
          nullable: c.is_nullable === 'YES',
        };
      }),
      primaryKey: own.find((c) => c.type === 'p')?.columns ?? [],
      foreignKeys: own.filter((c) => c.type === 'f').map(toForeignKey),
      referencedBy: constraints
        .filter((c) => c.type === 'f' && c.ref_schema === ref.schema && c.ref_table === ref.table)
        .map((c) => ({ ...toForeignKey(c), schema: c.schema, table: c.table })),
    };
  }

  private closed = false;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
