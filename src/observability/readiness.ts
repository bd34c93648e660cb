import type { Knex } from 'knex';
import type { Warehouse } from '../warehouse/warehouse';
import { TimeoutError, withTimeout } from './timeout';

/** One dependency the service needs to serve: resolves (with an optional note) when it answers. */
export interface ReadinessCheck {
  name: string;
  run(): Promise<string | void>;
}

export interface CheckResult {
  status: 'ok' | 'failed';
  latencyMs: number;
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

/**
 * Runs the checks in parallel, each bounded by `timeoutMs`. What a failed check says is kept
 * short and generic (the endpoint is public); the full error goes to the log.
 */
export async function checkReadiness(checks: ReadinessCheck[], options: { timeoutMs: number; logger?: { warn(fields: object, message: string): void } }): Promise<Readiness> {
  const results = await Promise.all(checks.map(async (check): Promise<[string, CheckResult]> => {
    const started = performance.now();
    const latencyMs = () => Math.round(performance.now() - started);
    try {
      const note = await withTimeout(check.run(), options.timeoutMs);
      return [check.name, { status: 'ok', latencyMs: latencyMs(), ...(note ? { detail: note } : {}) }];
    } catch (error) {
      options.logger?.warn({ check: check.name, err: error }, 'readiness check failed');
      return [check.name, { status: 'failed', latencyMs: latencyMs(), detail: publicReason(error) }];
    }
  }));
  return { ready: results.every(([, r]) => r.status === 'ok'), checks: Object.fromEntries(results) };
}

/** A timeout, or the error's code (ECONNREFUSED, 57P01, …): never its message, which may name hosts or users. */
function publicReason(error: unknown): string {
  if (error instanceof TimeoutError) return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code) ? `failed (${code})` : 'failed';
}

export const databaseCheck = (db: Knex): ReadinessCheck => ({
  name: 'database',
  run: async () => { await db.raw('select 1'); },
});

export const warehouseCheck = (warehouse: Warehouse): ReadinessCheck => ({
  name: 'warehouse',
  run: () => warehouse.ping(),
});

/** The job queue answers; a process without workers is still ready (it only enqueues), and says so. */
export const jobsCheck = (jobs: { state(): Promise<{ workers: boolean; queued: Record<string, number> }> }): ReadinessCheck => ({
  name: 'jobs',
  run: async () => {
    const { workers, queued } = await jobs.state();
    const depths = Object.entries(queued).map(([queue, n]) => `${queue} ${n}`).join(', ');
    return `${workers ? 'workers on' : 'workers off in this process (run `audiences worker` elsewhere)'}; queued: ${depths}`;
  },
});
