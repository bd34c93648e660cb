import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { recordChangeWithin, type AuditedWrite } from '../audit/audit-log';
import { acquireAdvisoryLock, connectionSettings, type HeldLock } from '../audiences/advisory-lock';
import type { RefreshService } from '../audiences/refresh-service';
import { DestinationError, type Destination, type IdentifierKind } from '../destinations/destination';
import { scrub, type DestinationsService } from '../destinations/destinations-service';
import { NORMALIZER_VERSION, platformKinds, prepareMember, type IdentityPlatform } from '../destinations/identity';
import { AppError, conflict, invalidRequest, notFound, unprocessable, type ProblemDetail } from '../errors';
import type { ModelDefinition } from '../models/model-schema';
import { uniqueViolation } from '../models/models-service';
import type { SegmentQueries } from '../segments/segment-queries';
import { decodeCursor, isUuid, pageSize, toPage, type Page } from '../store/cursor';
import { checkIfMatch } from '../store/etag';
import type { Warehouse } from '../warehouse/warehouse';
import { errorSummary, silentLogger, type Logger } from '../observability/logger';
import { unsavedRemoteError, type UnsavedRemote } from './unsaved-remote';
import { platformErrorClass, type Metrics } from '../observability/metrics';
import { deliverPlan, type DeliveryCounts, type DeliveryObserver, type PlanRow, type RetryPolicy, type RowRejectionRecord } from './deliver';
import { needsApproval } from './guardrails';
import { limiterFor } from './rate-limiter';
import type { Lookalike, LookalikeRequest, SyncDefinition, SyncOptions, SyncPlan, SyncResource, SyncRun } from './sync-schema';
import { SyncSql, type PlanOp } from './sync-sql';

interface SyncRow {
  id: string; slug: string; name: string; segment_id: string; destination_id: string; remote_audience_id: string;
  mapping: Record<string, string>; options: SyncOptions; schedule: SyncResource['schedule']; enabled: boolean; version: number;
  created_at: Date; updated_at: Date; segment_slug?: string; destination_slug?: string; destination_kind?: string;
}

interface RunRow {
  id: string; sync_id: string; status: SyncRun['status']; trigger: SyncRun['trigger']; idempotency_key: string | null; reason: string | null;
  refresh_run_id: string | null; normalizer_version: string; planned_adds: string | null; planned_removes: string | null; planned_changes: string | null;
  sent: string; confirmed: string; rejected: string; failed: string; requests: number; retries: number; identifier_rejections: Record<string, number>;
  timings: Record<string, number>; error: string | null; created_at: Date; started_at: Date | null; approved_at: Date | null; finished_at: Date | null;
}

const DEFAULT_OPTIONS = { mode: 'mirror', removalThreshold: 0.2, removalFloor: 10, defaultRegion: 'US', maxStalenessMinutes: 60 } as const;
/** Options with their defaults filled in: what a sync runs with, and what its resource shows. */
export const syncOptionsOf = (o: SyncOptions | undefined) => ({ ...DEFAULT_OPTIONS, ...o });

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const toRun = (r: RunRow): SyncRun => ({
  id: r.id, syncId: r.sync_id, status: r.status, trigger: r.trigger, reason: r.reason, refreshRunId: r.refresh_run_id, normalizerVersion: r.normalizer_version,
  planned: r.planned_adds === null ? null : { adds: Number(r.planned_adds), removes: Number(r.planned_removes), changes: Number(r.planned_changes) },
  sent: Number(r.sent), confirmed: Number(r.confirmed), rejected: Number(r.rejected), failed: Number(r.failed), requests: r.requests, retries: r.retries,
  identifierRejections: r.identifier_rejections, timings: r.timings, error: r.error,
  createdAt: r.created_at.toISOString(), startedAt: iso(r.started_at), approvedAt: iso(r.approved_at), finishedAt: iso(r.finished_at),
});

// Advisory lock class on the metadata Postgres: one run of a sync at a time, across processes.
const LOCK_SYNC = 0x61756433; // "aud3"

export interface SyncsServiceOptions {
  db: Knex;
  warehouse: Warehouse;
  refresh: RefreshService;
  destinations: DestinationsService;
  queries: SegmentQueries;
  stateSchema: string;
  retry?: Partial<RetryPolicy>;
  /** Run lifecycle lines (ids, counts, durations: never members, identifiers or secrets). */
  logger?: Logger;
  metrics?: Metrics;
}

/** Who started a run, for its log lines. */
interface RunOrigin {
  requestId?: string;
  jobId?: string;
}

const originOf = (o: RunOrigin): RunOrigin => ({ ...(o.requestId ? { requestId: o.requestId } : {}), ...(o.jobId ? { jobId: o.jobId } : {}) });

const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 5 * 60_000 };

/** Problems from a destination while setting a sync up: the platform's answer, as a 502 (or its own 4xx). */
function platformProblem(error: unknown, secrets: string[]): AppError {
  if (error instanceof AppError) return error;
  const message = scrub(error instanceof Error ? error.message : String(error), secrets);
  if (error instanceof DestinationError && error.failure === 'invalid_request') return unprocessable(`The platform refused: ${message}`, [{ pointer: '/remoteAudience', message }]);
  return new AppError(502, 'Bad gateway', `The platform could not be reached or refused: ${message}`);
}

/**
 * Syncs: a segment → a destination. A run refreshes a stale segment, plans in the warehouse
 * (adds, removes, changes against what the destination holds by our last commit), checks the
 * guardrails, sends (normalized, hashed, batched, retried) and commits the sync state by what was
 * delivered. One run per sync at a time, across processes.
 */
export class SyncsService {
  private readonly retry: RetryPolicy;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly controllers = new Set<AbortController>();
  /** Runs executing in this process (their lock is held here, so they are not abandoned). */
  private readonly runsHere = new Set<string>();

  constructor(private readonly deps: SyncsServiceOptions) {
    this.retry = { ...DEFAULT_RETRY, ...deps.retry };
  }

  // ——— the resource ———

