import { createHash, createHmac } from 'node:crypto';
import { AdAccount, CustomAudience, type FacebookAdsApi } from 'facebook-nodejs-business-sdk';
import { invalidRequest, unprocessable, type ProblemDetail } from '../../errors';
import {
  DestinationError,
  type AudienceStats,
  type BatchContext,
  type BatchResult,
  type ConnectionCheck,
  type Destination,
  type DestinationEndpoints,
  type DestinationKind,
  type EnsureAudienceInput,
  type LookalikeInput,
  type PreparedMember,
  type RemoteAudience,
  type RemoteLookalike,
} from '../destination';
import { classifyGraphFailure, failureFromSdkError, scrub, type GraphErrorBody, type GraphFailure } from './errors';
import { DEFAULT_GRAPH_URL, newGraphApi, runWithGraph } from './graph-seam';
import { buildUsersPayload, parseInvalidSamples, rejectionsFromSamples } from './payload';
import {
  META_DEFAULT_API_VERSION,
  META_DEFAULT_REQUEST_TIMEOUT_MS,
  MetaCustomAudienceConfigSchema,
  MetaCustomAudienceCredentialsSchema,
  type MetaCustomAudienceConfig,
  type MetaCustomAudienceCredentials,
 META_KIND_DESCRIPTION } from './schemas';

/** Meta takes at most 10,000 rows per `/users` request. */
export const META_MAX_ROWS_PER_REQUEST = 10_000;
/** A lookalike seed needs at least this many people in one country. */
export const META_MIN_LOOKALIKE_SEED = 100;

const ACCOUNT_STATUS: Record<number, string> = {
  1: 'ACTIVE', 2: 'DISABLED', 3: 'UNSETTLED', 7: 'PENDING_RISK_REVIEW', 8: 'PENDING_SETTLEMENT',
  9: 'IN_GRACE_PERIOD', 100: 'PENDING_CLOSURE', 101: 'CLOSED', 201: 'ANY_ACTIVE', 202: 'ANY_CLOSED',
};
const UNUSABLE_ACCOUNT_STATUS = new Set([2, 100, 101, 202]);

type Status = { code: number | string; description?: string };
type Json = Record<string, unknown>;

const asStatus = (value: unknown): Status | undefined => {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as { code?: unknown; description?: unknown };
  if (typeof v.code !== 'number' && typeof v.code !== 'string') return undefined;
  return { code: v.code, ...(typeof v.description === 'string' ? { description: v.description } : {}) };
};
const num = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};
const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/**
 * Meta wants `session_id` as a 64-bit integer unique within the ad account; our sessions have
 * string ids (UUIDs). Numeric ids pass through; others map to a stable positive 52-bit integer
 * (same session id → same Meta session, so retried batches stay in their session).
 */
export function metaSessionId(id: string): number | string {
  if (/^[1-9][0-9]{0,17}$/.test(id)) return Number.isSafeInteger(Number(id)) ? Number(id) : id;
  return Number.parseInt(createHash('sha256').update(id).digest('hex').slice(0, 13), 16) + 1;
}

interface GraphCallOptions {
  signal?: AbortSignal;
  /** Lets an operation map a specific failure itself (e.g. a lookalike seed that is too small). */
  override?: (failure: GraphFailure) => Error | undefined;
}

export class MetaCustomAudienceDestination implements Destination {
  readonly kind = 'meta_custom_audience';
  readonly platform = 'meta' as const;
  readonly limits = { maxBatchSize: META_MAX_ROWS_PER_REQUEST, maxConcurrency: 1, requestsPerSecond: 10 };

  private readonly api: FacebookAdsApi;
  private readonly adAccountId: string;
  private readonly version: string;
  private readonly baseUrl: string;
  private readonly customerFileSource: string;
  private readonly timeoutMs: number;
  private readonly accessToken: string;
  private readonly appSecret: string | undefined;
  private readonly appSecretProof: string | undefined;

  constructor(config: MetaCustomAudienceConfig, credentials: MetaCustomAudienceCredentials, endpoints?: DestinationEndpoints) {
    if (!/^act_[0-9]+$/.test(config.adAccountId)) {
      throw invalidRequest('adAccountId must look like act_<digits>', [{ pointer: '/config/adAccountId', message: 'must match ^act_[0-9]+$' }]);
    }
    if (!credentials.accessToken) {
      throw invalidRequest('an access token is required', [{ pointer: '/credentials/accessToken', message: 'required' }]);
    }
    this.adAccountId = config.adAccountId;
    this.version = config.apiVersion ?? META_DEFAULT_API_VERSION;
    this.customerFileSource = config.customerFileSource ?? 'USER_PROVIDED_ONLY';
    this.timeoutMs = config.requestTimeoutMs ?? META_DEFAULT_REQUEST_TIMEOUT_MS;
    this.baseUrl = (endpoints?.metaGraphUrl ?? DEFAULT_GRAPH_URL).replace(/\/+$/, '');
    this.accessToken = credentials.accessToken;
    this.appSecret = credentials.appSecret;
    this.appSecretProof = credentials.appSecret
      ? createHmac('sha256', credentials.appSecret).update(credentials.accessToken).digest('hex')
      : undefined;
    this.api = newGraphApi(credentials.accessToken);
  }

