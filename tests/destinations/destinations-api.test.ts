import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { openRuntime } from '../../src/runtime';
import { SecretBox } from '../../src/destinations/secret-box';
import { startTestService, REPO_ROOT, type TestService } from '../support/test-service';

const KEY = randomBytes(32).toString('base64');
let service: TestService;
let exportRoot: string;

beforeAll(async () => {
  exportRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-exports-'));
  service = await startTestService({ applySegments: false, env: { AUDIENCES_ENCRYPTION_KEY: KEY, FILE_DESTINATION_ROOT: exportRoot } });
});
afterAll(async () => {
  await service?.close();
  await fs.rm(exportRoot, { recursive: true, force: true });
});

const send = (method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) =>
  service.app.inject({ method, url, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });

const fileDestination = { slug: 'exports', name: 'Exports', kind: 'file', config: { directory: 'audits/exports' } };

describe('destinations API', () => {
  it('lists the kinds with their config and credentials schemas', async () => {
    const res = await send('GET', '/v1/destination-kinds');
    expect(res.statusCode).toBe(200);
    const file = res.json().data.find((k: { kind: string }) => k.kind === 'file');
    expect(file).toMatchObject({ platform: 'file', configSchema: { type: 'object', properties: { directory: { type: 'string' } } } });
  });

  it('creates, reads, lists, replaces with If-Match, tests and deletes a file destination', async () => {
    const created = await send('POST', '/v1/destinations', fileDestination);
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers.location).toBe('/v1/destinations/exports');
    expect(created.headers.etag).toBe('"1"');
    // Defaults of the kind's schema are filled in and stored.
    expect(created.json()).toMatchObject({ slug: 'exports', kind: 'file', platform: 'file', config: { directory: 'audits/exports', normalizeFor: 'meta' }, credentialsSet: false, credentialFields: [], version: 1 });

    expect((await send('GET', '/v1/destinations/exports')).json().id).toBe(created.json().id);
    expect((await send('GET', '/v1/destinations')).json().data.map((d: { slug: string }) => d.slug)).toEqual(['exports']);

    const stale = await send('PUT', '/v1/destinations/exports', { ...fileDestination, name: 'Old' }, { 'if-match': '"7"' });
    expect(stale.statusCode).toBe(412);
    const replaced = await send('PUT', '/v1/destinations/exports', { ...fileDestination, name: 'Audit exports', config: { directory: 'audits/v2', normalizeFor: 'google' } }, { 'if-match': '"1"' });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(replaced.json()).toMatchObject({ name: 'Audit exports', config: { directory: 'audits/v2', normalizeFor: 'google' }, version: 2 });

    const tested = await send('POST', '/v1/destinations/exports/test');
    expect(tested.statusCode).toBe(200);
    expect(tested.json()).toMatchObject({ ok: true });
    expect((await fs.stat(path.join(exportRoot, 'audits/v2'))).isDirectory()).toBe(true);

    const changedKind = await send('PUT', '/v1/destinations/exports', { ...fileDestination, kind: 'meta_custom_audience', config: { adAccountId: 'act_1' } });
    expect(changedKind.statusCode).toBe(400);

    expect((await send('DELETE', '/v1/destinations/exports', undefined, { 'if-match': '"2"' })).statusCode).toBe(204);
    expect((await send('GET', '/v1/destinations/exports')).statusCode).toBe(404);
  });

  it('refuses bad configuration and credentials with pointers into them, and duplicate slugs', async () => {
    const escaping = await send('POST', '/v1/destinations', { ...fileDestination, slug: 'escape', config: { directory: '../../etc', extra: 1 } });
    expect(escaping.statusCode).toBe(400);
    expect(escaping.headers['content-type']).toContain('application/problem+json');
    const pointers = escaping.json().errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/config/directory', '/config/extra']));

    const withSecrets = await send('POST', '/v1/destinations', { ...fileDestination, slug: 'secrets', credentials: { token: 'hunter2-secret' } });
    expect(withSecrets.statusCode).toBe(400);
    expect(withSecrets.json().errors).toEqual([{ pointer: '/credentials/token', message: 'is not a known property' }]);
    expect(withSecrets.body).not.toContain('hunter2-secret');

    const unknownKind = await send('POST', '/v1/destinations', { ...fileDestination, slug: 'nope', kind: 'tiktok' });
    expect(unknownKind.statusCode).toBe(400);
    expect(unknownKind.json().errors[0].pointer).toBe('/kind');

    expect((await send('POST', '/v1/destinations', { ...fileDestination, slug: 'dup' })).statusCode).toBe(201);
    expect((await send('POST', '/v1/destinations', { ...fileDestination, slug: 'dup' })).statusCode).toBe(409);
  });
});

