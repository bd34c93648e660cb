/**
 * Google failures → DestinationError. Google Ads sends a GoogleAdsFailure (trailing metadata
 * `google.ads.googleads.v24.errors.googleadsfailure-bin`) whose error codes say more than the gRPC
 * status; the Data Manager API sends google.rpc.Status details (ErrorInfo.reason, RetryInfo,
 * BadRequest). Codes first (the most severe class wins when a failure carries several), then
 * Data Manager reasons, then the gRPC status.
 *
 * | Google says                                                            | failure           |
 * |------------------------------------------------------------------------|-------------------|
 * | quota_error.RESOURCE_(TEMPORARILY_)EXHAUSTED, RESOURCE_EXHAUSTED         | rate_limited (retryAfterMs from QuotaErrorDetails.retry_delay or RetryInfo) |
 * | database_error.CONCURRENT_MODIFICATION                                   | retryable         |
 * | internal_error.*, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ABORTED, UNKNOWN, CANCELLED | retryable |
 * | not_allowlisted_error.* (CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE), authorization_error.*, authentication_error.*, PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION | permanent |
 * | terms / policy: offline_user_data_job_error.CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS, user_list_error.ADVERTISER_TOS_NOT_ACCEPTED, Data Manager TERMS_AND_CONDITIONS_NOT_SIGNED, NOT_ALLOWLISTED, … | permanent |
 * | OAuth refresh refused (invalid_grant … surfacing as UNAVAILABLE)          | permanent         |
 * | INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, … (other codes)               | invalid_request   |
 * | per-operation partial failure (OfflineUserDataJob) / BadRequest naming audience_members[i] (Data Manager) | per-row rejection, not an error |
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { errors } from 'google-ads-api';
import { DestinationError, type FailureClass } from '../destination';
import { GoogleAdsCallError } from './clients';

const PERMANENT_ADS_CODES = new Set([
  'not_allowlisted_error.CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE',
  'offline_user_data_job_error.CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS',
  'offline_user_data_job_error.NOT_ON_ALLOWLIST_FOR_USER_ID',
  // Policy, terms and allowlists on the list itself.
  'user_list_error.ADVERTISER_TOS_NOT_ACCEPTED',
  'user_list_error.ADVERTISER_NOT_ON_ALLOWLIST_FOR_USING_UPLOADED_DATA',
  'user_list_error.CAN_NOT_MUTATE_SENSITIVE_USERLIST',
  'user_list_error.MOBILE_APP_IS_SENSITIVE',
  'policy_violation_error.POLICY_ERROR',
  'customer_error.CREATION_DENIED_FOR_POLICY_VIOLATION',
  'customer_error.ACCOUNT_NOT_SET_UP',
]);

/** Data Manager ErrorInfo reasons that no retry will fix. */
const PERMANENT_DM_REASONS = new Set([
  'PERMISSION_DENIED',
  'TERMS_AND_CONDITIONS_NOT_SIGNED',
  'NOT_ALLOWLISTED',
  'DATA_PARTNER_USER_LIST_MUTATE_NOT_ALLOWED',
  'OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH',
]);

export interface DecodedAdsError {
  /** `field.ENUM_NAME`, e.g. `quota_error.RESOURCE_EXHAUSTED`. */
  code: string;
  message: string;
  /** Index of the failed operation when the location names one (partial failure). */
  operationIndex?: number;
  retryDelayMs?: number;
}

