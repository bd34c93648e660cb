import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import type { FastifyInstance } from 'fastify';
import knex, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { injectAsAdmin } from '../support/auth';
import { RefreshService, type RefreshRun } from '../../src/audiences/refresh-service';
import { AppError } from '../../src/errors';
import type { Runtime } from '../../src/runtime';
import { SegmentQueries } from '../../src/segments/segment-queries';
import {
  RefreshAuditor, Rng, SHOP, Shop, createShopSegments, holdTableLock, openRefreshFixture, seedFromEnv, shopSegments, sorted, until,
  type RefreshFixture,
} from '../support/refresh-fixture';
import { REPO_ROOT } from '../support/test-service';

/**
 * Refreshes of one segment never overlap, across pools and processes; refreshes of different
 * segments do; a dead process's run is abandoned; a failed refresh changes nothing in the
 * warehouse. A refresh is made to last as long as a test needs by holding a lock on the source
 * table from another session: its snapshot query waits for it (the advisory lock is already held).
 */

const ANCHOR = Date.UTC(2026, 10, 1, 9, 30);
const asOf = new Date(ANCHOR);
const seed = seedFromEnv();

let fixture: RefreshFixture;
let shop: Shop;
let ids: Map<string, string>;
let auditor: RefreshAuditor;
let other: Runtime;
let otherApp: FastifyInstance;

const segmentId = (slug: string) => ids.get(slug)!;
const specOf = (slug: string) => shopSegments.find((s) => s.slug === slug)!;

interface MetaRun { id: string; segment_id: string; status: string; started_at: Date; finished_at: Date | null; error: string | null; size: number | null }
const runsOf = async (slug: string): Promise<MetaRun[]> => fixture.runtime.db<MetaRun>('refresh_runs').where({ segment_id: segmentId(slug) }).orderBy('started_at');

/** A promise whose outcome can be looked at without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  const done = promise.then((value) => { state.settled = true; state.value = value; }, (error: unknown) => { state.settled = true; state.error = error; });
  return { state, done };
}

/** Runs of a segment (or only its successful runs) never overlap in time, and none is left running. */
async function expectNoOverlap(slug: string, options: { succeededOnly?: boolean } = {}): Promise<void> {
  const runs = (await runsOf(slug)).filter((r) => !options.succeededOnly || r.status === 'succeeded' || r.status === 'running');
  expect(runs.filter((r) => r.status === 'running'), `${slug}: running runs`).toEqual([]);
  for (let i = 1; i < runs.length; i++) {
    const before = runs[i - 1]!;
    const after = runs[i]!;
    expect(before.finished_at, `${slug}: run ${before.id} has no end`).not.toBeNull();
    expect(before.finished_at!.getTime(), `${slug}: run ${before.id} overlaps ${after.id}`).toBeLessThanOrEqual(after.started_at.getTime());
  }
}

/** Everything a refresh may touch in the warehouse state, for before/after comparisons. */
async function stateOf(slug: string) {
  const { warehouse } = fixture.runtime;
  const state = fixture.stateSchema;
  const [pointer] = await warehouse.query<{ current_table: string; previous_table: string | null; run_id: string; refreshed_at: Date }>(
    `select current_table, previous_table, run_id, refreshed_at from ${state}.snapshots where segment_id = $1`, [segmentId(slug)],
  );
  const snapshot = async (table: string | null | undefined) => (table ? warehouse.query(`select * from ${state}.${table} order by member_key`) : null);
  return {
    pointer,
    current: await snapshot(pointer?.current_table),
    previous: await snapshot(pointer?.previous_table),
    log: await warehouse.query(`select * from ${state}.membership_log where segment_id = $1 order by "at", member_key, event`, [segmentId(slug)]),
    runs: await warehouse.query(`select * from ${state}.refresh_runs where segment_id = $1 order by started_at`, [segmentId(slug)]),
    tables: sorted(await auditor.snapshotTables()),
  };
}

/** Refreshes through the auditor (all invariants) with the oracle's members. */
async function auditedRefresh(slug: string, label = slug): Promise<RefreshRun> {
  return auditor.refresh(segmentId(slug), asOf, { expected: await shop.expectedMembers(specOf(slug), ANCHOR), label });
}