  private select(db: Knex = this.deps.db) {
    return db<SyncRow>('syncs as y').join('segments as s', 's.id', 'y.segment_id').join('destinations as d', 'd.id', 'y.destination_id')
      .select('y.*', 's.slug as segment_slug', 'd.slug as destination_slug', 'd.kind as destination_kind');
  }

  private toResource(row: SyncRow): SyncResource {
    return {
      id: row.id, slug: row.slug, name: row.name, segmentId: row.segment_id, segment: row.segment_slug!, destinationId: row.destination_id, destination: row.destination_slug!,
      remoteAudienceId: row.remote_audience_id, mapping: row.mapping, options: syncOptionsOf(row.options), schedule: row.schedule ?? null, enabled: row.enabled,
      version: row.version, createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(),
    };
  }

  private async findRow(idOrSlug: string, db: Knex = this.deps.db): Promise<SyncRow> {
    const row = await this.select(db).where(isUuid(idOrSlug) ? { 'y.id': idOrSlug } : { 'y.slug': idOrSlug }).first();
    if (!row) throw notFound(`Sync "${idOrSlug}" does not exist.`);
    return row as SyncRow;
  }

  async list(options: { limit?: number; cursor?: string }): Promise<Page<SyncResource>> {
    const after = decodeCursor(options.cursor);
    const rows = (await this.select().modify((q) => { if (after !== undefined) q.where('y.slug', '>', after); }).orderBy('y.slug').limit(pageSize(options) + 1)) as SyncRow[];
    return toPage(rows.map((r) => this.toResource(r)), pageSize(options), (s) => s.slug);
  }

  async get(idOrSlug: string): Promise<SyncResource> {
    return this.toResource(await this.findRow(idOrSlug));
  }

  /** Which platform's identity rules apply to a destination. */
  private identityOf(destination: Destination): IdentityPlatform {
    if (destination.platform === 'file') return ((destination as unknown as { normalizeFor?: IdentityPlatform }).normalizeFor) ?? 'meta';
    return destination.platform;
  }

  /**
   * Mapping, options and schedule against the segment's model and the destination's platform: 400
   * with pointers. Takes them as values, so a definition whose segment or destination is not stored
   * yet can be checked (audiences as code checks a whole directory before it writes).
   */
  validate(def: SyncDefinition, targets: { model: ModelDefinition; destination: Destination }): void {
    const modelIdentifiers = Object.entries(targets.model.identifiers ?? {}).filter(([, v]) => typeof v === 'string').map(([k]) => k);
    const identity = this.identityOf(targets.destination);
    const accepted = new Set(platformKinds(identity).map((k) => k.kind));
    const problems: ProblemDetail[] = [];
    for (const [field, identifier] of Object.entries(def.mapping)) {
      if (!accepted.has(field as IdentifierKind)) problems.push({ pointer: `/mapping/${field}`, message: `the ${identity} platform takes no "${field}"; it takes ${[...accepted].join(', ')}` });
      if (!modelIdentifiers.includes(String(identifier))) problems.push({ pointer: `/mapping/${field}`, message: `the model of segment "${def.segment}" has no identifier "${String(identifier)}"; it has ${modelIdentifiers.join(', ') || 'none'}` });
    }
    const consent = targets.model.consent ?? {};
    if (def.options?.consent?.source === 'model' && typeof consent.ad_user_data !== 'string' && typeof consent.ad_personalization !== 'string') {
      problems.push({ pointer: '/options/consent/source', message: 'the segment\'s model declares no consent columns' });
    }
    if (def.schedule?.type === 'cron') {
      if (def.schedule.cron.trim().split(/\s+/).length !== 5) problems.push({ pointer: '/schedule/cron', message: 'must have five fields: minute hour day-of-month month day-of-week' });
      if (def.schedule.timezone && !validTimeZone(def.schedule.timezone)) problems.push({ pointer: '/schedule/timezone', message: `unknown time zone "${def.schedule.timezone}"` });
    }
    if (problems.length) throw invalidRequest('The sync definition is invalid.', problems);
  }

  /** The stored segment, and the definition checked against its model and the destination. */
  private async checkDefinition(def: SyncDefinition, destination: Destination): Promise<{ segmentId: string }> {
    const segment = await this.deps.queries.loadSegment(def.segment).catch((error: unknown) => {
      if (error instanceof AppError && error.status === 404) throw invalidRequest(`Segment "${def.segment}" does not exist.`, [{ pointer: '/segment', message: 'no such segment' }]);
      throw error;
    });
    this.validate(def, { model: segment.definition, destination });
    return { segmentId: segment.id };
  }

  async create(def: SyncDefinition, options: AuditedWrite = {}): Promise<SyncResource> {
    if (await this.deps.db('syncs').where({ slug: def.slug }).first('id')) throw conflict(`A sync with slug "${def.slug}" already exists.`);
    const { destination, resource, secrets } = await this.deps.destinations.instantiate(def.destination).catch((error: unknown) => {
      if (error instanceof AppError && error.status === 404) throw invalidRequest(`Destination "${def.destination}" does not exist.`, [{ pointer: '/destination', message: 'no such destination' }]);
      throw error;
    });
    try {
      const { segmentId } = await this.checkDefinition(def, destination);
      // The remote audience is created once, here (or adopted), and its id kept: never looked up by name.
      const remote = await destination.ensureAudience({
        name: def.remoteAudience?.name ?? def.name, description: `audiences sync "${def.slug}"`,
        identifierKinds: Object.keys(def.mapping) as IdentifierKind[],
        ...(def.remoteAudience?.id ? { existingId: def.remoteAudience.id } : {}),
        ...(def.options?.membershipLifeSpanDays ? { membershipLifeSpanDays: def.options.membershipLifeSpanDays } : {}),
      }).catch((error: unknown) => { throw platformProblem(error, secrets); });
      const saved = this.deps.db.transaction(async (trx) => {
        const id = randomUUID();
        try {
          await trx('syncs').insert({
            id, slug: def.slug, name: def.name, segment_id: segmentId, destination_id: resource.id, remote_audience_id: remote.remoteId,
            mapping: def.mapping, options: def.options ?? {}, schedule: def.schedule ? JSON.stringify(def.schedule) : null, enabled: def.enabled ?? true,
          });
        } catch (error) {
          throw uniqueViolation(error, `A sync with slug "${def.slug}" already exists.`);
        }
        const sync = this.toResource(await this.findRow(id, trx));
        await recordChangeWithin(trx, options.audit, { action: 'sync.create', resourceType: 'sync', before: null, after: sync });
        return sync;
      });
      if (!remote.created) return await saved;
      return await saved.catch((error: unknown) => {
        throw this.unsaved(error, { object: 'audience', remoteId: remote.remoteId, remedy: `retry with "remoteAudience": {"id": "${remote.remoteId}"} to adopt it, or delete it there` }, { sync: def.slug });
      });
    } finally {
      await destination.close?.().catch(() => {});
    }
  }

