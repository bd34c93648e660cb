/**
 * A second service process for the sync fault tests: opens a runtime from its environment
 * (DATABASE_URL, AUDIENCES_ENCRYPTION_KEY, META_GRAPH_URL, …) and prints `ready`; on a line on
 * stdin (the slug, or SYNC_SLUG when the line is empty) it starts a run of that sync with a short
 * retry policy, prints one JSON line when the run is recorded and one when it finishes.
 * Run as `node --import tsx tests/support/sync-child.ts` (the tests SIGKILL it mid-run). Starting
 * it early lets its start-up (seconds of module loading) overlap other tests.
 */
import readline from 'node:readline';
import { loadConfig } from '../../src/config';
import { openRuntime } from '../../src/runtime';

const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

const runtime = await openRuntime(loadConfig(process.env), { log: () => {}, syncRetry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 2000 } });
say({ event: 'ready' });
const lines = readline.createInterface({ input: process.stdin });
const line = await new Promise<string | undefined>((resolve) => {
  lines.once('line', resolve);
  lines.once('close', () => resolve(undefined));
});
lines.close();
const slug = line?.trim() || process.env.SYNC_SLUG;
try {
  if (!slug) throw new Error('no sync slug: give one on stdin or in SYNC_SLUG');
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