  private get accountDigits(): string {
    return this.adAccountId.slice('act_'.length);
  }

  /** Parameters every call carries besides the token (which the SDK adds to the URL). */
  private auth(): Json {
    return this.appSecretProof ? { appsecret_proof: this.appSecretProof } : {};
  }

  private secrets(): Array<string | undefined> {
    return [this.accessToken, this.appSecret, this.appSecretProof];
  }

  /**
   * Runs one Graph call against our endpoint, with our timeout and the caller's signal, and
   * turns whatever fails into a `DestinationError` with no secrets in it.
   */
  private async graph<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>, options: GraphCallOptions = {}): Promise<T> {
    const { signal } = options;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    if (signal?.aborted) {
      throw new DestinationError('retryable', `Meta: ${operation} was cancelled before it started.`, { platform: 'meta', code: 'aborted' });
    }
    try {
      return await runWithGraph({ baseUrl: this.baseUrl, version: this.version, signal: combined }, () => fn(combined));
    } catch (err) {
      if (err instanceof DestinationError) throw err;
      if (signal?.aborted) {
        throw new DestinationError('retryable', `Meta: ${operation} was cancelled.`, { platform: 'meta', code: 'aborted' });
      }
      if (timeout.aborted) {
        throw new DestinationError('retryable', `Meta: ${operation} timed out after ${this.timeoutMs} ms without an answer from the Graph API.`, {
          platform: 'meta',
          code: 'timeout',
        });
      }
      const failure = failureFromSdkError(err);
      if (!failure) throw err;
      throw options.override?.(failure) ?? classifyGraphFailure(failure, { operation, secrets: this.secrets(), adAccountId: this.adAccountId });
    }
  }

  private audienceObject(id: string): CustomAudience {
    return new CustomAudience(id, undefined, undefined, this.api);
  }

  private accountObject(): AdAccount {
    return new AdAccount(this.adAccountId, undefined, undefined, this.api);
  }

  async testConnection(): Promise<ConnectionCheck> {
    // A failed read (bad token, missing permission, unknown account, rate limit) throws its
    // classified DestinationError: the destinations service answers it as {ok: false, failure}.
    const data = await this.graph(`reading ad account ${this.adAccountId}`, async () =>
      (await this.accountObject().get(['id', 'name', 'currency', 'account_status', 'tos_accepted'], { ...this.auth() })).exportAllData(),
    );
    const name = typeof data.name === 'string' ? data.name : undefined;
    const currency = typeof data.currency === 'string' ? data.currency : undefined;
    const account = { id: this.adAccountId, ...(name !== undefined ? { name } : {}), ...(currency !== undefined ? { currency } : {}) };
    const statusCode = num(data.account_status);
    const statusName = statusCode === undefined ? 'of unknown status' : (ACCOUNT_STATUS[statusCode] ?? `in status ${statusCode}`);
    const label = `Ad account ${this.adAccountId}${name ? ` ("${name}"${currency ? `, ${currency}` : ''})` : ''}`;
    if (statusCode !== undefined && UNUSABLE_ACCOUNT_STATUS.has(statusCode)) {
      return { ok: false, detail: `${label} is ${statusName}: audiences cannot be managed in it.`, account };
    }
    const tos = data.tos_accepted && typeof data.tos_accepted === 'object' ? (data.tos_accepted as Json) : {};
    if (num(tos.custom_audience_tos) !== 1) {
      return {
        ok: false,
        detail:
          `${label} is reachable, but the Custom Audience terms of service are not accepted for this token's user: ` +
          `accept them at https://business.facebook.com/ads/manage/customaudiences/tos.php?act=${this.accountDigits} and test again.`,
        account,
      };
    }
    return {
      ok: true,
      detail: `${label} is ${statusName}; Custom Audience terms accepted; Graph API ${this.version}.`,
      account,
    };
  }

  async ensureAudience(input: EnsureAudienceInput): Promise<RemoteAudience> {
    if (input.existingId !== undefined) return this.adopt(input.existingId);
    const params: Json = {
      name: input.name,
      subtype: 'CUSTOM',
      customer_file_source: this.customerFileSource,
      ...(input.description ? { description: input.description } : {}),
      ...this.auth(),
    };
    const created = await this.graph(`creating custom audience "${input.name}" in ${this.adAccountId}`, () =>
      this.accountObject().createCustomAudience([], params),
    );
    const remoteId = String(created.id);
    return { remoteId, created: true, name: input.name };
  }

  private async adopt(existingId: string): Promise<RemoteAudience> {
    if (!/^[0-9]+$/.test(existingId)) {
      throw new DestinationError('invalid_request', `Meta: "${existingId}" is not a custom audience id (digits only).`, { platform: 'meta' });
    }
    const data = await this.graph(`reading custom audience ${existingId} to adopt it`, async () =>
      (await this.audienceObject(existingId).get(['id', 'name', 'account_id', 'subtype', 'customer_file_source', 'operation_status'], { ...this.auth() })).exportAllData(),
    );
    const accountId = data.account_id === undefined ? undefined : String(data.account_id);
    if (accountId !== undefined && accountId !== this.accountDigits) {
      throw new DestinationError(
        'invalid_request',
        `Meta: custom audience ${existingId} belongs to ad account act_${accountId}, not ${this.adAccountId}.`,
        { platform: 'meta' },
      );
    }
    if (data.subtype !== 'CUSTOM') {
      throw new DestinationError(
        'invalid_request',
        `Meta: audience ${existingId} is a ${String(data.subtype ?? 'unknown')} audience; only CUSTOM (customer list) audiences take uploaded members.`,
        { platform: 'meta' },
      );
    }
    const operation = asStatus(data.operation_status);
    if (operation && Number(operation.code) === 471) {
      throw new DestinationError(
        'permanent',
        `Meta: custom audience ${existingId} is flagged (operation_status 471${operation.description ? `: ${operation.description}` : ''}); it refuses membership changes until the restriction is resolved.`,
        { platform: 'meta', code: '471' },
      );
    }
    return { remoteId: existingId, created: false, ...(typeof data.name === 'string' ? { name: data.name } : {}) };
  }

  add(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    return this.upload('add', audience.remoteId, members, context);
  }

  remove(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    return this.upload('remove', audience.remoteId, members, context);
  }

  /**
   * More than 10,000 members: without a session we split into requests of 10,000 (sequentially,
   * results summed); with a session we refuse, because the session's `batch_seq` numbering
   * belongs to the caller (batch to `limits.maxBatchSize`).
   */
  private async upload(kind: 'add' | 'remove', audienceId: string, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    if (members.length <= META_MAX_ROWS_PER_REQUEST) return this.sendUsers(kind, audienceId, members, context);
    if (context?.session) {
      throw new DestinationError(
        'invalid_request',
        `Meta: ${members.length} members in one ${kind} batch of session ${context.session.id}; Meta takes at most ${META_MAX_ROWS_PER_REQUEST} rows per request, and a session's batch_seq cannot be split here: batch to limits.maxBatchSize.`,
        { platform: 'meta' },
      );
    }
    const total: BatchResult = { received: 0, invalid: 0, rejected: [], invalidSamples: [], requestIds: [] };
    for (let i = 0; i < members.length; i += META_MAX_ROWS_PER_REQUEST) {
      const part = await this.sendUsers(kind, audienceId, members.slice(i, i + META_MAX_ROWS_PER_REQUEST), context);
      total.received += part.received;
      total.invalid += part.invalid;
      total.rejected.push(...part.rejected);
      total.invalidSamples!.push(...(part.invalidSamples ?? []));
      total.requestIds!.push(...(part.requestIds ?? []));
    }
    return total;
  }

  private async sendUsers(kind: 'add' | 'remove', audienceId: string, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    if (!/^[0-9]+$/.test(audienceId)) {
      throw new DestinationError('invalid_request', `Meta: "${audienceId}" is not a custom audience id (digits only).`, { platform: 'meta' });
    }
    const built = buildUsersPayload(members);
    if (built.sent.length === 0) return { received: 0, invalid: 0, rejected: built.rejected };
    const session = context?.session;
    const params: Json = {
      payload: built.payload,
      ...(session
        ? {
            session: {
              session_id: metaSessionId(session.id),
              batch_seq: session.batchSeq,
              last_batch_flag: session.lastBatch,
              ...(session.estimatedTotal !== undefined ? { estimated_num_total: session.estimatedTotal } : {}),
            },
          }
        : {}),
    };
    const operation = `${kind === 'add' ? 'adding' : 'removing'} ${built.sent.length} members ${kind === 'add' ? 'to' : 'from'} custom audience ${audienceId}`;
    const response =
      kind === 'add'
        ? await this.graph(
            operation,
            async () => (await this.audienceObject(audienceId).createUser([], { ...params, ...this.auth() })).exportAllData(),
            { signal: context?.signal },
          )
        : await this.graph(operation, (signal) => this.deleteUsers(audienceId, params, signal, operation), { signal: context?.signal });

    const samples = parseInvalidSamples(response.invalid_entry_samples);
    const received = num(response.num_received) ?? built.sent.length;
    const invalid = num(response.num_invalid_entries) ?? 0;
    const sessionId = response.session_id;
    return {
      received,
      invalid,
      rejected: [...built.rejected, ...rejectionsFromSamples(samples, built.payload, built.sent)],
      ...(samples.length > 0 ? { invalidSamples: samples.map((s) => s.sample) } : {}),
      ...(sessionId !== undefined && sessionId !== null ? { requestIds: [`session:${String(sessionId)}`] } : {}),
    };
  }

  /**
   * `DELETE /{audience_id}/users` with a JSON body. Not the SDK's `deleteUsers`: for DELETE the
   * SDK puts every parameter in the query string (≈ 790 KB of URL for 10,000 rows, past what
   * servers and proxies accept). The token travels in the body, never in the URL.
   */
  private async deleteUsers(audienceId: string, params: Json, signal: AbortSignal, operation: string): Promise<Json> {
    const url = `${this.baseUrl}/${this.version}/${audienceId}/users`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'DELETE',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ ...params, access_token: this.accessToken, ...this.auth() }),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      throw classifyGraphFailure({ noResponse: true, header: () => undefined }, { operation, secrets: this.secrets(), adAccountId: this.adAccountId });
    }
    const text = await res.text();
    const body = parseJson(text);
    const header = (name: string) => res.headers.get(name) ?? undefined;
    const error = body && typeof body === 'object' ? (body as { error?: GraphErrorBody }).error : undefined;
    if (!res.ok || error) {
      throw classifyGraphFailure(
        body === undefined ? { status: res.status, unparseable: true, header } : { status: res.status, ...(error ? { error } : {}), header },
        { operation, secrets: this.secrets(), adAccountId: this.adAccountId },
      );
    }
    if (!body || typeof body !== 'object') {
      throw classifyGraphFailure({ status: res.status, unparseable: true, header }, { operation, secrets: this.secrets(), adAccountId: this.adAccountId });
    }
    return body as Json;
  }

  async audienceStats(audience: { remoteId: string }): Promise<AudienceStats> {
    const id = audience.remoteId;
    const data = await this.graph(`reading custom audience ${id}`, async () =>
      (await this.audienceObject(id).get(
        ['id', 'approximate_count_lower_bound', 'approximate_count_upper_bound', 'delivery_status', 'operation_status'],
        { ...this.auth() },
      )).exportAllData(),
    );
    const lower = num(data.approximate_count_lower_bound);
    const upper = num(data.approximate_count_upper_bound);
    const delivery = asStatus(data.delivery_status);
    const operation = asStatus(data.operation_status);
    return {
      remoteId: id,
      // Meta answers -1 while a size is not available.
      ...(lower !== undefined && upper !== undefined && lower >= 0 && upper >= 0 ? { approximateSize: { lower, upper } } : {}),
      ...(delivery ? { deliveryStatus: delivery } : {}),
      ...(operation ? { operationStatus: operation } : {}),
    };
  }

  async createLookalike(input: LookalikeInput): Promise<RemoteLookalike> {
    const spec = lookalikeSpec(input);
    if (!Number.isFinite(input.seedSize) || input.seedSize < META_MIN_LOOKALIKE_SEED) {
      throw seedTooSmall(input.seedSize);
    }
    if (!/^[0-9]+$/.test(input.seedRemoteId)) {
      throw invalidRequest('the seed must be a Meta custom audience id', [{ pointer: '/seedRemoteId', message: 'digits only' }]);
    }
    const params: Json = {
      name: input.name,
      subtype: 'LOOKALIKE',
      origin_audience_id: input.seedRemoteId,
      lookalike_spec: JSON.stringify(spec),
      ...this.auth(),
    };
    const created = await this.graph(
      `creating lookalike "${input.name}" from audience ${input.seedRemoteId}`,
      () => this.accountObject().createCustomAudience([], params),
      {
        override: (failure) => {
          const text = `${failure.error?.message ?? ''} ${failure.error?.error_user_title ?? ''} ${failure.error?.error_user_msg ?? ''}`;
          return /(source|seed|origin)[^.]*(too small|at least 100|not enough|enough people)|too small[^.]*(source|seed|origin)/i.test(text)
            ? seedTooSmall(input.seedSize, scrub(failure.error?.error_user_msg ?? failure.error?.message ?? '', this.secrets()))
            : undefined;
        },
      },
    );
    return { remoteId: String(created.id) };
  }

  async getLookalike(remoteId: string): Promise<RemoteLookalike> {
    const data = await this.graph(`reading lookalike ${remoteId}`, async () =>
      (await this.audienceObject(remoteId).get(['id', 'subtype', 'operation_status', 'delivery_status', 'lookalike_spec'], { ...this.auth() })).exportAllData(),
    );
    const status = asStatus(data.operation_status) ?? asStatus(data.delivery_status);
    return { remoteId, ...(status ? { status } : {}) };
  }
}

