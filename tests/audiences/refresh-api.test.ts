import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service';

let service: TestService;
beforeAll(async () => { service = await startTestService({ customers: 400 }); });
afterAll(async () => { await service?.close(); });

// As clients send it: a POST without a body.
const refresh = (segment: string, query: Record<string, string> = {}, wait = true) =>
  service.app.inject({ method: 'POST', url: `/v1/segments/${segment}/refresh?${new URLSearchParams({ ...query, ...(wait ? { wait: 'true' } : {}) })}` });
const usHighValue = async () =>
  (await service.runtime.warehouse.query<{ customer_id: number }>(`select customer_id from demo.customers where country = 'US' and ltv > 500 order by 1`)).map((r) => String(r.customer_id));

describe('refresh API', () => {
  it('materializes a segment: first run logs every member as entered', async () => {
    const res = await refresh('us-high-value');
    expect(res.statusCode).toBe(200);
    const run = res.json();
    const expected = await usHighValue();
    expect(run).toMatchObject({ status: 'succeeded', size: expected.length, entered: expected.length, exited: 0, segmentVersion: 1, error: null });
    expect(res.headers.location).toBe(`/v1/refresh-runs/${run.id}`);
    const members = await service.app.inject({ url: '/v1/segments/us-high-value/members?limit=200' });
    const keys = members.json().data.map((m: { memberKey: string }) => m.memberKey);
    expect([...keys].sort()).toEqual([...expected].sort());
    expect(members.json().runId).toBe(run.id);
    expect(members.json().data[0].identifiers.email).toMatch(/\*\*\*/);
  });

  it('records who entered and exited after the data changed', async () => {
    const before = await usHighValue();
    const leaving = before.slice(0, 3);
    await service.runtime.warehouse.query(`update demo.customers set ltv = 0 where customer_id = any($1::bigint[])`, [leaving.map(Number)]);
    const [joining] = await service.runtime.warehouse.query<{ customer_id: number }>(`select customer_id from demo.customers where country = 'US' and ltv <= 500 and ltv > 0 order by 1 limit 1`);
    await service.runtime.warehouse.query(`update demo.customers set ltv = 9999 where customer_id = $1`, [joining!.customer_id]);
    const run = (await refresh('us-high-value')).json();
    expect(run).toMatchObject({ status: 'succeeded', entered: 1, exited: 3, size: before.length - 2 });
    const changes = (await service.app.inject({ url: `/v1/segments/us-high-value/changes?since=${encodeURIComponent(run.startedAt)}` })).json();
    expect(changes.data.filter((c: { event: string }) => c.event === 'exit').map((c: { memberKey: string }) => c.memberKey).sort()).toEqual([...leaving].sort());
    expect(changes.data.filter((c: { event: string }) => c.event === 'enter').map((c: { memberKey: string }) => c.memberKey)).toEqual([String(joining!.customer_id)]);
    const history = (await service.app.inject({ url: '/v1/segments/us-high-value/history' })).json().data;
    expect(history.map((h: { size: number; entered: number; exited: number }) => [h.size, h.entered, h.exited])).toEqual([[before.length, before.length, 0], [before.length - 2, 1, 3]]);
    const runs = (await service.app.inject({ url: '/v1/segments/us-high-value/runs' })).json().data;
    expect(runs[0].id).toBe(run.id);
    expect((await service.app.inject({ url: `/v1/refresh-runs/${run.id}` })).json().entered).toBe(1);
  });

  it('pages members and changes with cursors', async () => {
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: Array<{ memberKey: string }>; nextCursor: string | null } = (await service.app.inject({ url: `/v1/segments/us-high-value/members?limit=7${cursor ? `&cursor=${cursor}` : ''}` })).json();
      all.push(...page.data.map((m) => m.memberKey));
      cursor = page.nextCursor;
    } while (cursor);
    expect(all).toEqual([...all].sort());
    expect(new Set(all).size).toBe((await usHighValue()).length);
    const events: string[] = [];
    let changeCursor: string | null = null;
    do {
      const page: { data: Array<{ memberKey: string; event: string }>; nextCursor: string | null } = (await service.app.inject({ url: `/v1/segments/us-high-value/changes?since=2000-01-01T00:00:00Z&limit=5${changeCursor ? `&cursor=${changeCursor}` : ''}` })).json();
      events.push(...page.data.map((c) => `${c.event}:${c.memberKey}`));
      changeCursor = page.nextCursor;
    } while (changeCursor);
    expect(new Set(events).size).toBe(events.length);
  });

  it('never runs two refreshes of a segment at once', async () => {
    const [a, b] = await Promise.all([refresh('lapsed-customers', {}, false), refresh('lapsed-customers', {}, false)]);
    const statuses = [a.statusCode, b.statusCode].sort();
    expect(statuses).toEqual([202, 409]);
    const conflict = [a, b].find((r) => r.statusCode === 409)!;
    expect(conflict.json().detail).toMatch(/already running/);
    const started = [a, b].find((r) => r.statusCode === 202)!.json();
    await service.runtime.refresh.drain();
    expect((await service.app.inject({ url: `/v1/refresh-runs/${started.id}` })).json().status).toBe('succeeded');
  });

  it('a failed refresh leaves the previous snapshot and history intact', async () => {
    const before = (await service.app.inject({ url: '/v1/segments/us-high-value/members?limit=200' })).json().data.length;
    await service.runtime.warehouse.query('alter table demo.customers rename column ltv to ltv_gone');
    try {
      const run = (await refresh('us-high-value')).json();
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/ltv/);
    } finally {
      await service.runtime.warehouse.query('alter table demo.customers rename column ltv_gone to ltv');
    }
    expect((await service.app.inject({ url: '/v1/segments/us-high-value/members?limit=200' })).json().data.length).toBe(before);
    expect((await service.app.inject({ url: '/v1/segments/us-high-value/history' })).json().data).toHaveLength(2);
    const ok = (await refresh('us-high-value')).json();
    expect(ok).toMatchObject({ status: 'succeeded', entered: 0, exited: 0 });
  });

  it('answers 404 for unknown segments and runs', async () => {
    expect((await refresh('nope')).statusCode).toBe(404);
    expect((await service.app.inject({ url: '/v1/refresh-runs/00000000-0000-4000-8000-000000000000' })).statusCode).toBe(404);
    expect((await service.app.inject({ url: '/v1/segments/nope/members' })).statusCode).toBe(404);
  });
});
