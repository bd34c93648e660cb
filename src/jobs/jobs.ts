import cronParser from 'cron-parser';
import type { Knex } from 'knex';
import PgBoss from 'pg-boss';
import type { RefreshService } from '../audiences/refresh-service';
import { AppError } from '../errors';
import { errorSummary, silentLogger, type Logger } from '../observability/logger';
import type { SyncsService } from '../syncs/syncs-service';

/** Queues on the metadata Postgres (pg-boss). */
export const QUEUES = { sync: 'sync', refresh: 'refresh', tick: 'schedule-tick' } as const;

export interface SyncJob { syncId: string; trigger: 'schedule' | 'after_refresh'; due?: string }
export interface RefreshJob { segmentId: string }

interface ScheduledSync { id: string; schedule: { type: string; cron?: string; timezone?: string } | null }

/**
 * Syncs whose cron schedule had a due time in (from, to], in their own time zone. Pure.
 * pg-boss keys cron schedules by queue, so one per-minute tick evaluates every sync's cron here.
 */
export function dueSyncs(syncs: ScheduledSync[], window: { from: Date; to: Date }): Array<{ id: string; due: Date }> {
  const due: Array<{ id: string; due: Date }> = [];
  for (const sync of syncs) {
    if (sync.schedule?.type !== 'cron' || !sync.schedule.cron) continue;
    try {
      const next = cronParser.parseExpression(sync.schedule.cron, { currentDate: window.from, tz: sync.schedule.timezone ?? 'UTC' }).next().toDate();
      if (next.getTime() <= window.to.getTime()) due.push({ id: sync.id, due: next });
    } catch {
      // Validated at create/update; an expression this parser refuses is skipped, not fatal.
    }
  }
  return due;
}

export interface JobsOptions {
  databaseUrl: string;
  db: Knex;
  syncs: SyncsService;
  refresh: RefreshService;
  /** Enqueue / start / finish lines with job and run ids. */
  logger?: Logger;
  /** pg-boss schema (default `pgboss`). */
  schema?: string;
  /** Tests: how often workers poll (default 2 s). */
  pollingIntervalSeconds?: number;
}

/**
 * Jobs and schedules on pg-boss: a `sync` queue (at most one queued and one active job per sync
 * across processes — pg-boss `stately` with the sync id as singleton key — and our advisory lock
 * inside), a `refresh` queue, and a per-minute tick that enqueues syncs whose cron is due and a
 * sync after each refresh of its segment when it asks for that.
 */
export class Jobs {
  private readonly boss: PgBoss;
  private started = false;
  private workers = false;
  private readonly log: Logger;

  constructor(private readonly options: JobsOptions) {
    this.log = options.logger ?? silentLogger();
    this.boss = new PgBoss({
      connectionString: options.databaseUrl, schema: options.schema ?? 'pgboss', application_name: 'audiences-jobs', max: 4,
      // Failed sync runs are retried by the queue: a platform outage longer than a run's own retries.
      retryLimit: 3, retryDelay: 60, retryBackoff: true, expireInHours: 6,
    });
    this.boss.on('error', (error: Error) => this.log.error({ error: errorSummary(error) }, 'job queue error'));
  }

  /** Creates the queues and schedules. `workers`: also process jobs in this process. */
  async start(options: { workers: boolean }): Promise<void> {
    await this.boss.start();
    this.started = true;
    for (const name of [QUEUES.sync, QUEUES.refresh]) {
      if (!(await this.boss.getQueue(name))) await this.boss.createQueue(name, { name, policy: 'stately' }).catch(ignoreExists);
    }
    if (!(await this.boss.getQueue(QUEUES.tick))) await this.boss.createQueue(QUEUES.tick, { name: QUEUES.tick, policy: 'singleton', retryLimit: 0 }).catch(ignoreExists);
    await this.boss.schedule(QUEUES.tick, '* * * * *', {}, { tz: 'UTC' });
    this.options.refresh.onRefreshed((segmentId, cause) => { void this.afterRefresh(segmentId, cause); });
    if (!options.workers) return;
    this.workers = true;
    const polling = { pollingIntervalSeconds: this.options.pollingIntervalSeconds ?? 2 };
    await this.boss.work<SyncJob>(QUEUES.sync, { ...polling, batchSize: 1 }, async ([job]) => this.runSync(job!.id, job!.data));
    await this.boss.work<RefreshJob>(QUEUES.refresh, { ...polling, batchSize: 1 }, async ([job]) => this.runRefresh(job!.id, job!.data));
    await this.boss.work(QUEUES.tick, { ...polling, batchSize: 1, includeMetadata: true }, async ([job]) => this.tick(job!.createdOn ?? new Date()));
  }

  /** Enqueues a run of a sync (deduplicated per sync by the queue policy). */
  async enqueueSync(job: SyncJob): Promise<string | null> {
    return this.enqueued(QUEUES.sync, job, await this.boss.send(QUEUES.sync, job, { singletonKey: job.syncId }));
  }

