import pg from 'pg';
import type { DefinitionCache } from './definition-cache';

export const DEFINITIONS_CHANNEL = 'audiences_definitions';

interface Logger { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }

/**
 * LISTENs for the notifications the models and segments triggers send on every change (migration
 * 0006), from any process, and clears the cache on each. While the connection is down the cache
 * is off, so a missed notification can never leave a stale definition in place.
 */
export function listenForDefinitionChanges(options: { databaseUrl: string; cache: DefinitionCache; logger?: Logger }): { close(): Promise<void> } {
  let client: pg.Client | null = null;
  let closed = false;
  let retryMs = 500;
  let timer: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({ connectionString: options.databaseUrl });
    const lost = (error?: Error) => {
      if (client !== next) return;
      client = null;
      options.cache.setEnabled(false);
      next.end().catch(() => {});
      if (closed) return;
      options.logger?.warn({ err: error ? { message: error.message } : undefined, retryMs }, 'definition change feed lost; definition cache off until it is back');
      timer = setTimeout(() => void connect(), retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    };
    client = next;
    next.on('error', lost);
    next.on('end', () => lost());
    next.on('notification', () => options.cache.invalidate());
    try {
      await next.connect();
      await next.query(`LISTEN ${DEFINITIONS_CHANNEL}`);
      if (closed || client !== next) return;
      retryMs = 500;
      options.cache.setEnabled(true);
    } catch (error) {
      lost(error as Error);
    }
  };
  void connect();

  return {
    close: async () => {
      closed = true;
      clearTimeout(timer);
      options.cache.setEnabled(false);
      const current = client;
      client = null;
      await current?.end().catch(() => {});
    },
  };
}
