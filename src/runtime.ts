import path from 'node:path';
import type { Knex } from 'knex';
import type { Config } from './config';
import { ModelsService } from './models/models-service';
import { RefreshService } from './audiences/refresh-service';
import { SegmentQueries } from './segments/segment-queries';
import { SegmentsService } from './segments/segments-service';
import { DestinationsService } from './destinations/destinations-service';
import { createDestinationRegistry, type DestinationRegistry } from './destinations/registry';
import { SecretBox } from './destinations/secret-box';
import { SyncsService } from './syncs/syncs-service';
import { TokensService } from './auth/tokens-service';
import { AuditLog } from './audit/audit-log';
import type { RetryPolicy } from './syncs/deliver';
import { createDb } from './store/db';
import { startEmbeddedPostgres, type RunningPostgres } from './store/embedded-postgres';
import { migrateLatest } from './store/migrate';
import { DefinitionCache } from './store/definition-cache';
import { listenForDefinitionChanges } from './store/definition-change-listener';
import { createWarehouse } from './warehouse/create-warehouse';
import type { Warehouse } from './warehouse/warehouse';
import { createLogger, type LogDestination, type Logger } from './observability/logger';
import { Metrics } from './observability/metrics';

export const DEMO_SCHEMA = 'demo';

/** Everything a command needs: metadata store, warehouse, services; and how to release them. */
export interface Runtime {
  config: Config;
  databaseUrl: string;
  embedded: RunningPostgres | null;
  db: Knex;
  warehouse: Warehouse;
  models: ModelsService;
  segments: SegmentsService;
  queries: SegmentQueries;
  refresh: RefreshService;
  registry: DestinationRegistry;
  destinations: DestinationsService;
  syncs: SyncsService;
  tokens: TokensService;
  audit: AuditLog;
  /** Root logger (LOG_LEVEL): the API, runs and jobs log through it, on one stream. */
  logger: Logger;
  /** Prometheus registry of this runtime (not the global one: several runtimes share a test process). */
  metrics: Metrics;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, options: {
  log: (line: string) => void; attachToRunningEmbedded?: boolean; syncRetry?: Partial<RetryPolicy>;
  /** Where JSON logs go (default stdout); tests capture them here. */
  logDestination?: LogDestination;
  /** Keep definition reads in memory, cleared by change notifications from every process (API servers). */
  cacheDefinitions?: boolean;
}): Promise<Runtime> {
  const logger = createLogger({ level: config.logLevel, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const metrics = new Metrics();
  let embedded: RunningPostgres | null = null;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({
      databaseDir: path.join(config.dataDir, 'pg'),
      port: config.embeddedPgPort,
      persistent: true,
      allowAttach: options.attachToRunningEmbedded ?? false,
      ...(config.logLevel === 'debug' || config.logLevel === 'trace' ? { log: options.log } : {}),
    });
    databaseUrl = embedded.url;
  }
  const db = createDb(databaseUrl);
  try {
    const applied = await migrateLatest(db);
    if (applied.length) options.log(`migrated metadata store: ${applied.join(', ')}`);
  } catch (error) {
    await db.destroy();
    await embedded?.stop();
    throw error;
  }
  const warehouse = config.warehouseUrl
    ? createWarehouse(config.warehouseUrl)
    : createWarehouse(databaseUrl, { defaultSchema: DEMO_SCHEMA });
  const definitionCache = new DefinitionCache();
  const changeFeed = options.cacheDefinitions ? listenForDefinitionChanges({ databaseUrl, cache: definitionCache, logger: logger.child({ component: 'definition-cache' }) }) : null;
  const models = new ModelsService({ db, warehouse, cache: definitionCache });
  const segments = new SegmentsService({ db, cache: definitionCache });
  const queries = new SegmentQueries({ db, warehouse });
  const refresh = new RefreshService({ db, warehouse, queries, stateSchema: config.stateSchema, logger: logger.child({ component: 'refresh' }), metrics });
  const registry = createDestinationRegistry({ fileRoot: config.fileDestinationRoot, endpoints: config.endpoints });
  let destinations: DestinationsService;
  try {
    // Embedded mode keeps a key next to its database; elsewhere the operator provides one.
    const secrets = config.encryptionKey ? SecretBox.fromKeyText(config.encryptionKey) : embedded ? SecretBox.fromKeyFile(path.join(config.dataDir, 'encryption.key')) : null;
    destinations = new DestinationsService({ db, registry, secrets });
    await destinations.checkSecrets();
  } catch (error) {
    await warehouse.close().catch(() => {});
    await changeFeed?.close();
    await db.destroy();
    await embedded?.stop();
    throw error;
  }
  const syncs = new SyncsService({ db, warehouse, refresh, destinations, queries, stateSchema: config.stateSchema, ...(options.syncRetry ? { retry: options.syncRetry } : {}), logger: logger.child({ component: 'sync' }), metrics });
  const tokens = new TokensService({ db });
  const audit = new AuditLog({ db });
  let closed = false;
  return {
    logger, metrics, config, databaseUrl, embedded, db, warehouse, models, segments, queries, refresh, registry, destinations, syncs, tokens, audit,
    close: async () => {
      if (closed) return;
      closed = true;
      await changeFeed?.close();
      await syncs.stop();
      await refresh.drain();
      await warehouse.close().catch(() => {});
      await db.destroy().catch(() => {});
      await embedded?.stop();
    },
  };
}
