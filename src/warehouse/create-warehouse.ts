import { PostgresWarehouse } from './postgres/postgres-warehouse';
import type { Warehouse } from './warehouse';

/** Opens the warehouse a URL names. `postgres://…` today; duckdb:// and bigquery:// arrive with the compiler. */
export function createWarehouse(url: string, options: { defaultSchema?: string } = {}): Warehouse {
  const scheme = url.slice(0, url.indexOf(':'));
  if (scheme === 'postgres' || scheme === 'postgresql') {
    return new PostgresWarehouse({ connectionString: url, ...(options.defaultSchema ? { defaultSchema: options.defaultSchema } : {}) });
  }
  throw new Error(`WAREHOUSE_URL scheme "${scheme}:" is not supported; use postgres://`);
}
