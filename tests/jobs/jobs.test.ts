import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { dueSyncs, Jobs } from '../../src/jobs/jobs';
import { openRuntime, type Runtime } from '../../src/runtime';
import { REPO_ROOT, startTestService, type TestService } from '../support/test-service';
import { until } from '../support/refresh-fixture';

describe('cron schedules', () => {
  it('are due in their own time zone, once per window', () => {
    const syncs = [
      { id: 'berlin-6am', schedule: { type: 'cron', cron: '0 6 * * *', timezone: 'Europe/Berlin' } },
      { id: 'utc-6am', schedule: { type: 'cron', cron: '0 6 * * *' } },
      { id: 'every-5', schedule: { type: 'cron', cron: '*/5 * * * *', timezone: 'UTC' } },
      { id: 'after', schedule: { type: 'after_refresh' } },
      { id: 'none', schedule: null },
    ];
    // 05:00 UTC is 06:00 in Berlin in winter (CET, UTC+1).
    const winter = (h: number, m: number) => new Date(Date.UTC(2026, 11, 2, h, m));
    expect(dueSyncs(syncs, { from: winter(4, 59), to: winter(5, 0) }).map((d) => d.id)).toEqual(['berlin-6am', 'every-5']);
    expect(dueSyncs(syncs, { from: winter(5, 59), to: winter(6, 0) }).map((d) => d.id)).toEqual(['utc-6am', 'every-5']);
    expect(dueSyncs(syncs, { from: winter(6, 0), to: winter(6, 1) })).toEqual([]);
    // In summer (CEST, UTC+2) Berlin's 6 am is 04:00 UTC.
    const summer = new Date(Date.UTC(2026, 6, 1, 4, 0));
    expect(dueSyncs(syncs, { from: new Date(summer.getTime() - 60_000), to: summer }).map((d) => d.id)).toContain('berlin-6am');
    expect(dueSyncs(syncs, { from: new Date(summer.getTime() - 60_000), to: summer })[0]!.due.toISOString()).toBe('2026-07-01T04:00:00.000Z');
  });
});

describe('workers on one Postgres', () => {
  let service: TestService;
  let root: string;
  let second: Runtime;
  const workers: Jobs[] = [];
  const key = randomBytes(32).toString('base64');

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-jobs-'));
    const env = { AUDIENCES_ENCRYPTION_KEY: key, FILE_DESTINATION_ROOT: root };
    service = await startTestService({ customers: 300, env });
    // A second runtime: its own pools and queue connection, as another process would have.
    second = await openRuntime(loadConfig({ DATABASE_URL: service.databaseUrl, LOG_LEVEL: 'silent', ...env }, REPO_ROOT), { log: () => {} });
    for (const runtime of [service.runtime, second]) {
      const jobs = new Jobs({ databaseUrl: runtime.databaseUrl, db: runtime.db, syncs: runtime.syncs, refresh: runtime.refresh, pollingIntervalSeconds: 0.5 });
      await jobs.start({ workers: true });
      workers.push(jobs);
    }
    await service.runtime.destinations.create({ slug: 'files', name: 'Files', kind: 'file', config: { directory: 'out' } });
  }, 120_000);
  afterAll(async () => {
    for (const jobs of workers) await jobs.stop();
    await second?.close();
    await service?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  const runsOf = async (slug: string) => {
    const sync = await service.runtime.syncs.get(slug);
    return service.runtime.db('sync_runs').where({ sync_id: sync.id }).orderBy('started_at') as Promise<Array<{ id: string; status: string; trigger: string; started_at: Date; finished_at: Date | null }>>;
  };

  it('never run the same sync at once, however often it is enqueued from both', async () => {
    const sync = await service.runtime.syncs.create({ slug: 'contended', name: 'Contended', segment: 'us-high-value', destination: 'files', mapping: { email: 'email', external_id: 'external_id' } });
    for (let i = 0; i < 12; i++) {
      await workers[i % 2]!.enqueueSync({ syncId: sync.id, trigger: 'schedule' });
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    await until('the queued runs to finish', async () => {
      const runs = await runsOf('contended');
      return runs.length >= 2 && runs.every((r) => r.status !== 'running') && Object.values(await workers[0]!.queueDepth()).every((n) => n === 0);
    }, 60_000);
    const runs = await runsOf('contended');
    expect(runs.every((r) => r.status === 'succeeded' && r.trigger === 'schedule'), JSON.stringify(runs.map((r) => [r.status, r.trigger]))).toBe(true);
    for (let i = 1; i < runs.length; i++) expect(runs[i - 1]!.finished_at!.getTime()).toBeLessThanOrEqual(runs[i]!.started_at.getTime());
    // Whichever process ran them, the state is the segment.
    const members = await service.runtime.refresh.currentMemberKeys(sync.segmentId);
    expect((await service.runtime.syncs.stateRows('contended')).map((r) => String(r.member_key)).sort()).toEqual([...members].sort());
  }, 90_000);

  it('a sync that follows its segment runs after each refresh', async () => {
    await service.runtime.syncs.create({ slug: 'follower', name: 'Follower', segment: 'lapsed-customers', destination: 'files', mapping: { email: 'email' }, schedule: { type: 'after_refresh' } });
    await service.runtime.refresh.start('lapsed-customers', { wait: true });
    await until('the follower to run', async () => (await runsOf('follower')).some((r) => r.status === 'succeeded'), 30_000);
    const runs = await runsOf('follower');
    expect(runs[0]).toMatchObject({ trigger: 'after_refresh', status: 'succeeded' });
  }, 60_000);
});