beforeAll(async () => {
  fixture = await openRefreshFixture('postgres', { stateSchema: 'conc_state' });
  shop = new Shop(fixture.runtime, 'postgres', new Rng(seed));
  await shop.create(300, ANCHOR);
  ids = await createShopSegments(fixture.runtime);
  auditor = new RefreshAuditor(fixture.runtime, fixture.stateSchema);
  // A second process, as far as Postgres can tell: its own pools on the same databases.
  other = await fixture.openRuntime();
  otherApp = await buildApp({ services: other, logLevel: 'silent' });
  await otherApp.ready();
  await injectAsAdmin(otherApp, other.tokens);
  for (const spec of shopSegments) await auditedRefresh(spec.slug, `${spec.slug} (first run)`);
});

afterAll(async () => {
  await otherApp?.close();
  await fixture?.close();
});

describe(`concurrent refreshes (seed ${seed})`, () => {
  it('two runtimes refreshing one segment at once: exactly one runs, the other gets 409', async () => {
    const slug = 'not-pro';
    await shop.randomChanges(ANCHOR);
    const previous = new Set(await fixture.runtime.refresh.currentMemberKeys(segmentId(slug)));
    const runsBefore = (await runsOf(slug)).length;
    const lock = await holdTableLock(fixture.databaseUrl, `${SHOP}.customers`);
    try {
      const a = track(fixture.runtime.refresh.start(slug, { asOf, wait: true }));
      const b = track(other.refresh.start(slug, { asOf, wait: true }));
      await until('one of the two refreshes to be refused', async () => a.state.settled || b.state.settled);
      const [winner, loser] = a.state.settled ? [b, a] : [a, b];
      expect(loser.state.error, 'the refused one').toBeInstanceOf(AppError);
      expect((loser.state.error as AppError).status).toBe(409);
      // The winner is recorded as running and waits for the source table: the two really overlap.
      await until('the winner to wait for the source table', async () => (await lock.waiting()) >= 1);
      const running = (await runsOf(slug)).filter((r) => r.status === 'running');
      expect(running).toHaveLength(1);
      expect(winner.state.settled).toBe(false);
      // Through the API of the other "process" too, and the running run is left alone.
      const refused = await otherApp.inject({ method: 'POST', url: `/v1/segments/${slug}/refresh?asOf=${asOf.toISOString()}` });
      expect(refused.statusCode).toBe(409);
      expect(refused.json().detail).toMatch(/already running/);
      expect((await runsOf(slug)).filter((r) => r.status === 'running').map((r) => r.id)).toEqual([running[0]!.id]);
      await lock.release();
      await winner.done;
      const run = winner.state.value!;
      expect(run).toMatchObject({ id: running[0]!.id, status: 'succeeded' });
      await auditor.check(segmentId(slug), run, previous, asOf, { expected: await shop.expectedMembers(specOf(slug), ANCHOR) });
    } finally {
      await lock.release();
    }
    const runs = await runsOf(slug);
    expect(runs.slice(runsBefore).map((r) => r.status), 'one run recorded, succeeded').toEqual(['succeeded']);
    await expectNoOverlap(slug);
  });

  it('racing runtimes without a pause: never two runs at once, every run consistent', async () => {
    const slug = 'us-high-ltv';
    const id = segmentId(slug);
    let refused = 0;
    for (let i = 0; i < 8; i++) {
      await shop.randomChanges(ANCHOR);
      const expected = sorted(await shop.expectedMembers(specOf(slug), ANCHOR));
      const starts = shop.rng.chance(0.5) ? [fixture.runtime, other] : [other, fixture.runtime];
      const results = await Promise.allSettled(starts.map((rt) => rt.refresh.start(id, { asOf, wait: true })));
      const succeeded = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(AppError);
          expect((r.reason as AppError).status).toBe(409);
          refused++;
        }
      }
      expect(succeeded.length, `iteration ${i}: at least one refresh ran`).toBeGreaterThanOrEqual(1);
      for (const run of succeeded) {
        expect(run.status, `iteration ${i}: ${run.error}`).toBe('succeeded');
        expect(sorted(await fixture.runtime.refresh.membersFromLog(id, new Date(run.startedAt))), `iteration ${i}: replay of ${run.id}`).toEqual(expected);
      }
      if (succeeded.length === 2) {
        const second = [...succeeded].sort((x, y) => x.startedAt.localeCompare(y.startedAt))[1]!;
        expect({ entered: second.entered, exited: second.exited }, `iteration ${i}: back-to-back runs, the second changes nothing`).toEqual({ entered: 0, exited: 0 });
      }
      expect(sorted(await fixture.runtime.refresh.currentMemberKeys(id))).toEqual(expected);
    }
    await expectNoOverlap(slug);
    // Keep the auditor's notion of the last run in step with what happened outside it.
    const last = (await runsOf(slug)).at(-1)!;
    const run = await fixture.runtime.refresh.getRun(last.id);
    auditor.runs.get(id)!.push({ run, members: sorted(await fixture.runtime.refresh.currentMemberKeys(id)) });
    await auditor.finalCheck(id, `${slug} after racing (${refused} refused)`);
  });

  it('refreshes of different segments run at the same time', async () => {
    await shop.randomChanges(ANCHOR);
    const previous = new Map<string, Set<string>>();
    for (const spec of shopSegments) previous.set(spec.slug, new Set(await fixture.runtime.refresh.currentMemberKeys(segmentId(spec.slug))));
    const lock = await holdTableLock(fixture.databaseUrl, `${SHOP}.customers`);
    let started: RefreshRun[] = [];
    try {
      // Two "processes", two segments each, all started while the source table is locked.
      started = await Promise.all(shopSegments.map((spec, i) => (i % 2 ? other : fixture.runtime).refresh.start(spec.slug, { asOf, wait: false })));
      expect(started.map((r) => r.status)).toEqual(shopSegments.map(() => 'running'));
      await until('every refresh to wait for the source table', async () => (await lock.waiting()) >= shopSegments.length);
      const running = await fixture.runtime.db('refresh_runs').where({ status: 'running' }).count<Array<{ count: string }>>('* as count');
      expect(Number(running[0]!.count), 'runs in flight at once').toBe(shopSegments.length);
    } finally {
      await lock.release();
    }
    await Promise.all([fixture.runtime.refresh.drain(), other.refresh.drain()]);
    for (const [i, spec] of shopSegments.entries()) {
      const run = await fixture.runtime.refresh.getRun(started[i]!.id);
      expect(run.status, `${spec.slug}: ${run.error}`).toBe('succeeded');
      await auditor.check(segmentId(spec.slug), run, previous.get(spec.slug)!, asOf, { expected: await shop.expectedMembers(spec, ANCHOR), label: spec.slug });
      await expectNoOverlap(spec.slug);
    }
    await auditor.checkNoOrphans();
  });

  it('refreshes of as many different segments as the metadata pool has connections all complete', async () => {
    // A service whose metadata pool has 2 connections (the default is 10): two slow refreshes of
    // different segments must not starve each other of connections.
    const db: Knex = knex({ client: 'pg', connection: { connectionString: fixture.databaseUrl }, pool: { min: 0, max: 2 }, acquireConnectionTimeout: 4_000 });
    const service = new RefreshService({ db, warehouse: fixture.runtime.warehouse, queries: new SegmentQueries({ db, warehouse: fixture.runtime.warehouse }), stateSchema: fixture.stateSchema });
    const [first, second] = ['repeat-buyers', 'recently-active'];
    const previous = new Map<string, Set<string>>();
    for (const slug of [first!, second!]) previous.set(slug, new Set(await fixture.runtime.refresh.currentMemberKeys(segmentId(slug))));
    const lock = await holdTableLock(fixture.databaseUrl, `${SHOP}.customers`);
    try {
      await service.ensureState();
      const a = track(service.start(first!, { asOf, wait: true }));
      await until('the first refresh to wait for the source table', async () => (await lock.waiting()) >= 1);
      const b = track(service.start(second!, { asOf, wait: true }));
      await until('the second refresh to be recorded or fail', async () => b.state.settled || (await runsOf(second!)).some((r) => r.status === 'running'), 6_000).catch(() => {});
      await lock.release();
      await Promise.all([a.done, b.done]);
      for (const [slug, outcome] of [[first!, a], [second!, b]] as const) {
        expect(outcome.state.error, `${slug}: refresh threw`).toBeUndefined();
        expect(outcome.state.value?.status, `${slug}: ${outcome.state.value?.error}`).toBe('succeeded');
        await auditor.check(segmentId(slug), outcome.state.value!, previous.get(slug)!, asOf, { expected: await shop.expectedMembers(specOf(slug), ANCHOR), label: slug });
      }
    } finally {
      await lock.release();
      await service.drain();
      await db.destroy();
    }
  });

  it('a run left running by a dead process is marked abandoned; the next refresh succeeds', async () => {
    const slug = 'repeat-buyers';
    const stale = randomUUID();
    await fixture.runtime.db('refresh_runs').insert({
      id: stale, segment_id: segmentId(slug), segment_version: 1, status: 'running', as_of: asOf,
      sql: 'SELECT 1', params: '[]',
    });
    const failedRuns = async () => Number(/^audiences_refresh_runs_total\{status="failed"\} (\d+)$/m.exec((await fixture.runtime.metrics.scrape()).body)?.[1] ?? 0);
    const failedBefore = await failedRuns();
    await shop.randomChanges(ANCHOR);
    const run = await auditedRefresh(slug);
    // Counted where it ended: the metrics see every finished run.
    expect(await failedRuns()).toBe(failedBefore + 1);
    const abandoned = await fixture.runtime.refresh.getRun(stale);
    expect(abandoned).toMatchObject({ status: 'failed', error: expect.stringMatching(/abandoned/) });
    expect(abandoned.finishedAt).not.toBeNull();
    expect(new Date(abandoned.finishedAt!).getTime()).toBeLessThanOrEqual(new Date(run.startedAt).getTime());
    const history = await fixture.runtime.refresh.history(slug, {});
    expect(history.map((h) => h.runId)).not.toContain(stale);
    await expectNoOverlap(slug);
    await auditor.finalCheck(segmentId(slug), slug);
  });
});