  async enqueueRefresh(job: RefreshJob): Promise<string | null> {
    return this.enqueued(QUEUES.refresh, job, await this.boss.send(QUEUES.refresh, job, { singletonKey: job.segmentId }));
  }

  private enqueued(queue: string, data: SyncJob | RefreshJob, jobId: string | null): string | null {
    // null: the queue policy folded it into a job already queued for the same sync or segment.
    if (jobId) this.log.info({ queue, jobId, ...data }, 'job enqueued');
    else this.log.debug({ queue, ...data }, 'job not enqueued: one is already queued');
    return jobId;
  }

  /** Whether this process runs workers, and what waits (readiness: the queue answers). */
  async state(): Promise<{ workers: boolean; queued: Record<string, number> }> {
    if (!this.started) throw new Error('the job queue is not started');
    return { workers: this.workers, queued: await this.queueDepth() };
  }

  /** Jobs waiting per queue (metrics, readiness). */
  async queueDepth(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const name of [QUEUES.sync, QUEUES.refresh]) out[name] = await this.boss.getQueueSize(name);
    return out;
  }

  private async tick(at: Date): Promise<void> {
    const rows = (await this.options.db('syncs').where({ enabled: true }).select('id', 'schedule')) as ScheduledSync[];
    const minute = new Date(Math.floor(at.getTime() / 60_000) * 60_000);
    // The tick for minute M covers due times in (M − 1 min, M]: one tick per minute, cluster-wide.
    const due = dueSyncs(rows, { from: new Date(minute.getTime() - 60_000), to: minute });
    this.log.debug({ minute: minute.toISOString(), due: due.length }, 'schedule tick');
    for (const { id, due: at } of due) {
      await this.enqueueSync({ syncId: id, trigger: 'schedule', due: at.toISOString() });
    }
  }

  private async afterRefresh(segmentId: string, cause?: { syncId?: string }): Promise<void> {
    const rows = (await this.options.db('syncs').where({ segment_id: segmentId, enabled: true }).select('id', 'schedule')) as ScheduledSync[];
    for (const row of rows) {
      if (row.schedule?.type === 'after_refresh' && row.id !== cause?.syncId) await this.enqueueSync({ syncId: row.id, trigger: 'after_refresh' }).catch((error: unknown) => {
        this.log.warn({ syncId: row.id, segmentId, error: errorSummary(error) }, 'could not enqueue the sync that follows a refresh');
      });
    }
  }

  private async runSync(jobId: string, job: SyncJob): Promise<void> {
    const log = this.log.child({ queue: QUEUES.sync, jobId, syncId: job.syncId, trigger: job.trigger });
    const run = await this.runJob(log, 'the sync is running elsewhere or was deleted', async () => (await this.options.syncs.startRun(job.syncId, { trigger: job.trigger, wait: true, jobId })).run);
    // A failed run is retried by the queue (with backoff); one waiting for approval is done.
    if (run?.status === 'failed') throw new Error(`sync run ${run.id} failed: ${run.error ?? ''}`);
  }

  private async runRefresh(jobId: string, job: RefreshJob): Promise<void> {
    const log = this.log.child({ queue: QUEUES.refresh, jobId, segmentId: job.segmentId });
    const run = await this.runJob(log, 'the segment is refreshing elsewhere or was deleted', () => this.options.refresh.start(job.segmentId, { wait: true, jobId }));
    if (run?.status === 'failed') throw new Error(`refresh run ${run.id} failed: ${run.error ?? ''}`);
  }

  /** Runs a job's work with start / finish lines; undefined when it had nothing to do (409, 404). */
  private async runJob<Run extends { id: string; status: string }>(log: Logger, skipped: string, work: () => Promise<Run>): Promise<Run | undefined> {
    const started = Date.now();
    log.info('job started');
    try {
      const run = await work();
      log[run.status === 'failed' ? 'warn' : 'info']({ runId: run.id, status: run.status, durationMs: Date.now() - started }, 'job finished');
      return run;
    } catch (error) {
      // Another process runs it right now, or it was deleted: nothing to do.
      if (error instanceof AppError && (error.status === 409 || error.status === 404)) {
        log.info({ status: error.status, durationMs: Date.now() - started }, `job skipped: ${skipped}`);
        return undefined;
      }
      log.error({ error: errorSummary(error), durationMs: Date.now() - started }, 'job failed');
      throw error;
    }
  }

  /**
   * Graceful stop: no new jobs are fetched, runs in flight stop sending and commit what they
   * delivered (the next run re-sends the rest), then the queue connection closes.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.workers) {
      await this.boss.offWork(QUEUES.sync).catch(() => {});
      await this.boss.offWork(QUEUES.refresh).catch(() => {});
      await this.boss.offWork(QUEUES.tick).catch(() => {});
    }
    await this.options.syncs.stop();
    await this.boss.stop({ graceful: true, wait: true, timeout: 30_000 }).catch(() => {});
  }
}

function ignoreExists(error: unknown): void {
  if (!/already exists/i.test(error instanceof Error ? error.message : String(error))) throw error;
}
