import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: path.resolve(import.meta.dirname, '..'),
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Test files run in parallel, each in a database of its own. Vitest's default on 2 cores is one
    // worker (cores - 1), but most files wait on Postgres and child processes, not the CPU.
    fileParallelism: true,
    maxWorkers: 3,
  },
});
