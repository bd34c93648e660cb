import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback fake of the BigQuery REST API (v2), as much of it as `@google-cloud/bigquery`
 * calls for queries and introspection:
 *
 *   POST /bigquery/v2/projects/{p}/queries               jobs.query
 *   GET  /bigquery/v2/projects/{p}/queries/{jobId}       jobs.getQueryResults (pageToken, maxResults, startIndex)
 *   POST /bigquery/v2/projects/{p}/jobs                  jobs.insert (the library uses it for jobTimeoutMs, dry runs, …)
 *   GET  /bigquery/v2/projects/{p}/jobs/{jobId}          jobs.get
 *   GET  /bigquery/v2/projects/{p}/datasets/{d}          datasets.get
 *   GET  /bigquery/v2/projects/{p}/datasets/{d}/tables   tables.list
 *   GET  /bigquery/v2/projects/{p}/datasets/{d}/tables/{t}  tables.get
 *
 * Query results come from a handler the test registers; rows are in the API's wire format
 * (`{f: [{v: …}]}`, every scalar a string, REPEATED as `[{v: …}]`, RECORD as `{f: […]}`,
 * TIMESTAMP as float seconds). Like the real API, TIMESTAMPs go out as int64 microseconds when
 * the request asks for `formatOptions.useInt64Timestamp` (the library always does). Every request
 * is recorded; faults (an HTTP status with a BigQuery error body) can be queued per endpoint.
 */

export type FakeEndpoint =
  | 'jobs.query' | 'jobs.getQueryResults' | 'jobs.insert' | 'jobs.get' | 'jobs.cancel'
  | 'datasets.get' | 'tables.list' | 'tables.get' | 'unknown';

export interface FakeField {
  name: string;
  type: string;
  mode?: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  fields?: FakeField[];
  [more: string]: unknown;
}
export interface FakeSchema { fields: FakeField[] }

export type WireValue = string | null | WireCell[] | WireRow;
export interface WireCell { v: WireValue }
export interface WireRow { f: WireCell[] }

/** A query parameter as the API receives it. */
export interface WireQueryParameter {
  name?: string;
  parameterType: { type: string; arrayType?: { type: string }; [more: string]: unknown };
  parameterValue: { value?: string | number | boolean | null; arrayValues?: Array<{ value?: unknown }>; [more: string]: unknown };
}

/** A BigQuery error: `reason` such as invalidQuery, notFound, backendError, rateLimitExceeded. */
export interface FakeError {
  reason: string;
  message: string;
  location?: string;
  /** HTTP status when the error is answered as one; by default from the reason. */
  status?: number;
}

export type FakeQueryResult =
  /**
   * Rows; `polls` getQueryResults / jobs.get calls see the job still running first. No schema:
   * a statement without a result (DDL, DML, a script), answered without `schema` as the API does.
   */
  | { schema?: FakeSchema; rows: WireRow[]; polls?: number }
  /**
   * The job fails with this `status.errorResult`: at once (an HTTP error from jobs.query, a DONE
   * job from jobs.insert) or after `polls`. `onlyInJobStatus`: like a failed multi-statement
   * script, whose results read as complete and empty while jobs.get reports the error.
   */
  | { error: FakeError; polls?: number; onlyInJobStatus?: boolean };

export interface FakeQueryRequest {
  sql: string;
  parameters: WireQueryParameter[];
  parameterMode: string | undefined;
  endpoint: 'jobs.query' | 'jobs.insert';
  /** The request body as sent. */
  body: Record<string, unknown>;
}

export type QueryHandler = (sql: string, parameters: WireQueryParameter[], request: FakeQueryRequest) => FakeQueryResult | undefined;

export interface RecordedRequest {
  method: string;
  /** Path without the query string, percent-decoded. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  endpoint: FakeEndpoint;
  authorization: string | undefined;
  /** HTTP status the fake answered. */
  status: number;
}