  /** Replaces name, mapping, options, schedule and enabled; the segment, destination and remote audience stay. */
  async replace(idOrSlug: string, def: SyncDefinition, options: { ifMatch?: string } & AuditedWrite = {}): Promise<SyncResource> {
    const current = await this.findRow(idOrSlug);
    checkIfMatch(options.ifMatch, current.version);
    const problems: ProblemDetail[] = [];
    if (![current.segment_id, current.segment_slug].includes(def.segment)) problems.push({ pointer: '/segment', message: `must stay "${current.segment_slug}": create a new sync for another segment` });
    if (![current.destination_id, current.destination_slug].includes(def.destination)) problems.push({ pointer: '/destination', message: `must stay "${current.destination_slug}"` });
    if (def.remoteAudience?.id && def.remoteAudience.id !== current.remote_audience_id) problems.push({ pointer: '/remoteAudience/id', message: `must stay "${current.remote_audience_id}"` });
    if (problems.length) throw invalidRequest('The sync cannot change what it connects.', problems);
    const { destination } = await this.deps.destinations.instantiate(current.destination_id);
    try {
      await this.checkDefinition(def, destination);
    } finally {
      await destination.close?.().catch(() => {});
    }
    const mappingChanged = JSON.stringify(Object.entries(def.mapping).sort()) !== JSON.stringify(Object.entries(current.mapping).sort());
    if (mappingChanged && await this.deps.db('sync_runs').where({ sync_id: current.id }).whereIn('status', ['running', 'needs_approval']).first('id')) {
      throw conflict('The mapping cannot change while a run is in progress or awaits approval.');
    }
    return this.deps.db.transaction(async (trx) => {
      const locked = await trx('syncs').where({ id: current.id }).forUpdate().first('version');
      checkIfMatch(options.ifMatch, (locked as { version: number }).version);
      const before = this.toResource(await this.findRow(current.id, trx));
      try {
        await trx('syncs').where({ id: current.id }).update({
          slug: def.slug, name: def.name, mapping: def.mapping, options: def.options ?? {}, schedule: def.schedule ? JSON.stringify(def.schedule) : null,
          enabled: def.enabled ?? true, version: (locked as { version: number }).version + 1, updated_at: trx.fn.now(),
        });
      } catch (error) {
        throw uniqueViolation(error, `A sync with slug "${def.slug}" already exists.`);
      }
      const sync = this.toResource(await this.findRow(current.id, trx));
      await recordChangeWithin(trx, options.audit, { action: 'sync.replace', resourceType: 'sync', before, after: sync });
      if (mappingChanged) {
        // What the destination holds was sent under the old mapping: start over (removes are not derivable).
        await this.deps.warehouse.query(this.sqlFor(current.id, this.columnsOf({ ...current, mapping: def.mapping, options: def.options ?? {} })).dropState()).catch(() => {});
      }
      return sync;
    });
  }

  /** Deletes the sync and its state; the remote audience is left on the platform. */
  async delete(idOrSlug: string, options: { ifMatch?: string } & AuditedWrite = {}): Promise<void> {
    const current = await this.findRow(idOrSlug);
    checkIfMatch(options.ifMatch, current.version);
    const lock = await this.tryLock(current.id);
    if (!lock) throw conflict(`A run of sync "${current.slug}" is in progress; delete it once the run has finished.`);
    try {
      await this.deps.db.transaction(async (trx) => {
        const deleted = await trx('syncs').where({ id: current.id }).delete();
        if (deleted) await recordChangeWithin(trx, options.audit, { action: 'sync.delete', resourceType: 'sync', before: this.toResource(current), after: null });
      });
      const sql = this.sqlFor(current.id, this.columnsOf(current));
      await this.deps.warehouse.query(sql.dropPlan()).catch(() => {});
      await this.deps.warehouse.query(sql.dropState()).catch(() => {});
    } finally {
      await lock.release();
    }
  }

  // ——— planning ———

  /** Snapshot columns the sync reads: mapped model identifiers, and consent columns when consent comes from the model. */
  private columnsOf(row: Pick<SyncRow, 'mapping' | 'options'>): string[] {
    const columns = new Set(Object.values(row.mapping));
    if (row.options?.consent?.source === 'model') {
      columns.add('consent_ad_user_data');
      columns.add('consent_ad_personalization');
    }
    return [...columns].sort();
  }

  private async ensureState(sql: SyncSql): Promise<void> {
    await this.deps.warehouse.query(sql.createState());
    for (const statement of sql.upgradeState()) await this.deps.warehouse.query(statement);
  }

  private sqlFor(syncId: string, columns: string[]): SyncSql {
    return new SyncSql(this.deps.warehouse.dialect, this.deps.stateSchema, syncId, columns);
  }

  private async modelHasConsent(segmentId: string): Promise<Set<string>> {
    const loaded = await this.deps.queries.loadSegment(segmentId);
    return new Set(Object.entries(loaded.definition.consent ?? {}).filter(([, v]) => typeof v === 'string').map(([k]) => `consent_${k}`));
  }

  /** Columns the plan selects: a consent column the model lacks is selected as NULL by leaving it out. */
  private async planColumns(row: SyncRow): Promise<string[]> {
    const wanted = this.columnsOf(row);
    if (!wanted.some((c) => c.startsWith('consent_'))) return wanted;
    const present = await this.modelHasConsent(row.segment_id);
    return wanted.filter((c) => !c.startsWith('consent_') || present.has(c));
  }

