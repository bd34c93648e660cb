import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { conflict, notFound } from '../errors';
import type { SegmentQueries } from '../segments/segment-queries';
import { maskIdentifier } from '../segments/mask';
import { decodeCursor, isUuid, pageSize, toPage, type Page } from '../store/cursor';
import type { Param } from '../compiler/ir';
import type { Warehouse } from '../warehouse/warehouse';
import { errorSummary, silentLogger, type Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { acquireAdvisoryLock, connectionSettings, type HeldLock } from './advisory-lock';
import { refreshOnBigQuery, runsScripts } from './bigquery-refresh';
import { SNAPSHOT_TABLE, StateSql } from './state-sql';
import { recordChangeWithin, type AuditedWrite } from '../audit/audit-log';

export type RefreshStatus = 'running' | 'succeeded' | 'failed';

export interface RefreshRun {
  id: string;
  segmentId: string;
  segmentVersion: number;
  status: RefreshStatus;
  asOf: string;
  startedAt: string;
  finishedAt: string | null;
  size: number | null;
  entered: number | null;
  exited: number | null;
  durationMs: number | null;
  sql: string;
  error: string | null;
}

interface RunRow {
  id: string; segment_id: string; segment_version: number; status: RefreshStatus; as_of: Date; started_at: Date; finished_at: Date | null;
  size: number | null; entered: number | null; exited: number | null; duration_ms: number | null; snapshot_table: string | null;
  sql: string; params: unknown; error: string | null;
}

const toRun = (row: RunRow): RefreshRun => ({
  id: row.id, segmentId: row.segment_id, segmentVersion: row.segment_version, status: row.status,
  asOf: row.as_of.toISOString(), startedAt: row.started_at.toISOString(), finishedAt: row.finished_at?.toISOString() ?? null,
  size: row.size === null ? null : Number(row.size), entered: row.entered === null ? null : Number(row.entered),
  exited: row.exited === null ? null : Number(row.exited), durationMs: row.duration_ms, sql: row.sql, error: row.error,
});

// Advisory lock classes on the metadata Postgres: one refresh of a segment at a time, across processes.
const LOCK_REFRESH = 0x61756431; // "aud1"
const LOCK_STATE_MIGRATION = 0x61756432;

export interface RefreshServiceOptions {
  db: Knex;
  warehouse: Warehouse;
  queries: SegmentQueries;
  stateSchema: string;
  /** Run lifecycle lines (ids, counts, durations: never members). */
  logger?: Logger;
  metrics?: Metrics;
}

/** Who asked for a refresh, for its log lines. */
export interface RefreshCause {
  syncId?: string;
  syncRunId?: string;
}

/**
 * Refreshes segments in the warehouse: freezes the as-of time, materializes the compiled query as
 * a new snapshot table, logs who entered and who exited by anti-joins against the previous
 * snapshot, swaps the snapshot pointer and records the run — all in one warehouse transaction, so a
 * failure leaves the previous snapshot and the history as they were. Nothing of the audience
 * passes through this process.
 */
export class RefreshService {
  private readonly sql: StateSql;
  private stateReady: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly refreshedListeners: Array<(segmentId: string, cause?: RefreshCause) => void> = [];
  private readonly logger: Logger;

  constructor(private readonly options: RefreshServiceOptions) {
    this.sql = new StateSql(options.warehouse.dialect, options.stateSchema);
    this.logger = options.logger ?? silentLogger();
  }

  /** Creates the state schema and applies its migrations, once per process (and safely across processes). */
  ensureState(): Promise<void> {
    this.stateReady ??= this.withLock(LOCK_STATE_MIGRATION, 'state', { wait: true }, async () => {
      const { warehouse } = this.options;
      await warehouse.query(this.sql.createSchema());
      await warehouse.query(this.sql.createMigrationsTable());
      const applied = new Set((await warehouse.query<{ version: number | string }>(this.sql.appliedMigrations())).map((r) => Number(r.version)));
      const migrations = this.sql.migrations();
      for (const [index, statements] of migrations.entries()) {
        const version = index + 1;
        if (applied.has(version)) continue;
        if (warehouse.dialect === 'bigquery') {
          // No DDL in BigQuery transactions: its migrations are re-runnable (IF NOT EXISTS), recorded last.
          for (const statement of statements) await warehouse.query(statement);
          await warehouse.query(this.sql.recordMigration(), [version, new Date().toISOString()]);
          continue;
        }
        await warehouse.transaction(async (query) => {
          for (const statement of statements) await query(statement);
          await query(this.sql.recordMigration(), [version, new Date().toISOString()]);
        });
      }
    }).catch((error: unknown) => {
      this.stateReady = undefined;
      throw error;
    });
    return this.stateReady;
  }

  /** Runs `work` holding a session advisory lock on the metadata database, on a connection of its own. */
  private async withLock<T>(lockClass: number, key: string, options: { wait: boolean; onBusy?: () => Promise<never> }, work: (lock: HeldLock) => Promise<T>): Promise<T> {
    const lock = await acquireAdvisoryLock(connectionSettings(this.options.db), { lockClass, key, wait: options.wait });
    if (!lock) {
      if (options.onBusy) await options.onBusy();
      throw conflict(`${key} is locked`);
    }
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  }

  /** Called after every successful refresh (jobs enqueue the syncs that follow their segment). */
  onRefreshed(listener: (segmentId: string, cause?: RefreshCause) => void): void {
    this.refreshedListeners.push(listener);
  }

  /**
   * Starts a refresh. Refused with 409 while another refresh of the segment runs (in any process).
   * With `wait`, resolves when the run has finished; otherwise as soon as it is recorded.
   */
  async start(idOrSlug: string, options: { asOf?: Date; wait?: boolean; cause?: RefreshCause; requestId?: string; jobId?: string } & AuditedWrite = {}): Promise<RefreshRun> {
    const loaded = await this.options.queries.loadSegment(idOrSlug);
    const asOf = options.asOf ?? new Date();
    const { compiled, identifierKinds } = this.options.queries.compileSnapshot(loaded, asOf);
    let recorded!: (run: RefreshRun) => void;
    const runRecorded = new Promise<RefreshRun>((resolve) => { recorded = resolve; });

    const execution = this.withLock(LOCK_REFRESH, loaded.id, {
      wait: false,
      onBusy: async () => {
        const running = await this.options.db<RunRow>('refresh_runs').where({ segment_id: loaded.id, status: 'running' }).orderBy('started_at', 'desc').first();
        throw conflict(`A refresh of segment "${loaded.slug}" is already running${running ? ` (run ${running.id})` : ''}.`);
      },
    }, async (lock) => {
      const { db } = this.options;
      await this.ensureState();
      await this.reconcile(loaded.id);
      // The run, who asked for it and the settling of abandoned runs commit together.
      const { row, abandoned } = await db.transaction(async (trx) => {
        // We hold the lock: any run still marked running was abandoned (its process died).
        const settled: Array<{ started_at: Date; finished_at: Date }> = await trx('refresh_runs').where({ segment_id: loaded.id, status: 'running' })
          .update({ status: 'failed', error: 'abandoned: the process running it stopped', finished_at: trx.fn.now() })
          .returning(['started_at', 'finished_at']);
        const [inserted] = await trx<RunRow>('refresh_runs')
          .insert({ id: randomUUID(), segment_id: loaded.id, segment_version: loaded.version, status: 'running', as_of: asOf, sql: compiled.sql, params: JSON.stringify(compiled.params) as never })
          .returning('*');
        await recordChangeWithin(trx, options.audit, { action: 'segment.refresh', resourceType: 'refresh_run', before: null, after: toRun(inserted!), resourceSlug: loaded.slug });
        return { row: inserted!, abandoned: settled };
      });
      const log = this.logger.child({
        runId: row.id, segment: loaded.slug, segmentId: loaded.id,
        ...(options.requestId ? { requestId: options.requestId } : {}), ...(options.jobId ? { jobId: options.jobId } : {}),
        ...(options.cause?.syncId ? { syncId: options.cause.syncId } : {}), ...(options.cause?.syncRunId ? { syncRunId: options.cause.syncRunId } : {}),
      });
      if (abandoned.length) log.warn({ abandoned: abandoned.length }, 'refresh runs abandoned by a stopped process marked failed');
      // Abandoned runs end here, not where they executed: the metrics count them like any other.
      for (const r of abandoned) this.options.metrics?.refreshFinished({ status: 'failed', durationMs: r.finished_at.getTime() - r.started_at.getTime() });
      log.info({ segmentVersion: loaded.version, asOf: asOf.toISOString(), dialect: this.options.warehouse.dialect }, 'refresh started');
      recorded(toRun(row));
      const finished = await this.execute(row, lock, { segmentSlug: loaded.slug, identifierKinds, params: compiled.params.map((p) => p.value), typedParams: compiled.params, log });
      if (finished.status === 'succeeded') for (const listener of this.refreshedListeners) listener(loaded.id, options.cause);
      return finished;
    });
    this.track(execution);
    if (options.wait) return execution;
    // Errors after the run is recorded land in the run; before that (409, …) they are the caller's.
    return Promise.race([runRecorded, execution]);
  }

  private track(promise: Promise<unknown>): void {
    const settled = promise.catch(() => {}).finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
  }

  /** Waits for refreshes in flight (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private async execute(run: RunRow, lock: HeldLock, context: { segmentSlug: string; identifierKinds: string[]; params: unknown[]; typedParams: readonly Param[]; log: Logger }): Promise<RefreshRun> {
    const { db, warehouse } = this.options;
    const { log } = context;
    const started = Date.now();
    let stageStarted = started;
    const stageDone = (stage: string, fields: Record<string, unknown> = {}) => {
      log.debug({ stage, stageMs: Date.now() - stageStarted, ...fields }, 'refresh stage done');
      stageStarted = Date.now();
    };
    let result: { size: number; entered: number; exited: number; table: string };
    try {
      const table = this.sql.snapshotTable(run.segment_id, run.id);
      result = warehouse.dialect === 'bigquery' ? await this.runOnBigQuery(run, table, lock, context) : await warehouse.transaction(async (query) => {
        // The expensive part first: the new snapshot.
        await query(this.sql.createSnapshot(table, context.identifierKinds));
        await query(this.sql.fillSnapshot(table, context.identifierKinds, run.sql), context.params);
        stageDone('snapshot');
        // On Postgres, refreshes of a segment also queue here, in the warehouse, from the pointer
        // read to the commit: a refresh whose metadata lock was lost cannot interleave with the one
        // that took over (and then fails at the fence below).
        if (warehouse.dialect === 'postgres') await query(this.sql.lockSegment(), [run.segment_id]);
        const [pointer] = (await query(this.sql.currentPointer(), [run.segment_id])) as Array<{ current_table: string; previous_table: string | null }>;
        const previous = pointer && SNAPSHOT_TABLE.test(pointer.current_table) ? pointer.current_table : null;
        // Events of a run are stamped with its start, so runs of a segment have distinct, increasing times.
        const at = run.started_at.toISOString();
        await query(this.sql.logDifference('enter', table, previous), [run.segment_id, run.id, at]);
        if (previous) await query(this.sql.logDifference('exit', previous, table), [run.segment_id, run.id, at]);
        const counts = new Map(((await query(this.sql.countEvents(), [run.id])) as Array<{ event: string; n: number | string }>).map((r) => [r.event, Number(r.n)]));
        const size = Number(((await query(this.sql.countRows(table))) as Array<{ n: number | string }>)[0]?.n ?? 0);
        stageDone('membership_log', { firstRefresh: previous === null });
        await query(this.sql.deletePointer(), [run.segment_id]);
        await query(this.sql.insertPointer(), [run.segment_id, table, previous, run.id, at]);
        if (pointer?.previous_table && SNAPSHOT_TABLE.test(pointer.previous_table)) await query(this.sql.dropTable(pointer.previous_table));
        const finishedAt = new Date().toISOString();
        const entered = counts.get('enter') ?? 0;
        const exited = counts.get('exit') ?? 0;
        await query(this.sql.recordRun(), [run.id, run.segment_id, context.segmentSlug, run.segment_version, run.as_of.toISOString(), at, finishedAt, size, entered, exited, table]);
        // The fence: commit only while this process still holds the segment's lock.
        await lock.assertHeld();
        return { size, entered, exited, table };
      });
    } catch (error) {
      const message = errorSummary(error);
      const durationMs = Date.now() - started;
      // Warehouse errors name tables and columns, not values: the message is the run's own `error`.
      log.error({ durationMs, error: message }, 'refresh failed');
      this.options.metrics?.refreshFinished({ status: 'failed', durationMs });
      const [row] = await db<RunRow>('refresh_runs').where({ id: run.id }).update({
        status: 'failed', finished_at: db.fn.now() as never, duration_ms: durationMs, error: message,
      }).returning('*');
      if (!row) throw notFound('The segment was deleted while it refreshed.');
      return toRun(row);
    }
    // The warehouse committed: the run counts, whatever happens to the metadata store now. If it
    // cannot be told, the next refresh of the segment reconciles it from the warehouse.
    const durationMs = Date.now() - started;
    stageDone('commit');
    log.info({ status: 'succeeded', size: result.size, entered: result.entered, exited: result.exited, durationMs }, 'refresh finished');
    this.options.metrics?.refreshFinished({ status: 'succeeded', durationMs });
    const succeeded = { size: result.size, entered: result.entered, exited: result.exited, duration_ms: durationMs, snapshot_table: result.table };
    const [row] = await db<RunRow>('refresh_runs').where({ id: run.id })
      .update({ status: 'succeeded', finished_at: db.fn.now() as never, error: null, ...succeeded }).returning('*')
      .catch(() => [undefined]);
    if (row) return toRun(row);
    const stillThere = await db('refresh_runs').where({ id: run.id }).first('id').catch(() => ({ id: run.id }));
    if (!stillThere) throw notFound('The segment was deleted while it refreshed.');
    return toRun({ ...run, status: 'succeeded', finished_at: new Date(), ...succeeded, error: null });
  }

  /**
   * Runs the warehouse recorded as committed that the metadata store does not show as succeeded
   * (the store failed, or the process died, right after the warehouse commit): the warehouse is
   * the truth. Called holding the segment's lock.
   */
  private async reconcile(segmentId: string): Promise<void> {
    const { db, warehouse } = this.options;
    const last = await db<RunRow>('refresh_runs').where({ segment_id: segmentId, status: 'succeeded' }).orderBy('started_at', 'desc').first('started_at');
    const since = last ? new Date(last.started_at.getTime() + 1) : new Date(0);
    // Only a run left unfinished or failed since then can have committed unbeknown to the store.
    const doubtful = await db('refresh_runs').where({ segment_id: segmentId }).whereNot({ status: 'succeeded' }).where('started_at', '>=', since).first('id');
    if (!doubtful) return;
    const committed = await warehouse.query<{ run_id: string; size: unknown; entered: unknown; exited: unknown; finished_at: unknown; snapshot_table: string }>(
      this.sql.recordedRunsSince(), [segmentId, since.toISOString()],
    );
    for (const r of committed) {
      const reconciled = await db('refresh_runs').where({ id: r.run_id }).whereNot({ status: 'succeeded' }).update({
        status: 'succeeded', error: null, size: Number(r.size), entered: Number(r.entered), exited: Number(r.exited),
        snapshot_table: r.snapshot_table, finished_at: new Date(String(r.finished_at instanceof Date ? r.finished_at.toISOString() : r.finished_at)),
      });
      if (reconciled) this.logger.info({ runId: r.run_id, segmentId }, 'refresh run marked succeeded: the warehouse shows it committed');
    }
  }

  /** BigQuery: no DDL in transactions, no mixed parameter styles — the same algorithm in steps (see bigquery-refresh.ts). */
  private runOnBigQuery(run: RunRow, table: string, lock: HeldLock, context: { segmentSlug: string; identifierKinds: string[]; typedParams: readonly Param[] }) {
    const { warehouse } = this.options;
    if (!runsScripts(warehouse)) throw new Error('this BigQuery warehouse cannot run scripts with named parameters');
    return refreshOnBigQuery(warehouse, this.sql, {
      segmentId: run.segment_id, segmentSlug: context.segmentSlug, segmentVersion: run.segment_version, runId: run.id, asOf: run.as_of,
      startedAt: run.started_at, identifierKinds: context.identifierKinds, compiled: { sql: run.sql, params: context.typedParams }, table,
    }, { fence: () => lock.assertHeld() });
  }

  private async segmentId(idOrSlug: string): Promise<{ id: string; slug: string }> {
    const row = (await this.options.db('segments').where(isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug }).first('id', 'slug')) as { id: string; slug: string } | undefined;
    if (!row) throw notFound(`Segment "${idOrSlug}" does not exist.`);
    return row;
  }

  async getRun(id: string): Promise<RefreshRun> {
    const row = isUuid(id) ? await this.options.db<RunRow>('refresh_runs').where({ id }).first() : undefined;
    if (!row) throw notFound(`Refresh run "${id}" does not exist.`);
    return toRun(row);
  }

  /** Runs of a segment, newest first. */
  async runs(idOrSlug: string, options: { limit?: number; cursor?: string }): Promise<Page<RefreshRun>> {
    const segment = await this.segmentId(idOrSlug);
    const after = decodeCursor(options.cursor);
    const rows = await this.options.db<RunRow>('refresh_runs')
      .where({ segment_id: segment.id })
      .modify((q) => { if (after !== undefined) q.where('started_at', '<', new Date(after)); })
      .orderBy('started_at', 'desc')
      .limit(pageSize(options) + 1);
    return toPage(rows.map(toRun), pageSize(options), (r) => r.startedAt);
  }

  /** Size, entered and exited per successful run: the size-over-time series, oldest first. */
  async history(idOrSlug: string, options: { since?: Date; until?: Date }): Promise<Array<{ runId: string; at: string; asOf: string; size: number; entered: number; exited: number }>> {
    const segment = await this.segmentId(idOrSlug);
    const rows = await this.options.db<RunRow>('refresh_runs')
      .where({ segment_id: segment.id, status: 'succeeded' })
      .modify((q) => {
        if (options.since) q.where('started_at', '>=', options.since);
        if (options.until) q.where('started_at', '<', options.until);
      })
      .orderBy('started_at', 'asc')
      .limit(10_000);
    return (rows as RunRow[]).map((r) => ({ runId: r.id, at: r.started_at.toISOString(), asOf: r.as_of.toISOString(), size: Number(r.size), entered: Number(r.entered), exited: Number(r.exited) }));
  }

  private async pointer(segmentId: string): Promise<string | null> {
    await this.ensureState();
    const [row] = await this.options.warehouse.query<{ current_table: string }>(this.sql.currentPointer(), [segmentId]);
    return row && SNAPSHOT_TABLE.test(row.current_table) ? row.current_table : null;
  }

  /** The segment's current snapshot table and the run that made it (null before the first refresh). */
  async currentSnapshot(segmentId: string): Promise<{ table: string; run: RefreshRun | null } | null> {
    await this.ensureState();
    const [row] = await this.options.warehouse.query<{ current_table: string; run_id: string }>(this.sql.currentPointer(), [segmentId]);
    if (!row || !SNAPSHOT_TABLE.test(row.current_table)) return null;
    const run = await this.options.db<RunRow>('refresh_runs').where({ id: row.run_id }).first();
    return { table: row.current_table, run: run ? toRun(run) : null };
  }

  /** The current members, by member key; identifiers masked unless `reveal`. */
  async members(idOrSlug: string, options: { limit?: number; cursor?: string; reveal: boolean }): Promise<Page<{ memberKey: string; identifiers: Record<string, string | null> }> & { runId: string | null }> {
    const loaded = await this.options.queries.loadSegment(idOrSlug);
    const table = await this.pointer(loaded.id);
    if (!table) return { data: [], nextCursor: null, runId: null };
    const kinds = Object.entries(loaded.definition.identifiers ?? {}).filter(([, v]) => typeof v === 'string').map(([k]) => k);
    const after = decodeCursor(options.cursor);
    const limit = pageSize(options);
    const sqlText = this.sql.membersPage(table, kinds, { after: after !== undefined });
    const rows = await this.options.warehouse.query<Record<string, string | null>>(sqlText, after !== undefined ? [after, limit + 1] : [limit + 1]);
    const members = rows.map((row) => ({
      memberKey: String(row.member_key),
      identifiers: Object.fromEntries(kinds.map((k) => {
        const value = row[k] ?? null;
        return [k, value === null || options.reveal ? value : maskIdentifier(k, value)];
      })),
    }));
    const runRow = await this.options.db<RunRow>('refresh_runs').where({ segment_id: loaded.id, status: 'succeeded' }).orderBy('started_at', 'desc').first();
    return { ...toPage(members, limit, (m) => m.memberKey), runId: runRow?.id ?? null };
  }

  /** Who entered and exited in [since, until), in time order. */
  async changes(idOrSlug: string, options: { since: Date; until: Date; limit?: number; cursor?: string }): Promise<Page<{ memberKey: string; event: 'enter' | 'exit'; runId: string; at: string }>> {
    const segment = await this.segmentId(idOrSlug);
    await this.ensureState();
    const after = decodeCursor(options.cursor);
    const limit = pageSize(options);
    const cursor = after !== undefined ? (JSON.parse(after) as [string, string, string]) : undefined;
    const params = this.sql.changesParams(segment.id, options.since.toISOString(), options.until.toISOString(), cursor, limit + 1);
    const rows = await this.options.warehouse.query<{ member_key: string; event: 'enter' | 'exit'; run_id: string; at: string | Date }>(this.sql.changesPage({ after: after !== undefined }), params);
    const changes = rows.map((r) => ({ memberKey: String(r.member_key), event: r.event, runId: r.run_id, at: new Date(r.at).toISOString() }));
    return toPage(changes, limit, (c) => JSON.stringify([c.at, c.memberKey, c.event]));
  }

  /** Members as of a run, by replaying the log (audits, invariant checks). */
  async membersFromLog(segmentId: string, at: Date): Promise<string[]> {
    await this.ensureState();
    const rows = await this.options.warehouse.query<{ member_key: string }>(this.sql.membersFromLog(), [segmentId, at.toISOString()]);
    return rows.map((r) => String(r.member_key));
  }

  /** Member keys of the current snapshot (tests and small audits). */
  async currentMemberKeys(segmentId: string): Promise<string[]> {
    const table = await this.pointer(segmentId);
    if (!table) return [];
    const rows = await this.options.warehouse.query<{ member_key: string }>(`SELECT member_key FROM ${this.sql.table(table)} ORDER BY member_key`);
    return rows.map((r) => String(r.member_key));
  }
}

