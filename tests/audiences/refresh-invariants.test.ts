import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DAY, RefreshAuditor, Rng, Shop, createShopSegments, openRefreshFixture, seedFromEnv, shopSegments,
  type RefreshFixture, type WarehouseKind,
} from '../support/refresh-fixture';

/**
 * Refresh invariants under randomized data changes, on a Postgres and a DuckDB warehouse.
 * Every refresh is checked against the warehouse (see RefreshAuditor): previous ∪ entered − exited
 * = current, entered ∩ exited = ∅, log replay = snapshot, snapshot = compiled rule = oracle, run
 * numbers, pointer and snapshot tables; at the end history and the log as a whole.
 * Reproduce a failure with REFRESH_SEED=<seed printed in the failure message>.
 */

const ROUNDS = 15;
const ANCHOR = Date.UTC(2026, 10, 1, 9, 30);

describe.each<WarehouseKind>(['postgres', 'duckdb'])('refresh invariants on a %s warehouse', (kind) => {
  const seed = seedFromEnv();
  let fixture: RefreshFixture;
  let shop: Shop;
  let ids: Map<string, string>;
  let auditor: RefreshAuditor;
  let asOf = ANCHOR;

  beforeAll(async () => {
    fixture = await openRefreshFixture(kind, { stateSchema: `inv_state_${kind}` });
    shop = new Shop(fixture.runtime, kind, new Rng(seed));
    await shop.create(300, ANCHOR);
    ids = await createShopSegments(fixture.runtime);
    auditor = new RefreshAuditor(fixture.runtime, fixture.stateSchema);
  });
  afterAll(async () => { await fixture?.close(); });

  it(`holds over ${ROUNDS} rounds of random changes`, async () => {
    const rng = shop.rng;
    const log: string[] = [];
    const emptyRound = 8;
    const quietRound = 3;
    const sizes = new Map<string, number[]>();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        let note: string;
        if (round === 0) note = 'initial data';
        else if (round === quietRound) note = 'no change';
        else if (round === emptyRound) {
          asOf += 30 * DAY;
          await shop.emptyEverySegment();
          note = 'every segment emptied, as-of +30 days';
        } else if (round === emptyRound + 1) {
          asOf += rng.int(0, DAY);
          await shop.repopulate(asOf);
          note = 'repopulated';
        } else {
          asOf += rng.pick([0, 0, 6 * 3_600_000, DAY, 2 * DAY, rng.int(1, 3 * DAY)]);
          note = await shop.randomChanges(asOf);
        }
        log.push(`round ${round} (as-of ${new Date(asOf).toISOString()}): ${note}`);
        for (const spec of shopSegments) {
          const expected = await shop.expectedMembers(spec, asOf);
          const run = await auditor.refresh(ids.get(spec.slug)!, new Date(asOf), { expected, label: `seed ${seed}, round ${round}, ${spec.slug}` });
          sizes.set(spec.slug, [...(sizes.get(spec.slug) ?? []), run.size!]);
          if (round === quietRound) expect({ entered: run.entered, exited: run.exited }, `seed ${seed}: quiet round of ${spec.slug}`).toEqual({ entered: 0, exited: 0 });
          if (round === emptyRound) expect(run.size, `seed ${seed}: ${spec.slug} emptied`).toBe(0);
          log.push(`  ${spec.slug}: size ${run.size}, +${run.entered} -${run.exited}`);
        }
      }
      for (const spec of shopSegments) await auditor.finalCheck(ids.get(spec.slug)!, `seed ${seed}, ${spec.slug}`);
      await auditor.checkNoOrphans();
      // The data really moved people in and out (the test is not vacuous).
      for (const spec of shopSegments) {
        const runs = auditor.runs.get(ids.get(spec.slug)!)!;
        expect(runs).toHaveLength(ROUNDS);
        expect(runs.filter(({ run }) => run.entered! > 0 && run.exited! > 0).length, `seed ${seed}: ${spec.slug} rounds with enters and exits`).toBeGreaterThan(2);
        expect(Math.max(...sizes.get(spec.slug)!), `seed ${seed}: ${spec.slug} never empty before round ${emptyRound}`).toBeGreaterThan(0);
      }
    } catch (error) {
      if (error instanceof Error) error.message = `[${kind}, REFRESH_SEED=${seed}] ${error.message}\n${log.join('\n')}`;
      throw error;
    }
  }, 240_000); // 15 rounds × every segment, audited; slow only on a busy machine

  it('refreshes of all segments at once: each is consistent', async () => {
    asOf += DAY;
    await shop.randomChanges(asOf);
    const previous = new Map<string, Set<string>>();
    for (const spec of shopSegments) previous.set(spec.slug, new Set(await fixture.runtime.refresh.currentMemberKeys(ids.get(spec.slug)!)));
    const runs = await Promise.all(shopSegments.map((spec) => fixture.runtime.refresh.start(ids.get(spec.slug)!, { asOf: new Date(asOf), wait: true })));
    for (const [i, spec] of shopSegments.entries()) {
      const label = `seed ${seed}, concurrent, ${spec.slug}`;
      expect(runs[i]!.status, `${label}: ${runs[i]!.error}`).toBe('succeeded');
      await auditor.check(ids.get(spec.slug)!, runs[i]!, previous.get(spec.slug)!, new Date(asOf), { expected: await shop.expectedMembers(spec, asOf), label });
      await auditor.finalCheck(ids.get(spec.slug)!, label);
    }
    await auditor.checkNoOrphans();
  });

  it('a refresh failing at its last statement leaves the warehouse as it was', async () => {
    const spec = shopSegments[0]!;
    const id = ids.get(spec.slug)!;
    const state = fixture.stateSchema;
    const { warehouse } = fixture.runtime;
    asOf += DAY;
    await shop.randomChanges(asOf);
    const snapshot = async () => {
      const [pointer] = await warehouse.query<{ current_table: string; previous_table: string }>(`SELECT current_table, previous_table, run_id FROM ${state}.snapshots WHERE segment_id = $1`, [id]);
      return {
        pointer,
        current: await warehouse.query(`SELECT * FROM ${state}.${pointer!.current_table} ORDER BY member_key`),
        previous: await warehouse.query(`SELECT * FROM ${state}.${pointer!.previous_table} ORDER BY member_key`),
        log: await warehouse.query(`SELECT member_key, event, run_id, "at" FROM ${state}.membership_log WHERE segment_id = $1 ORDER BY "at", member_key`, [id]),
        runs: await warehouse.query(`SELECT run_id FROM ${state}.refresh_runs ORDER BY run_id`),
        tables: (await auditor.snapshotTables()).sort(),
      };
    };
    const before = await snapshot();
    expect(before.pointer?.previous_table, 'a previous snapshot, dropped by the next refresh').toBeTruthy();
    // Recording the run (after the pointer swap and the drop of the oldest snapshot) is refused.
    await warehouse.query(`ALTER TABLE ${state}.refresh_runs RENAME TO refresh_runs_saved`);
    await warehouse.query(`CREATE TABLE ${state}.refresh_runs (run_id VARCHAR NOT NULL, segment_id VARCHAR NOT NULL, segment_slug VARCHAR, segment_version BIGINT, ` +
      `as_of TIMESTAMPTZ NOT NULL, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL, size BIGINT NOT NULL CHECK (size < 0), ` +
      `entered BIGINT NOT NULL, exited BIGINT NOT NULL, snapshot_table VARCHAR NOT NULL)`);
    let run;
    try {
      run = await fixture.runtime.refresh.start(id, { asOf: new Date(asOf), wait: true });
    } finally {
      await warehouse.query(`DROP TABLE ${state}.refresh_runs`);
      await warehouse.query(`ALTER TABLE ${state}.refresh_runs_saved RENAME TO refresh_runs`);
    }
    expect(run).toMatchObject({ status: 'failed', size: null });
    expect(run.error).toMatch(/check|constraint/i);
    expect(await snapshot()).toEqual(before);
    await auditor.checkNoOrphans();
    await auditor.refresh(id, new Date(asOf), { expected: await shop.expectedMembers(spec, asOf), label: `seed ${seed}, after a failed refresh` });
    await auditor.finalCheck(id, `seed ${seed}, after a failed refresh`);
  });
});
