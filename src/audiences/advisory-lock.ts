import type { Knex } from 'knex';
import pg from 'pg';

/**
 * A session advisory lock on the metadata Postgres, held on a connection of its own: a lock held
 * for the length of a refresh must not occupy a pool connection (N long refreshes would starve a
 * pool of N), and losing the session (failover, idle timeout, a proxy dropping it) must be
 * noticed, because the lock goes with it.
 */
export interface HeldLock {
  /** True once the session that holds the lock has ended or failed. */
  readonly lost: boolean;
  /** Throws unless the session is still alive (and so still holds the lock): the fence before a commit. */
  assertHeld(): Promise<void>;
  release(): Promise<void>;
}

export class LockLostError extends Error {
  constructor(what: string) {
    super(`lost the lock on ${what}: its database session ended; another process may hold it now`);
    this.name = 'LockLostError';
  }
}

/** The connection settings of a knex Postgres instance, for connections outside its pool. */
export function connectionSettings(db: Knex): pg.ClientConfig {
  const connection = (db.client as { config: { connection?: unknown } }).config.connection;
  if (typeof connection === 'string') return { connectionString: connection };
  if (connection && typeof connection === 'object') return { ...(connection as pg.ClientConfig) };
  throw new Error('the metadata database has no static connection settings');
}

/**
 * Takes `pg_advisory_lock(lockClass, hashtext(key))` on a new session. Without `wait`, returns
 * null when another session holds it.
 */
export async function acquireAdvisoryLock(
  settings: pg.ClientConfig,
  lock: { lockClass: number; key: string; wait: boolean },
): Promise<HeldLock | null> {
  const client = new pg.Client({ ...settings, keepAlive: true, application_name: 'audiences-lock' });
  let lost = false;
  // A terminated session emits 'error' (and 'end'): without a listener it would crash the process.
  client.on('error', () => { lost = true; });
  client.on('end', () => { lost = true; });
  await client.connect();
  let released = false;
  try {
    const sql = lock.wait ? 'select pg_advisory_lock($1, hashtext($2))' : 'select pg_try_advisory_lock($1, hashtext($2)) as locked';
    const { rows } = await client.query<{ locked: boolean }>(sql, [lock.lockClass, lock.key]);
    if (!lock.wait && rows[0]?.locked !== true) {
      released = true;
      await client.end().catch(() => {});
      return null;
    }
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return {
    get lost() { return lost; },
    async assertHeld() {
      if (lost || released) throw new LockLostError(lock.key);
      try {
        await client.query('select 1');
      } catch {
        lost = true;
        throw new LockLostError(lock.key);
      }
    },
    async release() {
      if (released) return;
      released = true;
      // Ending the session releases the lock; unlocking first keeps it prompt when end() is slow.
      if (!lost) await client.query('select pg_advisory_unlock($1, hashtext($2))', [lock.lockClass, lock.key]).catch(() => {});
      await client.end().catch(() => {});
    },
  };
}