function durationMs(d: unknown): number | undefined {
  if (!d || typeof d !== 'object') return undefined;
  const { seconds, nanos } = d as { seconds?: unknown; nanos?: unknown };
  const ms = Number(seconds ?? 0) * 1000 + Math.round(Number(nanos ?? 0) / 1e6);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** Decodes each GoogleAdsError of a failure into a stable code, message, operation index and retry delay. */
export function decodeAdsFailure(failure: errors.GoogleAdsFailure | errors.IGoogleAdsFailure): DecodedAdsError[] {
  const out: DecodedAdsError[] = [];
  for (const e of failure.errors ?? []) {
    const codeObj = e.error_code ? (errors.ErrorCode.toObject(errors.ErrorCode.fromObject(e.error_code), { enums: String }) as Record<string, unknown>) : {};
    const [field, value] = Object.entries(codeObj).find(([, v]) => v !== undefined && v !== null) ?? ['unknown_error', 'UNKNOWN'];
    const op = e.location?.field_path_elements?.find((p) => p.field_name === 'operations');
    const index = op?.index;
    out.push({
      code: `${field}.${String(value)}`,
      message: e.message ?? '',
      operationIndex: index === undefined || index === null ? undefined : Number(index),
      retryDelayMs: durationMs(e.details?.quota_error_details?.retry_delay),
    });
  }
  return out;
}

/** Decodes a google.rpc.Status (e.g. `partial_failure_error`) carrying GoogleAdsFailure details. */
export function decodePartialFailure(status: { details?: { type_url?: string | null; value?: Uint8Array | null }[] | null } | null | undefined): DecodedAdsError[] {
  const out: DecodedAdsError[] = [];
  for (const d of status?.details ?? []) {
    if (!d.type_url?.includes('errors.GoogleAdsFailure') || !d.value) continue;
    out.push(...decodeAdsFailure(errors.GoogleAdsFailure.decode(d.value)));
  }
  return out;
}

function classifyAdsCode(code: string): FailureClass | undefined {
  if (PERMANENT_ADS_CODES.has(code)) return 'permanent';
  const [field, value] = code.split('.') as [string, string];
  if (field === 'quota_error') return value === 'RESOURCE_EXHAUSTED' || value === 'RESOURCE_TEMPORARILY_EXHAUSTED' ? 'rate_limited' : 'permanent';
  if (code === 'database_error.CONCURRENT_MODIFICATION') return 'retryable';
  if (field === 'internal_error') return 'retryable';
  if (field === 'authorization_error' || field === 'authentication_error' || field === 'not_allowlisted_error') return 'permanent';
  if (field === 'customer_user_access_error' || field === 'access_invitation_error') return 'permanent';
  if (code.endsWith('.MISSING_TOS') || code.includes('TERMS')) return 'permanent';
  return undefined;
}

function classifyGrpc(code: number | undefined): FailureClass {
  switch (code) {
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'rate_limited';
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.INTERNAL:
    case GrpcStatus.ABORTED:
    case GrpcStatus.CANCELLED:
    case GrpcStatus.UNKNOWN:
    case undefined:
      return 'retryable';
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNAUTHENTICATED:
      return 'permanent';
    case GrpcStatus.FAILED_PRECONDITION:
      return 'permanent';
    default:
      // INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, ALREADY_EXISTS, UNIMPLEMENTED: our request or configuration.
      return 'invalid_request';
  }
}

const STATUS_NAMES = Object.fromEntries(Object.entries(GrpcStatus).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k])) as Record<number, string>;

/** Removes anything secret from a message we did not write (Google's or the auth library's). */
export type Redactor = (text: string) => string;
export function redactorFor(secrets: (string | undefined)[]): Redactor {
  const list = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4);
  return (text) => {
    let out = text;
    for (const s of list) out = out.split(s).join('[redacted]');
    // Bearer / OAuth tokens that may appear in auth-library messages.
    return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/-]+=*/g, '$1[redacted]').replace(/\bya29\.[A-Za-z0-9._-]+/g, '[redacted]');
  };
}

interface StatusDetailLike {
  retryDelay?: unknown;
  reason?: string;
  fieldViolations?: { field?: string; description?: string; reason?: string }[];
}

function statusDetails(err: unknown): StatusDetailLike[] {
  const d = (err as { statusDetails?: unknown }).statusDetails;
  return Array.isArray(d) ? (d as StatusDetailLike[]) : [];
}

