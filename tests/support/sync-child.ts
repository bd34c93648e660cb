/**
 * A second service process for the sync fault tests: opens a runtime from its environment
 * (DATABASE_URL, AUDIENCES_ENCRYPTION_KEY, META_GRAPH_URL, …), starts a run of SYNC_SLUG with a
 * short retry policy, prints one JSON line when the run is recorded and one when it finishes.
 * Run as `node --import tsx tests/support/sync-child.ts` (the tests SIGKILL it mid-run).
 */
import { loadConfig } from '../../src/config';
import { openRuntime } from '../../src/runtime';

const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

const slug = process.env.SYNC_SLUG;
if (!slug) throw new Error('SYNC_SLUG is not set');

const runtime = await openRuntime(loadConfig(process.env), { log: () => {}, syncRetry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 2000 } });
try {
  const { run } = await runtime.syncs.startRun(slug, { wait: false });
  say({ event: 'recorded', run });
  await runtime.syncs.drain();
  say({ event: 'finished', run: await runtime.syncs.getRun(run.id) });
} catch (error) {
  say({ event: 'error', status: (error as { status?: number }).status ?? null, message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  await runtime.close();
}