describe('the file destination', () => {
  it('writes hashed adds and removes per run as NDJSON, and counts the audience the files describe', async () => {
    expect((await send('POST', '/v1/destinations', { ...fileDestination, slug: 'files', config: { directory: 'runs' } })).statusCode).toBe(201);
    const { destination } = await service.runtime.destinations.instantiate('files');
    const audience = await destination.ensureAudience({ name: 'VIP Customers!', identifierKinds: ['email'] });
    expect(audience).toMatchObject({ remoteId: 'vip-customers', created: true });
    expect(await destination.ensureAudience({ name: 'x', existingId: 'vip-customers', identifierKinds: ['email'] })).toMatchObject({ remoteId: 'vip-customers', created: false });
    const h = (n: number) => n.toString(16).padStart(64, '0');
    const members = [1, 2, 3].map((n) => ({ memberKey: `key-${n}`, identifiers: { email: h(n), country: h(100 + n) } }));
    await destination.add(audience, members, { session: { id: 'run-1', batchSeq: 1, lastBatch: true } });
    await destination.remove(audience, [members[1]!], { session: { id: 'run-2', batchSeq: 1, lastBatch: false } });
    const dir = path.join(exportRoot, 'runs', 'vip-customers');
    expect((await fs.readdir(dir)).sort()).toEqual(['run-1.adds.ndjson', 'run-2.removes.ndjson']);
    const adds = (await fs.readFile(path.join(dir, 'run-1.adds.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(adds).toEqual(members.map((m) => ({ op: 'add', identifiers: m.identifiers })));
    // Member keys are ours: they never leave the service.
    expect(await fs.readFile(path.join(dir, 'run-1.adds.ndjson'), 'utf8')).not.toContain('key-');
    expect(await destination.audienceStats(audience)).toMatchObject({ approximateSize: { lower: 2, upper: 2 } });
    await expect(destination.createLookalike({ name: 'x', seedRemoteId: 'vip-customers', seedSize: 1000 })).rejects.toThrow(/no lookalikes/);
  });
});

describe('credentials at rest', () => {
  it('seals with AES-256-GCM bound to the destination id; a wrong key or another row is a clear error', () => {
    const box = SecretBox.fromKeyText(KEY);
    const sealed = box.seal('{"accessToken":"EAAB-secret"}', 'dest-1');
    expect(sealed).not.toContain('EAAB');
    expect(sealed.split('.')).toHaveLength(5);
    expect(box.open(sealed, 'dest-1')).toBe('{"accessToken":"EAAB-secret"}');
    expect(() => box.open(sealed, 'dest-2')).toThrow(/failed authentication/);
    const other = SecretBox.fromKeyText(randomBytes(32).toString('hex'));
    expect(() => other.open(sealed, 'dest-1')).toThrow(`encrypted with key ${box.keyId}, but the configured key is ${other.keyId}`);
    expect(() => SecretBox.fromKeyText('short')).toThrow(/must be 32 bytes/);
    // Two seals of one value differ (random IV).
    expect(box.seal('x', 'dest-1')).not.toBe(box.seal('x', 'dest-1'));
  });

  it('a server with stored credentials refuses to start without its key, or with another one', async () => {
    const box = SecretBox.fromKeyText(KEY);
    const id = '00000000-0000-4000-8000-000000000001';
    await service.runtime.db('destinations').insert({ id, slug: 'sealed', name: 'Sealed', kind: 'file', config: { directory: 'x' }, credentials: box.seal('{}', id), credential_fields: JSON.stringify([]) });
    try {
      const open = (env: Record<string, string>) => openRuntime(loadConfig({ DATABASE_URL: service.databaseUrl, LOG_LEVEL: 'silent', ...env }, REPO_ROOT), { log: () => {} });
      await expect(open({})).rejects.toThrow(/"sealed" have stored credentials, but AUDIENCES_ENCRYPTION_KEY is not set/);
      await expect(open({ AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64') })).rejects.toThrow(new RegExp(`stored with encryption key ${box.keyId}`));
      const ok = await open({ AUDIENCES_ENCRYPTION_KEY: KEY });
      await ok.close();
    } finally {
      await service.runtime.db('destinations').where({ id }).delete();
    }
  });
});
