import {
  BigQuery, type BigQueryOptions, type Dataset, type GetTablesOptions, type Job, type JobMetadata, type Query, type QueryOptions,
  type QueryRowsResponse, type TableMetadata,
} from '@google-cloud/bigquery';
import type { Param } from '../../compiler/ir';
import { abortError, type CompiledQuery, type ExecuteOptions, type TableRef, type Warehouse, type WarehouseForeignKey, type WarehouseTable } from '../warehouse';
import { BigQueryError, DEFAULT_RETRY, toBigQueryError, withRetry, type RetryOptions } from './bigquery-errors';
import { namedQueryParams, positionalQueryParams } from './bigquery-params';
import { plainRow } from './bigquery-rows';
import { columnFromField, foreignKeysOf, primaryKeyOf, tableKind } from './bigquery-schema';

/**
 * What the client library needs of an auth client: request headers carrying a token. A
 * google-auth-library AuthClient is one; tests pass a fake so nothing ever asks the GCE
 * metadata server (169.254.169.254) for credentials.
 */
export interface AuthClientLike {
  getRequestHeaders(url?: string | URL): Promise<Headers | Record<string, string>>;
}

export interface BigQueryWarehouseOptions {
  projectId: string;
  /** Default dataset: `defaultSchema`, and the default dataset of every query. */
  dataset: string;
  /** Location of jobs (e.g. `US`, `EU`, `europe-west1`); BigQuery infers it from the datasets when unset. */
  location?: string;
  /** API root, e.g. `http://127.0.0.1:9050` for a local fake or emulator; default `https://bigquery.googleapis.com`. */
  apiEndpoint?: string;
  /** Supply credentials explicitly; without authClient / keyFilename / credentials, Application Default Credentials. */
  authClient?: AuthClientLike;
  keyFilename?: string;
  credentials?: BigQueryOptions['credentials'];
  /** Rows per results page (the API's `maxResults`); the API's own limit (~10 MB a page) otherwise. */
  maxResultsPerPage?: number;
  /**
   * Job timeout: BigQuery cancels a query running longer. Note the client library then creates
   * the job with jobs.insert instead of the faster jobs.query.
   */
  jobTimeoutMs?: number;
  /** Retries of transient failures (HTTP 408/429/5xx, backendError, rateLimitExceeded, connection resets). */
  retry?: Partial<RetryOptions>;
  /** Pause before asking again about a job that is not complete yet (the API itself waits up to ~10 s per ask). */
  pollIntervalMs?: number;
}

/** BigQuery through `@google-cloud/bigquery`: jobs.query / getQueryResults for queries, tables.get / tables.list for introspection. */
export class BigQueryWarehouse implements Warehouse {
  readonly dialect = 'bigquery' as const;
  readonly defaultSchema: string;
  readonly projectId: string;
  private readonly client: BigQuery;
  private readonly location: string | undefined;
  private readonly retry: RetryOptions;
  private readonly options: BigQueryWarehouseOptions;
  private closed = false;

  constructor(options: BigQueryWarehouseOptions) {
    this.options = options;
    this.projectId = options.projectId;
    this.defaultSchema = options.dataset;
    this.location = options.location;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.client = new BigQuery({
      projectId: options.projectId,
      ...(options.location ? { location: options.location } : {}),
      ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
      ...(options.authClient ? { authClient: options.authClient as unknown as BigQueryOptions['authClient'] } : {}),
      ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Retries are ours (see withRetry): the library's have a one-second floor and do not look at reasons.
      retryOptions: { autoRetry: false, maxRetries: 0 },
    });
  }

  /**
   * `bigquery://PROJECT/DATASET[?location=EU][&endpoint=http://127.0.0.1:9050][&keyFilename=/path/key.json]`.
   * Credentials: `keyFilename`, else Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS),
   * unless `options.authClient` supplies them.
   */
  static fromUrl(url: string, options: { defaultSchema?: string; authClient?: AuthClientLike } = {}): BigQueryWarehouse {
    const parsed = parseBigQueryUrl(url);
    return new BigQueryWarehouse({
      ...parsed,
      dataset: options.defaultSchema ?? parsed.dataset,
      ...(options.authClient ? { authClient: options.authClient } : {}),
    });
  }

  async ping(): Promise<void> {
    await this.call('datasets.get', () => this.client.dataset(this.defaultSchema).getMetadata());
  }

  async execute<Row extends Record<string, unknown>>(query: CompiledQuery, options: ExecuteOptions = {}): Promise<Row[]> {
    if (query.dialect !== 'bigquery') throw new Error(`a ${query.dialect} query cannot run on BigQuery`);
    return this.run<Row>(query.sql, query.params.length > 0 ? namedQueryParams(query.params) : undefined, undefined, options.signal);
  }

  async query<Row extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> {
    return this.run<Row>(sql, params.length > 0 ? positionalQueryParams(params) : undefined);
  }

