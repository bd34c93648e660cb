import path from 'node:path';
import { EXTERNAL_TOKEN } from './auth/token-text';

/** Everything the service reads from the environment, parsed once. */
export interface Config {
  host: string;
  port: number;
  /** Metadata Postgres; undefined means "run embedded Postgres in dataDir". */
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPgPort: number;
  /** Warehouse; undefined means "the metadata database, demo schema". */
  warehouseUrl: string | undefined;
  /** Seed the demo warehouse and apply segmentsDir at start. */
  demo: boolean;
  demoCustomers: number;
  segmentsDir: string;
  logLevel: string;
  bodyLimitBytes: number;
  /** Schema the service owns in the warehouse (snapshots, membership log, runs). */
  stateSchema: string;
  /** Key for destination credentials at rest (AUDIENCES_ENCRYPTION_KEY); embedded mode keeps one in dataDir when unset. */
  encryptionKey: string | undefined;
  /** An admin token the operator chose (AUDIENCES_BOOTSTRAP_TOKEN); registered at start if new. */
  bootstrapToken: string | undefined;
  /** Rate and time limits of the API. */
  limits: { requestsPerMinute: number; expensivePerMinute: number; handlerTimeoutMs: number; waitTimeoutMs: number; rateLimitSyncMs: number };
  /** Run job workers (scheduled syncs) in `serve` (WORKERS, default true). */
  workers: boolean;
  /** Root under which file destinations write. */
  fileDestinationRoot: string;
  /** Where the platform SDKs connect (unset: the platforms themselves). Tests point these at fakes. */
  endpoints: {
    metaGraphUrl?: string;
    googleAds?: { host: string; port: number; insecure: boolean };
    dataManager?: { host: string; port: number; insecure: boolean };
  };
}

export class ConfigError extends Error {}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, opts: { min: number; max: number }): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < opts.min || value > opts.max) {
    throw new ConfigError(`${name} must be an integer between ${opts.min} and ${opts.max}, got "${raw}"`);
  }
  return value;
}

function boolFrom(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function demoFlag(env: NodeJS.ProcessEnv): boolean {
  const raw = (env.DEMO ?? 'auto').toLowerCase();
  if (raw === 'auto') return !env.WAREHOUSE_URL;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`DEMO must be auto, true or false, got "${env.DEMO}"`);
}

function stateSchemaFrom(env: NodeJS.ProcessEnv): string {
  const value = env.STATE_SCHEMA || 'audiences_state';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(value)) throw new ConfigError(`STATE_SCHEMA must be a plain SQL identifier, got "${value}"`);
  return value;
}

function bootstrapTokenFrom(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.AUDIENCES_BOOTSTRAP_TOKEN;
  if (!value) return undefined;
  // The value is a secret: say what is wrong with it, never echo it.
  if (!EXTERNAL_TOKEN.test(value)) throw new ConfigError(`AUDIENCES_BOOTSTRAP_TOKEN must be 32 to 256 characters of A-Z a-z 0-9 _ - (it has ${value.length} characters)`);
  return value;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevelFrom(env: NodeJS.ProcessEnv): string {
  const value = (env.LOG_LEVEL || 'info').toLowerCase();
  if (!LOG_LEVELS.includes(value)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  return {
    host: env.HOST || '127.0.0.1',
    port: intFrom(env, 'PORT', 3000, { min: 0, max: 65535 }),
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: path.resolve(cwd, env.DATA_DIR || '.data'),
    embeddedPgPort: intFrom(env, 'EMBEDDED_PG_PORT', 54329, { min: 1024, max: 65535 }),
    warehouseUrl: env.WAREHOUSE_URL || undefined,
    demo: demoFlag(env),
    demoCustomers: intFrom(env, 'DEMO_CUSTOMERS', 50_000, { min: 100, max: 100_000_000 }),
    segmentsDir: path.resolve(cwd, env.SEGMENTS_DIR || 'segments'),
    logLevel: logLevelFrom(env),
    bodyLimitBytes: intFrom(env, 'BODY_LIMIT_BYTES', 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    stateSchema: stateSchemaFrom(env),
    encryptionKey: env.AUDIENCES_ENCRYPTION_KEY || undefined,
    bootstrapToken: bootstrapTokenFrom(env),
    limits: {
      requestsPerMinute: intFrom(env, 'RATE_LIMIT_PER_MINUTE', 600, { min: 1, max: 1_000_000_000 }),
      expensivePerMinute: intFrom(env, 'RATE_LIMIT_EXPENSIVE_PER_MINUTE', 60, { min: 1, max: 1_000_000_000 }),
      handlerTimeoutMs: intFrom(env, 'REQUEST_TIMEOUT_MS', 30_000, { min: 100, max: 3_600_000 }),
      waitTimeoutMs: intFrom(env, 'WAIT_TIMEOUT_MS', 15 * 60_000, { min: 100, max: 24 * 3_600_000 }),
      rateLimitSyncMs: intFrom(env, 'RATE_LIMIT_SYNC_MS', 1_000, { min: 10, max: 60_000 }),
    },
    workers: boolFrom(env, 'WORKERS', true),
    fileDestinationRoot: path.resolve(cwd, env.FILE_DESTINATION_ROOT || path.join(env.DATA_DIR || '.data', 'exports')),
    endpoints: endpointsFrom(env),
  };
}

/** `host:port` (plaintext, for loopback fakes) or `https://host[:port]` (TLS). */
function grpcEndpoint(env: NodeJS.ProcessEnv, name: string): { host: string; port: number; insecure: boolean } | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const match = /^(?:(https?):\/\/)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(raw);
  if (!match) throw new ConfigError(`${name} must be host:port or https://host:port, got "${raw}"`);
  return { host: match[2]!, port: Number(match[3]), insecure: match[1] !== 'https' };
}

function endpointsFrom(env: NodeJS.ProcessEnv): Config['endpoints'] {
  const endpoints: Config['endpoints'] = {};
  if (env.META_GRAPH_URL) {
    if (!/^https?:\/\/[^/]+$/.test(env.META_GRAPH_URL)) throw new ConfigError(`META_GRAPH_URL must be a base URL like https://graph.facebook.com, got "${env.META_GRAPH_URL}"`);
    endpoints.metaGraphUrl = env.META_GRAPH_URL;
  }
  const googleAds = grpcEndpoint(env, 'GOOGLE_ADS_ENDPOINT');
  if (googleAds) endpoints.googleAds = googleAds;
  const dataManager = grpcEndpoint(env, 'DATA_MANAGER_ENDPOINT');
  if (dataManager) endpoints.dataManager = dataManager;
  return endpoints;
}
