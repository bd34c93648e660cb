/**
 * A second service process for the concurrency tests: opens a runtime from its environment
 * (DATABASE_URL, WAREHOUSE_URL, STATE_SCHEMA), starts a refresh of REFRESH_SEGMENT as of
 * REFRESH_AS_OF, prints one JSON line when the run is recorded and one when it finishes.
 * Run as `node --import tsx tests/support/refresh-child.ts`.
 */
import { loadConfig } from '../../src/config';
import { openRuntime } from '../../src/runtime';

const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

const segment = process.env.REFRESH_SEGMENT;
if (!segment) throw new Error('REFRESH_SEGMENT is not set');
const asOf = process.env.REFRESH_AS_OF ? new Date(process.env.REFRESH_AS_OF) : new Date();

const runtime = await openRuntime(loadConfig(process.env), { log: () => {} });
try {
  const run = await runtime.refresh.start(segment, { asOf, wait: false });
  say({ event: 'recorded', run });
  await runtime.refresh.drain();
  say({ event: 'finished', run: await runtime.refresh.getRun(run.id) });
} catch (error) {
  say({ event: 'error', status: (error as { status?: number }).status ?? null, message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  await runtime.close();
}
