import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/api/app';
import { injectAsAdmin } from './auth';
import { applyDirectory } from '../../src/as-code/apply';
import { loadConfig } from '../../src/config';
import { seedDemo } from '../../src/demo/seed-demo';
import type { IdentifierKind } from '../../src/destinations/destination';
import { prepareMember, type IdentityPlatform } from '../../src/destinations/identity';
import { buildUsersPayload } from '../../src/destinations/meta/payload';
import { DEMO_SCHEMA, openRuntime, type Runtime } from '../../src/runtime';
import type { RetryPolicy } from '../../src/syncs/deliver';
import type { SyncRun } from '../../src/syncs/sync-schema';
import { GraphApiFake } from '../fakes/graph-api-fake';
import { createTestDatabase } from './test-database';
import { DEMO_KINDS, REPO_ROOT, SEGMENTS_DIR } from './test-service';

/** Short backoff: a storm of a few faults costs milliseconds, not minutes. */
export const FAST_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 2000 };

export interface SyncFixture {
  app: FastifyInstance;
  runtime: Runtime;
  databaseUrl: string;
  /** The environment a second process needs to open the same service (database, key, endpoints). */
  env: Record<string, string>;
  send(method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * The service as `startTestService` assembles it (own database, demo warehouse, `segments/`
 * applied), opened with a sync retry policy of our choosing and the endpoints of the fakes.
 */
export async function startSyncFixture(options: { customers: number; env?: Record<string, string>; syncRetry?: Partial<RetryPolicy> }): Promise<SyncFixture> {
  const database = await createTestDatabase();
  const fileRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-sync-faults-'));
  const env: Record<string, string> = {
    DATABASE_URL: database.url, LOG_LEVEL: 'silent', AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'), FILE_DESTINATION_ROOT: fileRoot, ...options.env,
  };
  const config = loadConfig(env, REPO_ROOT);
  const runtime = await openRuntime(config, { log: () => {}, syncRetry: options.syncRetry ?? FAST_RETRY });
  let app: FastifyInstance | undefined;
  try {
    await seedDemo(runtime.warehouse, { schema: DEMO_SCHEMA, customers: options.customers, anchor: new Date('2026-11-01T00:00:00Z'), maxEventsPerCustomer: 2 });
    await applyDirectory({ dir: SEGMENTS_DIR, services: runtime, defaultSchema: runtime.warehouse.defaultSchema, kinds: DEMO_KINDS });
    app = await buildApp({ services: runtime, logLevel: 'silent' });
    await app.ready();
    await injectAsAdmin(app, runtime.tokens);
  } catch (error) {
    await runtime.close();
    await database.drop();
    throw error;
  }
  const ready = app;
  return {
    app: ready, runtime, databaseUrl: database.url, env,
    send: (method, url, body, headers = {}) => ready.inject({
      method, url,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    }),
    sql: <T>(text: string, params: unknown[] = []) => runtime.warehouse.query(text, params) as Promise<T[]>,
    close: async () => {
      await ready.close();
      await runtime.close();
      await database.drop();
      await fs.rm(fileRoot, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` is true (or throws after `timeoutMs`). */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The current snapshot of a segment: member key and the raw values of the given model identifiers,
 * as the sync engine reads them.
 */
export async function snapshotRows(fixture: SyncFixture, segment: string, columns: string[]): Promise<Array<Record<string, string | null> & { member_key: string }>> {
  const seg = await fixture.runtime.segments.get(segment);
  const snapshot = await fixture.runtime.refresh.currentSnapshot(seg.id);
  if (!snapshot) throw new Error(`segment ${segment} has no snapshot`);
  const cols = columns.map((c) => `"${c}"`).join(', ');
  const rows = await fixture.sql<Record<string, unknown>>(`select member_key${cols ? ', ' + cols : ''} from "${fixture.runtime.config.stateSchema}"."${snapshot.table}"`);
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)])) as Record<string, string | null> & { member_key: string });
}

/** Members of a snapshot prepared as the engine prepares them (normalized, hashed), by member key. */
export async function preparedSnapshot(
  fixture: SyncFixture, segment: string, mapping: Partial<Record<IdentifierKind, string>>, platform: IdentityPlatform, defaultRegion = 'US',
) {
  const entries = Object.entries(mapping) as Array<[IdentifierKind, string]>;
  const rows = await snapshotRows(fixture, segment, [...new Set(entries.map(([, c]) => c))]);
  return rows.map((row) => {
    const identifiers: Partial<Record<IdentifierKind, string | null>> = {};
    for (const [kind, column] of entries) identifiers[kind] = row[column] ?? null;
    return prepareMember(platform, row.member_key, identifiers, { defaultRegion });
  });
}

/**
 * What the Graph fake must hold for a segment: the fake's canonical member key of every snapshot
 * member, computed from the snapshot's identifiers through `prepareMember` and the `/users` payload.
 */
export async function expectedMetaMembers(fixture: SyncFixture, segment: string, mapping: Partial<Record<IdentifierKind, string>>): Promise<Set<string>> {
  const expected = new Set<string>();
  for (const prepared of await preparedSnapshot(fixture, segment, mapping, 'meta')) {
    if (!prepared.ok) continue;
    const built = buildUsersPayload([prepared.member]);
    if (!built.payload.data.length) continue;
    expected.add(GraphApiFake.memberKey(built.payload.schema, built.payload.data[0]!));
  }
  return expected;
}

/** Set difference sizes, for readable failures. */
export function diff(actual: Set<string>, expected: Set<string>): { missing: number; extra: number } {
  let missing = 0;
  let extra = 0;
  for (const e of expected) if (!actual.has(e)) missing++;
  for (const a of actual) if (!expected.has(a)) extra++;
  return { missing, extra };
}

export interface SyncChild {
  child: ChildProcess;
  /** Resolves once the child's runtime is open (its start-up is the slow part). */
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts a run of `slug` in the child; resolves with the run once the child has recorded it. */
  start(slug: string): Promise<SyncRun>;
  stderr(): string;
  kill(): void;
}

/** Spawns `tests/support/sync-child.ts` with the fixture's environment: a second service process. */
export function spawnSyncChild(fixture: SyncFixture): SyncChild {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'tests/support/sync-child.ts')], {
    cwd: REPO_ROOT, env: { ...process.env, ...fixture.env }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = readline.createInterface({ input: child.stdout! });
  const waiters: Array<(message: { event: string; run?: SyncRun; message?: string }) => void> = [];
  lines.on('line', (line) => {
    let message: { event: string; run?: SyncRun; message?: string };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return;
    }
    for (const w of waiters.splice(0)) w(message);
  });
  const next = (what: string, timeoutMs: number) => new Promise<{ event: string; run?: SyncRun; message?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child did not ${what} in time; stderr: ${stderr}`)), timeoutMs);
    waiters.push((m) => { clearTimeout(timer); resolve(m); });
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`the child exited (${code ?? signal}) before it could ${what}; stderr: ${stderr}`)); });
  });
  const ready = next('open its runtime', 90_000).then((m) => {
    if (m.event !== 'ready') throw new Error(`child: ${JSON.stringify(m)}`);
  });
  ready.catch(() => {});
  return {
    child, ready, exited,
    start: async (slug) => {
      await ready;
      const recorded = next('record a run', 30_000);
      child.stdin!.write(`${slug}\n`);
      const m = await recorded;
      if (m.event !== 'recorded') throw new Error(`child: ${JSON.stringify(m)}`);
      return m.run!;
    },
    stderr: () => stderr,
    kill: () => { child.kill('SIGKILL'); },
  };
}
