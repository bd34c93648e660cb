/**
 * An embedded Postgres tuned for the benchmark machine (2 cores, 24 GiB). startEmbeddedPostgres
 * passes a fixed set of postgresFlags, so the settings go through ALTER SYSTEM
 * (postgresql.auto.conf) and the server is restarted once, which also applies the
 * restart-only ones (shared_buffers, wal_level). The data directory is deleted on stop.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/store/embedded-postgres';
import { log } from './stats';
import { freePort } from '../support/free-port';


/** Server settings (name → value), applied with ALTER SYSTEM. */
export const PG_SETTINGS: ReadonlyArray<readonly [string, string, string]> = [
  ['shared_buffers', '6GB', 'quarter of RAM; the whole 1M/10M data set (~3 GB with indexes) stays in shared buffers'],
  ['effective_cache_size', '16GB', 'shared buffers plus OS page cache'],
  ['work_mem', '256MB', 'hash joins/aggregates over 10M events stay in memory'],
  ['hash_mem_multiplier', '2', 'default, stated for completeness'],
  ['maintenance_work_mem', '2GB', 'index builds in the seed'],
  ['max_worker_processes', '8', 'default'],
  ['max_parallel_workers', '2', 'two cores'],
  ['max_parallel_workers_per_gather', '2', 'two cores'],
  ['max_parallel_maintenance_workers', '2', 'parallel index builds'],
  ['random_page_cost', '1.1', 'data is in memory / SSD'],
  ['effective_io_concurrency', '200', 'SSD'],
  ['jit', 'off', 'no LLVM in the embedded binaries anyway; stated so results do not depend on it'],
  ['wal_level', 'minimal', 'seed writes tables created in its own transaction without WAL'],
  ['max_wal_senders', '0', 'required by wal_level=minimal'],
  ['max_wal_size', '16GB', 'no checkpoints in the middle of the seed'],
  ['checkpoint_timeout', '30min', 'same'],
  ['synchronous_commit', 'off', 'throw-away benchmark database'],
];


export interface BenchPostgres {
  url: string;
  stop(): Promise<void>;
}

export async function startBenchPostgres(): Promise<BenchPostgres> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-bench-pg-'));
  await fs.chmod(dir, 0o755); // as root, Postgres runs as `postgres` and must reach the data directory
  const databaseDir = path.join(dir, 'pg');
  const removeDir = () => fs.rm(dir, { recursive: true, force: true });
  let server: RunningPostgres | undefined;
  try {
    // First start: initialise, write the settings, stop (keeping the directory).
    server = await startEmbeddedPostgres({ databaseDir, port: await freePort(), persistent: true });
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    try {
      for (const [name, value] of PG_SETTINGS) await admin.query(`alter system set ${name} = '${value}'`);
    } finally {
      await admin.end();
    }
    await server.stop();
    // Second start on the same directory: settings in effect; the directory goes on stop.
    server = await startEmbeddedPostgres({ databaseDir, port: await freePort(), persistent: false });
    const running = server;
    log(`embedded Postgres ready in ${databaseDir}`);
    return {
      url: running.url,
      stop: async () => {
        await running.stop();
        await removeDir();
      },
    };
  } catch (error) {
    await server?.stop().catch(() => {});
    await removeDir();
    throw error;
  }
}

/** The settings as the server reports them (to prove they took effect). */
export async function effectiveSettings(url: string): Promise<Array<{ name: string; setting: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const names = PG_SETTINGS.map(([name]) => name);
    const { rows } = await client.query<{ name: string; setting: string }>(
      `select name, current_setting(name) as setting from pg_settings where name = any($1) order by array_position($1, name)`, [names]);
    const [{ version }] = (await client.query<{ version: string }>('select version()')).rows as [{ version: string }];
    return [{ name: 'server_version', setting: version.split(' on ')[0]! }, ...rows];
  } finally {
    await client.end();
  }
}