describe(`the lock and the state schema across processes (seed ${seed})`, () => {
  it('first refreshes from two processes on a fresh state schema: migrated once, both succeed', async () => {
    // A deployment of its own (metadata database, warehouse, state schema), two processes.
    const fresh = await openRefreshFixture('postgres', { stateSchema: 'fresh_state' });
    try {
      const freshShop = new Shop(fresh.runtime, 'postgres', new Rng(seed));
      await freshShop.create(100, ANCHOR);
      const freshIds = await createShopSegments(fresh.runtime);
      const two = await fresh.openRuntime();
      const slugs = ['not-pro', 'us-high-ltv'] as const;
      const [a, b] = await Promise.all([fresh.runtime.refresh.start(slugs[0], { asOf, wait: true }), two.refresh.start(slugs[1], { asOf, wait: true })]);
      expect([a.status, a.error, b.status, b.error]).toEqual(['succeeded', null, 'succeeded', null]);
      const migrations = await fresh.runtime.warehouse.query<{ version: number }>('select version from fresh_state._state_migrations');
      expect(migrations.map((m) => Number(m.version))).toEqual([1]);
      await new RefreshAuditor(fresh.runtime, 'fresh_state').checkNoOrphans();
      for (const [slug, run] of [[slugs[0], a], [slugs[1], b]] as const) {
        const expected = sorted(await freshShop.expectedMembers(specOf(slug), ANCHOR));
        expect(sorted(await fresh.runtime.refresh.currentMemberKeys(freshIds.get(slug)!))).toEqual(expected);
        expect(sorted(await fresh.runtime.refresh.membersFromLog(freshIds.get(slug)!, new Date(run.startedAt)))).toEqual(expected);
      }
    } finally {
      await fresh.close();
    }
  });

});

