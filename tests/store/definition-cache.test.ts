import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { openRuntime, type Runtime } from '../../src/runtime';
import { REPO_ROOT, startTestService, type TestService } from '../support/test-service';

/**
 * Segment reads are cached in memory by API processes; every change, from any process, clears
 * them (Postgres NOTIFY from triggers), and while the notification link is down nothing is cached.
 */
let service: TestService;
let other: Runtime;

beforeAll(async () => {
  service = await startTestService();
  // A second API process on the same metadata database.
  other = await openRuntime(loadConfig({ DATABASE_URL: service.databaseUrl, LOG_LEVEL: 'silent' }, REPO_ROOT), { log: () => {}, cacheDefinitions: true });
  for (let i = 0; i < 100 && !(service.runtime.segments['cache'].isEnabled && other.segments['cache'].isEnabled); i++) await new Promise((r) => setTimeout(r, 100));
}, 120_000);
afterAll(async () => {
  await other?.close();
  await service?.close();
});

const nameIn = async (runtime: Runtime, slug: string) => (await runtime.segments.list({ limit: 200 })).data.find((s) => s.slug === slug)?.name;

it('serves repeated reads from memory, frozen so no caller can change the shared copy', async () => {
  expect(service.runtime.segments['cache'].isEnabled && other.segments['cache'].isEnabled).toBe(true);
  const first = await service.runtime.segments.list({ limit: 200 });
  const second = await service.runtime.segments.list({ limit: 200 });
  expect(second).toBe(first);
  expect(Object.isFrozen(first.data[0])).toBe(true);
  expect(() => { (first.data[0] as { name: string }).name = 'changed'; }).toThrow(TypeError);
});

it('a process reads its own writes at once, and the other process sees them as soon as the notification arrives', async () => {
  expect(await nameIn(other, 'us-high-value')).not.toBe('Renamed here');
  await service.runtime.segments.update('us-high-value', { name: 'Renamed here' });
  expect(await nameIn(service.runtime, 'us-high-value')).toBe('Renamed here');
  expect((await service.runtime.segments.get('us-high-value')).name).toBe('Renamed here');
  await expect.poll(() => nameIn(other, 'us-high-value'), { timeout: 10_000 }).toBe('Renamed here');

  // A write that bypasses the services (a migration, a manual fix) is heard too: the trigger fires on the table.
  await service.runtime.db('segments').where({ slug: 'us-high-value' }).update({ name: 'Renamed in SQL' });
  await expect.poll(() => nameIn(service.runtime, 'us-high-value'), { timeout: 10_000 }).toBe('Renamed in SQL');
  await expect.poll(() => nameIn(other, 'us-high-value'), { timeout: 10_000 }).toBe('Renamed in SQL');
});

it('turns itself off while the notification connection is lost, and back on when it reconnects', async () => {
  const cache = other.segments['cache'];
  await nameIn(other, 'lapsed-customers');
  const killed = await service.runtime.db.raw(
    "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query = 'LISTEN audiences_definitions' and pid <> pg_backend_pid()");
  expect(killed.rows.length).toBeGreaterThanOrEqual(2);
  await expect.poll(() => cache.isEnabled, { timeout: 10_000 }).toBe(false);
  // Off: a change is read straight from the database, even with no notification to hear.
  await service.runtime.db('segments').where({ slug: 'lapsed-customers' }).update({ name: 'Changed while deaf' });
  expect(await nameIn(other, 'lapsed-customers')).toBe('Changed while deaf');
  await expect.poll(() => cache.isEnabled, { timeout: 15_000 }).toBe(true);
  await service.runtime.segments.update('lapsed-customers', { name: 'After reconnect' });
  await expect.poll(() => nameIn(other, 'lapsed-customers'), { timeout: 10_000 }).toBe('After reconnect');
});

it('answers cached reads over HTTP with the bytes the route serializer writes, and new bytes after a change', async () => {
  const first = await service.app.inject({ url: '/v1/segments?limit=200' });
  const again = await service.app.inject({ url: '/v1/segments?limit=200' });
  expect(first.statusCode).toBe(200);
  expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(again.body).toBe(first.body);
  // What the schema serializer makes of the same page, fresh from the database.
  const page = await service.runtime.segments['listUncached']({ limit: 200 });
  expect(JSON.parse(first.body)).toEqual(JSON.parse(JSON.stringify(page)));
  const one = await service.app.inject({ url: '/v1/segments/us-high-value' });
  expect(one.headers.etag).toBe(`"${JSON.parse(one.body).version}"`);
  await service.app.inject({ method: 'PATCH', url: '/v1/segments/us-high-value', payload: { name: 'Renamed over HTTP' } });
  const after = await service.app.inject({ url: '/v1/segments?limit=200' });
  expect(after.body).not.toBe(first.body);
  expect(after.body).toContain('Renamed over HTTP');
  expect(JSON.parse((await service.app.inject({ url: '/v1/segments/us-high-value' })).body).name).toBe('Renamed over HTTP');
});