  /** The dry run: counts, expected rejections and hashed samples, sending nothing. */
  async plan(idOrSlug: string): Promise<SyncPlan> {
    const row = await this.findRow(idOrSlug);
    const snapshot = await this.deps.refresh.currentSnapshot(row.segment_id);
    if (!snapshot) throw conflict(`Segment "${row.segment_slug}" has not been refreshed yet: refresh it, or start a run (which refreshes first).`);
    const { destination } = await this.deps.destinations.instantiate(row.destination_id);
    const identity = this.identityOf(destination);
    await destination.close?.().catch(() => {});
    const base = this.sqlFor(row.id, await this.planColumns(row));
    await this.ensureState(base);
    const sql = base.withPlanTable(base.previewTableName(randomBytes(4).toString('hex')));
    const { warehouse } = this.deps;
    try {
      await warehouse.query(sql.createPlan(snapshot.table));
      const counts = await this.planCounts(sql);
      const sizes = await this.sizes(sql, snapshot.table);
      const options = syncOptionsOf(row.options);
      const kinds = Object.entries(row.mapping).map(([kind, column]) => ({ kind: kind as IdentifierKind, column }));
      // Expected rejections: every planned row through the same normalization, a page at a time.
      let expectedRejections = 0;
      const identifierRejections: Record<string, number> = {};
      for (const phase of ['remove', 'add'] as const) {
        let after: { op: string; key: string } | undefined;
        for (;;) {
          const page = await this.readPage(sql, phase, after, 10_000);
          for (const r of page) {
            if (phase === 'remove' && (options.mode === 'add_only' || r.op === 'change')) continue;
            const prepared = this.prepare(identity, kinds, r, options.defaultRegion);
            for (const x of prepared.rejected) identifierRejections[x.reason] = (identifierRejections[x.reason] ?? 0) + 1;
            if (!prepared.ok) expectedRejections += 1;
          }
          if (page.length < 10_000) break;
          after = { op: page[page.length - 1]!.op, key: page[page.length - 1]!.member_key };
        }
      }
      const samples: SyncPlan['samples'] = [];
      for (const op of ['add', 'remove', 'change'] as const) {
        const rows = await warehouse.query<PlanRow>(sql.samplePlan(), [op, 5]);
        for (const r of rows) {
          const pick = (prefix: 'n_' | 'o_') => this.prepare(identity, kinds, Object.fromEntries([['op', r.op], ['member_key', r.member_key], ...base.columns.map((c) => [c, r[`${prefix}${c}`]])]) as PlanRow, options.defaultRegion);
          const now = op === 'remove' ? pick('o_') : pick('n_');
          samples.push({
            op, memberKey: String(r.member_key), identifiers: now.ok ? (now.member.identifiers as Record<string, string>) : {},
            ...(op === 'change' ? { previous: ((p) => (p.ok ? (p.member.identifiers as Record<string, string>) : {}))(pick('o_')) } : {}),
          });
        }
      }
      return {
        adds: counts.add, removes: options.mode === 'add_only' ? 0 : counts.remove, changes: counts.change, expectedRejections, identifierRejections,
        destinationSize: sizes.destination, segmentSize: sizes.segment, snapshotAt: snapshot.run?.startedAt ?? null,
        needsApproval: needsApproval({ adds: counts.add, removes: counts.remove, changes: counts.change, destinationSize: sizes.destination, segmentSize: sizes.segment }, options),
        samples,
      };
    } finally {
      await warehouse.query(sql.dropPlan()).catch(() => {});
    }
  }

  private prepare(identity: IdentityPlatform, kinds: Array<{ kind: IdentifierKind; column: string }>, row: PlanRow, region: string) {
    const identifiers: Partial<Record<IdentifierKind, string | null>> = {};
    for (const { kind, column } of kinds) identifiers[kind] = row[column] === null || row[column] === undefined ? null : String(row[column]);
    return prepareMember(identity, String(row.member_key), identifiers, { defaultRegion: region });
  }

  private async planCounts(sql: SyncSql): Promise<Record<PlanOp, number>> {
    const rows = await this.deps.warehouse.query<{ op: PlanOp; n: unknown }>(sql.countPlan());
    const counts: Record<PlanOp, number> = { add: 0, remove: 0, change: 0 };
    for (const r of rows) counts[r.op] = Number(r.n);
    return counts;
  }

  private async sizes(sql: SyncSql, snapshotTable: string): Promise<{ destination: number; segment: number }> {
    const [d] = await this.deps.warehouse.query<{ n: unknown }>(sql.countState());
    const [s] = await this.deps.warehouse.query<{ n: unknown }>(sql.countSnapshot(snapshotTable));
    return { destination: Number(d?.n ?? 0), segment: Number(s?.n ?? 0) };
  }

  private async readPage(sql: SyncSql, phase: 'remove' | 'add', after: { op: string; key: string } | undefined, limit: number): Promise<PlanRow[]> {
    const rows = await this.deps.warehouse.query<PlanRow>(sql.planPage(phase, { after: after !== undefined }), after ? [after.op, after.key, limit] : [limit]);
    return rows.map((r) => ({ ...r, member_key: String(r.member_key) }));
  }

  // ——— runs ———

  private tryLock(syncId: string): Promise<HeldLock | null> {
    return acquireAdvisoryLock(connectionSettings(this.deps.db), { lockClass: LOCK_SYNC, key: syncId, wait: false });
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    const settled = promise.catch(() => {}).finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
    return promise;
  }