export interface FakeTable {
  dataset: string;
  table: string;
  type?: 'TABLE' | 'VIEW' | 'MATERIALIZED_VIEW' | 'EXTERNAL' | 'SNAPSHOT';
  schema: FakeSchema;
  tableConstraints?: {
    primaryKey?: { columns: string[] };
    foreignKeys?: Array<{
      name?: string;
      referencedTable: { projectId: string; datasetId: string; tableId: string };
      columnReferences: Array<{ referencingColumn: string; referencedColumn: string }>;
    }>;
  };
}

interface FakeJob {
  projectId: string;
  jobId: string;
  location: string;
  sql: string;
  configuration: Record<string, unknown>;
  result: FakeQueryResult;
  pollsLeft: number;
}

interface Fault { status: number; error: FakeError; times: number }

export interface BigQueryFakeOptions {
  /** The bearer token every request must carry (401 otherwise); default `fake`. */
  token?: string;
  /** Rows per page when a request gives no maxResults (the real API pages by ~10 MB). */
  defaultPageSize?: number;
  /** Tables per tables.list page at most (the request's maxResults can only lower it). */
  listPageSize?: number;
  /** Location of jobs and datasets when the request names none. */
  location?: string;
}

const STATUS_FOR_REASON: Record<string, number> = {
  invalidQuery: 400, invalid: 400, badRequest: 400, notFound: 404, duplicate: 409, accessDenied: 403,
  rateLimitExceeded: 403, quotaExceeded: 403, responseTooLarge: 403, backendError: 500, internalError: 500,
};
const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE',
};

export class BigQueryFake {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Every query the handler was asked to answer (jobs.query and jobs.insert), in order: SQL, parameters, mode. */
  readonly queries: FakeQueryRequest[] = [];
  /** Jobs stopped by jobs.cancel while they ran. */
  readonly cancelledJobs: string[] = [];
  readonly token: string;
  private readonly server: http.Server;
  private readonly defaultPageSize: number;
  private readonly listPageSize: number;
  private readonly location: string;
  private handler: QueryHandler = (sql) => ({ error: { reason: 'invalidQuery', message: `fake: no query handler for ${sql.slice(0, 80)}` } });
  private readonly jobs = new Map<string, FakeJob>();
  private readonly faults = new Map<FakeEndpoint, Fault[]>();
  private readonly datasets = new Map<string, { location: string; tables: Map<string, FakeTable> }>();
  private port = 0;

