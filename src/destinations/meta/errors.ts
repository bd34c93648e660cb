import { DestinationError, type FailureClass } from '../destination';

/**
 * Turning Graph API failures into `DestinationError`s, and keeping secrets out of them.
 *
 * Graph errors arrive as `{error: {message, type, code, error_subcode, is_transient,
 * error_user_title, error_user_msg, fbtrace_id}}` with an HTTP status (usually 400, 500 for
 * code 1/2). The SDK wraps them in a `FacebookRequestError` (not exported by the package) whose
 * `url` carries the access token and whose `data` carries the payload: we never keep that object
 * (no `cause`), only the fields below, and every message is scrubbed of the token, app secret
 * and appsecret_proof.
 *
 * Mapping, first match wins:
 *
 *   subcode 1713230 / 1713228 / 1713231 (flagged, operation_status 471)  permanent
 *   200/1870047 "Audience Size too Low" (removal would shrink it too much) permanent
 *   200/1870034, 200/1870090, 200/1870092, 2655, "terms" in the message    permanent (ToS; names the ToS URL)
 *   190 (token invalid/expired), 102 (session key)                        permanent
 *   4, 17, 32, 613, 80000–80014 (80003 custom audience), HTTP 429          rate_limited, retryAfterMs from headers (default 60 s)
 *   is_transient, 1, 2, HTTP 5xx, no response, non-JSON body              retryable
 *   2650 (not transient)                                                  permanent
 *   3, 10, 200, 294, 2654/1713092 (permissions)                           permanent
 *   100/33 (object missing or invisible to the token)                     permanent
 *   100 (invalid parameter)                                               invalid_request
 *   any other 4xx                                                          permanent
 *
 * Timeouts and caller aborts are decided by the destination (it owns the signals): retryable.
 */

export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  is_transient?: boolean;
  error_user_title?: string;
  error_user_msg?: string;
  fbtrace_id?: string;
}

/** A failed Graph call, whichever client made it. */
export interface GraphFailure {
  /** HTTP status; undefined when no response arrived. */
  status?: number;
  error?: GraphErrorBody;
  header: (name: string) => string | undefined;
  /** No response at all (connection refused/reset, timeout, abort). */
  noResponse?: boolean;
  /** The response was not JSON (an HTML error page from a proxy, …). */
  unparseable?: boolean;
}

/** Rate-limit codes: 4 app, 17 user, 32 page, 613 ad account, 80000–80014 business use case (80003 custom audience). */
const RATE_LIMIT_CODES = new Set([4, 17, 32, 613]);
const isBucCode = (code: number) => code >= 80000 && code <= 80014;
/** Flagged audience (operation_status 471): edits refused. */
const FLAGGED_SUBCODES = new Set([1713230, 1713228, 1713231]);
/** Code 200 subcodes: Custom Audience terms (1870034, 1870090), Meta Business Tools terms (1870092). */
const TOS_SUBCODES = new Set([1870034, 1870090, 1870092]);
/** Code 200 subcode: removal refused, the audience would become too small. */
const TOO_SMALL_TO_REMOVE_SUBCODE = 1870047;
const PERMISSION_CODES = new Set([3, 10, 200, 294]);
const TOKEN_CODES = new Set([102, 190]);

export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

const parseJson = (text: string | undefined): unknown => {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/**
 * How long to wait before retrying, from the usage headers:
 * `X-Business-Use-Case-Usage` `{"<id>": [{type, call_count, total_cputime, total_time,
 * estimated_time_to_regain_access (minutes)}]}` (the longest wait wins), then
 * `X-Ad-Account-Usage` `reset_time_duration` (seconds), then `Retry-After` (seconds).
 * `X-App-Usage` (`{call_count, total_cputime, total_time}`, percentages) has no time: when it is
 * at 100 % we fall back to the default wait.
 */
export function retryAfterFromHeaders(header: (name: string) => string | undefined): number | undefined {
  let minutes = 0;
  const buc = parseJson(header('x-business-use-case-usage'));
  if (buc && typeof buc === 'object') {
    for (const entries of Object.values(buc as Record<string, unknown>)) {
      for (const entry of Array.isArray(entries) ? entries : [entries]) {
        const value = Number((entry as { estimated_time_to_regain_access?: unknown } | null)?.estimated_time_to_regain_access);
        if (Number.isFinite(value) && value > minutes) minutes = value;
      }
    }
  }
  if (minutes > 0) return Math.round(minutes * 60_000);
  const account = parseJson(header('x-ad-account-usage')) as { reset_time_duration?: unknown } | undefined;
  const reset = Number(account?.reset_time_duration);
  if (Number.isFinite(reset) && reset > 0) return Math.round(reset * 1000);
  const retryAfter = header('retry-after');
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds > 0) return Math.round(seconds * 1000);
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at) && at > Date.now()) return at - Date.now();
  }
  const app = parseJson(header('x-app-usage')) as Record<string, unknown> | undefined;
  if (app && Object.values(app).some((v) => Number(v) >= 100)) return DEFAULT_RATE_LIMIT_WAIT_MS;
  return undefined;
}

