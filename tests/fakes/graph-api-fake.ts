import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback fake of the Graph API (Marketing API, custom audiences), speaking the wire protocol
 * `facebook-nodejs-business-sdk` uses:
 *
 *   GET    /{version}/act_{id}?fields=…                 ad account read
 *   POST   /{version}/act_{id}/customaudiences          create CUSTOM or LOOKALIKE audience
 *   GET    /{version}/{audience_id}?fields=…            audience read
 *   POST   /{version}/{audience_id}/users               add members   (payload, session)
 *   DELETE /{version}/{audience_id}/users               remove members (payload, session)
 *
 * The token is accepted as the `access_token` query parameter (the SDK puts it in every URL), a
 * body field, or an `Authorization: Bearer|OAuth` header. Bodies are parsed as JSON (the SDK's
 * axios sends JSON) or form-encoded (`payload=<json>` as in Meta's curl examples); JSON-valued
 * form fields are decoded. When the fake has an app secret, `appsecret_proof` is required.
 *
 * Errors are Graph error bodies `{error: {message, type, code, error_subcode, fbtrace_id}}`.
 * Limits enforced: ≤ 10,000 rows per /users request (code 100), schema/data width (code 100),
 * hashed columns must be 64-hex (or empty) else the row is an invalid entry (counted, sampled in
 * `invalid_entry_samples` as `{<value>: <reason>}`), lookalike seeds need ≥ 100 members (code
 * 2654), removal may be refused below a minimum size (200/1870047), flagged audiences (471)
 * refuse /users (100/1713230).
 *
 * Every request is recorded (method, path, parsed query and body, URL and body sizes). Faults can
 * be queued per endpoint: rate limits with usage headers, 5xx, flagged, ToS, token expired, hangs.
 */

export type GraphEndpoint =
  | 'account.read' | 'audiences.create' | 'audience.read' | 'users.add' | 'users.remove' | 'audience.delete' | 'unknown';

export interface GraphRecordedRequest {
  endpoint: GraphEndpoint;
  method: string;
  /** Path including the version, e.g. `/v24.0/123/users`. */
  path: string;
  version: string;
  /** The node or edge after the version, e.g. `123/users`. */
  node: string;
  query: Record<string, string>;
  /** Body parameters, JSON-valued fields decoded. */
  body: Record<string, unknown>;
  contentType?: string;
  /** Length of the request URL (path + query). */
  urlLength: number;
  bodyLength: number;
  /** Where the token came from. */
  tokenIn?: 'query' | 'body' | 'header';
  headers: http.IncomingHttpHeaders;
}

export type GraphFault =
  /** Code 17 / 4 / 613 / 80003 / 32, with the usage header for its kind. */
  | { kind: 'rate_limit'; code?: 4 | 17 | 32 | 613 | 80003; regainMinutes?: number; status?: number; subcode?: number }
  | { kind: 'server_error'; status?: number; code?: number; message?: string }
  | { kind: 'flagged' }
  | { kind: 'tos_not_accepted'; subcode?: number }
  | { kind: 'token_expired'; echoToken?: boolean }
  | { kind: 'permission' }
  | { kind: 'too_small_to_remove' }
  | { kind: 'update_failed'; transient?: boolean }
  | { kind: 'invalid_parameter'; message?: string }
  | { kind: 'non_json'; status?: number }
  /** Holds the request for `ms` milliseconds, then handles it normally. */
  | { kind: 'hang'; ms: number }
  | { kind: 'raw'; status: number; error: Record<string, unknown>; headers?: Record<string, string> };

export interface FakeAdAccount {
  id: string;
  name: string;
  currency: string;
  account_status: number;
  tos_accepted: Record<string, number>;
}

export interface FakeAudience {
  id: string;
  account_id: string;
  name: string;
  description?: string;
  subtype: 'CUSTOM' | 'LOOKALIKE' | 'WEBSITE' | string;
  customer_file_source?: string;
  origin_audience_id?: string;
  lookalike_spec?: unknown;
  operation_status: { code: number; description: string };
  delivery_status: { code: number; description: string };
  /** Members as canonical JSON of `{KEY: value}` (empty values dropped). */
  members: Set<string>;
  sessions: Map<string, FakeSession>;
}

export interface FakeSession {
  batches: number[];
  lastBatchSeen: boolean;
  estimatedTotal?: number;
  received: number;
  invalid: number;
}

const HASHED_KEYS = new Set(['EMAIL', 'PHONE', 'FN', 'LN', 'FI', 'CT', 'ST', 'ZIP', 'COUNTRY', 'DOBY', 'DOBM', 'DOBD', 'GEN']);
const CLEAR_KEYS = new Set(['MADID', 'EXTERN_ID']);
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_ROWS = 10_000;

interface QueuedFault {
  endpoint: GraphEndpoint | '*';
  fault: GraphFault;
  remaining: number;
}

class GraphError extends Error {
  readonly body: Record<string, unknown>;
  constructor(
    readonly status: number,
    /** The error object, or a whole `{error: …}` body. */
    body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    const inner = body.error && typeof body.error === 'object' ? (body.error as Record<string, unknown>) : body;
    super(String(inner.message));
    this.body = inner;
  }
}

export class GraphApiFake {
  readonly requests: GraphRecordedRequest[] = [];
  readonly accounts = new Map<string, FakeAdAccount>();
  readonly audiences = new Map<string, FakeAudience>();
  /** Tokens the fake accepts (empty: any token). */
  readonly validTokens = new Set<string>();
  readonly expiredTokens = new Set<string>();
  /** When set, every call must carry `appsecret_proof` = HMAC-SHA256(token, appSecret). */
  appSecret: string | undefined;
  /** Removal refused (200/1870047) when it would leave fewer members than this. 0 = never. */
  minimumSizeAfterRemoval = 0;
  /** The version prefix the fake serves. */
  version = 'v24.0';
  /**
   * Called with every request once it is recorded, before a queued fault is taken: a test can
   * inject a fault (or change state) at a precise point of a run, e.g. on its second batch.
   */
  onRequest: ((request: GraphRecordedRequest) => void) | undefined;

  private server: http.Server | undefined;
  private faults: QueuedFault[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextId = 23850000000000000n;
  url = '';

  /** Starts on 127.0.0.1, random port. */
  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  // ---------------------------------------------------------------- state set-up and inspection

  addAccount(account: Partial<FakeAdAccount> & { id: string }): FakeAdAccount {
    const full: FakeAdAccount = {
      name: 'Fake account',
      currency: 'USD',
      account_status: 1,
      tos_accepted: { custom_audience_tos: 1, web_custom_audience_tos: 1 },
      ...account,
    };
    this.accounts.set(full.id, full);
    return full;
  }

  /** Creates an audience directly (e.g. one to adopt). */
  addAudience(audience: Partial<FakeAudience> & { account_id: string }): FakeAudience {
    const full: FakeAudience = {
      id: this.newId(),
      name: 'Existing audience',
      subtype: 'CUSTOM',
      customer_file_source: 'USER_PROVIDED_ONLY',
      operation_status: { code: 200, description: 'Normal' },
      delivery_status: { code: 200, description: 'This audience is ready for use.' },
      members: new Set(),
      sessions: new Map(),
      ...audience,
    };
    this.audiences.set(full.id, full);
    return full;
  }

  audience(id: string): FakeAudience {
    const audience = this.audiences.get(id);
    if (!audience) throw new Error(`fake: no audience ${id}`);
    return audience;
  }

  /** Marks an audience flagged (operation_status 471): /users answers 100/1713230. */
  flagAudience(id: string): void {
    this.audience(id).operation_status = {
      code: 471,
      description:
        "The custom audience or lookalike is blocked because it suggests the use of information (e.g., health, financial) not allowed under Meta's terms, and is restricted from running ads.",
    };
  }

  /** Canonical member key for a row, as the fake stores it. */
  static memberKey(schema: string[], row: string[]): string {
    const entries = schema.map((key, i) => [key, row[i] ?? ''] as const).filter(([, v]) => v !== '');
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify(Object.fromEntries(entries));
  }

  requestsTo(endpoint: GraphEndpoint): GraphRecordedRequest[] {
    return this.requests.filter((r) => r.endpoint === endpoint);
  }

  /** Queues a fault for the next `times` requests to `endpoint` ('*' = any). */
  inject(endpoint: GraphEndpoint | '*', fault: GraphFault, times = 1): void {
    this.faults.push({ endpoint, fault, remaining: times });
  }

  clearFaults(): void {
    this.faults = [];
  }

  private newId(): string {
    this.nextId += 1n;
    return this.nextId.toString();
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentType = req.headers['content-type'];
    const query = Object.fromEntries(url.searchParams);
    let body: Record<string, unknown> = {};
    try {
      body = parseBody(raw, contentType);
    } catch {
      return this.send(res, 400, errorBody('(#100) Could not parse the request body', 100));
    }
    const match = /^\/(v[0-9]+\.[0-9]+)\/(.*)$/.exec(url.pathname);
    const version = match?.[1] ?? '';
    const node = match?.[2]?.replace(/\/+$/, '') ?? '';
    const endpoint = classify(method, node);
    const headerToken = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const token = query.access_token ?? (typeof body.access_token === 'string' ? body.access_token : undefined) ?? headerToken;
    const tokenIn = query.access_token ? 'query' : typeof body.access_token === 'string' ? 'body' : headerToken ? 'header' : undefined;
    this.requests.push({
      endpoint, method, path: url.pathname, version, node, query, body,
      ...(contentType ? { contentType } : {}),
      urlLength: (req.url ?? '').length,
      bodyLength: Buffer.byteLength(raw),
      ...(tokenIn ? { tokenIn } : {}),
      headers: req.headers,
    });
    this.onRequest?.(this.requests[this.requests.length - 1]!);

    try {
      const fault = this.takeFault(endpoint);
      if (fault?.kind === 'hang') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            resolve();
          }, fault.ms);
          this.timers.add(timer);
        });
        if (res.destroyed || req.socket.destroyed) return;
      } else if (fault) {
        return this.sendFault(res, fault, token, node);
      }
      if (version !== this.version) throw new GraphError(400, errorBody(`Unknown path components: /${version}`, 2500));
      this.authenticate(token, body.appsecret_proof ?? query.appsecret_proof);
      // Graph reads parameters from the query string and the body alike (the SDK sends DELETE
      // parameters in the query string).
      const params = { ...decodeJsonFields(query), ...body };
      const result = this.route(endpoint, node, query, params);
      this.send(res, 200, result);
    } catch (err) {
      if (err instanceof GraphError) return this.send(res, err.status, { error: err.body }, err.headers);
      this.send(res, 500, errorBody(`fake: ${(err as Error).message}`, 1));
    }
  }

  private takeFault(endpoint: GraphEndpoint): GraphFault | undefined {
    const queued = this.faults.find((f) => f.endpoint === endpoint || f.endpoint === '*');
    if (!queued) return undefined;
    queued.remaining -= 1;
    if (queued.remaining <= 0) this.faults.splice(this.faults.indexOf(queued), 1);
    return queued.fault;
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
      'facebook-api-version': this.version,
      'x-fb-trace-id': randomUUID().slice(0, 11),
      ...headers,
    });
    res.end(text);
  }

  private sendFault(res: http.ServerResponse, fault: GraphFault, token: string | undefined, node: string): void {
    const accountDigits = /^act_([0-9]+)/.exec(node)?.[1] ?? [...this.accounts.keys()][0]?.replace(/^act_/, '') ?? '0';
    switch (fault.kind) {
      case 'rate_limit': {
        const code = fault.code ?? 17;
        const minutes = fault.regainMinutes ?? 0;
        const headers: Record<string, string> = {
          'x-business-use-case-usage': JSON.stringify({
            [accountDigits]: [{ type: code === 80003 ? 'custom_audience' : 'ads_management', call_count: 100, total_cputime: 34, total_time: 41, estimated_time_to_regain_access: minutes }],
          }),
        };
        if (code === 4) headers['x-app-usage'] = JSON.stringify({ call_count: 100, total_cputime: 20, total_time: 25 });
        if (code === 613) headers['x-ad-account-usage'] = JSON.stringify({ acc_id_util_pct: 100, reset_time_duration: 0, ads_api_access_tier: 'standard_access' });
        const messages: Record<number, string> = {
          4: '(#4) Application request limit reached',
          17: '(#17) User request limit reached',
          32: '(#32) Page request limit reached',
          613: '(#613) Calls to this api have exceeded the rate limit.',
          80003: "(#80003) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#custom-audience.",
        };
        return this.send(res, fault.status ?? 400, errorBody(messages[code] ?? 'rate limited', code, fault.subcode, { is_transient: true }), headers);
      }
      case 'server_error':
        return this.send(res, fault.status ?? 500, errorBody(fault.message ?? 'An unexpected error has occurred. Please retry your request later.', fault.code ?? 2, undefined, { is_transient: true }));
      case 'flagged':
        return this.send(res, 400, flaggedBody());
      case 'tos_not_accepted':
        return this.send(res, 400, errorBody('Permissions error', 200, fault.subcode ?? 1870034, {
          error_user_title: 'Custom Audience Terms Not Accepted',
          error_user_msg: "You'll need to agree to the Custom Audience terms before you can create or edit an audience or an ad set.",
        }));
      case 'token_expired':
        return this.send(res, 400, errorBody(
          `Error validating access token: Session has expired on Tuesday, 01-Dec-26 10:00:00 PST.${fault.echoToken && token ? ` (token ${token})` : ''}`,
          190, 463, { type: 'OAuthException' }));
      case 'permission':
        return this.send(res, 403, errorBody('(#10) Application does not have permission for this action', 10));
      case 'too_small_to_remove':
        return this.send(res, 400, tooSmallBody());
      case 'update_failed':
        return this.send(res, 400, errorBody(
          '(#2650) Failed to update the custom audience: This audience was created from data source FILE_IMPORTED.MULTI_HASHES, which does not support data source FILE_IMPORTED.HASHES_OR_USER_IDS.',
          2650, undefined, { is_transient: fault.transient ?? false }));
      case 'invalid_parameter':
        return this.send(res, 400, errorBody(fault.message ?? '(#100) Invalid parameter', 100));
      case 'non_json': {
        if (res.destroyed) return;
        const html = '<!DOCTYPE html><html><head><title>Facebook | Error</title></head><body>Sorry, something went wrong.</body></html>';
        res.writeHead(fault.status ?? 502, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
        res.end(html);
        return;
      }
      case 'raw':
        return this.send(res, fault.status, { error: fault.error }, fault.headers);
      case 'hang':
        return;
    }
  }

  private authenticate(token: string | undefined, proof: unknown): void {
    if (!token) throw new GraphError(400, errorBody('An access token is required to request this resource.', 104, undefined, { type: 'OAuthException' }));
    if (this.expiredTokens.has(token)) {
      throw new GraphError(400, errorBody('Error validating access token: Session has expired.', 190, 463, { type: 'OAuthException' }));
    }
    if (this.validTokens.size > 0 && !this.validTokens.has(token)) {
      throw new GraphError(400, errorBody('Invalid OAuth access token - Cannot parse access token', 190, undefined, { type: 'OAuthException' }));
    }
    if (this.appSecret) {
      const expected = createHmac('sha256', this.appSecret).update(token).digest('hex');
      if (proof !== expected) {
        throw new GraphError(400, errorBody('Invalid appsecret_proof provided in the API argument', 100, undefined, { type: 'GraphMethodException' }));
      }
    }
  }

  // ---------------------------------------------------------------- Graph semantics

  private route(endpoint: GraphEndpoint, node: string, query: Record<string, string>, body: Record<string, unknown>): unknown {
    const [first = '', edge] = node.split('/');
    switch (endpoint) {
      case 'account.read': {
        const account = this.accounts.get(first);
        if (!account) throw notFound(first, 'get');
        return pick({ ...account, account_id: first.replace(/^act_/, '') }, query.fields);
      }
      case 'audiences.create':
        return this.createAudience(first, body);
      case 'audience.read': {
        const audience = this.audiences.get(first);
        if (!audience) throw notFound(first, 'get');
        return pick(this.audienceView(audience), query.fields);
      }
      case 'users.add':
      case 'users.remove':
        return this.users(endpoint, first, body);
      case 'audience.delete': {
        if (!this.audiences.delete(first)) throw notFound(first, 'delete');
        return { success: true };
      }
      default:
        throw new GraphError(400, errorBody(`Unsupported request: ${edge ?? first}`, 100, 33));
    }
  }

  private audienceView(a: FakeAudience): Record<string, unknown> {
    const size = a.subtype === 'LOOKALIKE' ? 2_000_000 : a.members.size;
    return {
      id: a.id,
      account_id: a.account_id,
      name: a.name,
      ...(a.description !== undefined ? { description: a.description } : {}),
      subtype: a.subtype,
      ...(a.customer_file_source ? { customer_file_source: a.customer_file_source } : {}),
      ...(a.origin_audience_id ? { origin_audience_id: a.origin_audience_id } : {}),
      ...(a.lookalike_spec !== undefined ? { lookalike_spec: a.lookalike_spec } : {}),
      // Meta reports a range, and -1 while an audience is too small to size.
      approximate_count_lower_bound: size < 1000 ? -1 : Math.floor(size * 0.9),
      approximate_count_upper_bound: size < 1000 ? -1 : Math.ceil(size * 1.1),
      operation_status: a.operation_status,
      delivery_status: a.delivery_status,
    };
  }

  private createAudience(accountNode: string, body: Record<string, unknown>): unknown {
    const account = this.accounts.get(accountNode);
    if (!account) throw notFound(accountNode, 'post');
    if (account.tos_accepted.custom_audience_tos !== 1) {
      throw new GraphError(400, errorBody('Permissions error', 200, 1870034, {
        error_user_title: 'Custom Audience Terms Not Accepted',
        error_user_msg: "You'll need to agree to the Custom Audience terms before you can create or edit an audience or an ad set.",
      }));
    }
    const name = body.name;
    if (typeof name !== 'string' || name === '') throw invalidParam('(#100) The parameter name is required');
    const subtype = body.subtype;
    const accountId = accountNode.replace(/^act_/, '');
    if (subtype === 'CUSTOM') {
      const source = body.customer_file_source;
      if (!['USER_PROVIDED_ONLY', 'PARTNER_PROVIDED_ONLY', 'BOTH_USER_AND_PARTNER_PROVIDED'].includes(String(source))) {
        throw invalidParam('(#100) customer_file_source must be one of {USER_PROVIDED_ONLY, PARTNER_PROVIDED_ONLY, BOTH_USER_AND_PARTNER_PROVIDED}');
      }
      const audience = this.addAudience({
        account_id: accountId,
        name,
        subtype: 'CUSTOM',
        customer_file_source: String(source),
        ...(typeof body.description === 'string' ? { description: body.description } : {}),
        delivery_status: { code: 300, description: 'This audience is too small to use.' },
      });
      return { id: audience.id };
    }
    if (subtype === 'LOOKALIKE') {
      const originId = String(body.origin_audience_id ?? '');
      const origin = this.audiences.get(originId);
      if (!origin || origin.account_id !== accountId) throw invalidParam(`(#100) Invalid origin_audience_id: ${originId}`);
      const spec = body.lookalike_spec;
      if (!spec || typeof spec !== 'object') throw invalidParam('(#100) lookalike_spec must be a JSON object');
      const s = spec as Record<string, unknown>;
      if ((s.ratio === undefined) === (s.type === undefined)) throw invalidParam('(#100) lookalike_spec: set either ratio or type');
      if (s.ratio !== undefined) {
        const ratio = Number(s.ratio);
        if (!(ratio >= 0.01 && ratio <= 0.2)) throw invalidParam('(#100) lookalike_spec.ratio must be between 0.01 and 0.20');
        if (s.starting_ratio !== undefined && !(Number(s.starting_ratio) < ratio)) throw invalidParam('(#100) starting_ratio must be less than ratio');
      }
      if ((s.country === undefined) === (s.location_spec === undefined)) throw invalidParam('(#100) lookalike_spec: set either country or location_spec');
      if (origin.members.size < 100) {
        throw new GraphError(400, errorBody(
          '(#2654) Failed to create custom audience: Source audience too small',
          2654, undefined, {
            error_user_title: 'Source Audience Is Too Small',
            error_user_msg: 'The source audience you selected is too small. Choose a source audience with at least 100 people from a single country.',
          }));
      }
      const audience = this.addAudience({
        account_id: accountId,
        name,
        subtype: 'LOOKALIKE',
        origin_audience_id: originId,
        lookalike_spec: s,
        operation_status: { code: 200, description: 'Normal' },
        delivery_status: { code: 200, description: 'This audience is ready for use.' },
      });
      delete audience.customer_file_source;
      return { id: audience.id };
    }
    throw invalidParam(`(#100) Unsupported subtype: ${String(subtype)}`);
  }

  private users(endpoint: 'users.add' | 'users.remove', audienceId: string, body: Record<string, unknown>): unknown {
    const audience = this.audiences.get(audienceId);
    if (!audience) throw notFound(audienceId, endpoint === 'users.add' ? 'post' : 'delete');
    if (audience.subtype !== 'CUSTOM') {
      throw new GraphError(400, errorBody(`(#2650) Failed to update the custom audience: this audience is a ${audience.subtype} audience`, 2650));
    }
    if (audience.operation_status.code === 471) throw new GraphError(400, flaggedBody().error);
    const payload = body.payload;
    if (!payload || typeof payload !== 'object') throw invalidParam('(#100) param payload must be a JSON object');
    const p = payload as { schema?: unknown; data?: unknown };
    const schema = typeof p.schema === 'string' ? [p.schema] : p.schema;
    if (!Array.isArray(schema) || schema.length === 0 || !schema.every((k) => typeof k === 'string' && (HASHED_KEYS.has(k) || CLEAR_KEYS.has(k)))) {
      throw invalidParam('(#100) Invalid schema: supported keys are EXTERN_ID, EMAIL, PHONE, GEN, DOBY, DOBM, DOBD, LN, FN, FI, CT, ST, ZIP, MADID, COUNTRY');
    }
    if (!Array.isArray(p.data)) throw invalidParam('(#100) payload.data must be an array');
    const rows = p.data as unknown[];
    if (rows.length > MAX_ROWS) throw invalidParam(`(#100) Too many entries in payload.data: ${rows.length} (at most ${MAX_ROWS} per request)`);
    for (const row of rows) {
      if (!Array.isArray(row) || row.length !== schema.length) throw invalidParam('(#100) Data is missing or does not match schema');
    }
    const session = this.session(audience, body.session);

    let invalid = 0;
    const samples: Record<string, string> = {};
    const keys: string[] = [];
    for (const row of rows as unknown[][]) {
      const values = row.map((v) => (v === null || v === undefined ? '' : String(v)));
      const bad = values.findIndex((v, i) => v !== '' && HASHED_KEYS.has(schema[i] as string) && !HEX64.test(v));
      if (bad >= 0 || values.every((v) => v === '')) {
        invalid += 1;
        const sample = bad >= 0 ? values[bad]! : JSON.stringify(values);
        if (Object.keys(samples).length < 10) samples[sample] = bad >= 0 ? `Invalid ${String(schema[bad])}: not a SHA-256 hex hash` : 'Empty row';
        continue;
      }
      keys.push(GraphApiFake.memberKey(schema as string[], values));
    }
    if (endpoint === 'users.remove' && this.minimumSizeAfterRemoval > 0) {
      const after = [...audience.members].filter((m) => !keys.includes(m)).length;
      if (after < this.minimumSizeAfterRemoval) throw new GraphError(400, tooSmallBody().error);
    }
    for (const key of keys) {
      if (endpoint === 'users.add') audience.members.add(key);
      else audience.members.delete(key);
    }
    if (session) {
      session.received += rows.length;
      session.invalid += invalid;
    }
    return {
      audience_id: audience.id,
      session_id: session ? sessionIdOf(body.session) : this.newId(),
      num_received: rows.length,
      num_invalid_entries: invalid,
      invalid_entry_samples: samples,
    };
  }

  private session(audience: FakeAudience, raw: unknown): FakeSession | undefined {
    if (raw === undefined) return undefined;
    if (!raw || typeof raw !== 'object') throw invalidParam('(#100) param session must be a JSON object');
    const s = raw as Record<string, unknown>;
    const id = sessionIdOf(s);
    if (!id || !/^[0-9]+$/.test(id)) throw invalidParam('(#100) session.session_id must be a 64-bit integer');
    const seq = s.batch_seq;
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) throw invalidParam('(#100) session.batch_seq must be an integer starting at 1');
    if (typeof s.last_batch_flag !== 'boolean') throw invalidParam('(#100) session.last_batch_flag must be a boolean');
    let session = audience.sessions.get(id);
    if (!session) {
      session = { batches: [], lastBatchSeen: false, received: 0, invalid: 0 };
      audience.sessions.set(id, session);
    }
    session.batches.push(seq);
    if (s.last_batch_flag) session.lastBatchSeen = true;
    if (typeof s.estimated_num_total === 'number') session.estimatedTotal = s.estimated_num_total;
    return session;
  }
}

