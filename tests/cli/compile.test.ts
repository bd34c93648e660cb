import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/test-service';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['src/bin.mjs', 'compile', ...args], { cwd: REPO_ROOT });
const MODEL = 'segments/customers.model.json';

describe('audiences compile', () => {
  it('prints {sql, params} for a segment file, per dialect, with the as-of time as a parameter', async () => {
    const { stdout } = await cli('--model', MODEL, '--rule', 'segments/new-eu-signups.segment.json', '--dialect', 'duckdb', '--as-of', '2026-11-01T00:00:00Z');
    const out = JSON.parse(stdout);
    expect(out.sql).toMatch(/^SELECT "t"."customer_id" AS "member_key" FROM "demo"."customers"/);
    expect(out.sql).toContain('CAST($1 AS VARCHAR[])');
    expect(out.sql).not.toMatch(/now\(\)|current_timestamp/i);
    expect(out.params).toContainEqual({ name: 'p3', type: 'timestamp', value: '2026-11-01T00:00:00.000Z' });
    expect(out.params).toContainEqual({ name: 'p2', type: 'timestamp', value: '2026-08-03T00:00:00.000Z' });
  });

  it('prints plain SQL with --format sql, for a bare rule file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-compile-'));
    const rule = path.join(dir, 'rule.json');
    await fs.writeFile(rule, JSON.stringify({ icontains: [{ var: 'city' }, 'york'] }));
    const { stdout } = await cli('--model', MODEL, '--rule', rule, '--dialect', 'bigquery', '--format', 'sql');
    expect(stdout.trim()).toBe("SELECT `t`.`customer_id` AS `member_key` FROM `demo`.`customers` AS `t` WHERE (STRPOS(TRANSLATE(`t`.`city`, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), TRANSLATE(@p1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) > CAST(0 AS FLOAT64))");
    await fs.rm(dir, { recursive: true });
  });

  it('exits 1 with the file and the pointer for a rule that does not type-check, and 2 for bad usage', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-compile-'));
    const rule = path.join(dir, 'bad.json');
    await fs.writeFile(rule, JSON.stringify({ and: [true, { '<': [{ var: 'email' }, 3] }] }));
    const failed = await cli('--model', MODEL, '--rule', rule).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).toBe(1);
    expect((failed as { stderr: string }).stderr).toContain('bad.json');
    expect((failed as { stderr: string }).stderr).toContain('/and/1/</0');
    const usage = await cli('--model', MODEL).catch((e: { code: number }) => e);
    expect((usage as { code: number }).code).toBe(2);
    const dialect = await cli('--model', MODEL, '--rule', rule, '--dialect', 'oracle').catch((e: { code: number }) => e);
    expect((dialect as { code: number }).code).toBe(2);
    await fs.rm(dir, { recursive: true });
  });
});
