import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

type Bindings = Record<string, unknown>;
type Enabled = { isLevelEnabled?: (level: string) => boolean };

/**
 * Fastify makes a child logger for every request. With pino's redaction that child is costly to
 * build (its bindings are serialized and redacted at once): the load benchmark found it at ~15% of
 * a GET's CPU. This builds it on the first log line at an enabled level, and never when a request
 * logs nothing. The lines written are the same.
 */
export const lazyChildLoggerFactory: ChildLoggerFactory = (logger, bindings, options) => {
  // A route with its own log level needs a real child to carry it.
  if ((options as { level?: unknown }).level !== undefined || typeof (logger as Enabled).isLevelEnabled !== 'function') return logger.child(bindings, options);
  let child: FastifyBaseLogger | undefined;
  const real = () => (child ??= logger.child(bindings, options));
  const lazy = {
    get level() { return child ? child.level : logger.level; },
    set level(level: string) { real().level = level; },
    silent: () => {},
    child: (more: Bindings, moreOptions?: Parameters<FastifyBaseLogger['child']>[1]) => real().child(more, moreOptions),
    isLevelEnabled: (level: string) => ((child ?? logger) as Enabled).isLevelEnabled!(level),
  } as Record<string, unknown>;
  for (const level of LEVELS) {
    lazy[level] = (...args: unknown[]) => {
      if (!((child ?? logger) as Enabled).isLevelEnabled!(level)) return;
      (real()[level] as (...a: unknown[]) => void)(...args);
    };
  }
  return lazy as unknown as FastifyBaseLogger;
};