function seedTooSmall(seedSize: number, metaSaid?: string) {
  const count = Number.isFinite(seedSize) ? seedSize : 0;
  const message = metaSaid
    ? `Meta refused the seed (${metaSaid}); we count ${count} members in it; Meta needs at least ${META_MIN_LOOKALIKE_SEED} matched people in one country`
    : `seed has ${count} members; Meta needs at least ${META_MIN_LOOKALIKE_SEED} in one country`;
  return unprocessable(message, [{ pointer: '/seedSize', message }]);
}

const isPercentStep = (value: number) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-9;

/** Validates `input.meta` and builds Meta's `lookalike_spec`. */
function lookalikeSpec(input: LookalikeInput): Json {
  const meta = input.meta ?? {};
  const errors: ProblemDetail[] = [];
  if (meta.ratio !== undefined && meta.type !== undefined) {
    errors.push({ pointer: '/meta/type', message: 'set either ratio or type, not both' });
  }
  const ratio = meta.ratio ?? (meta.type === undefined ? 0.01 : undefined);
  if (ratio !== undefined && !(ratio >= 0.01 && ratio <= 0.2 && isPercentStep(ratio))) {
    errors.push({ pointer: '/meta/ratio', message: `ratio must be 0.01–0.20 in steps of 0.01 (got ${ratio})` });
  }
  if (meta.type !== undefined && meta.type !== 'similarity' && meta.type !== 'reach') {
    errors.push({ pointer: '/meta/type', message: `type must be similarity or reach (got ${meta.type})` });
  }
  if (meta.startingRatio !== undefined) {
    if (ratio === undefined) errors.push({ pointer: '/meta/startingRatio', message: 'startingRatio needs ratio' });
    else if (!(meta.startingRatio >= 0 && meta.startingRatio < ratio && isPercentStep(meta.startingRatio))) {
      errors.push({ pointer: '/meta/startingRatio', message: `startingRatio must be ≥ 0, below ratio (${ratio}), in steps of 0.01 (got ${meta.startingRatio})` });
    }
  }
  if (meta.country === undefined && meta.locationSpec === undefined) {
    errors.push({ pointer: '/meta/country', message: 'Meta needs a country (or a locationSpec) to build a lookalike in' });
  }
  if (meta.country !== undefined && meta.locationSpec !== undefined) {
    errors.push({ pointer: '/meta/locationSpec', message: 'set either country or locationSpec, not both' });
  }
  if (meta.country !== undefined && !/^[A-Za-z]{2}$/.test(meta.country)) {
    errors.push({ pointer: '/meta/country', message: `country must be an ISO 3166-1 alpha-2 code (got ${meta.country})` });
  }
  if (errors.length > 0) throw invalidRequest('invalid Meta lookalike specification', errors);
  return {
    ...(ratio !== undefined ? { ratio } : {}),
    ...(meta.startingRatio !== undefined ? { starting_ratio: meta.startingRatio } : {}),
    ...(meta.type !== undefined ? { type: meta.type } : {}),
    ...(meta.country !== undefined ? { country: meta.country.toUpperCase() } : {}),
    ...(meta.locationSpec !== undefined ? { location_spec: meta.locationSpec } : {}),
  };
}

export const metaDestinationKind: DestinationKind<MetaCustomAudienceConfig, MetaCustomAudienceCredentials, MetaCustomAudienceDestination> = {
  kind: 'meta_custom_audience',
  platform: 'meta',
  description: META_KIND_DESCRIPTION,
  configSchema: MetaCustomAudienceConfigSchema,
  credentialsSchema: MetaCustomAudienceCredentialsSchema,
  create: ({ config, credentials, endpoints }) => new MetaCustomAudienceDestination(config, credentials, endpoints),
};