describe(`a refresh that fails inside the warehouse transaction changes nothing (seed ${seed})`, () => {
  const slug = 'us-high-ltv';

  /** Fails a refresh by `inject` (undone by the returned function) and checks that nothing moved. */
  async function failedRefresh(inject: () => Promise<() => Promise<void>>, errorPattern: RegExp): Promise<void> {
    // Something must change, so that a half-done refresh would show: someone enters, someone exits.
    await shop.randomChanges(ANCHOR);
    const members = new Set(await fixture.runtime.refresh.currentMemberKeys(segmentId(slug)));
    const { customers } = await shop.read();
    const joining = customers.find((c) => !members.has(String(c.id)))!;
    const leaving = customers.find((c) => members.has(String(c.id)))!;
    await shop.updateCustomer({ ...joining, country: 'US', ltv: 900 });
    await shop.updateCustomer({ ...leaving, ltv: 0 });
    const expected = await shop.expectedMembers(specOf(slug), ANCHOR);
    const before = await stateOf(slug);
    expect(before.pointer?.previous_table, 'there is a previous snapshot to lose').toBeTruthy();
    const undo = await inject();
    let run: RefreshRun;
    try {
      run = await fixture.runtime.refresh.start(slug, { asOf, wait: true });
    } finally {
      await undo();
    }
    expect(run).toMatchObject({ status: 'failed', size: null, entered: null, exited: null });
    expect(run.error).toMatch(errorPattern);
    expect(run.finishedAt).not.toBeNull();
    const after = await stateOf(slug);
    expect(after.pointer).toEqual(before.pointer);
    expect(after.current).toEqual(before.current);
    expect(after.previous).toEqual(before.previous);
    expect(after.log).toEqual(before.log);
    expect(after.runs).toEqual(before.runs);
    expect(after.tables, 'snapshot tables (no orphan, none dropped)').toEqual(before.tables);
    await auditor.checkNoOrphans();
    expect((await fixture.runtime.refresh.history(slug, {})).map((h) => h.runId)).not.toContain(run.id);
    // And the next refresh picks up from the previous snapshot.
    const next = await auditedRefresh(slug);
    expect(next.size).toBe(expected.size);
    await expectNoOverlap(slug);
  }

  it('when the source data breaks the snapshot query after some rows', async () => {
    // ltv × 1e300 overflows a double only for an ltv above ~1.8e8: Postgres raises "value out of
    // range" on the poison row (inserted last, so scanned after the others), mid-INSERT.
    await fixture.runtime.segments.update(slug, { rule: { or: [
      { and: [{ '==': [{ var: 'country' }, 'US'] }, { '>': [{ var: 'ltv' }, 500] }] },
      { '>': [{ '*': [{ var: 'ltv' }, 1e300] }, 1e308] },
    ] } });
    await auditedRefresh(slug, `${slug} v2`);
    const poisonId = 1_000_000;
    await failedRefresh(async () => {
      await fixture.runtime.warehouse.query(`insert into ${SHOP}.customers (id, email, country, plan, ltv) values ($1, 'poison@example.com', 'DE', 'poison', 1e10)`, [poisonId]);
      return async () => { await fixture.runtime.warehouse.query(`delete from ${SHOP}.customers where id = $1`, [poisonId]); };
    }, /out of range|overflow/i);
  });

  it('when writing the membership log fails after the snapshot was filled', async () => {
    await failedRefresh(async () => {
      // Whoever enters first in key order is refused by a constraint on the log.
      await fixture.runtime.warehouse.query(`alter table ${fixture.stateSchema}.membership_log add constraint no_enter check (event <> 'enter') not valid`);
      return async () => { await fixture.runtime.warehouse.query(`alter table ${fixture.stateSchema}.membership_log drop constraint no_enter`); };
    }, /no_enter/);
  });

  it('when recording the run fails at the very end, after the oldest snapshot was dropped', async () => {
    await failedRefresh(async () => {
      await fixture.runtime.warehouse.query(`alter table ${fixture.stateSchema}.refresh_runs add constraint no_more_runs check (size < 0) not valid`);
      return async () => { await fixture.runtime.warehouse.query(`alter table ${fixture.stateSchema}.refresh_runs drop constraint no_more_runs`); };
    }, /no_more_runs/);
  });

  it('a run whose outcome could not be written to the metadata store after the warehouse committed is reconciled', async () => {
    // The warehouse transaction commits; then the metadata store refuses "succeeded" (an outage at
    // that moment, or the process dying there, has the same effect).
    const id = segmentId(slug);
    await shop.randomChanges(ANCHOR);
    const members = new Set(await fixture.runtime.refresh.currentMemberKeys(id));
    const { customers } = await shop.read();
    await shop.updateCustomer({ ...customers.find((c) => !members.has(String(c.id)))!, country: 'US', ltv: 900 });
    await fixture.runtime.db.raw(`create function refuse_success() returns trigger language plpgsql as $$
      begin if new.status = 'succeeded' then raise exception 'injected: metadata store unavailable'; end if; return new; end $$`);
    await fixture.runtime.db.raw(`create trigger refuse_success before update on refresh_runs for each row execute function refuse_success()`);
    let run: RefreshRun;
    try {
      run = await fixture.runtime.refresh.start(slug, { asOf, wait: true });
    } finally {
      await fixture.runtime.db.raw('drop trigger refuse_success on refresh_runs');
      await fixture.runtime.db.raw('drop function refuse_success()');
    }
    const [pointer] = await fixture.runtime.warehouse.query<{ run_id: string }>(`select run_id from ${fixture.stateSchema}.snapshots where segment_id = $1`, [id]);
    const logged = await fixture.runtime.warehouse.query(`select 1 from ${fixture.stateSchema}.membership_log where run_id = $1`, [run.id]);
    // The outage is over; the service gets the chance to reconcile with the next refresh.
    const next = await fixture.runtime.refresh.start(slug, { asOf, wait: true });
    expect(next.status, next.error ?? '').toBe('succeeded');
    const status = (await fixture.runtime.refresh.getRun(run.id)).status;
    const detail = `run ${run.id} is ${status} (${run.error}) in the metadata store; in the warehouse the pointer ${pointer?.run_id === run.id ? 'moved to it' : 'did not move'} and it logged ${logged.length} events`;
    // The runs that count are the same in the metadata store and in the warehouse...
    const history = await fixture.runtime.refresh.history(id, {});
    const recorded = await fixture.runtime.warehouse.query<{ run_id: string }>(`select run_id from ${fixture.stateSchema}.refresh_runs where segment_id = $1 order by started_at`, [id]);
    expect(history.map((h) => h.runId), detail).toEqual(recorded.map((r) => r.run_id));
    // ...so history adds up: Σ entered − exited is the current size.
    expect(history.reduce((n, h) => n + h.entered - h.exited, 0), `Σ entered − exited over history; ${detail}`).toBe((await fixture.runtime.refresh.currentMemberKeys(id)).length);
  });
});

