/**
 * The contract every destination (Meta, Google, file) implements, and the shapes the sync engine
 * hands it. Members reach a destination already normalized and hashed for its platform (see
 * `identity/`): a destination only maps identifier kinds to its wire format, batches within its
 * limits and classifies what the platform answers.
 */

/** Identifier kinds a model can declare, plus the kinds derived from them (first initial, date-of-birth parts). */
export const IDENTIFIER_KINDS = [
  'email', 'phone', 'first_name', 'last_name', 'first_initial', 'city', 'state', 'zip', 'country',
  'date_of_birth', 'birth_year', 'birth_month', 'birth_day', 'gender', 'mobile_ad_id', 'external_id',
] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

export type Platform = 'meta' | 'google' | 'file';

export type ConsentStatus = 'GRANTED' | 'DENIED';

/** One member as a destination receives it: identifiers normalized, and hashed where the platform wants a hash. */
export interface PreparedMember {
  /** Our member key: used to report per-row results, never sent to a platform. */
  memberKey: string;
  /** Per kind: the value to send (a SHA-256 hex, or the normalized value for kinds the platform wants in the clear). */
  identifiers: Partial<Record<IdentifierKind, string>>;
  /** Google: per-member consent (EEA); absent means the sync's default. */
  consent?: { adUserData?: ConsentStatus; adPersonalization?: ConsentStatus };
}

export interface RowRejection {
  memberKey: string;
  /** A stable reason code, e.g. `invalid_entry`, `too_many_identifiers`. */
  reason: string;
  detail?: string;
}

/** What the platform said about one add or remove request. */
export interface BatchResult {
  /** Rows the platform says it received. */
  received: number;
  /** Rows the platform reported as invalid (may be more than `rejected` lists: platforms sample). */
  invalid: number;
  /** Rows we can name as rejected. */
  rejected: RowRejection[];
  /** Platform samples of invalid entries (hashed values only). */
  invalidSamples?: string[];
  /** Platform request / job ids, for support tickets. */
  requestIds?: string[];
}

/** One upload of a run spans several requests: platforms that track sessions (Meta) use this. */
export interface BatchContext {
  session?: { id: string; batchSeq: number; lastBatch: boolean; estimatedTotal?: number };
  /** Default consent for members without their own (Google). */
  consent?: { adUserData: ConsentStatus; adPersonalization: ConsentStatus };
  signal?: AbortSignal;
}

export interface DestinationLimits {
  /** Members per add/remove request. */
  maxBatchSize: number;
  /** Requests in flight per audience. */
  maxConcurrency: number;
  /** Requests per second per account (a ceiling; platforms also push back with 429s). */
  requestsPerSecond: number;
}

export interface EnsureAudienceInput {
  name: string;
  description?: string;
  /** Adopt this remote audience instead of creating one (checked to exist and to be usable). */
  existingId?: string;
  /** Identifier kinds the sync maps: Google picks the list's upload key type from them. */
  identifierKinds: IdentifierKind[];
  /** Google: membership life span in days (≤ 540, 10000 = no expiry). */
  membershipLifeSpanDays?: number;
}

export interface RemoteAudience {
  remoteId: string;
  created: boolean;
  name?: string;
}

export interface AudienceStats {
  remoteId: string;
  /** Platforms give ranges (Meta) or rounded sizes (Google). */
  approximateSize?: { lower: number; upper: number };
  sizeForSearch?: number;
  sizeForDisplay?: number;
  matchRatePercentage?: number;
  deliveryStatus?: { code: number | string; description?: string };
  operationStatus?: { code: number | string; description?: string };
}

export interface LookalikeInput {
  name: string;
  seedRemoteId: string;
  /** Members in the seed by our count (checked before calling the platform). */
  seedSize: number;
  meta?: { ratio?: number; startingRatio?: number; country?: string; locationSpec?: Record<string, unknown>; type?: string };
  google?: { expansionLevel: 'NARROW' | 'BALANCED' | 'BROAD'; countryCodes: string[] };
}

export interface RemoteLookalike {
  remoteId: string;
  status?: { code: number | string; description?: string };
}

export interface ConnectionCheck {
  ok: boolean;
  /** What was checked and what the platform answered (no secrets). */
  detail: string;
  account?: { id: string; name?: string; currency?: string };
}

export interface Destination {
  readonly kind: string;
  readonly platform: Platform;
  readonly limits: DestinationLimits;
  testConnection(): Promise<ConnectionCheck>;
  ensureAudience(input: EnsureAudienceInput): Promise<RemoteAudience>;
  add(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult>;
  remove(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult>;
  audienceStats(audience: { remoteId: string }): Promise<AudienceStats>;
  createLookalike(input: LookalikeInput): Promise<RemoteLookalike>;
  getLookalike?(remoteId: string): Promise<RemoteLookalike>;
  /** Releases connections (gRPC channels, …). */
  close?(): Promise<void>;
}

/**
 * How a platform failure should be treated: `rate_limited` and `retryable` are retried with
 * backoff (honouring `retryAfterMs`); `permanent` stops the run (flagged audience, ToS not
 * accepted, permissions); `invalid_request` is our bug or bad configuration.
 */
export type FailureClass = 'rate_limited' | 'retryable' | 'permanent' | 'invalid_request';

export class DestinationError extends Error {
  constructor(
    readonly failure: FailureClass,
    message: string,
    readonly details: {
      platform: Platform;
      /** Platform error code / subcode or gRPC status, as text. */
      code?: string;
      retryAfterMs?: number;
      /** HTTP status or gRPC code. */
      status?: number;
    },
  ) {
    super(message);
    this.name = 'DestinationError';
  }

  get retryable(): boolean {
    return this.failure === 'rate_limited' || this.failure === 'retryable';
  }
}

/**
 * Where the SDKs connect. Production leaves these unset (the platforms' own endpoints); tests
 * point them at loopback fakes. Configuration, not monkey-patching.
 */
export interface DestinationEndpoints {
  /** Graph API base URL, e.g. `http://127.0.0.1:PORT` (the SDK appends `/v24.0/...`). */
  metaGraphUrl?: string;
  /** Google Ads API gRPC endpoint `host:port`, plaintext when `insecure`. */
  googleAds?: { host: string; port: number; insecure: boolean };
  /** Data Manager API gRPC endpoint. */
  dataManager?: { host: string; port: number; insecure: boolean };
}

/** A destination kind in the registry: its schemas and how to build one. */
export interface DestinationKind<Config = Record<string, unknown>, Credentials = Record<string, unknown>, Built extends Destination | Promise<Destination> = Destination | Promise<Destination>> {
  kind: string;
  platform: Platform;
  description: string;
  /** JSON Schema (typebox) of the non-secret configuration. */
  configSchema: unknown;
  /** JSON Schema (typebox) of the secret credentials (write-only in the API). */
  credentialsSchema: unknown;
  /** May load the platform SDK on first use (they are heavy: the CLI and the API start without them). */
  create(options: { config: Config; credentials: Credentials; endpoints?: DestinationEndpoints }): Built;
}
