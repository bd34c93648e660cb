/**
 * Google Customer Match (`google_customer_match`): lists through the Google Ads API
 * (`google-ads-api`: UserListService, GAQL over GoogleAdsService.Search), members through the
 * Data Manager API (default) or, for allowlisted developer tokens, OfflineUserDataJobService.
 */
import type { IngestionServiceClient } from '@google-ads/datamanager';
import { enums, services } from 'google-ads-api';
import { notFound, unprocessable } from '../../errors';
import {
  DestinationError,
  type AudienceStats,
  type BatchContext,
  type BatchResult,
  type ConnectionCheck,
  type Destination,
  type DestinationEndpoints,
  type DestinationLimits,
  type EnsureAudienceInput,
  type IdentifierKind,
  type LookalikeInput,
  type PreparedMember,
  type RemoteAudience,
  type RemoteLookalike,
  type RowRejection,
} from '../destination';
import { createIngestionClient, EndpointCustomer } from './clients';
import { decodePartialFailure, memberViolations, redactorFor, toDestinationError, type Redactor } from './errors';
import {
  chunkBy,
  dmConsent,
  DM_MAX_MEMBERS_PER_REQUEST,
  effectiveConsent,
  JOB_MAX_IDENTIFIERS_PER_REQUEST,
  toAdsUserData,
  toDataManagerMembers,
  uploadKeyTypeFor,
  type EffectiveConsent,
  type Mapped,
  type UploadKeyType,
} from './members';
import { serializePerList } from './queue';
import type { GoogleCustomerMatchConfig, GoogleCustomerMatchCredentials } from './schemas';

/**
 * Google: "a minimum of 100 active matched people across all seed lists" for a Lookalike segment
 * (Google Ads API guide, Lookalike audience segments → Requirements; the same page's summary once
 * said 1,000). We check our own count of the seed before calling Google; Google's matched count is
 * lower than ours (match rate), so a seed just above this can still be refused later.
 */
export const GOOGLE_LOOKALIKE_MIN_SEED = 100;

/** Timing knobs: production defaults below; tests shorten them. */
export interface GoogleTuning {
  /** Deadline of every gRPC call (gax never retries: the sync engine does). */
  rpcTimeoutMs: number;
  /** OfflineUserDataJob status polling. */
  jobPollIntervalMs: number;
  /** How long to wait for a job to finish; after that the job keeps running at Google and the batch is reported as sent. */
  jobPollTimeoutMs: number;
  /** Data Manager retrieveRequestStatus: attempts per request while it is PROCESSING, and the pause between them. */
  requestStatusAttempts: number;
  requestStatusIntervalMs: number;
  lookalikeMinSeed: number;
}

export const DEFAULT_GOOGLE_TUNING: GoogleTuning = {
  rpcTimeoutMs: 120_000,
  jobPollIntervalMs: 10_000,
  jobPollTimeoutMs: 120_000,
  // Data Manager processes asynchronously (often longer than this): a short look, not a wait.
  requestStatusAttempts: 2,
  requestStatusIntervalMs: 1_500,
  lookalikeMinSeed: GOOGLE_LOOKALIKE_MIN_SEED,
};

export interface GoogleDestinationOptions {
  config: GoogleCustomerMatchConfig;
  credentials: GoogleCustomerMatchCredentials;
  endpoints?: DestinationEndpoints;
  tuning?: Partial<GoogleTuning>;
}

const ID = /^[0-9]{1,19}$/;
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** An enum value as its name, whether the transport gave a name or a number. */
function enumName(value: unknown, e: Record<string | number, string | number>): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return String(e[value]);
  return String(value);
}

function num(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(typeof value === 'object' ? String(value) : value);
  return Number.isFinite(n) ? n : undefined;
}

function idFromResourceName(name: string | null | undefined): string {
  const id = name?.split('/').pop();
  if (!id || !ID.test(id)) throw new DestinationError('retryable', 'Google Ads API: response without a user list resource name', { platform: 'google' });
  return id;
}

