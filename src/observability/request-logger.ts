import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;
type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };

/**
 * A request's logger, made into a pino child on its first line at an enabled level. Fastify makes
 * a child logger for every request, and with pino's redaction a child is costly to build (its
 * bindings are serialized and redacted at once): the load benchmark found it at ~15% of a cached
 * GET's CPU. A request that logs nothing at the enabled level now builds none; the lines written
 * are the same. A class, so that a request costs one object and no closures.
 */
class LazyRequestLogger {
  private built: LevelAware | undefined;

  constructor(private readonly parent: LevelAware, private readonly bindings: Bindings, private readonly options: ChildOptions) {}

  private real(): LevelAware {
    return (this.built ??= this.parent.child(this.bindings, this.options) as LevelAware);
  }

  private write(level: Level, args: unknown[]): void {
    if (!(this.built ?? this.parent).isLevelEnabled(level)) return;
    (this.real()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string { return (this.built ?? this.parent).level; }
  set level(level: string) { this.real().level = level; }
  isLevelEnabled(level: string): boolean { return (this.built ?? this.parent).isLevelEnabled(level); }
  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger { return this.real().child(bindings, options); }
  fatal(...args: unknown[]): void { this.write('fatal', args); }
  error(...args: unknown[]): void { this.write('error', args); }
  warn(...args: unknown[]): void { this.write('warn', args); }
  info(...args: unknown[]): void { this.write('info', args); }
  debug(...args: unknown[]): void { this.write('debug', args); }
  trace(...args: unknown[]): void { this.write('trace', args); }
  silent(): void {}
}

export const lazyChildLoggerFactory: ChildLoggerFactory = (logger, bindings, options) => {
  // A route with its own log level, or a logger that cannot say which levels are on: a real child.
  if ((options as { level?: unknown }).level !== undefined || typeof (logger as Partial<LevelAware>).isLevelEnabled !== 'function') return logger.child(bindings, options);
  return new LazyRequestLogger(logger as LevelAware, bindings, options) as unknown as FastifyBaseLogger;
};