  /**
   * Starts a run. With an idempotency key, a retried request returns the run the first one started.
   * 409 while another run of the sync is in progress (in any process).
   */
  async startRun(idOrSlug: string, options: { idempotencyKey?: string; trigger?: SyncRun['trigger']; wait?: boolean } & RunOrigin & AuditedWrite = {}): Promise<{ run: SyncRun; replayed: boolean }> {
    const row = await this.findRow(idOrSlug);
    if (options.idempotencyKey) {
      const existing = await this.deps.db<RunRow>('sync_runs').where({ sync_id: row.id, idempotency_key: options.idempotencyKey }).first();
      if (existing) return { run: await this.settleIfAbandoned(existing), replayed: true };
    }
    const lock = await this.tryLock(row.id);
    if (!lock) {
      const running = await this.deps.db<RunRow>('sync_runs').where({ sync_id: row.id, status: 'running' }).orderBy('created_at', 'desc').first();
      throw conflict(`A run of sync "${row.slug}" is in progress${running ? ` (run ${running.id})` : ''}.`);
    }
    let run: RunRow;
    try {
      const { db } = this.deps;
      type Ended = Array<{ started_at: Date | null; finished_at: Date }>;
      let ended: Array<[string, Ended]> = [];
      try {
        // Settling older runs, the new run and who asked for it commit together (or not at all).
        run = await db.transaction(async (trx) => {
          // We hold the lock: a run still marked running was abandoned (its process died before its commit).
          const abandoned = await trx('sync_runs').where({ sync_id: row.id, status: 'running' })
            .update({ status: 'failed', error: 'abandoned: the process running it stopped before it committed; the next run re-sends what it had not committed', finished_at: trx.fn.now() })
            .returning(['started_at', 'finished_at']);
          // A newer plan replaces one waiting for approval.
          const superseded = await trx('sync_runs').where({ sync_id: row.id, status: 'needs_approval' })
            .update({ status: 'cancelled', finished_at: trx.fn.now(), reason: trx.raw(`coalesce(reason, '') || ' (superseded by a newer run)'`) })
            .returning(['started_at', 'finished_at']);
          ended = [['failed', abandoned as Ended], ['cancelled', superseded as Ended]];
          const inserted = (await trx<RunRow>('sync_runs').insert({
            id: randomUUID(), sync_id: row.id, status: 'running', trigger: options.trigger ?? 'api', idempotency_key: options.idempotencyKey ?? null,
            normalizer_version: NORMALIZER_VERSION, started_at: trx.fn.now() as never,
          }).returning('*') as RunRow[])[0]!;
          await recordChangeWithin(trx, options.audit, { action: 'sync.run', resourceType: 'sync_run', before: null, after: toRun(inserted), resourceSlug: row.slug });
          return inserted;
        });
        // Runs end here too, not only where they execute: the metrics count them like any other.
        for (const [status, runs] of ended) {
          for (const r of runs) this.deps.metrics?.syncFinished({ status, durationMs: r.started_at ? r.finished_at.getTime() - r.started_at.getTime() : 0 });
        }
      } catch (error) {
        // The same key raced in from another request: answer with that run.
        if ((error as { code?: string }).code === '23505' && options.idempotencyKey) {
          await lock.release();
          const existing = await db<RunRow>('sync_runs').where({ sync_id: row.id, idempotency_key: options.idempotencyKey }).first();
          return { run: toRun(existing!), replayed: true };
        }
        throw error;
      }
    } catch (error) {
      await lock.release();
      throw error;
    }
    const execution = this.track(this.execute(row, run!, lock, { approved: false, origin: originOf(options) }));
    if (options.wait) return { run: await execution, replayed: false };
    return { run: toRun(run!), replayed: false };
  }

  /**
   * A run marked running whose sync lock is free was abandoned (its process died): say so, rather
   * than answer a retried request with a run nobody will finish.
   */
  private async settleIfAbandoned(run: RunRow): Promise<SyncRun> {
    if (run.status !== 'running' || this.runsHere.has(run.id)) return toRun(run);
    const lock = await this.tryLock(run.sync_id);
    if (!lock) return toRun(run);
    try {
      const rows = (await this.deps.db('sync_runs').where({ id: run.id, status: 'running' }).update({
        status: 'failed', finished_at: this.deps.db.fn.now(),
        error: 'abandoned: the process running it stopped before it committed; the next run re-sends what it had not committed',
      }).returning('*')) as RunRow[];
      return toRun(rows[0] ?? (await this.deps.db<RunRow>('sync_runs').where({ id: run.id }).first())!);
    } finally {
      await lock.release();
    }
  }

  /** Approves a run held by a guardrail and sends its plan. */
  async approve(runId: string, options: { wait?: boolean } & RunOrigin & AuditedWrite = {}): Promise<SyncRun> {
    const run = isUuid(runId) ? await this.deps.db<RunRow>('sync_runs').where({ id: runId }).first() : undefined;
    if (!run) throw notFound(`Sync run "${runId}" does not exist.`);
    if (run.status !== 'needs_approval') throw conflict(`Sync run ${run.id} is ${run.status}; only a run that needs approval can be approved.`);
    const row = await this.findRow(run.sync_id);
    const lock = await this.tryLock(row.id);
    if (!lock) throw conflict(`A run of sync "${row.slug}" is in progress.`);
    let claimed: RunRow | undefined;
    try {
      claimed = await this.deps.db.transaction(async (trx) => {
        const [updated] = await trx<RunRow>('sync_runs').where({ id: run.id, status: 'needs_approval' })
          .update({ status: 'running', approved_at: trx.fn.now() as never }).returning('*');
        if (updated) await recordChangeWithin(trx, options.audit, { action: 'sync_run.approve', resourceType: 'sync_run', before: toRun(run), after: toRun(updated), resourceSlug: row.slug });
        return updated;
      });
    } catch (error) {
      await lock.release();
      throw error;
    }
    if (!claimed) {
      await lock.release();
      throw conflict(`Sync run ${run.id} is no longer waiting for approval.`);
    }
    const execution = this.track(this.execute(row, claimed, lock, { approved: true, origin: originOf(options) }));
    return options.wait ? execution : toRun(claimed);
  }

  private async update(runId: string, fields: Record<string, unknown>): Promise<RunRow> {
    const rows = (await this.deps.db('sync_runs').where({ id: runId }).update(fields).returning('*')) as RunRow[];
    return rows[0]!;
  }

