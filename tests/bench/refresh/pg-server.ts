/**
 * The embedded Postgres of the refresh benchmark: metadata store for both engines and the
 * warehouse of the Postgres runs. Started with the service's own startEmbeddedPostgres; the
 * settings go through ALTER SYSTEM and one restart (startEmbeddedPostgres passes a fixed set of
 * flags). The cluster lives in a temporary directory deleted on stop.
 *
 * wal_level stays at its default (replica): the service's snapshot and log tables are ordinary,
 * WAL-logged tables, as they would be in a deployment. Only the benchmark's own customers table
 * is UNLOGGED.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type RunningPostgres } from '../../../src/store/embedded-postgres';
import { log } from './util';
import { freePort } from '../../support/free-port';


/** Server settings: name, value, why. */
export const PG_SETTINGS: ReadonlyArray<readonly [string, string, string]> = [
  ['shared_buffers', '4GB', '10M customers (~1.6 GB) and two snapshots stay in shared buffers'],
  ['effective_cache_size', '12GB', 'shared buffers plus OS page cache'],
  ['work_mem', '256MB', 'hash anti-joins over millions of member keys stay in memory (×2 hash_mem_multiplier)'],
  ['maintenance_work_mem', '1GB', 'VACUUM of the generated data'],
  ['max_parallel_workers_per_gather', '2', 'two cores'],
  ['max_parallel_workers', '2', 'two cores'],
  ['random_page_cost', '1.1', 'SSD / in memory'],
  ['jit', 'off', 'no LLVM in the embedded binaries; stated so results do not depend on it'],
  ['max_wal_size', '16GB', 'no forced checkpoints in the middle of a refresh (an explicit CHECKPOINT precedes each timed run)'],
  ['checkpoint_timeout', '30min', 'same'],
  ['synchronous_commit', 'off', 'throw-away benchmark database'],
  ['autovacuum', 'off', 'no background VACUUM/ANALYZE of fresh snapshots racing the timed runs; the generator VACUUMs its own data'],
];


export interface BenchPostgres {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startBenchPostgres(): Promise<BenchPostgres> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-refresh-bench-pg-'));
  await fs.chmod(dir, 0o755); // as root, Postgres runs as `postgres` and must reach the data directory
  const databaseDir = path.join(dir, 'pg');
  const removeDir = () => fs.rm(dir, { recursive: true, force: true });
  let server: RunningPostgres | undefined;
  try {
    server = await startEmbeddedPostgres({ databaseDir, port: await freePort(), persistent: true });
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    try {
      for (const [name, value] of PG_SETTINGS) await admin.query(`alter system set ${name} = '${value}'`);
    } finally {
      await admin.end();
    }
    await server.stop();
    server = await startEmbeddedPostgres({ databaseDir, port: await freePort(), persistent: false });
    const running = server;
    log(`embedded Postgres ready in ${databaseDir}`);
    return {
      url: running.url,
      dir: databaseDir,
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

/** The settings as the server reports them. */
export async function effectiveSettings(url: string): Promise<Array<{ name: string; setting: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const names = PG_SETTINGS.map(([name]) => name).concat(['wal_level', 'hash_mem_multiplier']);
    const { rows } = await client.query<{ name: string; setting: string }>(
      `select name, current_setting(name) as setting from pg_settings where name = any($1) order by array_position($1, name)`, [names]);
    const version = (await client.query<{ version: string }>('select version()')).rows[0]?.version ?? '';
    return [{ name: 'server_version', setting: version.split(' on ')[0]! }, ...rows];
  } finally {
    await client.end();
  }
}