/** Any error from a Google call → DestinationError (already-classified errors pass through; our own bugs are rethrown). */
export function toDestinationError(err: unknown, api: 'Google Ads API' | 'Data Manager API', redact: Redactor): DestinationError {
  if (err instanceof DestinationError) return err;
  let grpcCode: number | undefined;
  let adsErrors: DecodedAdsError[] = [];
  let source: unknown = err;
  if (err instanceof GoogleAdsCallError) {
    grpcCode = err.grpcCode;
    adsErrors = err.failure ? decodeAdsFailure(err.failure) : [];
    source = err.grpcError;
  } else if (err instanceof errors.GoogleAdsFailure) {
    adsErrors = decodeAdsFailure(err);
  }
  if (grpcCode === undefined && typeof (source as { code?: unknown })?.code === 'number') grpcCode = (source as { code: number }).code;
  if (grpcCode === undefined && !adsErrors.length && !(source instanceof Error && 'metadata' in source)) {
    // Not a gRPC / Google failure: a bug of ours. Keep it as it is.
    if (err instanceof Error) throw err;
  }

  const rawMessage = adsErrors.length
    ? adsErrors.map((e) => `${e.code}: ${e.message}`).join('; ')
    : (source as { details?: unknown })?.details && typeof (source as { details?: unknown }).details === 'string'
      ? String((source as { details: string }).details)
      : source instanceof Error
        ? source.message
        : String(source);

  // Codes first (Google Ads), then Data Manager reasons, then the gRPC status.
  let failure: FailureClass | undefined;
  let code: string | undefined;
  for (const e of adsErrors) {
    const c = classifyAdsCode(e.code);
    if (c && (!failure || rank(c) > rank(failure))) {
      failure = c;
      code = e.code;
    }
  }
  const details = statusDetails(source);
  const reason = (source as { reason?: string })?.reason ?? details.find((d) => typeof d.reason === 'string' && d.reason)?.reason;
  if (!failure && reason) {
    if (PERMANENT_DM_REASONS.has(reason)) failure = 'permanent';
    else if (reason === 'RESOURCE_EXHAUSTED') failure = 'rate_limited';
    else if (reason === 'INTERNAL_ERROR' || reason === 'DEADLINE_EXCEEDED') failure = 'retryable';
    if (failure) code = reason;
  }
  // OAuth refresh failures surface as UNAVAILABLE ("Getting metadata from plugin failed"): not transient.
  if (!failure && /invalid_grant|unauthorized_client|invalid_client/.test(rawMessage)) {
    failure = 'permanent';
    code = 'oauth_refresh_failed';
  }
  failure ??= classifyGrpc(grpcCode);
  code ??= adsErrors[0]?.code ?? reason ?? (grpcCode !== undefined ? STATUS_NAMES[grpcCode] : undefined);

  let retryAfterMs: number | undefined;
  if (failure === 'rate_limited') {
    retryAfterMs = adsErrors.map((e) => e.retryDelayMs).find((v) => v !== undefined) ?? details.map((d) => durationMs(d.retryDelay)).find((v) => v !== undefined);
  }
  const statusName = grpcCode !== undefined ? STATUS_NAMES[grpcCode] : undefined;
  const message = redact(`${api}: ${rawMessage}${statusName && !rawMessage.includes(statusName) ? ` (${statusName})` : ''}`).slice(0, 2000);
  return new DestinationError(failure, message, {
    platform: 'google',
    code,
    status: grpcCode,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** Severity order when a failure carries several errors: stop-the-run beats retry. */
function rank(c: FailureClass): number {
  return { retryable: 1, rate_limited: 2, invalid_request: 3, permanent: 4 }[c];
}

/** BadRequest field violations naming `audience_members[i]` (Data Manager): index → reason. */
export function memberViolations(err: unknown): Map<number, { reason: string; description: string }> | undefined {
  const out = new Map<number, { reason: string; description: string }>();
  // gax decodes FieldViolation without its `reason`: the request's ErrorInfo reason stands in.
  const fallback = (err as { reason?: string }).reason || 'INVALID_AUDIENCE_MEMBER';
  let other = false;
  for (const d of statusDetails(err)) {
    for (const v of d.fieldViolations ?? []) {
      const m = /(?:audience_members|audienceMembers)\[(\d+)\]/.exec(v.field ?? '');
      if (!m) {
        other = true;
        continue;
      }
      out.set(Number(m[1]), { reason: v.reason || fallback, description: v.description ?? '' });
    }
  }
  return out.size && !other ? out : undefined;
}
