/** The compiler benchmark's Postgres: settings for seeding and scanning 1M customers and 10M events. */
import type { PgSettings } from './postgres-setup';

export const PG_SETTINGS: PgSettings = [
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
