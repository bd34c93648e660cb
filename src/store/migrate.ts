import type { Knex } from 'knex';
import * as m0001 from './migrations/0001_models_and_segments';
import * as m0002 from './migrations/0002_refresh_runs';
import * as m0003 from './migrations/0003_destinations';
import * as m0004 from './migrations/0004_syncs';
import * as m0005 from './migrations/0005_tokens_and_audit';
import * as m0006 from './migrations/0006_definition_change_notify';
import * as m0007 from './migrations/0007_rate_limit_counts';

/** Migrations are listed here (not discovered on disk) so they run the same under tsx, vitest and a bundle. */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '0001_models_and_segments': m0001,
  '0002_refresh_runs': m0002,
  '0003_destinations': m0003,
  '0004_syncs': m0004,
  '0005_tokens_and_audit': m0005,
  '0006_definition_change_notify': m0006,
  '0007_rate_limit_counts': m0007,
};

const source: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name]!,
};

export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource: source, tableName: 'knex_migrations' })) as [number, string[]];
  return applied;
}
