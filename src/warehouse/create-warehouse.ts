import { BigQueryWarehouse, type AuthClientLike } from './bigquery/bigquery-warehouse';
import { DuckDBWarehouse } from './duckdb/duckdb-warehouse';
import { PostgresWarehouse } from './postgres/postgres-warehouse';
import type { Warehouse } from './warehouse';

export interface CreateWarehouseOptions {
  defaultSchema?: string;
  /** BigQuery only: credentials to use instead of keyFilename / Application Default Credentials (tests pass a fake). */
  authClient?: AuthClientLike;
}

/** Opens the warehouse a URL names: `postgres://…`, `duckdb:…`, `bigquery://PROJECT/DATASET`. */
export function createWarehouse(url: string, options: CreateWarehouseOptions = {}): Warehouse {
  const scheme = url.slice(0, url.indexOf(':'));
  if (scheme === 'postgres' || scheme === 'postgresql') {
    return new PostgresWarehouse({ connectionString: url, ...(options.defaultSchema ? { defaultSchema: options.defaultSchema } : {}) });
  }
  if (scheme === 'duckdb') {
    return DuckDBWarehouse.fromUrl(url, options);
  }
  if (scheme === 'bigquery') {
    return BigQueryWarehouse.fromUrl(url, options);
  }
  throw new Error(`WAREHOUSE_URL scheme "${scheme}:" is not supported; use postgres://, duckdb:// or bigquery://`);
}