function sessionIdOf(raw: unknown): string {
  const id = raw && typeof raw === 'object' ? (raw as { session_id?: unknown }).session_id : undefined;
  return typeof id === 'number' || typeof id === 'string' ? String(id) : '';
}

function classify(method: string, node: string): GraphEndpoint {
  const parts = node.split('/');
  if (parts.length === 1 && /^act_[0-9]+$/.test(parts[0]!) && method === 'GET') return 'account.read';
  if (parts.length === 2 && /^act_[0-9]+$/.test(parts[0]!) && parts[1] === 'customaudiences' && method === 'POST') return 'audiences.create';
  if (parts.length === 1 && /^[0-9]+$/.test(parts[0]!)) {
    if (method === 'GET') return 'audience.read';
    if (method === 'DELETE') return 'audience.delete';
  }
  if (parts.length === 2 && /^[0-9]+$/.test(parts[0]!) && parts[1] === 'users') {
    if (method === 'POST') return 'users.add';
    if (method === 'DELETE') return 'users.remove';
  }
  return 'unknown';
}

const JSON_FIELDS = new Set(['payload', 'session', 'lookalike_spec']);

function parseBody(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (raw === '') return {};
  if (contentType?.includes('application/json')) {
    const parsed = JSON.parse(raw) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('body is not an object');
    return decodeJsonFields(parsed as Record<string, unknown>);
  }
  return decodeJsonFields(Object.fromEntries(new URLSearchParams(raw)));
}

