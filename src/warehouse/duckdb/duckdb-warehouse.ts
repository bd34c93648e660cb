import path from 'node:path';
import { DuckDBInstance, ResultReturnType, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import { duckdbDialect } from '../../compiler/dialects/duckdb';
import { abortError, type CompiledQuery, type ExecuteOptions, type TableRef, type Warehouse, type WarehouseForeignKey, type WarehouseTable } from '../warehouse';
import { attributeTypesForDuckDB, duckdbParam, fromDuckDBValue, inferDuckDBParam, type DuckDBBinding } from './duckdb-types';

export const MEMORY = ':memory:';

/**
 * Instance configuration. ICU (time zones), JSON and Parquet are linked into the Node binary;
 * nothing is ever downloaded or loaded from ~/.duckdb at run time.
 */
const INSTANCE_CONFIG: Record<string, string> = {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
};

export interface DuckDBWarehouseOptions {
  /** Database file (created if missing), or `:memory:` for a private in-memory database. */
  path: string;
  defaultSchema?: string;
  /** Connections opened at most; each runs one statement (or one transaction) at a time. */
  maxConnections?: number;
}

/**
 * `duckdb:///abs/file.duckdb`, `duckdb://relative/file.duckdb` (from the working directory) or
 * `duckdb://:memory:`, with an optional `?schema=` naming the default schema.
 */
export function parseDuckDBUrl(url: string): { path: string; schema: string | null } {
  const match = /^duckdb:\/\/([^?#]*)(?:\?([^#]*))?$/i.exec(url);
  if (!match) throw new Error('a DuckDB URL looks like duckdb:///abs/path.duckdb, duckdb://relative/path.duckdb or duckdb://:memory:');
  const file = decodeURIComponent(match[1]!);
  if (file === '') throw new Error('the DuckDB URL names no database file (use duckdb://:memory: for an in-memory database)');
  const params = new URLSearchParams(match[2] ?? '');
  for (const key of params.keys()) {
    if (key !== 'schema') throw new Error(`unsupported DuckDB URL parameter "${key}" (only ?schema= is understood)`);
  }
  const schema = params.get('schema');
  return { path: file === MEMORY ? MEMORY : path.resolve(file), schema: schema === '' ? null : schema };
}

// DuckDB lets one process open a file once (and one process write it): warehouses on the same
// file share one instance, closed when the last of them closes. `:memory:` is private to each.
const openFiles = new Map<string, { instance: Promise<DuckDBInstance>; refs: number }>();

async function openInstance(file: string): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(file, INSTANCE_CONFIG);
  try {
    const connection = await instance.connect();
    try {
      // UTC for connections opened by anyone; each of ours also sets it for its session.
      await connection.run(`SET GLOBAL TimeZone = 'UTC'`);
    } finally {
      connection.closeSync();
    }
  } catch (error) {
    instance.closeSync();
    throw error;
  }
  return instance;
}

function acquireInstance(file: string): Promise<DuckDBInstance> {
  if (file === MEMORY) return openInstance(file);
  let entry = openFiles.get(file);
  if (!entry) {
    const created = { instance: openInstance(file), refs: 0 };
    created.instance.catch(() => { if (openFiles.get(file) === created) openFiles.delete(file); });
    openFiles.set(file, created);
    entry = created;
  }
  entry.refs++;
  return entry.instance;
}

function releaseInstance(file: string, instance: DuckDBInstance): void {
  if (file === MEMORY) {
    instance.closeSync();
    return;
  }
  const entry = openFiles.get(file);
  if (!entry) return;
  entry.refs--;
  if (entry.refs <= 0) {
    openFiles.delete(file);
    instance.closeSync();
  }
}

type Rows = Record<string, unknown>[];

async function run(connection: DuckDBConnection, sql: string, bindings: readonly DuckDBBinding[]): Promise<Rows> {
  // Without parameters the SQL may hold several statements (DDL scripts); with them, one.
  const reader = bindings.length === 0
    ? await connection.runAndReadAll(sql)
    // An absent type means "infer from the value" (the library's own behaviour for a missing entry).
    : await connection.runAndReadAll(sql, bindings.map((b) => b.value), bindings.map((b) => b.type) as DuckDBType[]);
  // Like Postgres, statements that return no rows (INSERT without RETURNING, DDL) answer [].
  if (reader.returnType !== ResultReturnType.QUERY_RESULT) return [];
  return reader.convertRowObjects<unknown>((value) => fromDuckDBValue(value));
}

const inferAll = (params: readonly unknown[]): DuckDBBinding[] => params.map((value, i) => inferDuckDBParam(value, i + 1));

export class DuckDBWarehouse implements Warehouse {
  readonly dialect = 'duckdb' as const;
  readonly defaultSchema: string;
  /** Absolute path of the database file, or `:memory:`. */
  readonly path: string;
  private readonly maxConnections: number;
  private instance: Promise<DuckDBInstance> | null = null;
  private readonly connections: DuckDBConnection[] = [];
  private readonly idle: DuckDBConnection[] = [];
  private readonly waiters: Array<() => void> = [];
  private opening = 0;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;

  constructor(options: DuckDBWarehouseOptions) {
    this.path = options.path === MEMORY ? MEMORY : path.resolve(options.path);
    this.defaultSchema = options.defaultSchema ?? 'main';
    this.maxConnections = Math.max(1, options.maxConnections ?? 4);
  }

  static fromUrl(url: string, options: { defaultSchema?: string; maxConnections?: number } = {}): DuckDBWarehouse {
    const parsed = parseDuckDBUrl(url);
    const defaultSchema = options.defaultSchema ?? parsed.schema ?? undefined;
    return new DuckDBWarehouse({ path: parsed.path, ...(defaultSchema ? { defaultSchema } : {}), ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}) });
  }

  async ping(): Promise<void> {
    await this.query('select 1');
  }

  async execute<Row extends Record<string, unknown>>(query: CompiledQuery, options: ExecuteOptions = {}): Promise<Row[]> {
    if (query.dialect !== 'duckdb') throw new Error(`a ${query.dialect} query cannot run on DuckDB`);
    const bindings = query.params.map((p) => duckdbParam(p, duckdbDialect.driverValue(p)));
    const { signal } = options;
    if (!signal) return this.withConnection((connection) => run(connection, query.sql, bindings)) as Promise<Row[]>;
    if (signal.aborted) throw abortError(signal);
    return this.withConnection(async (connection) => {
      // interrupt() is synchronous and only while our query runs: it never reaches the connection's next user.
      let running = true;
      const interrupt = () => { if (running) connection.interrupt(); };
      signal.addEventListener('abort', interrupt, { once: true });
      try {
        if (signal.aborted) throw abortError(signal);
        return await run(connection, query.sql, bindings);
      } catch (error) {
        if (signal.aborted) throw abortError(signal);
        throw error;
      } finally {
        running = false;
        signal.removeEventListener('abort', interrupt);
      }
    }) as Promise<Row[]>;
  }

  async query<Row extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> {
    const bindings = inferAll(params);
    return this.withConnection((connection) => run(connection, sql, bindings)) as Promise<Row[]>;
  }

  async transaction<T>(work: (query: (sql: string, params?: unknown[]) => Promise<Rows>) => Promise<T>): Promise<T> {
    return this.withConnection(async (connection) => {
      // The connection is ours alone until `work` settles; statements `work` issues concurrently
      // still run one after another on it.
      let tail: Promise<unknown> = Promise.resolve();
      let open = true;
      const query = (sql: string, params: unknown[] = []): Promise<Rows> => {
        if (!open) return Promise.reject(new Error('the transaction has already ended'));
        const bindings = inferAll(params);
        const next = tail.then(() => run(connection, sql, bindings));
        tail = next.catch(() => {});
        return next;
      };
      await connection.run('BEGIN TRANSACTION');
      try {
        const result = await work(query);
        open = false;
        await tail;
        await connection.run('COMMIT');
        return result;
      } catch (error) {
        open = false;
        await tail;
        await connection.run('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  async listTables(options: { schema?: string }): Promise<TableRef[]> {
    const rows = await this.query<{ schema: string; name: string; kind: 'table' | 'view' }>(
      `select schema, name, kind from (
         select schema_name as schema, table_name as name, 'table' as kind
           from duckdb_tables() where database_name = current_database() and not internal and not temporary
         union all
         select schema_name, view_name, 'view'
           from duckdb_views() where database_name = current_database() and not internal and not temporary
       ) where $1::varchar is null or lower(schema) = lower($1::varchar)
       order by schema, name`,
      [options.schema ?? null],
    );
    return rows.map((r) => ({ schema: r.schema, name: r.name, kind: r.kind }));
  }

  async describeTable(ref: { schema: string; table: string }): Promise<WarehouseTable | null> {
    // DuckDB resolves identifiers case-insensitively (quoted or not), so lookups do too.
    const found = await this.query<{ schema: string; name: string; kind: 'table' | 'view' }>(
      `select schema_name as schema, table_name as name, 'table' as kind
         from duckdb_tables()
        where database_name = current_database() and not internal and not temporary
          and lower(schema_name) = lower($1) and lower(table_name) = lower($2)
       union all
       select schema_name, view_name, 'view'
         from duckdb_views()
        where database_name = current_database() and not internal and not temporary
          and lower(schema_name) = lower($1) and lower(view_name) = lower($2)`,
      [ref.schema, ref.table],
    );
    const table = found[0];
    if (!table) return null;
    const columns = await this.query<{ name: string; data_type: string; is_nullable: boolean }>(
      `select column_name as name, data_type, is_nullable
         from duckdb_columns()
        where database_name = current_database() and schema_name = $1 and table_name = $2
        order by column_index`,
      [table.schema, table.name],
    );
    // Foreign keys never cross schemas in DuckDB; the referenced table and columns are stored as
    // the DDL spelled them, so they are matched case-insensitively and reported as the catalog spells them.
    const constraints = await this.query<{ type: string; table: string; columns: string[]; ref_table: string | null; ref_columns: string[] }>(
      `select c.constraint_type as type, c.table_name as "table", c.constraint_column_names as columns,
              coalesce(t.table_name, c.referenced_table) as ref_table, c.referenced_column_names as ref_columns
         from duckdb_constraints() c
         left join duckdb_tables() t
           on t.database_name = c.database_name and t.schema_name = c.schema_name and lower(t.table_name) = lower(c.referenced_table)
        where c.database_name = current_database() and c.schema_name = $1
          and c.constraint_type in ('PRIMARY KEY', 'FOREIGN KEY')
          and (c.table_name = $2 or (c.constraint_type = 'FOREIGN KEY' and lower(c.referenced_table) = lower($2)))
        order by c.table_name, c.constraint_index`,
      [table.schema, table.name],
    );
    const referenced = [...new Set(constraints.flatMap((c) => (c.ref_table === null ? [] : [c.ref_table])))];
    const referencedColumns = referenced.length === 0 ? [] : await this.query<{ table: string; name: string }>(
      `select table_name as "table", column_name as name from duckdb_columns()
        where database_name = current_database() and schema_name = $1 and list_contains($2, table_name)`,
      [table.schema, referenced],
    );
    const columnName = (refTable: string, name: string) =>
      referencedColumns.find((c) => c.table === refTable && c.name.toLowerCase() === name.toLowerCase())?.name ?? name;
    const toForeignKey = (c: (typeof constraints)[number]): WarehouseForeignKey => ({
      columns: c.columns,
      referencedSchema: table.schema,
      referencedTable: c.ref_table ?? '',
      referencedColumns: c.ref_columns.map((name) => columnName(c.ref_table ?? '', name)),
    });
    const own = constraints.filter((c) => c.table === table.name);
    return {
      schema: table.schema,
      name: table.name,
      kind: table.kind,
      columns: columns.map((c) => {
        const compatibleTypes = attributeTypesForDuckDB(c.data_type);
        return { name: c.name, nativeType: c.data_type, attributeType: compatibleTypes[0] ?? null, compatibleTypes, nullable: c.is_nullable };
      }),
      primaryKey: own.find((c) => c.type === 'PRIMARY KEY')?.columns ?? [],
      foreignKeys: own.filter((c) => c.type === 'FOREIGN KEY').map(toForeignKey),
      referencedBy: constraints
        .filter((c) => c.type === 'FOREIGN KEY' && c.ref_table === table.name)
        .map((c) => ({ ...toForeignKey(c), schema: table.schema, table: c.table })),
    };
  }

  /** Waits for running statements and transactions, then closes every connection and the instance. Idempotent. */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      for (const connection of this.connections) connection.closeSync();
      this.connections.length = 0;
      this.idle.length = 0;
      const instance = await this.instance?.catch(() => null);
      this.instance = null;
      if (instance) releaseInstance(this.path, instance);
    })();
    return this.closing;
  }

  private withConnection<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new Error('the DuckDB warehouse is closed'));
    const task = (async () => {
      const connection = await this.acquire();
      try {
        return await work(connection);
      } finally {
        this.idle.push(connection);
        this.waiters.shift()?.();
      }
    })();
    this.inFlight.add(task);
    const done = () => { this.inFlight.delete(task); };
    task.then(done, done);
    return task;
  }

  /** An idle connection, a new one while fewer than `maxConnections` exist, or the next one released. */
  private async acquire(): Promise<DuckDBConnection> {
    for (;;) {
      const idle = this.idle.pop();
      if (idle) return idle;
      if (this.connections.length + this.opening < this.maxConnections) {
        this.opening++;
        try {
          const connection = await this.connect();
          this.connections.push(connection);
          return connection;
        } catch (error) {
          // Let a waiter try in turn, so that nobody waits for a connection that never opened.
          this.waiters.shift()?.();
          throw error;
        } finally {
          this.opening--;
        }
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private async connect(): Promise<DuckDBConnection> {
    if (!this.instance) {
      const opening = acquireInstance(this.path);
      this.instance = opening;
      // A failed open (locked file, bad path) is retried by the next statement.
      opening.catch(() => { if (this.instance === opening) this.instance = null; });
    }
    const instance = await this.instance;
    const connection = await instance.connect();
    try {
      await connection.run(`SET TimeZone = 'UTC'`);
    } catch (error) {
      connection.closeSync();
      throw error;
    }
    return connection;
  }
}
