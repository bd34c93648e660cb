import { execFile } from 'node:child_process';
import path from 'node:path';

export interface CliRun { code: number; stdout: string; stderr: string }

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** `node src/bin.mjs …` as a user runs it, with only the environment given (no databases from the test's own). */
export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'WAREHOUSE_URL', 'DATA_DIR', 'EMBEDDED_PG_PORT', 'DEMO', 'SEGMENTS_DIR', 'TEST_DATABASE_URL', 'NODE_OPTIONS']) delete base[name];
  return new Promise((resolve) => {
    execFile(process.execPath, ['src/bin.mjs', ...args], { cwd: REPO_ROOT, env: { ...base, LOG_LEVEL: 'warn', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}
