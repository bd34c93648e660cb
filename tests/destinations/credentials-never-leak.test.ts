import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { injectAsAdmin } from '../support/auth';
import { GraphApiFake } from '../fakes/graph-api-fake';
import { startTestService, type TestService } from '../support/test-service';

/**
 * Destination credentials go in and never come out: not in responses (create, get, list,
 * replace, test, errors), not in logs at debug level, not in the metadata store in the clear.
 */
const TOKEN = `EAAJleakProbe${'Xy7'.repeat(30)}`;
const SECRET = 'app-secret-leak-probe-0123456789';
let service: TestService;
let fake: GraphApiFake;
let app: FastifyInstance;
let logs = '';
let adminToken = '';

beforeAll(async () => {
  fake = new GraphApiFake();
  await fake.start();
  fake.addAccount({ id: 'act_4242', name: 'Leak probe', currency: 'EUR' });
  fake.validTokens.add(TOKEN);
  service = await startTestService({ applySegments: false, env: { AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'), META_GRAPH_URL: fake.url } });
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => { logs += chunk.toString(); });
  app = await buildApp({ services: service.runtime, logLevel: 'trace', logStream: stream });
  await app.ready();
  adminToken = await injectAsAdmin(app, service.runtime.tokens);
});
afterAll(async () => {
  await app?.close();
  await service?.close();
  await fake?.close();
});

it('never returns, logs or stores the access token or app secret', async () => {
  const send = (method: 'POST' | 'GET' | 'PUT', url: string, body?: unknown) =>
    app.inject({ method, url, headers: body ? { 'content-type': 'application/json' } : {}, ...(body ? { payload: JSON.stringify(body) } : {}) });
  const definition = { slug: 'meta', name: 'Meta', kind: 'meta_custom_audience', config: { adAccountId: 'act_4242' }, credentials: { accessToken: TOKEN, appSecret: SECRET } };
  const responses = [
    await send('POST', '/v1/destinations', definition),
    await send('GET', '/v1/destinations/meta'),
    await send('GET', '/v1/destinations'),
    await send('POST', '/v1/destinations/meta/test'),
    await send('PUT', '/v1/destinations/meta', { ...definition, credentials: undefined, name: 'Meta (renamed)' }),
    // A bad credentials object: the error names the field, not the value.
    await send('POST', '/v1/destinations', { ...definition, slug: 'bad', credentials: { accessToken: TOKEN, appSecret: SECRET, extra: TOKEN } }),
  ];
  expect(responses.map((r) => r.statusCode)).toEqual([201, 200, 200, 200, 200, 400]);
  expect(responses[0]!.json()).toMatchObject({ credentialsSet: true, credentialFields: ['accessToken', 'appSecret'] });
  expect(responses[3]!.json()).toMatchObject({ ok: true });
  // The test call reached the fake with the token (so it was really used)...
  expect(fake.requests.some((r) => JSON.stringify(r).includes(TOKEN))).toBe(true);
  // ...with the token revoked, the check fails with the platform's answer, scrubbed.
  fake.validTokens.delete(TOKEN);
  fake.validTokens.add('some-other-token'); // an empty set means "any token" to the fake
  responses.push(await send('POST', '/v1/destinations/meta/test'));
  expect(responses.at(-1)!.json()).toMatchObject({ ok: false, failure: 'permanent' });

  for (const response of responses) {
    expect(response.body).not.toContain(TOKEN);
    expect(response.body).not.toContain(SECRET);
  }
  expect(logs.length).toBeGreaterThan(0);
  expect(logs).not.toContain(TOKEN);
  expect(logs).not.toContain(SECRET);
  // Our own bearer token is not logged either.
  expect(logs).not.toContain(adminToken);
  // The audit log records which credential fields were set, never their values.
  const audit = await service.runtime.db('audit_events').where('resource_type', 'destination').orderBy('id');
  expect(audit.map((e: { action: string }) => e.action)).toEqual(['destination.create', 'destination.replace']);
  expect(audit[0].after.credentials).toEqual({ accessToken: '[redacted]', appSecret: '[redacted]' });
  expect(JSON.stringify(audit)).not.toContain(TOKEN);
  expect(JSON.stringify(audit)).not.toContain(SECRET);
  // A token API response shows the new token once; the audit entry for it does not.
  const created = await app.inject({ method: 'POST', url: '/v1/tokens', payload: { name: 'leak-probe', scopes: ['read'] } });
  expect(created.statusCode).toBe(201);
  const tokenEvents = await service.runtime.db('audit_events').where('action', 'token.create');
  expect(JSON.stringify(tokenEvents)).not.toContain(created.json().token);
  expect(JSON.stringify(await service.runtime.db('api_tokens').select('*'))).not.toContain(created.json().token);
  const rows = await service.runtime.db('destinations').select('config', 'credentials', 'credential_fields');
  expect(JSON.stringify(rows)).not.toContain(TOKEN);
  expect(JSON.stringify(rows)).not.toContain(SECRET);
});