  /** A run's logger: every line names the run, its sync and destination, and who started it. */
  private runLogger(sync: SyncRow, run: RunRow, origin: RunOrigin): Logger {
    return (this.deps.logger ?? silentLogger()).child({
      runId: run.id, sync: sync.slug, syncId: sync.id, segment: sync.segment_slug, destination: sync.destination_slug, destinationKind: sync.destination_kind,
      trigger: run.trigger, ...(origin.requestId ? { requestId: origin.requestId } : {}), ...(origin.jobId ? { jobId: origin.jobId } : {}),
    });
  }

  /** Batch events → debug lines and metrics (counts only). */
  private deliveryObserver(sync: SyncRow, log: Logger, secrets: string[]): DeliveryObserver {
    const destination = { slug: sync.destination_slug ?? sync.destination_id, kind: sync.destination_kind ?? 'unknown' };
    const { metrics } = this.deps;
    return {
      batchDelivered: (e) => {
        log.debug(e, 'batch delivered');
        metrics?.rowsDelivered(destination, { sent: e.rows, confirmed: e.confirmed });
      },
      rowsRejected: (e) => {
        log.debug(e, 'rows rejected');
        metrics?.rowsRefused(destination, { reason: e.reason, count: e.count });
      },
      batchFailed: ({ error, ...e }) => {
        const fields = {
          ...e, failure: error.failure, errorClass: platformErrorClass(error), code: error.details.code, status: error.details.status,
          retryAfterMs: error.details.retryAfterMs, error: scrub(errorSummary(error), secrets),
        };
        if (e.retryInMs === null) log.warn(fields, 'batch failed, not retried');
        else log.info(fields, 'batch failed, retrying');
        metrics?.platformError(destination.kind, error);
      },
    };
  }

  /** Runs a sync holding its lock; always releases it. Errors end up in the run, not thrown. */
  private async execute(sync: SyncRow, run: RunRow, lock: HeldLock, options: { approved: boolean; origin: RunOrigin }): Promise<SyncRun> {
    const started = Date.now();
    const log = this.runLogger(sync, run, options.origin);
    const timings: Record<string, number> = { ...run.timings };
    const mark = (stage: string, since: number) => {
      timings[stage] = (timings[stage] ?? 0) + (Date.now() - since);
      log.debug({ stage, stageMs: Date.now() - since }, 'sync stage done');
    };
    const finished = (status: string) => this.deps.metrics?.syncFinished({ status, durationMs: Date.now() - started });
    log.info({ approved: options.approved }, options.approved ? 'sync run approved, sending' : 'sync run started');
    const controller = new AbortController();
    this.controllers.add(controller);
    this.runsHere.add(run.id);
    const { warehouse } = this.deps;
    let instantiated: Awaited<ReturnType<DestinationsService['instantiate']>> | undefined;
    // Planned rows not yet committed: what a failure leaves for the next run.
    let uncommitted = run.planned_adds === null ? 0 : Number(run.planned_adds) + Number(run.planned_removes) + Number(run.planned_changes);
    try {
      const columns = await this.planColumns(sync);
      const sql = this.sqlFor(sync.id, columns);
      const syncOptions = syncOptionsOf(sync.options);
      if (!options.approved) {
        // 1. A fresh snapshot.
        let t = Date.now();
        const refreshRunId = await this.ensureFresh(sync, syncOptions.maxStalenessMinutes, { syncRunId: run.id, ...options.origin }, log);
        mark('refresh', t);
        const snapshot = await this.deps.refresh.currentSnapshot(sync.segment_id);
        if (!snapshot) throw new Error('the segment has no snapshot after its refresh');
        // 2. The plan, in the warehouse.
        t = Date.now();
        await this.ensureState(sql);
        await warehouse.query(sql.dropPlan());
        await warehouse.query(sql.createPlan(snapshot.table));
        const index = sql.indexPlan();
        if (index) await warehouse.query(index);
        const counts = await this.planCounts(sql);
        const sizes = await this.sizes(sql, snapshot.table);
        mark('plan', t);
        uncommitted = counts.add + (syncOptions.mode === 'add_only' ? 0 : counts.remove) + counts.change;
        log.info({ adds: counts.add, removes: counts.remove, changes: counts.change, destinationSize: sizes.destination, segmentSize: sizes.segment, mode: syncOptions.mode }, 'sync run planned');
        await this.update(run.id, { refresh_run_id: refreshRunId ?? snapshot.run?.id ?? null, planned_adds: counts.add, planned_removes: syncOptions.mode === 'add_only' ? 0 : counts.remove, planned_changes: counts.change, timings });
        // 3. Guardrails.
        const reason = needsApproval({ adds: counts.add, removes: counts.remove, changes: counts.change, destinationSize: sizes.destination, segmentSize: sizes.segment }, syncOptions);
        if (reason) {
          log.warn({ reason, durationMs: Date.now() - started }, 'sync run needs approval');
          finished('needs_approval');
          return toRun(await this.update(run.id, { status: 'needs_approval', reason, timings }));
        }
      }
      // 4. Send.
      instantiated = await this.deps.destinations.instantiate(sync.destination_id);
      const { destination, secrets } = instantiated;
      const identity = this.identityOf(destination);
      if (syncOptions.mode === 'add_only') await warehouse.query(sql.skipRemoves());
      const planned = await this.planCounts(sql);
      const t = Date.now();
      const consentColumns = new Set(columns.filter((c) => c.startsWith('consent_')));
      const consentDefault = { adUserData: syncOptions.consent?.adUserData ?? 'GRANTED', adPersonalization: syncOptions.consent?.adPersonalization ?? 'GRANTED' } as const;
      const outcome = await deliverPlan({
        destination, audience: { remoteId: sync.remote_audience_id }, identity,
        kinds: Object.entries(sync.mapping).map(([kind, column]) => ({ kind: kind as IdentifierKind, column })),
        ...(identity === 'google' ? {
          consent: {
            default: consentDefault,
            ...(consentColumns.has('consent_ad_user_data') ? { adUserDataColumn: 'consent_ad_user_data' } : {}),
            ...(consentColumns.has('consent_ad_personalization') ? { adPersonalizationColumn: 'consent_ad_personalization' } : {}),
          },
        } : {}),
        defaultRegion: syncOptions.defaultRegion, sessionId: run.id, retry: this.retry,
        limiter: limiterFor(sync.destination_id, destination.limits.requestsPerSecond),
        readPage: (phase, after, limit) => this.readPage(sql, phase, after, limit),
        markDelivered: async (phase, first, last) => { await warehouse.query(sql.markDelivered(phase), [first.op, first.key, last.op, last.key]); },
        recordRejections: (rows) => this.recordRejections(run.id, rows),
        markUnsent: async (keys) => {
          for (let i = 0; i < keys.length; i += 1000) {
            const chunk = keys.slice(i, i + 1000);
            await warehouse.query(sql.markUnsent(chunk.length), chunk);
          }
        },
        estimatedTotal: { remove: syncOptions.mode === 'add_only' ? 0 : planned.remove + planned.change, add: planned.add + planned.change },
        signal: controller.signal,
        onProgress: (c) => { void this.progress(run.id, c); },
        observer: this.deliveryObserver(sync, log, secrets),
      }, { phases: syncOptions.mode === 'add_only' ? ['add'] : ['remove', 'add'] });
      mark('send', t);
      // 5. Commit what was delivered, in one warehouse transaction.
      const c = Date.now();
      const undelivered = await warehouse.query<{ n: unknown }>(sql.countUndelivered({ addOnly: syncOptions.mode === 'add_only' }));
      const failed = undelivered.reduce((n, r) => n + Number(r.n), 0);
      await warehouse.transaction(async (query) => {
        for (const statement of sql.commit({ addOnly: syncOptions.mode === 'add_only' })) await query(statement);
      });
      await warehouse.query(sql.dropPlan()).catch(() => {});
      mark('commit', c);
      timings.total = Date.now() - started + (run.timings.total ?? 0);
      const counts = outcome.counts;
      const fields = {
        sent: counts.sent, confirmed: counts.confirmed, rejected: counts.rejected, failed, requests: counts.requests, retries: counts.retries,
        identifier_rejections: JSON.stringify(counts.identifierRejections), timings: JSON.stringify(timings), finished_at: this.deps.db.fn.now(),
      };
      const status = outcome.stopped || failed > 0 ? 'failed' : 'succeeded';
      const error = outcome.stopped ? `${outcome.stopped.failure}: ${scrub(outcome.stopped.reason, secrets)}` : failed > 0 ? `${failed} planned rows could not be delivered; the next run re-sends them` : null;
      log[status === 'succeeded' ? 'info' : 'warn']({
        status, sent: counts.sent, confirmed: counts.confirmed, rejected: counts.rejected, failed, requests: counts.requests, retries: counts.retries,
        identifierRejections: counts.identifierRejections, timings, durationMs: Date.now() - started, ...(error ? { error } : {}),
      }, 'sync run finished');
      finished(status);
      return toRun(await this.update(run.id, { status, error, ...fields }));
    } catch (error) {
      const message = scrub((error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 500), instantiated?.secrets ?? []);
      log.error({ error: message, uncommitted, durationMs: Date.now() - started }, 'sync run failed');
      finished('failed');
      return toRun(await this.update(run.id, { status: 'failed', error: message, failed: uncommitted, finished_at: this.deps.db.fn.now(), timings: JSON.stringify(timings) }));
    } finally {
      this.controllers.delete(controller);
      this.runsHere.delete(run.id);
      await instantiated?.destination.close?.().catch(() => {});
      await lock.release();
    }
  }