describe(`a refresh in another OS process (seed ${seed})`, () => {
  it('holds the segment against this process; once killed, its run is abandoned and the next refresh is consistent', async () => {
    const slug = 'recently-active';
    const id = segmentId(slug);
    await shop.randomChanges(ANCHOR);
    const previous = new Set(await fixture.runtime.refresh.currentMemberKeys(id));
    const lock = await holdTableLock(fixture.databaseUrl, `${SHOP}.customers`);
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'tests/support/refresh-child.ts')], {
        cwd: REPO_ROOT,
        env: { ...process.env, ...fixture.env, REFRESH_SEGMENT: slug, REFRESH_AS_OF: asOf.toISOString() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.once('exit', (code, signal) => resolve({ code, signal })));
      const lines = readline.createInterface({ input: child.stdout! });
      const recorded = await new Promise<RefreshRun>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the child did not start a refresh in time; stderr: ${stderr}`)), 20_000);
        lines.on('line', (line) => {
          const message = JSON.parse(line) as { event: string; run?: RefreshRun; message?: string };
          if (message.event === 'recorded') { clearTimeout(timer); resolve(message.run!); }
          if (message.event === 'error') { clearTimeout(timer); reject(new Error(`child: ${message.message}`)); }
        });
        void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`child exited (${code ?? signal}) early; stderr: ${stderr}`)); });
      });
      expect(recorded.status).toBe('running');
      await until('the child to wait for the source table', async () => (await lock.waiting()) >= 1);
      // This process is refused while the child runs.
      const refused = await fixture.runtime.refresh.start(slug, { asOf, wait: true }).then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(AppError);
      expect((refused as AppError).status).toBe(409);
      expect((refused as AppError).message).toContain(recorded.id);
      // Kill it mid-run.
      child.kill('SIGKILL');
      expect((await exited).signal).toBe('SIGKILL');
      await lock.release();
      // Postgres notices the dead session and releases its advisory lock: the next refresh runs.
      let run: RefreshRun | undefined;
      await until('a refresh to be accepted after the kill', async () => {
        try {
          run = await fixture.runtime.refresh.start(slug, { asOf, wait: true });
          return true;
        } catch (error) {
          if (error instanceof AppError && error.status === 409) return false;
          throw error;
        }
      });
      expect(run!.status, run!.error ?? '').toBe('succeeded');
      const killed = await fixture.runtime.refresh.getRun(recorded.id);
      expect(killed).toMatchObject({ status: 'failed', error: expect.stringMatching(/abandoned/) });
      await auditor.check(id, run!, previous, asOf, { expected: await shop.expectedMembers(specOf(slug), ANCHOR), label: `${slug} after the kill` });
      // The killed run's uncommitted snapshot never appears, even once its session has ended.
      await until('the killed run\'s warehouse session to end', async () => (await fixture.runtime.warehouse.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and state <> 'idle' and query like 'INSERT INTO%snap_%' and pid <> pg_backend_pid()`,
      ))[0]!.n === 0);
      await auditor.checkNoOrphans();
      await auditor.finalCheck(id, `${slug} after the kill`);
      await expectNoOverlap(slug);
    } finally {
      child?.kill('SIGKILL');
      await lock.release();
    }
  });
});

