import type { Param } from '../compiler/ir';
import { BigQueryError } from '../warehouse/bigquery/bigquery-errors';
import type { Warehouse } from '../warehouse/warehouse';
import { SNAPSHOT_TABLE, type StateSql } from './state-sql';

/** What a refresh needs of BigQuery: plain queries (positional `?`) and scripts with named parameters only. */
export interface BigQueryScripts {
  query<Row extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  script<Row extends Record<string, unknown>>(sql: string, params: readonly Param[], options?: { retryJobCreation?: boolean }): Promise<Row[]>;
}

export function runsScripts(warehouse: Warehouse): warehouse is Warehouse & BigQueryScripts {
  return typeof (warehouse as Partial<BigQueryScripts>).script === 'function';
}

export interface BigQueryRefreshInput {
  segmentId: string;
  segmentSlug: string;
  segmentVersion: number;
  runId: string;
  asOf: Date;
  /** The run's start: every event of the run is stamped with it. */
  startedAt: Date;
  identifierKinds: string[];
  /** The compiled snapshot query: GoogleSQL with `@p1`… and their typed parameters. */
  compiled: { sql: string; params: readonly Param[] };
  /** The new snapshot table (a name `SNAPSHOT_TABLE` accepts). */
  table: string;
}

export interface BigQueryRefreshOptions {
  /** Runs of the transaction in all when BigQuery aborts it for a concurrent update of a state table. */
  conflictAttempts?: number;
  conflictDelayMs?: number;
  /** Called after the snapshot is built and before the transaction: throws when the refresh may no longer commit (its lock was lost). */
  fence?: () => Promise<void>;
}

export interface RefreshResult { size: number; entered: number; exited: number; table: string }

/** The compiled query's parameter names: the script's own parameters must never be one. */
const COMPILED_PARAM = /^p\d+$/;

/**
 * The refresh algorithm on BigQuery, where DDL on permanent tables cannot be part of a
 * transaction and a query cannot mix named and positional parameters:
 *
 *  1. read the snapshot pointer (a plain query);
 *  2. `CREATE TABLE snap … AS <compiled query>` with the compiled `@p1`… parameters — outside
 *     any transaction; nothing refers to the new table yet;
 *  3. ONE script with named parameters: BEGIN TRANSACTION; log enters / exits by anti-joins;
 *     count; swap the pointer (DELETE + INSERT); record the run; COMMIT TRANSACTION; SELECT the
 *     counts. BigQuery rolls the transaction back when any statement fails;
 *  4. after the commit, drop the snapshot the swap displaced (a failure there leaves an orphan
 *     table, not a failed run: the new state is committed).
 *
 * Compensation: when step 2 or 3 fails for certain, the new table is dropped, and the pointer,
 * the log and the runs are as they were. When it is unknown whether the script ran (a lost
 * response, a 5xx), the pointer tells: pointing at the new table, the refresh committed and its
 * recorded counts are read back; otherwise the table is left alone (the job might still be
 * running) and the run fails.
 */