  /**
   * Runs SQL (one statement or a multi-statement script) with named, typed parameters only:
   * `@name` for each Param, whatever its name (`p1`… of a compiled query, or the caller's own).
   * The rows are those of the script's last statement. `retryJobCreation: false` sends the job
   * once (its result pages are still retried): for scripts that are not idempotent, which a
   * retry after a lost response would run twice.
   */
  async script<Row extends Record<string, unknown>>(sql: string, params: readonly Param[], options: { retryJobCreation?: boolean } = {}): Promise<Row[]> {
    return this.run<Row>(sql, params.length > 0 ? namedQueryParams(params) : undefined, options.retryJobCreation === false ? { ...this.retry, maxAttempts: 1 } : undefined);
  }

  async transaction<T>(_work: (query: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
    throw new Error('transactions are not supported on BigQuery');
  }

  async listTables(options: { schema?: string }): Promise<TableRef[]> {
    const schema = options.schema ?? this.defaultSchema;
    const dataset = this.client.dataset(schema);
    const tables: TableRef[] = [];
    let next: GetTablesOptions | null | undefined = { autoPaginate: false, maxResults: 1000 };
    try {
      while (next) {
        const page: GetTablesOptions = next;
        const [, nextQuery, response] = await this.call('tables.list', () => dataset.getTables(page));
        for (const t of response?.tables ?? []) {
          if (t.tableReference?.tableId) tables.push({ schema, name: t.tableReference.tableId, kind: tableKind(t.type) });
        }
        next = nextQuery;
      }
    } catch (error) {
      if (error instanceof BigQueryError && error.status === 404) return []; // no such dataset: nothing in it
      throw error;
    }
    return tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async describeTable(ref: { schema: string; table: string }): Promise<WarehouseTable | null> {
    const metadata = await this.tableMetadata(this.client.dataset(ref.schema), ref.table);
    if (!metadata) return null;
    return {
      schema: ref.schema,
      name: ref.table,
      kind: tableKind(metadata.type),
      columns: (metadata.schema?.fields ?? []).map(columnFromField),
      primaryKey: primaryKeyOf(metadata),
      foreignKeys: foreignKeysOf(metadata, ref.schema),
      referencedBy: await this.referencedBy(ref, metadata),
    };
  }

  async close(): Promise<void> {
    // Nothing to release: requests are plain HTTPS calls on a keep-alive agent whose idle sockets do not hold the process.
    this.closed = true;
  }

  /** Runs a query through jobs.query (jobs.insert with a job timeout) and pages through every result row. */
  private async run<Row extends Record<string, unknown>>(sql: string, parameters?: { params: unknown; types: unknown }, jobCreationRetry?: RetryOptions, signal?: AbortSignal): Promise<Row[]> {
    if (signal?.aborted) throw abortError(signal);
    const pageSize = this.options.maxResultsPerPage;
    const request: Query = {
      query: sql,
      useLegacySql: false,
      defaultDataset: { projectId: this.projectId, datasetId: this.defaultSchema },
      ...(this.location ? { location: this.location } : {}),
      ...(parameters ? { params: parameters.params as Query['params'], types: parameters.types as Query['types'] } : {}),
      ...(pageSize ? { maxResults: pageSize } : {}),
      ...(this.options.jobTimeoutMs ? { jobTimeoutMs: this.options.jobTimeoutMs } : {}),
      wrapIntegers: true, // BigQueryInt, converted exactly by plainValue (Number() would round large INT64s silently)
      parseJSON: true,
    };
    const options: QueryOptions = { autoPaginate: false, ...(pageSize ? { maxResults: pageSize } : {}) };
    let [rows, next, response] = await this.call('query', () => this.client.query(request, options) as unknown as Promise<QueryRowsResponse>, jobCreationRetry);
    const out: Row[] = rows.map((row) => plainRow(row) as Row);
    let lastToken: string | undefined;
    while (next) {
      const page: QueryOptions = next;
      if (signal?.aborted) await this.cancelJob(response?.jobReference, signal);
      if (response && 'jobComplete' in response && response.jobComplete === false) {
        await sleep(this.options.pollIntervalMs ?? 100, signal);
        if (signal?.aborted) await this.cancelJob(response.jobReference, signal);
      } else if (page.pageToken !== undefined) {
        if (page.pageToken === lastToken) throw new Error(`BigQuery returned page token ${page.pageToken} twice`);
        lastToken = page.pageToken;
      }
      const job: Job | undefined = page.job;
      if (!job) throw new Error('BigQuery query returned a next page without its job');
      [rows, next, response] = await this.call('getQueryResults', () => job.getQueryResults(page));
      for (const row of rows) out.push(plainRow(row) as Row);
    }
    // A result without a schema is a statement without rows (DDL, DML) or a multi-statement
    // script, and a failed script's results read as complete and empty: only the job's status
    // tells (googleapis/nodejs-bigquery#887). Ask for it; a query with rows never needs to.
    if (response && !response.schema && response.jobReference?.jobId) await this.checkJobStatus(response.jobReference);
    return out;
  }

  /** Asks BigQuery to stop the job (jobs.cancel), then rejects with the abort's reason. */
  private async cancelJob(reference: { jobId?: string | null; location?: string | null } | undefined, signal: AbortSignal): Promise<never> {
    if (reference?.jobId) {
      const job = this.client.job(reference.jobId, reference.location ? { location: reference.location } : {});
      // Best effort: a job that cannot be cancelled finishes on its own and its result is dropped.
      await this.call('jobs.cancel', () => job.cancel()).catch(() => {});
    }
    throw abortError(signal);
  }

  private async checkJobStatus(reference: { jobId?: string | null; location?: string | null }): Promise<void> {
    const job = this.client.job(reference.jobId!, reference.location ? { location: reference.location } : {});
    const [metadata] = await this.call('jobs.get', () => job.getMetadata());
    const failure = (metadata as JobMetadata).status?.errorResult;
    if (failure) {
      throw toBigQueryError({ errors: [failure, ...((metadata as JobMetadata).status?.errors ?? []).filter((e) => e.message !== failure.message)] }, 'query', 1);
    }
  }

  private async tableMetadata(dataset: Dataset, table: string): Promise<TableMetadata | null> {
    try {
      const [metadata] = await this.call('tables.get', () => dataset.table(table).getMetadata());
      return metadata as TableMetadata;
    } catch (error) {
      if (error instanceof BigQueryError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * Foreign keys of tables in the same dataset that point at this one. tables.get only has a
   * table's own constraints, so INFORMATION_SCHEMA names the tables declaring foreign keys and
   * tables.get reads theirs. Without access to INFORMATION_SCHEMA there are none to report.
   */
  private async referencedBy(ref: { schema: string; table: string }, own: TableMetadata): Promise<WarehouseTable['referencedBy']> {
    const quote = (name: string) => `\`${name.replace(/[`\\]/g, (c) => `\\${c}`)}\``;
    let names: string[];
    try {
      const rows = await this.query<{ table_name: string }>(
        `SELECT DISTINCT table_name FROM ${quote(this.projectId)}.${quote(ref.schema)}.INFORMATION_SCHEMA.TABLE_CONSTRAINTS
          WHERE constraint_type = 'FOREIGN KEY' ORDER BY table_name`,
      );
      names = rows.map((r) => r.table_name);
    } catch (error) {
      if (error instanceof BigQueryError && (error.status === 403 || error.status === 404)) return [];
      throw error;
    }
    const dataset = this.client.dataset(ref.schema);
    const referencing = await Promise.all(
      names.map(async (name) => ({ name, metadata: name === ref.table ? own : await this.tableMetadata(dataset, name) })),
    );
    return referencing.flatMap(({ name, metadata }) =>
      metadata
        ? foreignKeysOf(metadata, ref.schema)
            .filter((fk: WarehouseForeignKey) => fk.referencedSchema === ref.schema && fk.referencedTable === ref.table)
            .map((fk) => ({ ...fk, schema: ref.schema, table: name }))
        : [],
    );
  }

  /** One API call: refused once closed, retried when transient, failures as BigQueryError. */
  private async call<T>(operation: string, fn: () => Promise<T>, retry: RetryOptions = this.retry): Promise<T> {
    if (this.closed) throw new Error('the BigQuery warehouse is closed');
    return withRetry(operation, retry, fn);
  }
}

/** The connection options a `bigquery://PROJECT/DATASET?location=…&endpoint=…&keyFilename=…` URL names. */
export function parseBigQueryUrl(url: string): Pick<BigQueryWarehouseOptions, 'projectId' | 'dataset' | 'location' | 'apiEndpoint' | 'keyFilename'> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('a BigQuery warehouse URL looks like bigquery://PROJECT/DATASET');
  }
  const projectId = decodeURIComponent(parsed.hostname);
  const dataset = decodeURIComponent(parsed.pathname.replace(/^\/+|\/+$/g, ''));
  if (parsed.protocol !== 'bigquery:' || !projectId || !dataset || dataset.includes('/')) {
    throw new Error('a BigQuery warehouse URL looks like bigquery://PROJECT/DATASET');
  }
  const known = new Set(['location', 'endpoint', 'keyFilename']);
  const unknown = [...parsed.searchParams.keys()].filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`unknown BigQuery URL parameter(s): ${unknown.join(', ')}; use location, endpoint, keyFilename`);
  const location = parsed.searchParams.get('location');
  const endpoint = parsed.searchParams.get('endpoint');
  const keyFilename = parsed.searchParams.get('keyFilename');
  return {
    projectId,
    dataset,
    ...(location ? { location } : {}),
    ...(endpoint ? { apiEndpoint: endpoint } : {}),
    ...(keyFilename ? { keyFilename } : {}),
  };
}

/** Waits, or less when the signal aborts first. */
const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); };
  const timer = setTimeout(done, ms);
  signal?.addEventListener('abort', done, { once: true });
});