describe('a segment deleted while it refreshes', () => {
  it('the refresh ends without an internal error', async () => {
    const doomed = await fixture.runtime.segments.create({ slug: 'doomed', name: 'Doomed', model: 'shoppers', rule: { '==': [{ var: 'plan' }, 'free'] } });
    expect((await fixture.runtime.refresh.start('doomed', { asOf, wait: true })).status).toBe('succeeded');
    const lock = await holdTableLock(fixture.databaseUrl, `${SHOP}.customers`);
    let outcome: { run?: RefreshRun; error?: unknown };
    try {
      const refresh = fixture.runtime.refresh.start('doomed', { asOf, wait: true }).then((run) => ({ run }), (error: unknown) => ({ error }));
      await until('the refresh to wait for the source table', async () => (await lock.waiting()) >= 1);
      // (The delete is allowed; refusing it with 409 while a refresh runs would be fine too.)
      const deleted = await fixture.runtime.segments.delete('doomed').then(() => true, (error: unknown) => {
        expect(error).toBeInstanceOf(AppError);
        return false;
      });
      await lock.release();
      outcome = await refresh;
      if (!deleted) expect(outcome.run?.status).toBe('succeeded');
    } finally {
      await lock.release();
    }
    const error = outcome.error;
    expect(error === undefined || error instanceof AppError, `refresh of a deleted segment: ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`).toBe(true);
    expect(doomed.id).toBeTruthy();
  });
});