const usableKinds: Record<UploadKeyType, IdentifierKind[][]> = {
  CONTACT_INFO: [['email'], ['phone'], ['first_name', 'last_name', 'country', 'zip']],
  MOBILE_ADVERTISING_ID: [['mobile_ad_id']],
  CRM_ID: [['external_id']],
};

const emptyResult = (): BatchResult => ({ received: 0, invalid: 0, rejected: [] });

export class GoogleCustomerMatchDestination implements Destination {
  readonly kind = 'google_customer_match';
  readonly platform = 'google' as const;
  readonly limits: DestinationLimits;

  private readonly config: Required<Pick<GoogleCustomerMatchConfig, 'uploadPath' | 'membershipLifeSpanDays'>> & GoogleCustomerMatchConfig;
  private readonly tuning: GoogleTuning;
  private readonly customer: EndpointCustomer;
  private readonly redact: Redactor;
  private ingestion?: IngestionServiceClient;
  private readonly keyTypes = new Map<string, UploadKeyType>();

  constructor(private readonly options: GoogleDestinationOptions) {
    const { config, credentials, endpoints } = options;
    this.config = { ...config, uploadPath: config.uploadPath ?? 'data_manager', membershipLifeSpanDays: config.membershipLifeSpanDays ?? 540 };
    this.tuning = { ...DEFAULT_GOOGLE_TUNING, ...options.tuning };
    this.redact = redactorFor([credentials.developerToken, credentials.clientSecret, credentials.refreshToken, credentials.clientId]);
    const oauth = { clientId: credentials.clientId, clientSecret: credentials.clientSecret, refreshToken: credentials.refreshToken };
    this.customer = new EndpointCustomer(
      { client_id: credentials.clientId, client_secret: credentials.clientSecret, developer_token: credentials.developerToken },
      { customer_id: config.customerId, refresh_token: credentials.refreshToken, ...(config.loginCustomerId ? { login_customer_id: config.loginCustomerId } : {}) },
      { endpoint: endpoints?.googleAds, oauth, gax: { timeoutMs: this.tuning.rpcTimeoutMs } },
    );
    this.limits =
      this.config.uploadPath === 'data_manager'
        ? // Each add/remove call is split into Data Manager requests of ≤ 10,000 members anyway.
          { maxBatchSize: DM_MAX_MEMBERS_PER_REQUEST, maxConcurrency: 1, requestsPerSecond: 5 }
        : // One call = one offline user data job (or one per consent group): fewer, larger jobs.
          { maxBatchSize: 50_000, maxConcurrency: 1, requestsPerSecond: 1 };
  }

  private get dataManager(): IngestionServiceClient {
    this.ingestion ??= createIngestionClient(
      this.options.endpoints?.dataManager,
      { clientId: this.options.credentials.clientId, clientSecret: this.options.credentials.clientSecret, refreshToken: this.options.credentials.refreshToken },
      { timeoutMs: this.tuning.rpcTimeoutMs },
    );
    return this.ingestion;
  }

