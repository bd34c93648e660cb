/**
 * The embedded Postgres of the refresh (and sync) benchmarks: metadata store for both engines and
 * the warehouse of the Postgres runs.
 *
 * wal_level stays at its default (replica): the service's snapshot and log tables are ordinary,
 * WAL-logged tables, as they would be in a deployment. Only the benchmark's own customers table
 * is UNLOGGED.
 */
import * as setup from '../postgres-setup';
import { log } from './util';

export type { BenchPostgres } from '../postgres-setup';

export const PG_SETTINGS: setup.PgSettings = [
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

export const startBenchPostgres = () => setup.startBenchPostgres({ settings: PG_SETTINGS, tempPrefix: 'audiences-refresh-bench-pg-', log });

export const effectiveSettings = (url: string) => setup.effectiveSettings(url, [...PG_SETTINGS.map(([name]) => name), 'wal_level', 'hash_mem_multiplier']);
