/** One entry of a BigQuery error body's `errors` array (or of a job's `status.errors`). */
export interface BigQueryErrorDetail {
  reason?: string;
  message?: string;
  location?: string;
}

/**
 * A BigQuery failure, carrying BigQuery's own message, HTTP status and reason. Deliberately
 * keeps nothing of the library's error object: its `response` holds the request, whose headers
 * hold the bearer token.
 */
export class BigQueryError extends Error {
  override readonly name = 'BigQueryError';
  constructor(
    message: string,
    /** HTTP status of the failed call; undefined for job errors reported in a 200 response and for network errors. */
    readonly status: number | undefined,
    /** First error reason, e.g. `invalidQuery`, `notFound`, `backendError`, `rateLimitExceeded`. */
    readonly reason: string | undefined,
    readonly errors: BigQueryErrorDetail[],
    readonly retryable: boolean,
    /** Attempts made, retries included. */
    readonly attempts: number,
  ) {
    super(message);
  }
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRYABLE_REASONS = new Set([
  'backendError', 'internalError', 'rateLimitExceeded', 'userRateLimitExceeded',
  'jobBackendError', 'jobInternalError', 'jobRateLimitExceeded',
]);
const RETRYABLE_NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ESOCKETTIMEDOUT']);

interface LibraryError {
  code?: unknown;
  errors?: unknown;
  message?: unknown;
  type?: unknown;
}

function detailsOf(error: LibraryError): BigQueryErrorDetail[] {
  if (!Array.isArray(error.errors)) return [];
  return error.errors
    .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
    .map((e) => ({
      ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
      ...(typeof e.message === 'string' ? { message: e.message } : {}),
      ...(typeof e.location === 'string' ? { location: e.location } : {}),
    }));
}

/** Transient by HTTP status, BigQuery reason or network error code: worth another attempt. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof BigQueryError) return error.retryable;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as LibraryError;
  if (typeof e.code === 'number' && RETRYABLE_STATUS.has(e.code)) return true;
  if (typeof e.code === 'string' && RETRYABLE_NETWORK_CODES.has(e.code)) return true;
  if (e.type === 'request-timeout') return true; // node-fetch's timeout
  return detailsOf(e).some((d) => d.reason !== undefined && RETRYABLE_REASONS.has(d.reason));
}

/** The library's ApiError / FetchError (or anything thrown) → BigQueryError with BigQuery's message. */
export function toBigQueryError(error: unknown, operation: string, attempts: number): BigQueryError {
  if (error instanceof BigQueryError) return error;
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as LibraryError;
  const details = detailsOf(e);
  const status = typeof e.code === 'number' ? e.code : undefined;
  const reason = details.find((d) => d.reason)?.reason;
  const messages = new Set<string>();
  for (const d of details) if (d.message) messages.add(d.message);
  // The library prefixes several messages with a "Multiple errors occurred" preamble; ours are joined instead.
  if (messages.size === 0 && typeof e.message === 'string' && e.message) messages.add(e.message);
  const what = [status, reason ?? (typeof e.code === 'string' ? e.code : undefined)].filter((x) => x !== undefined).join(' ');
  const retryable = isRetryable(error);
  const tries = attempts > 1 ? ` (after ${attempts} attempts)` : '';
  const message = `BigQuery ${operation} failed${what ? ` (${what})` : ''}${tries}: ${[...messages].join('; ') || 'unknown error'}`;
  return new BigQueryError(message, status, reason, details, retryable, attempts);
}

export interface RetryOptions {
  /** Attempts in all, the first included (1 = no retry). */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 5, initialDelayMs: 500, maxDelayMs: 16_000, multiplier: 2 };

/** Delay before retry `n` (1-based): exponential, capped, with jitter in its upper half. */
export function backoffDelay(retry: RetryOptions, n: number): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.initialDelayMs * retry.multiplier ** (n - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Runs `fn`, retrying transient failures with bounded exponential backoff; failures surface as BigQueryError. */
export async function withRetry<T>(operation: string, retry: RetryOptions, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= retry.maxAttempts || !isRetryable(error)) throw toBigQueryError(error, operation, attempt);
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(retry, attempt)));
    }
  }
}