// Last: the damage this one finds (a second pointer row or an orphan snapshot table) must not leak into other tests.
describe(`a refresh whose lock session is lost (seed ${seed})`, () => {
  it('a refresh that lost its lock session cannot run alongside, or clobber, the refresh that took over', async () => {
    // The session holding a refresh's advisory lock can end while the refresh goes on (a metadata
    // failover, idle_session_timeout, a proxy or firewall dropping an idle connection): simulated
    // with pg_terminate_backend. Another refresh may then start; the two must not both commit.
    const slug = 'not-pro';
    const id = segmentId(slug);
    await shop.randomChanges(ANCHOR);
    const lock = await holdTableLock(fixture.databaseUrl, `${SHOP}.customers`);
    let first: RefreshRun | undefined;
    let second: ReturnType<typeof track<RefreshRun>> | undefined;
    let firstDone: Promise<void> | undefined;
    try {
      first = await fixture.runtime.refresh.start(slug, { asOf, wait: false });
      firstDone = fixture.runtime.refresh.drain();
      await until('the first refresh to wait for the source table', async () => (await lock.waiting()) >= 1);
      // 0x61756431: the refresh lock class of refresh-service.ts (LOCK_REFRESH).
      const holders = await fixture.runtime.db.raw<{ rows: Array<{ pid: number }> }>(
        `select pid from pg_locks where database = (select oid from pg_database where datname = current_database()) and locktype = 'advisory' and classid = ${0x61756431} and granted`,
      );
      expect(holders.rows).toHaveLength(1);
      await fixture.runtime.db.raw('select pg_terminate_backend(?)', [holders.rows[0]!.pid]);
      // The lock is gone: another process may start a refresh now.
      let accepted: RefreshRun | undefined;
      await until('another process to be let in', async () => {
        try {
          accepted = await other.refresh.start(slug, { asOf, wait: false });
          return true;
        } catch (error) {
          if (error instanceof AppError && error.status === 409) return false;
          throw error;
        }
      });
      second = track(other.refresh.drain().then(() => other.refresh.getRun(accepted!.id)));
      await until('both refreshes to wait for the source table', async () => (await lock.waiting()) >= 2);
    } finally {
      await lock.release();
    }
    await firstDone;
    await second!.done;
    const a = await fixture.runtime.refresh.getRun(first.id);
    const b = second!.state.value!;
    // At most one of them may count, the runs must not overlap, and the warehouse must be whole.
    // (soft: every consequence is reported)
    expect.soft([a.status, b.status].filter((s) => s === 'succeeded'), `first ${a.status} (${a.error}), second ${b.status} (${b.error})`).toHaveLength(1);
    expect.soft(a.status === 'succeeded' ? a.error : null, 'a succeeded run carries an error').toBeNull();
    // (a run that lost its lock may have worked alongside, as long as it did not count)
    const overlap = await expectNoOverlap(slug, { succeededOnly: true }).then(() => null, (error: Error) => error.message.split('\n')[0]);
    expect.soft(overlap, 'runs of the segment overlap').toBeNull();
    const pointers = await fixture.runtime.warehouse.query(`select run_id from ${fixture.stateSchema}.snapshots where segment_id = $1`, [id]);
    expect.soft(pointers, 'snapshot pointers of the segment').toHaveLength(1);
    const winner = a.status === 'succeeded' && b.status !== 'succeeded' ? a : b;
    const current = sorted(await fixture.runtime.refresh.currentMemberKeys(id));
    expect.soft(current).toEqual(sorted(await shop.expectedMembers(specOf(slug), ANCHOR)));
    expect.soft(sorted(await fixture.runtime.refresh.membersFromLog(id, new Date(winner.startedAt))), 'log replay').toEqual(current);
    const twice = await fixture.runtime.warehouse.query<{ member_key: string; event: string; n: number }>(
      `select member_key, event, count(*)::int as n from ${fixture.stateSchema}.membership_log where run_id in ($1, $2) group by member_key, event having count(*) > 1 limit 5`, [a.id, b.id],
    );
    expect.soft(twice, 'members with the same event in both runs (both logged against the same previous snapshot)').toEqual([]);
    const orphans = sorted(await auditor.snapshotTables());
    const named = new Set((await fixture.runtime.warehouse.query<{ current_table: string; previous_table: string | null }>(`select current_table, previous_table from ${fixture.stateSchema}.snapshots`))
      .flatMap((p) => [p.current_table, p.previous_table ?? '']));
    expect.soft(orphans.filter((t) => !named.has(t)), 'orphan snapshot tables').toEqual([]);
  });
});