  private async progress(runId: string, counts: DeliveryCounts): Promise<void> {
    await this.deps.db('sync_runs').where({ id: runId, status: 'running' })
      .update({ sent: counts.sent, confirmed: counts.confirmed, rejected: counts.rejected, requests: counts.requests, retries: counts.retries }).catch(() => {});
  }

  private async recordRejections(runId: string, rows: RowRejectionRecord[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 1000) {
      await this.deps.db('sync_rejections').insert(rows.slice(i, i + 1000).map((r) => ({ run_id: runId, member_key: r.memberKey, op: r.op, reason: r.reason, detail: r.detail ?? null })));
    }
  }

  /** Refreshes the segment when its snapshot is missing, older than allowed, or of an older segment version. */
  private async ensureFresh(sync: SyncRow, maxStalenessMinutes: number, cause: { syncRunId: string } & RunOrigin, log: Logger): Promise<string | null> {
    const snapshot = await this.deps.refresh.currentSnapshot(sync.segment_id);
    const segment = (await this.deps.db('segments').where({ id: sync.segment_id }).first('version')) as { version: number };
    const run = snapshot?.run;
    const fresh = run && run.segmentVersion === segment.version && Date.now() - new Date(run.startedAt).getTime() <= maxStalenessMinutes * 60_000;
    if (fresh) return null;
    log.info({ snapshotRunId: run?.id ?? null }, 'segment snapshot stale or missing: refreshing it first');
    for (let attempt = 0; ; attempt++) {
      try {
        const refreshed = await this.deps.refresh.start(sync.segment_id, { wait: true, cause: { syncId: sync.id, syncRunId: cause.syncRunId }, ...originOf(cause) });
        if (refreshed.status !== 'succeeded') throw new Error(`the refresh of the segment failed: ${refreshed.error ?? 'unknown error'}`);
        return refreshed.id;
      } catch (error) {
        // Another process is refreshing it: wait for that refresh instead.
        if (error instanceof AppError && error.status === 409 && attempt < 600) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          const now = await this.deps.refresh.currentSnapshot(sync.segment_id);
          if (now?.run && now.run.id !== run?.id && now.run.segmentVersion === segment.version) return now.run.id;
          continue;
        }
        throw error;
      }
    }
  }

  /** Stops sending in every run of this process (graceful shutdown): they commit what was delivered. */
  async stop(): Promise<void> {
    for (const c of this.controllers) c.abort();
    await Promise.all([...this.inFlight]);
  }

  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  async getRun(id: string): Promise<SyncRun> {
    const row = isUuid(id) ? await this.deps.db<RunRow>('sync_runs').where({ id }).first() : undefined;
    if (!row) throw notFound(`Sync run "${id}" does not exist.`);
    return toRun(row);
  }

  async runs(idOrSlug: string, options: { limit?: number; cursor?: string }): Promise<Page<SyncRun>> {
    const sync = await this.findRow(idOrSlug);
    const after = decodeCursor(options.cursor);
    const rows = await this.deps.db<RunRow>('sync_runs').where({ sync_id: sync.id })
      .modify((q) => { if (after !== undefined) q.where('created_at', '<', new Date(after)); })
      .orderBy('created_at', 'desc').limit(pageSize(options) + 1);
    return toPage(rows.map(toRun), pageSize(options), (r) => r.createdAt);
  }

  async rejections(runId: string, options: { limit?: number; cursor?: string }): Promise<Page<{ memberKey: string; op: string; reason: string; detail: string | null }>> {
    await this.getRun(runId);
    const after = decodeCursor(options.cursor);
    const rows = await this.deps.db('sync_rejections').where({ run_id: runId })
      .modify((q) => { if (after !== undefined) q.where('id', '>', Number(after)); })
      .orderBy('id').limit(pageSize(options) + 1) as Array<{ id: string; member_key: string; op: string; reason: string; detail: string | null }>;
    const page = toPage(rows, pageSize(options), (r) => String(r.id));
    return { data: page.data.map((r) => ({ memberKey: r.member_key, op: r.op, reason: r.reason, detail: r.detail })), nextCursor: page.nextCursor };
  }

  /** The state rows of a sync (tests, audits): what the destination holds by our last commit. */
  async stateRows(idOrSlug: string): Promise<PlanRow[]> {
    const sync = await this.findRow(idOrSlug);
    const sql = this.sqlFor(sync.id, await this.planColumns(sync));
    await this.ensureState(sql);
    return this.deps.warehouse.query<PlanRow>(sql.stateRows());
  }

  // ——— lookalikes ———

  async createLookalike(idOrSlug: string, input: LookalikeRequest, options: AuditedWrite = {}): Promise<Lookalike> {
    const sync = await this.findRow(idOrSlug);
    const { destination, secrets } = await this.deps.destinations.instantiate(sync.destination_id);
    try {
      const [state] = await this.deps.warehouse.query<{ n: unknown }>(this.sqlFor(sync.id, await this.planColumns(sync)).countSent()).catch(() => [{ n: 0 }]);
      const seedSize = Number(state?.n ?? 0);
      if (destination.platform === 'meta' && !input.meta) throw invalidRequest('A Meta lookalike needs `meta` settings.', [{ pointer: '/meta', message: 'is required for a Meta destination' }]);
      if (destination.platform === 'google' && !input.google) throw invalidRequest('A Google lookalike needs `google` settings.', [{ pointer: '/google', message: 'is required for a Google destination' }]);
      if (destination.platform === 'file') throw unprocessable('File destinations have no lookalikes.', [{ pointer: '', message: 'the destination is a file destination' }]);
      const remote = await destination.createLookalike({
        name: input.name, seedRemoteId: sync.remote_audience_id, seedSize,
        ...(input.meta ? { meta: input.meta } : {}), ...(input.google ? { google: input.google } : {}),
      }).catch((error: unknown) => { throw platformProblem(error, secrets); });
      const saved = this.deps.db.transaction(async (trx) => {
        const [row] = await trx('lookalikes').insert({
          id: randomUUID(), sync_id: sync.id, name: input.name, remote_id: remote.remoteId, spec: JSON.stringify(input.meta ?? input.google ?? {}), seed_size: seedSize,
        }).returning('*');
        const lookalike = this.toLookalike(row as LookalikeRow, remote.status);
        await recordChangeWithin(trx, options.audit, { action: 'lookalike.create', resourceType: 'lookalike', before: null, after: lookalike, resourceSlug: input.name });
        return lookalike;
      });
      return await saved.catch((error: unknown) => {
        throw this.unsaved(error, { object: 'lookalike', remoteId: remote.remoteId, remedy: 'a retry creates another one, so delete this one there first' }, { sync: sync.slug });
      });
    } finally {
      await destination.close?.().catch(() => {});
    }
  }

  /** Logs the cause (the answer does not carry it) and says what was left on the platform. */
  private unsaved(cause: unknown, remote: UnsavedRemote, context: { sync: string }): AppError {
    (this.deps.logger ?? silentLogger()).error({ err: cause, ...context, remoteId: remote.remoteId }, `${remote.object} created on the platform but not saved`);
    return unsavedRemoteError(cause, remote);
  }

  private toLookalike(row: LookalikeRow, status?: { code: number | string; description?: string }): Lookalike {
    return { id: row.id, syncId: row.sync_id, name: row.name, remoteId: row.remote_id, spec: row.spec, seedSize: row.seed_size, ...(status ? { status } : {}), createdAt: row.created_at.toISOString() };
  }

  async lookalikes(idOrSlug: string): Promise<{ data: Lookalike[] }> {
    const sync = await this.findRow(idOrSlug);
    const rows = await this.deps.db<LookalikeRow>('lookalikes').where({ sync_id: sync.id }).orderBy('created_at');
    return { data: rows.map((r) => this.toLookalike(r)) };
  }

  /** One lookalike with its status read from the platform. */
  async getLookalike(id: string): Promise<Lookalike> {
    const row = isUuid(id) ? await this.deps.db<LookalikeRow>('lookalikes').where({ id }).first() : undefined;
    if (!row) throw notFound(`Lookalike "${id}" does not exist.`);
    const sync = await this.findRow(row.sync_id);
    const { destination, secrets } = await this.deps.destinations.instantiate(sync.destination_id);
    try {
      const remote = destination.getLookalike ? await destination.getLookalike(row.remote_id).catch((error: unknown) => { throw platformProblem(error, secrets); }) : undefined;
      return this.toLookalike(row, remote?.status);
    } finally {
      await destination.close?.().catch(() => {});
    }
  }
}

interface LookalikeRow { id: string; sync_id: string; name: string; remote_id: string; spec: Record<string, unknown>; seed_size: number; created_at: Date }

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