/** Removes secrets from text: the literal values, and any `access_token=` / `appsecret_proof=` parameter. */
export function scrub(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out
    .replace(/(access_token|appsecret_proof|input_token)=[^&\s"']+/gi, '$1=[redacted]')
    .replace(/("(?:access_token|appsecret_proof)"\s*:\s*")[^"]*"/gi, '$1[redacted]"');
}

export interface ClassifyOptions {
  /** What we were doing, e.g. `adding 120 members to audience 123`. */
  operation: string;
  /** Secrets to scrub from messages. */
  secrets: Array<string | undefined>;
  adAccountId: string;
}

/** Maps a Graph failure to a `DestinationError` (table at the top of this module). */
export function classifyGraphFailure(failure: GraphFailure, options: ClassifyOptions): DestinationError {
  const { status, error } = failure;
  const code = error?.code;
  const subcode = error?.error_subcode;
  const metaText = [error?.error_user_title, error?.error_user_msg, error?.message].filter(Boolean).join(' — ');
  const codeText = code === undefined ? undefined : subcode === undefined ? String(code) : `${code}/${subcode}`;
  const ref = [codeText && `code ${codeText}`, status && `HTTP ${status}`, error?.fbtrace_id && `fbtrace_id ${error.fbtrace_id}`]
    .filter(Boolean)
    .join(', ');
  const make = (failureClass: FailureClass, what: string, retryAfterMs?: number) => {
    const message = scrub(
      `Meta: ${options.operation} failed: ${what}${metaText ? ` Meta said: ${metaText}` : ''}${ref ? ` (${ref})` : ''}`,
      options.secrets,
    );
    return new DestinationError(failureClass, message, {
      platform: 'meta',
      ...(codeText !== undefined ? { code: codeText } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  };

  if (failure.noResponse) return make('retryable', 'no response from the Graph API (connection failed or reset).');
  if (failure.unparseable) return make('retryable', `the Graph API answered HTTP ${status ?? '?'} with a body that is not JSON.`);

  const text = `${error?.message ?? ''} ${error?.error_user_title ?? ''} ${error?.error_user_msg ?? ''}`;
  const accountDigits = options.adAccountId.replace(/^act_/, '');

  if ((subcode !== undefined && FLAGGED_SUBCODES.has(subcode)) || /audience upload blocked|integrity restrictions/i.test(text)) {
    return make(
      'permanent',
      'the audience is flagged by Meta (operation_status 471: it suggests information not allowed under Meta\'s terms) and refuses membership changes until the restriction is resolved in Audience Manager, or a new audience is used.',
    );
  }
  if ((code === 200 && subcode === TOO_SMALL_TO_REMOVE_SUBCODE) || /low audience size/i.test(text)) {
    return make(
      'permanent',
      'Meta refused the removal because the audience would become too small (Meta keeps custom audiences above a minimum size; remove fewer people, add members first, or replace the audience).',
    );
  }
  if ((code === 200 && subcode !== undefined && TOS_SUBCODES.has(subcode)) || code === 2655 || /terms of service|agree to the .*terms|terms not accepted/i.test(text)) {
    return make(
      'permanent',
      `the Custom Audience terms of service are not accepted for ad account ${options.adAccountId} (a user of the business must accept them at https://business.facebook.com/ads/manage/customaudiences/tos.php?act=${accountDigits}).`,
    );
  }
  if (code !== undefined && TOKEN_CODES.has(code)) {
    return make('permanent', 'the access token is invalid or expired (re-authorize the destination with a new token).');
  }
  if ((code !== undefined && (RATE_LIMIT_CODES.has(code) || isBucCode(code))) || status === 429) {
    return make('rate_limited', 'rate limited by Meta.', retryAfterFromHeaders(failure.header) ?? DEFAULT_RATE_LIMIT_WAIT_MS);
  }
  if (error?.is_transient === true || code === 1 || code === 2 || (status !== undefined && status >= 500)) {
    return make('retryable', 'a transient Graph API error.');
  }
  if (code === 2650) {
    return make('permanent', 'Meta refused to update the custom audience (code 2650 is not transient: the audience\'s data source or state does not accept this upload).');
  }
  if ((code !== undefined && PERMISSION_CODES.has(code)) || (code === 2654 && subcode === 1713092)) {
    return make(
      'permanent',
      `the token lacks permission (it needs ads_management and access to ad account ${options.adAccountId}, e.g. as a system user with the Admin role).`,
    );
  }
  if (code === 100 && subcode === 33) {
    return make('permanent', 'the object does not exist, or the token cannot see it.');
  }
  if (code === 100) return make('invalid_request', 'Meta rejected a parameter.');
  if (status !== undefined && status >= 400) return make('permanent', 'Meta refused the request.');
  return make('retryable', 'an unexpected Graph API failure.');
}

/** A `GraphFailure` from what the SDK throws (a `FacebookRequestError`, or a parse error from its error handling). */
export function failureFromSdkError(err: unknown): GraphFailure | undefined {
  if (err instanceof SyntaxError) return { unparseable: true, header: () => undefined };
  if (!err || typeof err !== 'object' || (err as { name?: unknown }).name !== 'FacebookRequestError') return undefined;
  const e = err as { status?: number | null; response?: unknown; headers?: unknown };
  const headers = e.headers as ({ get?: (name: string) => unknown } & Record<string, unknown>) | null | undefined;
  const header = (name: string): string | undefined => {
    if (!headers) return undefined;
    const viaGet = typeof headers.get === 'function' ? headers.get(name) : undefined;
    const value = viaGet ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    return value === undefined || value === null ? undefined : String(value);
  };
  if (e.status === null || e.status === undefined) return { noResponse: true, header };
  const body = e.response && typeof e.response === 'object' ? (e.response as GraphErrorBody) : undefined;
  return { status: e.status, error: body, header };
}