  private async ads<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toDestinationError(err, 'Google Ads API', this.redact);
    }
  }

  private search(gaql: string) {
    return this.ads(() => this.customer.searchRows(gaql));
  }

  private listResource(listId: string) {
    return `customers/${this.config.customerId}/userLists/${listId}`;
  }

  async testConnection(): Promise<ConnectionCheck> {
    // A refused or failed call throws its classified DestinationError (bad token, missing access,
    // not allowlisted, quota): the destinations service answers it as {ok: false, failure}.
    const rows = await this.search('SELECT customer.id, customer.descriptive_name, customer.currency_code FROM customer LIMIT 1');
    const c = (rows[0]?.customer ?? {}) as Record<string, unknown>;
    const account: ConnectionCheck['account'] = {
      id: String(c.id ?? this.config.customerId),
      ...(c.descriptive_name ? { name: String(c.descriptive_name) } : {}),
      ...(c.currency_code ? { currency: String(c.currency_code) } : {}),
    };
    if (this.config.uploadPath === 'offline_user_data_job') {
      return { ok: true, detail: `Google Ads customer ${this.config.customerId} is reachable; members upload through OfflineUserDataJobService (allowlisted developer tokens only).`, account };
    }
    // The Data Manager API has no read-only call: asking for the status of a request that does not
    // exist proves the OAuth token (and its datamanager scope) is accepted — Google answers
    // INVALID_ARGUMENT, not PERMISSION_DENIED / UNAUTHENTICATED.
    try {
      await this.dataManager.retrieveRequestStatus({ requestId: 'audiences-connection-check' }, { timeout: this.tuning.rpcTimeoutMs });
    } catch (err) {
      const e = toDestinationError(err, 'Data Manager API', this.redact);
      if (e.failure !== 'invalid_request') throw e;
    }
    return { ok: true, detail: `Google Ads customer ${this.config.customerId} is reachable; the Data Manager API accepts the credentials for member uploads.`, account };
  }

  async ensureAudience(input: EnsureAudienceInput): Promise<RemoteAudience> {
    if (input.existingId !== undefined) return this.adopt(input);
    const keyType = uploadKeyTypeFor(input.identifierKinds);
    if (!keyType) {
      throw unprocessable('A Customer Match list needs email, phone, first_name + last_name + country + zip, mobile_ad_id or external_id.', [
        { pointer: '/identifierKinds', message: `no identifier kind usable by Google Customer Match in [${input.identifierKinds.join(', ')}]` },
      ]);
    }
    const lifeSpan = input.membershipLifeSpanDays ?? this.config.membershipLifeSpanDays;
    if (!(Number.isInteger(lifeSpan) && ((lifeSpan >= 1 && lifeSpan <= 540) || lifeSpan === 10000))) {
      throw unprocessable(`Membership life span ${lifeSpan} is not allowed.`, [{ pointer: '/membershipLifeSpanDays', message: 'between 1 and 540 days, or 10000 (no expiry)' }]);
    }
    const response = await this.ads(() =>
      this.customer.userLists.create([
        {
          name: input.name,
          ...(input.description ? { description: input.description } : {}),
          membership_status: enums.UserListMembershipStatus.OPEN,
          membership_life_span: lifeSpan,
          crm_based_user_list: {
            upload_key_type: enums.CustomerMatchUploadKeyType[keyType],
            data_source_type: enums.UserListCrmDataSourceType.FIRST_PARTY,
          },
        },
      ]),
    );
    const remoteId = idFromResourceName(response.results?.[0]?.resource_name);
    this.keyTypes.set(remoteId, keyType);
    return { remoteId, created: true, name: input.name };
  }

  private async adopt(input: EnsureAudienceInput): Promise<RemoteAudience> {
    const id = String(input.existingId).trim();
    if (!ID.test(id)) throw unprocessable(`"${id}" is not a Google Ads user list id.`, [{ pointer: '/existingId', message: 'a numeric user list id' }]);
    const rows = await this.search(
      `SELECT user_list.id, user_list.name, user_list.type, user_list.read_only, user_list.crm_based_user_list.upload_key_type FROM user_list WHERE user_list.id = ${id}`,
    );
    const list = rows[0]?.user_list as Record<string, unknown> | undefined;
    if (!list) {
      throw unprocessable(`User list ${id} does not exist in Google Ads customer ${this.config.customerId}.`, [{ pointer: '/existingId', message: 'no such user list' }]);
    }
    const type = enumName(list.type, enums.UserListType);
    if (type !== 'CRM_BASED') {
      throw unprocessable(`User list ${id} is a ${type} list; only Customer Match (CRM-based) lists can receive members.`, [
        { pointer: '/existingId', message: 'not a CRM-based (Customer Match) list' },
      ]);
    }
    if (list.read_only === true) {
      throw unprocessable(`User list ${id} is read-only.`, [{ pointer: '/existingId', message: 'read-only list' }]);
    }
    const keyType = enumName((list.crm_based_user_list as Record<string, unknown> | undefined)?.upload_key_type, enums.CustomerMatchUploadKeyType) as UploadKeyType | undefined;
    if (keyType && usableKinds[keyType]) {
      const ok = usableKinds[keyType].some((set) => set.every((k) => input.identifierKinds.includes(k)));
      if (!ok) {
        throw unprocessable(`User list ${id} takes ${keyType} members, and the sync maps none of them.`, [
          { pointer: '/identifierKinds', message: `a ${keyType} list needs ${usableKinds[keyType].map((s) => s.join(' + ')).join(' or ')}` },
        ]);
      }
      this.keyTypes.set(id, keyType);
    }
    return { remoteId: id, created: false, name: list.name ? String(list.name) : undefined };
  }

  /** The list's upload key type: remembered from ensureAudience, else looked up once. */
  private async keyTypeOf(listId: string): Promise<UploadKeyType> {
    const known = this.keyTypes.get(listId);
    if (known) return known;
    const rows = await this.search(
      `SELECT user_list.id, user_list.type, user_list.crm_based_user_list.upload_key_type FROM user_list WHERE user_list.id = ${listId}`,
    );
    const list = rows[0]?.user_list as Record<string, unknown> | undefined;
    if (!list) throw new DestinationError('permanent', `Google Ads API: user list ${listId} does not exist in customer ${this.config.customerId}`, { platform: 'google', code: 'USER_LIST_NOT_FOUND' });
    const keyType = enumName((list.crm_based_user_list as Record<string, unknown> | undefined)?.upload_key_type, enums.CustomerMatchUploadKeyType);
    if (enumName(list.type, enums.UserListType) !== 'CRM_BASED' || !keyType || !(keyType in usableKinds)) {
      throw new DestinationError('permanent', `Google Ads API: user list ${listId} is not a Customer Match list`, { platform: 'google', code: 'USER_LIST_NOT_CRM_BASED' });
    }
    this.keyTypes.set(listId, keyType as UploadKeyType);
    return keyType as UploadKeyType;
  }

  add(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    return this.upload('add', audience.remoteId, members, context);
  }

  remove(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    return this.upload('remove', audience.remoteId, members, context);
  }

  private async upload(op: 'add' | 'remove', listId: string, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    if (!ID.test(listId)) throw new DestinationError('invalid_request', `"${listId}" is not a Google Ads user list id`, { platform: 'google' });
    if (!members.length) return emptyResult();
    return serializePerList(`${this.config.customerId}/${listId}`, async () => {
      context?.signal?.throwIfAborted();
      const keyType = await this.keyTypeOf(listId);
      return this.config.uploadPath === 'offline_user_data_job'
        ? this.uploadViaJobs(op, listId, keyType, members, context)
        : this.uploadViaDataManager(op, listId, keyType, members, context);
    });
  }

  // ---- Data Manager API ----------------------------------------------------------------------

  private dmDestination(listId: string) {
    return {
      operatingAccount: { accountType: 'GOOGLE_ADS' as const, accountId: this.config.customerId },
      ...(this.config.loginCustomerId ? { loginAccount: { accountType: 'GOOGLE_ADS' as const, accountId: this.config.loginCustomerId } } : {}),
      productDestinationId: listId,
    };
  }

  private async uploadViaDataManager(
    op: 'add' | 'remove',
    listId: string,
    keyType: UploadKeyType,
    members: PreparedMember[],
    context?: BatchContext,
  ): Promise<BatchResult> {
    const { mapped, rejected } = toDataManagerMembers(members, keyType);
    const requestIds: string[] = [];
    const sizes = new Map<string, number>();
    let received = 0;
    for (const chunk of chunkBy(mapped, DM_MAX_MEMBERS_PER_REQUEST, () => 1)) {
      context?.signal?.throwIfAborted();
      const sent = await this.sendDataManagerChunk(op, listId, chunk, context, rejected);
      if (!sent) continue;
      requestIds.push(sent.requestId);
      sizes.set(sent.requestId, sent.count);
      received += sent.count;
    }
    let invalid = rejected.length;
    for (const requestId of requestIds) invalid += await this.failedRecords(requestId, sizes.get(requestId) ?? 0, context?.signal);
    return { received, invalid, rejected, requestIds };
  }

  /** One request; on INVALID_ARGUMENT naming members, those rows are rejected and the rest re-sent once. */
  private async sendDataManagerChunk(
    op: 'add' | 'remove',
    listId: string,
    chunk: Mapped<object>[],
    context: BatchContext | undefined,
    rejected: RowRejection[],
    retried = false,
  ): Promise<{ requestId: string; count: number } | undefined> {
    if (!chunk.length) return undefined;
    const base = { destinations: [this.dmDestination(listId)], audienceMembers: chunk.map((c) => c.payload), encoding: 'HEX' as const };
    try {
      const callOptions = { timeout: this.tuning.rpcTimeoutMs };
      const [response] =
        op === 'add'
          ? await this.dataManager.ingestAudienceMembers({ ...base, ...(context?.consent ? { consent: dmConsent(context.consent) } : {}) }, callOptions)
          : await this.dataManager.removeAudienceMembers(base, callOptions);
      return { requestId: String(response.requestId ?? ''), count: chunk.length };
    } catch (err) {
      const violations = !retried && (err as { code?: number }).code === 3 ? memberViolations(err) : undefined;
      if (violations) {
        const keep: Mapped<object>[] = [];
        chunk.forEach((c, i) => {
          const v = violations.get(i);
          if (v) rejected.push({ memberKey: c.member.memberKey, reason: v.reason.toLowerCase(), ...(v.description ? { detail: this.redact(v.description) } : {}) });
          else keep.push(c);
        });
        return this.sendDataManagerChunk(op, listId, keep, context, rejected, true);
      }
      throw toDestinationError(err, 'Data Manager API', this.redact);
    }
  }

  /** Records Google reports as failed for one request (0 while still processing, or if the status cannot be read). */
  private async failedRecords(requestId: string, size: number, signal?: AbortSignal): Promise<number> {
    if (!requestId) return 0;
    for (let attempt = 1; attempt <= this.tuning.requestStatusAttempts; attempt++) {
      let statuses;
      try {
        [{ requestStatusPerDestination: statuses }] = await this.dataManager.retrieveRequestStatus({ requestId }, { timeout: this.tuning.rpcTimeoutMs });
      } catch {
        // The members were accepted; a status we cannot read does not make the batch fail.
        return 0;
      }
      const pending = (statuses ?? []).some((s) => String(s.requestStatus) === 'PROCESSING' || String(s.requestStatus) === 'REQUEST_STATUS_UNKNOWN');
      if (pending && attempt < this.tuning.requestStatusAttempts) {
        await sleep(this.tuning.requestStatusIntervalMs, signal);
        continue;
      }
      let failed = 0;
      for (const s of statuses ?? []) {
        const counted = (s.errorInfo?.errorCounts ?? []).reduce((sum, c) => sum + (num(c.recordCount) ?? 0), 0);
        failed += String(s.requestStatus) === 'FAILED' && counted === 0 ? size : counted;
      }
      return Math.min(failed, size);
    }
    return 0;
  }

  // ---- OfflineUserDataJobService -------------------------------------------------------------

  private async uploadViaJobs(
    op: 'add' | 'remove',
    listId: string,
    keyType: UploadKeyType,
    members: PreparedMember[],
    context?: BatchContext,
  ): Promise<BatchResult> {
    const { mapped, rejected } = toAdsUserData(members, keyType);
    // Consent is job-level for Customer Match jobs (operation-level consent is ignored), so one job per consent combination.
    const groups = new Map<string, { consent?: EffectiveConsent; items: typeof mapped }>();
    for (const m of mapped) {
      const consent = op === 'add' ? effectiveConsent(m.member, context) : undefined;
      const key = consent ? `${consent.adUserData ?? '-'}/${consent.adPersonalization ?? '-'}` : 'remove';
      const g = groups.get(key) ?? { consent, items: [] };
      g.items.push(m);
      groups.set(key, g);
    }
    const requestIds: string[] = [];
    let received = 0;
    for (const group of groups.values()) {
      context?.signal?.throwIfAborted();
      const job = await this.createJob(listId, group.consent);
      requestIds.push(job);
      let accepted = 0;
      for (const chunk of chunkBy(group.items, Number.MAX_SAFE_INTEGER, (c) => c.identifierCount, JOB_MAX_IDENTIFIERS_PER_REQUEST)) {
        context?.signal?.throwIfAborted();
        const response = await this.ads(() =>
          this.customer.offlineUserDataJobs.addOfflineUserDataJobOperations(
            new services.AddOfflineUserDataJobOperationsRequest({
              resource_name: job,
              enable_partial_failure: true,
              operations: chunk.map((c) => (op === 'add' ? { create: c.payload } : { remove: c.payload })),
            }),
          ),
        );
        const failures = decodePartialFailure(response?.partial_failure_error as Parameters<typeof decodePartialFailure>[0]);
        const failedIndexes = new Set<number>();
        for (const f of failures) {
          const item = f.operationIndex !== undefined ? chunk[f.operationIndex] : undefined;
          if (!item || failedIndexes.has(f.operationIndex!)) continue;
          failedIndexes.add(f.operationIndex!);
          rejected.push({ memberKey: item.member.memberKey, reason: (f.code.split('.')[1] ?? f.code).toLowerCase(), detail: this.redact(`${f.code}: ${f.message}`) });
        }
        accepted += chunk.length - failedIndexes.size;
      }
      if (accepted === 0) continue; // Nothing to run: Google refuses to run an empty job.
      await this.ads(() => this.customer.offlineUserDataJobs.runOfflineUserDataJob(new services.RunOfflineUserDataJobRequest({ resource_name: job })));
      await this.waitForJob(job, context?.signal);
      received += accepted;
    }
    return { received, invalid: rejected.length, rejected, requestIds };
  }

  private async createJob(listId: string, consent?: EffectiveConsent): Promise<string> {
    const consentStatus = (s: 'GRANTED' | 'DENIED' | undefined) => (s ? enums.ConsentStatus[s] : undefined);
    const response = await this.ads(() =>
      this.customer.offlineUserDataJobs.createOfflineUserDataJob(
        new services.CreateOfflineUserDataJobRequest({
          customer_id: this.config.customerId,
          job: {
            type: enums.OfflineUserDataJobType.CUSTOMER_MATCH_USER_LIST,
            customer_match_user_list_metadata: {
              user_list: this.listResource(listId),
              ...(consent && (consent.adUserData || consent.adPersonalization)
                ? {
                    consent: {
                      ...(consent.adUserData ? { ad_user_data: consentStatus(consent.adUserData) } : {}),
                      ...(consent.adPersonalization ? { ad_personalization: consentStatus(consent.adPersonalization) } : {}),
                    },
                  }
                : {}),
            },
          },
        }),
      ),
    );
    if (!response?.resource_name) throw new DestinationError('retryable', 'Google Ads API: job created without a resource name', { platform: 'google' });
    return response.resource_name;
  }

  /** Polls the job through GAQL until it succeeds, fails or the wait runs out (the job then keeps running at Google). */
  private async waitForJob(job: string, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.tuning.jobPollTimeoutMs;
    for (;;) {
      const rows = await this.search(
        `SELECT offline_user_data_job.resource_name, offline_user_data_job.id, offline_user_data_job.status, offline_user_data_job.failure_reason FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '${job}'`,
      );
      const j = rows[0]?.offline_user_data_job as Record<string, unknown> | undefined;
      const status = enumName(j?.status, enums.OfflineUserDataJobStatus);
      if (status === 'SUCCESS') return;
      if (status === 'FAILED') {
        const reason = enumName(j?.failure_reason, enums.OfflineUserDataJobFailureReason) ?? 'UNKNOWN';
        throw new DestinationError('retryable', `Google Ads API: offline user data job ${job} failed (${reason})`, { platform: 'google', code: `OFFLINE_USER_DATA_JOB_FAILED:${reason}` });
      }
      if (Date.now() + this.tuning.jobPollIntervalMs > deadline) return;
      await sleep(this.tuning.jobPollIntervalMs, signal);
    }
  }

  // ---- Stats and lookalikes ------------------------------------------------------------------

  async audienceStats(audience: { remoteId: string }): Promise<AudienceStats> {
    if (!ID.test(audience.remoteId)) throw notFound(`"${audience.remoteId}" is not a Google Ads user list id.`);
    const rows = await this.search(
      `SELECT user_list.id, user_list.size_for_search, user_list.size_for_display, user_list.match_rate_percentage, user_list.membership_status, user_list.eligible_for_search, user_list.eligible_for_display FROM user_list WHERE user_list.id = ${audience.remoteId}`,
    );
    const list = rows[0]?.user_list as Record<string, unknown> | undefined;
    if (!list) throw notFound(`User list ${audience.remoteId} does not exist in Google Ads customer ${this.config.customerId}.`);
    const membership = enumName(list.membership_status, enums.UserListMembershipStatus);
    return {
      remoteId: audience.remoteId,
      sizeForSearch: num(list.size_for_search),
      sizeForDisplay: num(list.size_for_display),
      matchRatePercentage: num(list.match_rate_percentage),
      ...(membership ? { operationStatus: { code: membership } } : {}),
    };
  }

  async createLookalike(input: LookalikeInput): Promise<RemoteLookalike> {
    const min = this.tuning.lookalikeMinSeed;
    if (input.seedSize < min) {
      const message = `the seed has ${input.seedSize} members; Google needs at least ${min} matched members across the seed lists`;
      throw unprocessable(`The seed audience is too small for a Google Lookalike segment: ${input.seedSize} members, at least ${min} needed.`, [
        { pointer: '/seedSize', message },
      ]);
    }
    if (!ID.test(input.seedRemoteId)) {
      throw unprocessable(`"${input.seedRemoteId}" is not a Google Ads user list id.`, [{ pointer: '/seedRemoteId', message: 'a numeric user list id' }]);
    }
    const google = input.google;
    if (!google || !google.countryCodes.length) {
      throw unprocessable('A Google Lookalike segment needs an expansion level and at least one country.', [
        { pointer: '/google', message: 'expansionLevel (NARROW | BALANCED | BROAD) and countryCodes are required' },
      ]);
    }
    const response = await this.ads(() =>
      this.customer.userLists.create([
        {
          name: input.name,
          lookalike_user_list: {
            seed_user_list_ids: [input.seedRemoteId as unknown as number],
            expansion_level: enums.LookalikeExpansionLevel[google.expansionLevel],
            country_codes: google.countryCodes.map((c) => c.toUpperCase()),
          },
        },
      ]),
    );
    return { remoteId: idFromResourceName(response.results?.[0]?.resource_name), status: { code: 'CREATED' } };
  }

  async getLookalike(remoteId: string): Promise<RemoteLookalike> {
    if (!ID.test(remoteId)) throw notFound(`"${remoteId}" is not a Google Ads user list id.`);
    const rows = await this.search(
      `SELECT user_list.id, user_list.type, user_list.membership_status, user_list.size_for_display FROM user_list WHERE user_list.id = ${remoteId}`,
    );
    const list = rows[0]?.user_list as Record<string, unknown> | undefined;
    if (!list) throw notFound(`User list ${remoteId} does not exist in Google Ads customer ${this.config.customerId}.`);
    return { remoteId, status: { code: enumName(list.membership_status, enums.UserListMembershipStatus) ?? 'UNKNOWN', description: `size for display: ${num(list.size_for_display) ?? 'unknown'}` } };
  }

  async close(): Promise<void> {
    await this.customer.close();
    const ingestion = this.ingestion;
    this.ingestion = undefined;
    await ingestion?.close().catch(() => undefined);
  }
}