/** Graph accepts JSON-valued parameters as JSON strings (form bodies, or strings inside JSON bodies). */
function decodeJsonFields(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const key of JSON_FIELDS) {
    const value = out[key];
    if (typeof value === 'string') {
      try {
        out[key] = JSON.parse(value) as unknown;
      } catch {
        // leave as is: the handler reports it
      }
    }
  }
  return out;
}

function pick(object: Record<string, unknown>, fields: string | undefined): Record<string, unknown> {
  if (!fields) return { id: object.id };
  const wanted = new Set(['id', ...fields.split(',').map((f) => f.trim())]);
  return Object.fromEntries(Object.entries(object).filter(([k]) => wanted.has(k)));
}

function errorBody(message: string, code: number, subcode?: number, extra: Record<string, unknown> = {}): { error: Record<string, unknown> } {
  return {
    error: {
      message,
      type: extra.type ?? 'OAuthException',
      code,
      ...(subcode !== undefined ? { error_subcode: subcode } : {}),
      ...extra,
      fbtrace_id: `A${randomUUID().replaceAll('-', '').slice(0, 22)}`,
    },
  };
}

function flaggedBody() {
  return errorBody('Invalid parameter', 100, 1713230, {
    error_user_title: 'Audience Upload Blocked',
    error_user_msg:
      'Before updating user memberships, you must resolve integrity restrictions on this Data File Custom Audience. Go to Audience Manager to appeal the restrictions or create a new audience with updated data',
  });
}

function tooSmallBody() {
  return errorBody('Permissions error', 200, 1870047, {
    is_transient: false,
    error_user_title: 'Audience Size too Low',
    error_user_msg: 'You cannot remove users from this audience because it will result in a low audience size.',
  });
}

function invalidParam(message: string): GraphError {
  return new GraphError(400, errorBody(message, 100).error);
}

function notFound(id: string, verb: string): GraphError {
  return new GraphError(
    400,
    errorBody(
      `Unsupported ${verb} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      100, 33, { type: 'GraphMethodException' },
    ).error,
  );
}
