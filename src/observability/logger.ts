import pino, { type DestinationStream, type Logger, type SerializedError } from 'pino';

export type { Logger } from 'pino';

/**
 * Fields that may carry a credential or a customer's identifier. Services log ids and counts
 * only; these paths are the defense in depth for an object that slips into a log line anyway.
 */
const SENSITIVE_FIELDS = [
  'authorization', 'cookie', 'password', 'token', 'accessToken', 'access_token', 'refreshToken', 'refresh_token',
  'developerToken', 'developer_token', 'clientSecret', 'client_secret', 'appSecret', 'app_secret', 'privateKey', 'private_key',
  'credentials', 'secret', 'secrets',
  'email', 'phone', 'first_name', 'last_name', 'firstName', 'lastName', 'identifiers', 'memberKey', 'member_key', 'record', 'members',
];

export const REDACTED_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'res.headers["set-cookie"]',
  'headers.authorization', 'headers.cookie',
  ...SENSITIVE_FIELDS.flatMap((field) => [field, `*.${field}`]),
];

/** Query parameters whose values are not logged with a request's URL (cursors encode member keys). */
const SENSITIVE_QUERY = /([?&](?:cursor|token|access_token|key)=)[^&#]*/gi;

export function urlForLog(url: string): string {
  return url.replace(SENSITIVE_QUERY, '$1***');
}

/**
 * Errors keep their type, message, code and stack only: SDK errors carry their request (headers,
 * access tokens, bodies of identifiers) as properties, which pino's standard serializer would write.
 */
function serializeError(error: unknown): Partial<SerializedError> | unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    message: error.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(error.stack ? { stack: error.stack } : {}),
  };
}

interface RequestLike { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }

/** Anything with `write(line)`: a file or socket stream, or a test's capture. */
export type LogDestination = DestinationStream;

export interface CreateLoggerOptions {
  /** A pino level or `silent` (LOG_LEVEL). */
  level: string;
  /** Where lines go (default stdout); tests capture them here. */
  destination?: LogDestination;
}

/** The process's root logger: JSON lines, ISO times, secrets and identifiers redacted. */
export function createLogger(options: CreateLoggerOptions): Logger {
  return pino({
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      err: serializeError,
      error: serializeError,
      // Fastify's request serializer, with sensitive query values masked.
      req: (req: RequestLike) => ({
        method: req.method, url: urlForLog(req.url ?? ''), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort,
      }),
    },
  }, options.destination);
}

/** For services built without a runtime (tests, tools): logs nothing. */
export const silentLogger = (): Logger => pino({ level: 'silent' });

/** The first line of an error's message, bounded: what a log line may say about a failure (scrub secrets before logging it). */
export function errorSummary(error: unknown, maxLength = 500): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, maxLength);
}
