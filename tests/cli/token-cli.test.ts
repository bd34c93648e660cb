import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bearer } from '../support/auth';
import { runCli } from '../support/run-cli';
import { startTestService, type TestService } from '../support/test-service';

/** `audiences token create|list|revoke` on the server, against the service's own database. */
let service: TestService;
let env: Record<string, string>;

beforeAll(async () => {
  service = await startTestService({ applySegments: false });
  env = { DATABASE_URL: service.databaseUrl, DATA_DIR: path.join(os.tmpdir(), 'audiences-token-cli-unused') };
}, 120_000);
afterAll(async () => { await service?.close(); });

it('creates a token that works with its scopes, lists it without the secret, revokes it; all audited', async () => {
  const created = await runCli(['token', 'create', '--name', 'ci-apply', '--scopes', 'read,write', '--expires-in-days', '30'], env);
  expect(created.code, created.stderr).toBe(0);
  // Only the token on stdout, so `TOKEN=$(audiences token create …)` works.
  expect(created.stdout).toMatch(/^aud_[A-Za-z0-9_-]{32}\n$/);
  const token = created.stdout.trim();
  expect(created.stderr).toContain('created token "ci-apply"');
  expect(created.stderr).toContain('read, write');

  expect((await service.app.inject({ url: '/v1/models', headers: bearer(token) })).statusCode).toBe(200);
  expect((await service.app.inject({ method: 'POST', url: '/v1/segments/x/refresh', headers: bearer(token) })).statusCode).toBe(403);

  const listed = await runCli(['token', 'list'], env);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout).toContain('ci-apply');
  expect(listed.stdout).toContain(token.slice(0, 12));
  expect(listed.stdout).not.toContain(token);
  const id = listed.stdout.split('\n').find((l) => l.includes('ci-apply'))!.split(/\s+/)[0]!;

  const revoked = await runCli(['token', 'revoke', id], env);
  expect(revoked.code, revoked.stderr).toBe(0);
  // Another process revoked it: this server notices within its cache time (5 s).
  await expect.poll(async () => (await service.app.inject({ url: '/v1/models', headers: bearer(token) })).statusCode, { timeout: 15_000, interval: 500 }).toBe(401);

  const events = await service.runtime.db('audit_events').where('actor', 'cli').orderBy('id');
  expect(events.map((e: { action: string; resource_id: string }) => [e.action, e.resource_id])).toEqual([['token.create', id], ['token.revoke', id]]);
  expect(JSON.stringify(events)).not.toContain(token);
});

it('refuses unknown scopes and missing names with usage errors (exit 2)', async () => {
  const bad = await runCli(['token', 'create', '--name', 'x', '--scopes', 'read,root'], env);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('unknown: root');
  const noName = await runCli(['token', 'create', '--scopes', 'read'], env);
  expect(noName.code).toBe(2);
  expect(noName.stderr).toContain('--name');
});