  private constructor(options: BigQueryFakeOptions) {
    this.token = options.token ?? 'fake';
    this.defaultPageSize = options.defaultPageSize ?? 100_000;
    this.listPageSize = options.listPageSize ?? 1000;
    this.location = options.location ?? 'US';
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  static async start(options: BigQueryFakeOptions = {}): Promise<BigQueryFake> {
    const fake = new BigQueryFake(options);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** The `apiEndpoint` to give the client library. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Answers queries (jobs.query and jobs.insert); `undefined` from the handler is an invalidQuery error. */
  onQuery(handler: QueryHandler): this {
    this.handler = handler;
    return this;
  }

  addDataset(dataset: string, location = this.location): this {
    if (!this.datasets.has(dataset)) this.datasets.set(dataset, { location, tables: new Map() });
    return this;
  }

  addTable(table: FakeTable): this {
    this.addDataset(table.dataset);
    this.datasets.get(table.dataset)!.tables.set(table.table, table);
    return this;
  }

  /** The next `times` calls to `endpoint` answer `status` with a BigQuery error body instead. */
  failNext(endpoint: FakeEndpoint, fault: { status: number; reason?: string; message?: string; times?: number }): this {
    const list = this.faults.get(endpoint) ?? [];
    list.push({
      status: fault.status,
      times: fault.times ?? 1,
      error: { reason: fault.reason ?? defaultReason(fault.status), message: fault.message ?? `fake: injected HTTP ${fault.status}`, status: fault.status },
    });
    this.faults.set(endpoint, list);
    return this;
  }

  /** The value of a named query parameter as sent (`undefined` when there is none of that name). */
  static param(request: FakeQueryRequest, name: string): string | number | boolean | null | undefined {
    return request.parameters.find((p) => p.name === name)?.parameterValue.value;
  }

  /** Recorded requests to one endpoint. */
  calls(endpoint: FakeEndpoint): RecordedRequest[] {
    return this.requests.filter((r) => r.endpoint === endpoint);
  }

  /** Forgets requests, jobs, faults and the handler; datasets and tables stay. */
  reset(): void {
    this.requests.length = 0;
    this.queries.length = 0;
    this.jobs.clear();
    this.faults.clear();
    this.handler = (sql) => ({ error: { reason: 'invalidQuery', message: `fake: no query handler for ${sql.slice(0, 80)}` } });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const method = req.method ?? 'GET';
    const path = decodeURIComponent(url.pathname);
    const query = Object.fromEntries(url.searchParams);
    const route = this.route(method, path);
    const record: RecordedRequest = {
      method, path, query, body, endpoint: route.endpoint,
      authorization: typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined, status: 0,
    };
    this.requests.push(record);

    let status: number;
    let payload: unknown;
    const fault = this.takeFault(route.endpoint);
    if (record.authorization !== `Bearer ${this.token}`) {
      [status, payload] = errorResponse({ reason: 'unauthorized', message: 'Request is missing required authentication credential.', status: 401 });
    } else if (fault) {
      [status, payload] = errorResponse(fault.error);
    } else {
      try {
        [status, payload] = route.answer(query, (body ?? {}) as Record<string, unknown>);
      } catch (error) {
        [status, payload] = errorResponse({ reason: 'internalError', message: `fake: ${(error as Error).message}`, status: 500 });
      }
    }
    record.status = status;
    const json = JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }

  private takeFault(endpoint: FakeEndpoint): Fault | undefined {
    const list = this.faults.get(endpoint);
    const fault = list?.[0];
    if (!list || !fault) return undefined;
    fault.times -= 1;
    if (fault.times <= 0) list.shift();
    return fault;
  }

  private route(method: string, path: string): { endpoint: FakeEndpoint; answer: (q: Record<string, string>, b: Record<string, unknown>) => [number, unknown] } {
    const m = /^\/bigquery\/v2\/projects\/([^/]+)(\/.*)$/.exec(path);
    const notFound = { endpoint: 'unknown' as const, answer: (): [number, unknown] => errorResponse({ reason: 'notFound', message: `fake: no route for ${method} ${path}` }) };
    if (!m) return notFound;
    const project = m[1]!;
    const rest = m[2]!;
    let r: RegExpExecArray | null;
    if (method === 'POST' && rest === '/queries') return { endpoint: 'jobs.query', answer: (_q, b) => this.jobsQuery(project, b) };
    if (method === 'GET' && (r = /^\/queries\/([^/]+)$/.exec(rest))) return { endpoint: 'jobs.getQueryResults', answer: (q) => this.getQueryResults(project, r![1]!, q) };
    if (method === 'POST' && rest === '/jobs') return { endpoint: 'jobs.insert', answer: (_q, b) => this.jobsInsert(project, b) };
    if (method === 'GET' && (r = /^\/jobs\/([^/]+)$/.exec(rest))) return { endpoint: 'jobs.get', answer: () => this.jobsGet(project, r![1]!) };
    if (method === 'POST' && (r = /^\/jobs\/([^/]+)\/cancel$/.exec(rest))) return { endpoint: 'jobs.cancel', answer: () => this.jobsCancel(project, r![1]!) };
    if (method === 'GET' && (r = /^\/datasets\/([^/]+)$/.exec(rest))) return { endpoint: 'datasets.get', answer: () => this.datasetsGet(project, r![1]!) };
    if (method === 'GET' && (r = /^\/datasets\/([^/]+)\/tables$/.exec(rest))) return { endpoint: 'tables.list', answer: (q) => this.tablesList(project, r![1]!, q) };
    if (method === 'GET' && (r = /^\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(rest))) return { endpoint: 'tables.get', answer: () => this.tablesGet(project, r![1]!, r![2]!) };
    return notFound;
  }

  // ---- jobs -----------------------------------------------------------------------------------

  private createJob(project: string, jobId: string, location: string | undefined, sql: string, configuration: Record<string, unknown>, request: FakeQueryRequest): FakeJob {
    this.queries.push(request);
    const result = this.handler(sql, request.parameters, request)
      ?? { error: { reason: 'invalidQuery', message: `fake: the handler has no answer for ${sql.slice(0, 80)}` } };
    const job: FakeJob = { projectId: project, jobId, location: location ?? this.location, sql, configuration, result, pollsLeft: result.polls ?? 0 };
    this.jobs.set(jobId, job);
    return job;
  }

  private jobsQuery(project: string, body: Record<string, unknown>): [number, unknown] {
    const sql = String(body.query ?? '');
    const job = this.createJob(project, `job_${randomUUID().replace(/-/g, '')}`, body.location as string | undefined, sql, { query: body }, {
      sql, parameters: (body.queryParameters ?? []) as WireQueryParameter[], parameterMode: body.parameterMode as string | undefined, endpoint: 'jobs.query', body,
    });
    if ('error' in job.result && job.pollsLeft === 0 && !job.result.onlyInJobStatus) return errorResponse(job.result.error);
    if (job.pollsLeft > 0) return [200, { kind: 'bigquery#queryResponse', jobReference: jobReference(job), jobComplete: false }];
    const format = body.formatOptions as { useInt64Timestamp?: boolean } | undefined;
    const maxResults = typeof body.maxResults === 'number' ? body.maxResults : undefined;
    return [200, { kind: 'bigquery#queryResponse', ...this.page(job, 0, maxResults, format?.useInt64Timestamp === true), cacheHit: false, totalBytesProcessed: '0' }];
  }

  private jobsInsert(project: string, body: Record<string, unknown>): [number, unknown] {
    const reference = (body.jobReference ?? {}) as { jobId?: string; location?: string };
    const configuration = (body.configuration ?? {}) as Record<string, unknown>;
    const query = (configuration.query ?? {}) as Record<string, unknown>;
    const jobId = reference.jobId ?? `job_${randomUUID().replace(/-/g, '')}`;
    if (this.jobs.has(jobId)) return errorResponse({ reason: 'duplicate', message: `Already Exists: Job ${project}:${reference.location ?? this.location}.${jobId}` });
    if (typeof query.query !== 'string') return errorResponse({ reason: 'invalid', message: 'fake: only query jobs are supported' });
    const job = this.createJob(project, jobId, reference.location, query.query, configuration, {
      sql: query.query, parameters: (query.queryParameters ?? []) as WireQueryParameter[], parameterMode: query.parameterMode as string | undefined, endpoint: 'jobs.insert', body,
    });
    return [200, jobResource(job)];
  }

  private jobsGet(project: string, jobId: string): [number, unknown] {
    const job = this.jobs.get(jobId);
    if (!job || job.projectId !== project) return errorResponse({ reason: 'notFound', message: `Not found: Job ${project}:${jobId}` });
    if (job.pollsLeft > 0) {
      job.pollsLeft -= 1;
      return [200, { ...jobResource(job), status: { state: 'RUNNING' } }];
    }
    return [200, jobResource(job)];
  }

  /** jobs.cancel: a running job stops with the error BigQuery reports for cancelled jobs; a done one stays done. */
  private jobsCancel(project: string, jobId: string): [number, unknown] {
    const job = this.jobs.get(jobId);
    if (!job || job.projectId !== project) return errorResponse({ reason: 'notFound', message: `Not found: Job ${project}:${jobId}` });
    if (job.pollsLeft > 0) {
      job.pollsLeft = 0;
      job.result = { error: { reason: 'stopped', message: 'Job execution was cancelled: User requested cancellation' } };
      this.cancelledJobs.push(jobId);
    }
    return [200, { kind: 'bigquery#jobCancelResponse', job: jobResource(job) }];
  }

  private getQueryResults(project: string, jobId: string, query: Record<string, string>): [number, unknown] {
    const job = this.jobs.get(jobId);
    if (!job || job.projectId !== project) return errorResponse({ reason: 'notFound', message: `Not found: Job ${project}:${jobId}` });
    if (job.pollsLeft > 0) {
      job.pollsLeft -= 1;
      return [200, { kind: 'bigquery#getQueryResultsResponse', jobReference: jobReference(job), jobComplete: false }];
    }
    // A failed job's results are the job's error, as an HTTP error (a failed script's read as empty).
    if ('error' in job.result && !job.result.onlyInJobStatus) return errorResponse(job.result.error);
    const start = query.pageToken !== undefined ? decodeToken(query.pageToken, jobId) : Number(query.startIndex ?? 0);
    if (start === undefined) return errorResponse({ reason: 'invalid', message: `Invalid page token: ${query.pageToken}` });
    const maxResults = query.maxResults !== undefined ? Number(query.maxResults) : undefined;
    return [200, { kind: 'bigquery#getQueryResultsResponse', etag: 'fake', ...this.page(job, start, maxResults, query['formatOptions.useInt64Timestamp'] === 'true') }];
  }

  private page(job: FakeJob, start: number, maxResults: number | undefined, int64Timestamps: boolean): Record<string, unknown> {
    const { schema, rows } = 'error' in job.result ? { schema: undefined, rows: [] } : job.result;
    const size = Math.max(1, Math.min(maxResults ?? this.defaultPageSize, this.defaultPageSize));
    const slice = rows.slice(start, start + size).map((row) => (int64Timestamps && schema ? timestampsAsMicros(schema.fields, row) : row));
    const end = start + slice.length;
    return {
      jobReference: jobReference(job),
      ...(schema ? { schema } : {}),
      totalRows: String(rows.length),
      // Like the API: no `rows` when there are none, a pageToken while more remain.
      ...(slice.length > 0 ? { rows: slice } : {}),
      ...(end < rows.length ? { pageToken: encodeToken(job.jobId, end) } : {}),
      jobComplete: true,
    };
  }

  // ---- datasets and tables ----------------------------------------------------------------------

  private datasetsGet(project: string, datasetId: string): [number, unknown] {
    const dataset = this.datasets.get(datasetId);
    if (!dataset) return errorResponse({ reason: 'notFound', message: `Not found: Dataset ${project}:${datasetId}` });
    return [200, { kind: 'bigquery#dataset', id: `${project}:${datasetId}`, datasetReference: { projectId: project, datasetId }, location: dataset.location }];
  }

  private tablesList(project: string, datasetId: string, query: Record<string, string>): [number, unknown] {
    const dataset = this.datasets.get(datasetId);
    if (!dataset) return errorResponse({ reason: 'notFound', message: `Not found: Dataset ${project}:${datasetId}` });
    const all = [...dataset.tables.values()].sort((a, b) => (a.table < b.table ? -1 : 1));
    const start = query.pageToken !== undefined ? Number(Buffer.from(query.pageToken, 'base64url').toString()) : 0;
    const size = Math.min(query.maxResults !== undefined ? Number(query.maxResults) : 50, this.listPageSize);
    const slice = all.slice(start, start + size);
    return [200, {
      kind: 'bigquery#tableList',
      etag: 'fake',
      totalItems: all.length,
      ...(slice.length > 0 ? {
        tables: slice.map((t) => ({
          kind: 'bigquery#table', id: `${project}:${datasetId}.${t.table}`,
          tableReference: { projectId: project, datasetId, tableId: t.table }, type: t.type ?? 'TABLE', creationTime: '1700000000000',
        })),
      } : {}),
      ...(start + size < all.length ? { nextPageToken: Buffer.from(String(start + size)).toString('base64url') } : {}),
    }];
  }

  private tablesGet(project: string, datasetId: string, tableId: string): [number, unknown] {
    const dataset = this.datasets.get(datasetId);
    if (!dataset) return errorResponse({ reason: 'notFound', message: `Not found: Dataset ${project}:${datasetId}` });
    const table = dataset.tables.get(tableId);
    if (!table) return errorResponse({ reason: 'notFound', message: `Not found: Table ${project}:${datasetId}.${tableId}` });
    return [200, {
      kind: 'bigquery#table', etag: 'fake', id: `${project}:${datasetId}.${tableId}`,
      tableReference: { projectId: project, datasetId, tableId }, type: table.type ?? 'TABLE',
      schema: table.schema, location: dataset.location, creationTime: '1700000000000', numRows: '0',
      ...(table.tableConstraints ? { tableConstraints: table.tableConstraints } : {}),
    }];
  }
}

// ---- wire helpers ---------------------------------------------------------------------------------

function defaultReason(status: number): string {
  if (status === 429) return 'rateLimitExceeded';
  if (status === 404) return 'notFound';
  if (status >= 500) return 'backendError';
  return 'invalid';
}

/** `[status, {error: {code, message, errors: [{reason, message}], status}}]`, as Google APIs answer. */
export function errorResponse(error: FakeError): [number, unknown] {
  const status = error.status ?? STATUS_FOR_REASON[error.reason] ?? 400;
  return [status, {
    error: {
      code: status,
      message: error.message,
      errors: [{ message: error.message, domain: 'global', reason: error.reason, ...(error.location ? { location: error.location, locationType: 'other' } : {}) }],
      status: STATUS_TEXT[status] ?? 'UNKNOWN',
    },
  }];
}

function jobReference(job: FakeJob) {
  return { projectId: job.projectId, jobId: job.jobId, location: job.location };
}

function jobResource(job: FakeJob) {
  const failed = 'error' in job.result && job.pollsLeft === 0 ? job.result.error : undefined;
  const detail = failed ? { reason: failed.reason, message: failed.message, ...(failed.location ? { location: failed.location } : {}) } : undefined;
  return {
    kind: 'bigquery#job',
    id: `${job.projectId}:${job.location}.${job.jobId}`,
    jobReference: jobReference(job),
    configuration: { jobType: 'QUERY', ...job.configuration },
    status: job.pollsLeft > 0 ? { state: 'RUNNING' } : { state: 'DONE', ...(detail ? { errorResult: detail, errors: [detail] } : {}) },
    statistics: { creationTime: '1700000000000' },
  };
}

const encodeToken = (jobId: string, offset: number) => Buffer.from(`${jobId}:${offset}`).toString('base64url');

function decodeToken(token: string, jobId: string): number | undefined {
  const [id, offset] = Buffer.from(token, 'base64url').toString().split(':');
  return id === jobId && offset !== undefined && /^\d+$/.test(offset) ? Number(offset) : undefined;
}

/** TIMESTAMP cells (float seconds, as the canned rows hold them) → int64 microseconds, through RECORDs and REPEATED fields. */
function timestampsAsMicros(fields: FakeField[], row: WireRow): WireRow {
  return {
    f: row.f.map((cell, i) => {
      const field = fields[i];
      if (!field || cell.v === null) return cell;
      const convert = (v: WireValue): WireValue => {
        if (v === null) return null;
        if (field.type === 'TIMESTAMP' && typeof v === 'string') return floatSecondsToMicros(v);
        if ((field.type === 'RECORD' || field.type === 'STRUCT') && typeof v === 'object' && !Array.isArray(v)) return timestampsAsMicros(field.fields ?? [], v);
        return v;
      };
      if (field.mode === 'REPEATED' && Array.isArray(cell.v)) return { v: cell.v.map((item) => ({ v: convert(item.v) })) };
      return { v: convert(cell.v) };
    }),
  };
}

/** `"1704067200.5"` or `"1.7040672005E9"` → `"1704067200500000"`, exactly (decimal arithmetic, rounded half away from zero). */
export function floatSecondsToMicros(seconds: string): string {
  const m = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(seconds.trim());
  if (!m || (m[2] === '' && !m[3])) throw new Error(`not a TIMESTAMP in float seconds: ${seconds}`);
  const [, sign, int = '', frac = ''] = m;
  const digits = BigInt(`${int}${frac}` || '0');
  const shift = Number(m[4] ?? 0) - frac.length + 6;
  let micros: bigint;
  if (shift >= 0) micros = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    micros = (digits + divisor / 2n) / divisor;
  }
  return `${sign === '-' && micros !== 0n ? '-' : ''}${micros}`;
}

// ---- building rows ----------------------------------------------------------------------------------

/**
 * JS values → wire rows for a schema: numbers, booleans → strings; Dates / ISO strings in
 * TIMESTAMP fields → float seconds; arrays in REPEATED fields → `[{v}]`; objects in RECORD fields
 * → `{f}`. For tests that would rather not spell `{f: [{v: …}]}` by hand.
 */
export function wireRows(schema: FakeSchema, rows: ReadonlyArray<ReadonlyArray<unknown>>): WireRow[] {
  return rows.map((row) => wireRow(schema.fields, row));
}

function wireRow(fields: FakeField[], values: ReadonlyArray<unknown>): WireRow {
  return { f: fields.map((field, i) => ({ v: wireCell(field, values[i]) })) };
}

function wireCell(field: FakeField, value: unknown): WireValue {
  if (value === null || value === undefined) return field.mode === 'REPEATED' ? [] : null;
  if (field.mode === 'REPEATED') {
    if (!Array.isArray(value)) throw new Error(`field ${field.name} is REPEATED: give an array`);
    return value.map((item) => ({ v: wireCell({ ...field, mode: 'NULLABLE' }, item) }));
  }
  if (field.type === 'RECORD' || field.type === 'STRUCT') {
    const sub = field.fields ?? [];
    const record = value as Record<string, unknown>;
    return wireRow(sub, sub.map((f) => record[f.name]));
  }
  if (field.type === 'TIMESTAMP') {
    if (typeof value === 'string' && !/^-?[\d.]+(?:[eE][-+]?\d+)?$/.test(value)) {
      const ms = Date.parse(value);
      if (Number.isNaN(ms)) throw new Error(`field ${field.name}: not a timestamp: ${value}`);
      const micros = value.match(/\.\d{3}(\d{1,3})/)?.[1]?.padEnd(3, '0') ?? '';
      return `${Math.floor(ms / 1000)}.${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}${micros}`;
    }
    if (value instanceof Date) return String(value.getTime() / 1000);
  }
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// ---- auth ---------------------------------------------------------------------------------------------

/**
 * The auth client a BigQuery client needs in tests: google-auth-library's GoogleAuth, given an
 * `authClient`, asks it for nothing but `getRequestHeaders()` (for `authorizeRequest`) and never
 * looks for Application Default Credentials or the GCE metadata server. The rest of the
 * AuthClient surface the library could reach is here too, failing loudly if ever used.
 */
export interface FakeAuthClient {
  readonly token: string;
  /** getRequestHeaders calls so far. */
  readonly headerRequests: number;
  getRequestHeaders(url?: string | URL): Promise<Headers>;
  getAccessToken(): Promise<{ token: string; res: null }>;
  request(options: unknown): Promise<never>;
  getProjectId(): Promise<string>;
}

export function fakeAuthClient(token = 'fake', projectId = 'fake-project'): FakeAuthClient {
  let headerRequests = 0;
  return {
    token,
    get headerRequests() {
      return headerRequests;
    },
    async getRequestHeaders() {
      headerRequests += 1;
      // google-auth-library 10's AuthClient contract: a fetch Headers object.
      return new Headers({ authorization: `Bearer ${token}` });
    },
    async getAccessToken() {
      return { token, res: null };
    },
    async request(): Promise<never> {
      throw new Error('fakeAuthClient.request(): the BigQuery client was not expected to send requests through its auth client');
    },
    async getProjectId() {
      return projectId;
    },
  };
}
