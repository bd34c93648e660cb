import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDITED_OPERATIONS } from '../../src/api/audit/audited-operations';
import { bearer, createToken } from '../support/auth';
import { startTestService, type TestService } from '../support/test-service';

/**
 * Every write (models, segments, destinations, syncs, tokens, runs) records its audit event in
 * the transaction that makes the change: each one is in the log under the token that asked, and
 * a write whose event cannot be written does not happen at all.
 */

let service: TestService;
let exportRoot: string;
let writer: Record<string, string>;
let writerId: string;

beforeAll(async () => {
  exportRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-audit-'));
  service = await startTestService({ env: { FILE_DESTINATION_ROOT: exportRoot }, limits: { requestsPerMinute: 1_000_000, expensivePerMinute: 1_000_000 } });
  writer = bearer(await createToken(service.runtime.tokens, ['admin'], 'audit-writer'));
  writerId = (await service.runtime.tokens.list({ limit: 200 })).data.find((t) => t.name === 'audit-writer')!.id;
}, 120_000);
afterAll(async () => {
  await service?.close();
  if (exportRoot) await fs.rm(exportRoot, { recursive: true, force: true });
});

const send = (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'GET', url: string, body?: unknown, headers: Record<string, string> = {}) =>
  service.app.inject({ method, url, headers: { ...writer, ...headers }, ...(body !== undefined ? { payload: body as object } : {}) });

const customersModel = async (slug: string) => {
  const model = (await send('GET', '/v1/models/customers')).json();
  const { slug: _slug, id: _id, version: _version, createdAt: _c, updatedAt: _u, ...definition } = model;
  return { ...definition, slug, name: `Customers (${slug})` };
};

const fileDestination = (slug: string) => ({ slug, name: `Files ${slug}`, kind: 'file', config: { directory: slug } });
const fileSync = (slug: string, destination: string) => ({ slug, name: `Sync ${slug}`, segment: 'us-high-value', destination, mapping: { email: 'email' } });

async function eventsFor(resource: string): Promise<Array<Record<string, any>>> {
  const res = await send('GET', `/v1/audit-events?resource=${resource}&limit=200`);
  expect(res.statusCode).toBe(200);
  return (res.json().data as Array<Record<string, any>>).reverse();
}

describe('definition writes through the API', () => {
  it('each record one event with the token, the request id and the resource before and after', async () => {
    const steps: Array<{ res: Awaited<ReturnType<typeof send>>; status: number }> = [];
    const step = async (status: number, work: Promise<Awaited<ReturnType<typeof send>>>) => {
      const res = await work;
      expect(res.statusCode, res.body).toBe(status);
      steps.push({ res, status });
      return res;
    };
    await step(201, send('POST', '/v1/models', await customersModel('audited-model'), { 'x-request-id': 'model-create' }));
    await step(200, send('PUT', '/v1/models/audited-model', { ...(await customersModel('audited-model')), name: 'Renamed' }, { 'if-match': '"1"' }));
    await step(204, send('DELETE', '/v1/models/audited-model'));
    await step(201, send('POST', '/v1/destinations', fileDestination('audited-files')));
    await step(200, send('PUT', '/v1/destinations/audited-files', { ...fileDestination('audited-files'), name: 'Renamed files' }));
    await step(201, send('POST', '/v1/syncs', fileSync('audited-sync', 'audited-files')));
    await step(200, send('PUT', '/v1/syncs/audited-sync', { ...fileSync('audited-sync', 'audited-files'), name: 'Renamed sync' }));
    await step(204, send('DELETE', '/v1/syncs/audited-sync'));
    await step(204, send('DELETE', '/v1/destinations/audited-files'));
    const token = await step(201, send('POST', '/v1/tokens', { name: 'audited-token', scopes: ['read'] }));
    await step(200, send('DELETE', `/v1/tokens/${token.json().id}`));
    // Revoking again changes nothing and records nothing.
    await step(200, send('DELETE', `/v1/tokens/${token.json().id}`));

    const model = await eventsFor('audited-model');
    expect(model.map((e) => e.action)).toEqual(['model.create', 'model.replace', 'model.delete']);
    expect(model[0]).toMatchObject({ actor: { tokenId: writerId, name: 'audit-writer' }, requestId: 'model-create', before: null, after: { slug: 'audited-model', version: 1 } });
    expect(model[1]).toMatchObject({ before: { version: 1, name: 'Customers (audited-model)' }, after: { version: 2, name: 'Renamed' } });
    expect(model[2]).toMatchObject({ resource: { type: 'model', id: model[0]!.resource.id, slug: 'audited-model' }, before: { version: 2 }, after: null });

    expect((await eventsFor('audited-files')).map((e) => [e.action, e.before?.name ?? null, e.after?.name ?? null])).toEqual([
      ['destination.create', null, 'Files audited-files'], ['destination.replace', 'Files audited-files', 'Renamed files'], ['destination.delete', 'Renamed files', null],
    ]);
    const sync = await eventsFor('audited-sync');
    expect(sync.map((e) => e.action)).toEqual(['sync.create', 'sync.replace', 'sync.delete']);
    expect(sync[1]).toMatchObject({ before: { name: 'Sync audited-sync', version: 1 }, after: { name: 'Renamed sync', version: 2 } });

    const tokenEvents = await eventsFor(token.json().id);
    expect(tokenEvents.map((e) => e.action)).toEqual(['token.create', 'token.revoke']);
    expect(tokenEvents[1]).toMatchObject({ before: { revokedAt: null }, after: { name: 'audited-token' } });
    expect(tokenEvents[1]!.after.revokedAt).toEqual(expect.any(String));
    // The secret is in the response, once, and nowhere in the log.
    expect(JSON.stringify(tokenEvents)).not.toContain(token.json().token);

    // Every write carries the request id its response named.
    const all = [...model, ...await eventsFor('audited-files'), ...sync, ...tokenEvents];
    const requestIds = new Set(steps.map((s) => s.res.headers['x-request-id']));
    for (const event of all) expect(requestIds.has(event.requestId)).toBe(true);
  });
});