export async function refreshOnBigQuery(warehouse: BigQueryScripts, sql: StateSql, input: BigQueryRefreshInput, options: BigQueryRefreshOptions = {}): Promise<RefreshResult> {
  if (sql.dialect !== 'bigquery') throw new Error('refreshOnBigQuery needs BigQuery state SQL');
  if (!SNAPSHOT_TABLE.test(input.table)) throw new Error(`unexpected snapshot table name ${input.table}`);
  const [pointer] = await warehouse.query<{ current_table: string; previous_table: string | null }>(sql.currentPointer(), [input.segmentId]);
  const previous = pointer && SNAPSHOT_TABLE.test(pointer.current_table) ? pointer.current_table : null;
  const displaced = pointer?.previous_table && SNAPSHOT_TABLE.test(pointer.previous_table) ? pointer.previous_table : null;
  if (previous === input.table) throw new Error(`snapshot table ${input.table} is already the current one`);

  let result: RefreshResult;
  try {
    await warehouse.script(sql.createSnapshotAs(input.table, input.identifierKinds, input.compiled.sql), input.compiled.params);
  } catch (error) {
    // A CREATE TABLE … AS either creates the table or not; IF EXISTS covers both.
    await warehouse.query(sql.dropTable(input.table)).catch(() => {});
    throw error;
  }
  try {
    await options.fence?.();
  } catch (error) {
    await warehouse.query(sql.dropTable(input.table)).catch(() => {});
    throw error;
  }
  try {
    result = await runTransaction(warehouse, sql, input, previous, options);
  } catch (error) {
    if (settled(error)) {
      await warehouse.query(sql.dropTable(input.table)).catch(() => {});
      throw error;
    }
    const committed = await committedResult(warehouse, sql, input).catch(() => undefined);
    if (committed) {
      result = committed;
    } else {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message.split('\n')[0]} (unknown whether the refresh committed: snapshot table ${input.table} left in place)`, { cause: error });
    }
  }
  if (displaced && displaced !== input.table && displaced !== previous) {
    await warehouse.query(sql.dropTable(displaced)).catch(() => {});
  }
  return result;
}

async function runTransaction(warehouse: BigQueryScripts, sql: StateSql, input: BigQueryRefreshInput, previous: string | null, options: BigQueryRefreshOptions): Promise<RefreshResult> {
  const attempts = Math.max(1, options.conflictAttempts ?? 4);
  const script = sql.refreshScript(input.table, previous);
  for (let attempt = 1; ; attempt += 1) {
    const params: Param[] = [
      { name: 'segment_id', type: 'string', value: input.segmentId },
      { name: 'segment_slug', type: 'string', value: input.segmentSlug },
      { name: 'segment_version', type: 'integer', value: input.segmentVersion },
      { name: 'run_id', type: 'string', value: input.runId },
      { name: 'as_of', type: 'timestamp', value: input.asOf.toISOString() },
      { name: 'at', type: 'timestamp', value: input.startedAt.toISOString() },
      { name: 'finished_at', type: 'timestamp', value: new Date().toISOString() },
      { name: 'snapshot_table', type: 'string', value: input.table },
      { name: 'previous_table', type: 'string', value: previous },
    ];
    const clash = params.find((p) => COMPILED_PARAM.test(p.name));
    if (clash) throw new Error(`script parameter ${clash.name} would collide with a compiled parameter`);
    try {
      // Sent once: a retried script could log the run twice. Its result pages are retried as usual.
      const [row] = await warehouse.script<{ size: unknown; entered: unknown; exited: unknown }>(script, params, { retryJobCreation: false });
      if (!row) throw new Error('the refresh script returned no counts');
      return { size: Number(row.size), entered: Number(row.entered), exited: Number(row.exited), table: input.table };
    } catch (error) {
      // BigQuery cancels one of two transactions mutating the same table (the pointer table, when
      // two segments refresh at once); it rolled back, so running it again is safe.
      if (attempt >= attempts || !settled(error) || !concurrentUpdate(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, (options.conflictDelayMs ?? 500) * attempt * (0.5 + Math.random() / 2)));
    }
  }
}

/** After an unclear failure: the run's recorded counts if its transaction committed (the pointer names its table). */
async function committedResult(warehouse: BigQueryScripts, sql: StateSql, input: BigQueryRefreshInput): Promise<RefreshResult | undefined> {
  const [pointer] = await warehouse.query<{ current_table: string; run_id: string }>(sql.currentPointer(), [input.segmentId]);
  if (pointer?.current_table !== input.table) return undefined;
  const [run] = await warehouse.query<{ size: unknown; entered: unknown; exited: unknown }>(sql.recordedRun(), [input.runId]);
  if (!run) return undefined;
  return { size: Number(run.size), entered: Number(run.entered), exited: Number(run.exited), table: input.table };
}

/**
 * Whether BigQuery answered that the job failed (its status, or a 4xx refusing it): then a script's
 * transaction was rolled back. A network error or a 5xx leaves it unknown whether the job ran.
 */
function settled(error: unknown): boolean {
  return error instanceof BigQueryError && error.reason !== undefined && (error.status === undefined || error.status < 500);
}

function concurrentUpdate(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return /aborted due to concurrent update|could not serialize access to table .* due to concurrent update/i.test(message);
}