describe('a write whose audit event cannot be written', () => {
  it('does not happen: 500, and the resource is as it was', async () => {
    const unchanged = {
      model: (await send('GET', '/v1/models/customers')).json(),
      segment: (await send('GET', '/v1/segments/us-high-value')).json(),
    };
    // Objects nothing depends on, so their deletes get as far as the audit log.
    expect((await send('POST', '/v1/models', await customersModel('spare-model'))).statusCode).toBe(201);
    expect((await send('POST', '/v1/segments', { slug: 'spare-segment', name: 'Spare', model: 'customers', rule: { '==': [1, 1] } })).statusCode).toBe(201);
    expect((await send('POST', '/v1/destinations', fileDestination('spare-files'))).statusCode).toBe(201);
    expect((await send('POST', '/v1/destinations', fileDestination('kept-files'))).statusCode).toBe(201);
    expect((await send('POST', '/v1/syncs', fileSync('kept-sync', 'kept-files'))).statusCode).toBe(201);
    const keptToken = (await send('POST', '/v1/tokens', { name: 'kept-token', scopes: ['read'] })).json();
    // A run a guardrail held, waiting for approval.
    const keptSync = (await send('GET', '/v1/syncs/kept-sync')).json();
    const [held] = await service.runtime.db('sync_runs').insert({
      id: crypto.randomUUID(), sync_id: keptSync.id, status: 'needs_approval', trigger: 'api', reason: 'held for the test', normalizer_version: 'test', started_at: new Date(), finished_at: new Date(),
    }).returning('id');
    // A refresh run whose process died: the next refresh settles it, in its own transaction.
    const segmentRow = await service.runtime.db('segments').where({ slug: 'us-high-value' }).first();
    const [stale] = await service.runtime.db('refresh_runs').insert({
      id: crypto.randomUUID(), segment_id: segmentRow.id, segment_version: segmentRow.version, status: 'running', as_of: new Date(), sql: 'select 1', params: '[]',
    }).returning('id');
    const runsBefore = {
      refresh: Number((await service.runtime.db('refresh_runs').count({ n: '*' }))[0]!.n),
      sync: Number((await service.runtime.db('sync_runs').count({ n: '*' }))[0]!.n),
    };
    const before = {
      destination: (await send('GET', '/v1/destinations/kept-files')).json(),
      sync: (await send('GET', '/v1/syncs/kept-sync')).json(),
      events: (await send('GET', '/v1/audit-events?limit=1')).json().data[0].id,
    };

    await service.runtime.db.raw(`
      create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit log unavailable'; end $$;
      create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit();`);
    let orphan: string | undefined;
    const answers = new Map<string, Awaited<ReturnType<typeof send>>>();
    // One at a time: runs, replaces and deletes of kept-sync would otherwise meet at its run lock (409).
    const attempts: Array<[string, () => Promise<Awaited<ReturnType<typeof send>>>]> = [];
    try {
      const attempt = (operationId: string, work: () => Promise<Awaited<ReturnType<typeof send>>>) => { attempts.push([operationId, work]); };
      attempt('createModel', async () => send('POST', '/v1/models', await customersModel('never-model')));
      attempt('replaceModel', async () => send('PUT', '/v1/models/customers', { ...(await customersModel('customers')), name: 'Never' }));
      attempt('deleteModel', async () => send('DELETE', '/v1/models/spare-model'));
      attempt('createSegment', async () => send('POST', '/v1/segments', { slug: 'never-segment', name: 'Never', model: 'customers', rule: { '==': [1, 1] } }));
      attempt('updateSegment', async () => send('PATCH', '/v1/segments/us-high-value', { name: 'Never' }));
      attempt('deleteSegment', async () => send('DELETE', '/v1/segments/spare-segment'));
      attempt('createDestination', async () => send('POST', '/v1/destinations', fileDestination('never-files')));
      attempt('deleteDestination', async () => send('DELETE', '/v1/destinations/spare-files'));
      attempt('replaceDestination', async () => send('PUT', '/v1/destinations/kept-files', { ...fileDestination('kept-files'), name: 'Never' }));
      attempt('createSync', async () => send('POST', '/v1/syncs', fileSync('never-sync', 'kept-files')));
      attempt('replaceSync', async () => send('PUT', '/v1/syncs/kept-sync', { ...fileSync('kept-sync', 'kept-files'), name: 'Never' }));
      attempt('deleteSync', async () => send('DELETE', '/v1/syncs/kept-sync'));
      attempt('createToken', async () => send('POST', '/v1/tokens', { name: 'never-token', scopes: ['read'] }));
      attempt('revokeToken', async () => send('DELETE', `/v1/tokens/${keptToken.id}`));
      attempt('refreshSegment', async () => send('POST', '/v1/segments/us-high-value/refresh?wait=true'));
      attempt('startSyncRun', async () => send('POST', '/v1/syncs/kept-sync/runs?wait=true'));
      attempt('approveSyncRun', async () => send('POST', `/v1/sync-runs/${held.id}/approve?wait=true`));
      for (const [operationId, work] of attempts) {
        const res = await work();
        answers.set(operationId, res);
        expect(res.statusCode, `${operationId}: ${res.body}`).toBe(500);
        expect(res.headers['content-type']).toContain('application/problem+json');
        // No internals, and a refused token creation never shows its secret.
        expect(res.body).not.toContain('audit log unavailable');
        expect(res.json().token).toBeUndefined();
      }
      // The refused sync had created its platform audience already: the answer names it for adoption.
      orphan = /"remoteAudience": \{"id": "([^"]+)"\}/.exec(answers.get('createSync')!.json().detail)?.[1];
      expect(orphan).toBeDefined();
    } finally {
      await service.runtime.db.raw('drop trigger refuse_audit on audit_events; drop function refuse_audit();');
    }
    // Every audited operation but createLookalike, which file destinations refuse before any write
    // (its event is checked with Meta's, in sync-faults-meta.test.ts).
    expect(attempts.map(([operationId]) => operationId).sort()).toEqual(Object.keys(AUDITED_OPERATIONS).filter((id) => id !== 'createLookalike').sort());
    // No run was recorded, and the held run still waits.
    expect(Number((await service.runtime.db('refresh_runs').count({ n: '*' }))[0]!.n)).toBe(runsBefore.refresh);
    expect(Number((await service.runtime.db('sync_runs').count({ n: '*' }))[0]!.n)).toBe(runsBefore.sync);
    expect((await send('GET', `/v1/sync-runs/${held.id}`)).json()).toMatchObject({ status: 'needs_approval', approvedAt: null });
    expect(await service.runtime.db('refresh_runs').where({ id: stale.id }).first()).toMatchObject({ status: 'running', finished_at: null });

    expect((await send('GET', '/v1/models/customers')).json()).toEqual(unchanged.model);
    expect((await send('GET', '/v1/segments/us-high-value')).json()).toEqual(unchanged.segment);
    for (const url of ['/v1/models/spare-model', '/v1/segments/spare-segment', '/v1/destinations/spare-files']) expect((await send('GET', url)).statusCode).toBe(200);
    expect((await send('GET', '/v1/models/never-model')).statusCode).toBe(404);
    expect((await send('GET', '/v1/segments/never-segment')).statusCode).toBe(404);
    expect((await send('GET', '/v1/destinations/never-files')).statusCode).toBe(404);
    expect((await send('GET', '/v1/syncs/never-sync')).statusCode).toBe(404);
    expect((await send('GET', '/v1/destinations/kept-files')).json()).toEqual(before.destination);
    expect((await send('GET', '/v1/syncs/kept-sync')).json()).toEqual(before.sync);
    const tokens = (await send('GET', '/v1/tokens?limit=200')).json().data as Array<{ name: string; id: string; revokedAt: string | null }>;
    expect(tokens.find((t) => t.name === 'never-token')).toBeUndefined();
    expect(tokens.find((t) => t.id === keptToken.id)?.revokedAt).toBeNull();
    // The kept token still works.
    expect((await service.app.inject({ url: '/v1/segments', headers: bearer(keptToken.token) })).statusCode).toBe(200);
    expect((await send('GET', '/v1/audit-events?limit=1')).json().data[0].id).toBe(before.events);

    // With the log back, the same writes go through and are recorded; the sync adopts the audience it left.
    expect((await send('PATCH', '/v1/segments/us-high-value', { name: 'Recorded' })).statusCode).toBe(200);
    const adopted = await send('POST', '/v1/syncs', { ...fileSync('never-sync', 'kept-files'), remoteAudience: { id: orphan } });
    expect(adopted.statusCode, adopted.body).toBe(201);
    expect(adopted.json().remoteAudienceId).toBe(orphan);
    expect((await eventsFor('us-high-value')).at(-1)).toMatchObject({ action: 'segment.update', after: { name: 'Recorded' } });
    const refreshed = await send('POST', '/v1/segments/us-high-value/refresh?wait=true');
    expect(refreshed.json(), refreshed.body).toMatchObject({ status: 'succeeded' });
    expect(await service.runtime.db('refresh_runs').where({ id: stale.id }).first()).toMatchObject({ status: 'failed', error: expect.stringContaining('abandoned') });
  });
});
