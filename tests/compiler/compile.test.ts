import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CompileError, compileRule } from '../../src/compiler/compile';
import { compilerModelOf } from '../../src/compiler/compiler-model';
import type { DialectName } from '../../src/compiler/dialects/dialect';
import { REPO_ROOT } from '../support/test-service';

const model = compilerModelOf(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'segments/customers.model.json'), 'utf8')));
const asOf = new Date('2026-11-01T00:00:00Z');
const compile = (rule: unknown, dialect: DialectName = 'postgres') => compileRule({ rule, model, dialect, asOf, basePointer: '/rule' });
const refusal = (rule: unknown) => {
  try {
    compile(rule);
  } catch (error) {
    if (error instanceof CompileError) return error.problems[0]!;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(rule)} to be refused`);
};

describe('compileRule', () => {
  it('selects member keys from the model table with a never-null predicate', () => {
    const { sql, params } = compile({ '!=': [{ var: 'country' }, 'US'] });
    // JS: null != "US" is true, so NULL countries are selected (no three-valued logic leaks).
    expect(sql).toBe('SELECT "t"."customer_id" AS "member_key" FROM "demo"."customers" AS "t" WHERE (NOT COALESCE(("t"."country" = $1::text), FALSE))');
    expect(params).toEqual([{ name: 'p1', type: 'string', value: 'US' }]);
  });

  it('gives null the JavaScript meaning: 0 in "<", equal only to null', () => {
        const lt = compile({ '<': [{ var: 'ltv' }, 5] }).sql;
    // In WHERE position NULL filters like FALSE, so no COALESCE(…, FALSE) around the comparison there ...
    expect(lt).toContain('WHERE ((COALESCE(CAST("t"."ltv" AS double precision), CAST(0 AS double precision)) < $1::double precision) AND');
    // ... but under NOT it is needed: !(null < 5) must not become NULL.
    expect(compile({ '!': { '<': [{ '*': [{ var: 'ltv' }, 2] }, 5] } }).sql).toMatch(/WHERE \(NOT \(COALESCE\(/);
    // ... and NaN (which SQL orders above everything) compares false, as in JavaScript.
    expect(lt).toContain(`(NOT COALESCE((COALESCE(CAST("t"."ltv" AS double precision), CAST(0 AS double precision)) = CAST('NaN' AS double precision)), FALSE))`);
    expect(compile({ '==': [{ var: 'ltv' }, null] }).sql).toMatch(/WHERE \(CAST\("t"."ltv" AS double precision\) IS NULL\)$/);
  });

  it('binds the as-of time and window cutoffs as parameters, once each', () => {
    const { sql, params } = compile({ or: [{ within_last: [{ var: 'created_at' }, 7, 'days'] }, { within_last: [{ var: 'created_at' }, 30, 'days'] }] });
    expect(sql).not.toMatch(/now\(|current_/i);
    expect(params.filter((p) => p.value === asOf.toISOString())).toHaveLength(1);
    expect(params.map((p) => p.value)).toEqual(['2026-10-25T00:00:00.000Z', '2026-11-01T00:00:00.000Z', '2026-10-02T00:00:00.000Z']);
  });

  it('folds constant subtrees with json-logic-js', () => {
    expect(compile({ and: [{ '==': [1, '1'] }, { var: 'marketing_opt_in' }] }).sql).toMatch(/WHERE "t"."marketing_opt_in"$/);
    expect(compile({ '<': [{ var: 'ltv' }, { '+': [1, '2', { '*': [2, 3] }] }] }).params[0]!.value).toBe(9);
    expect(compile(false).sql).toMatch(/WHERE FALSE$/);
  });

  it('renders each dialect with its own placeholders and functions', () => {
    const rule = { and: [{ matches: [{ var: 'email' }, '^[a-z]+\\.'] }, { in: ['running', { var: 'interests' }] }] };
    expect(compile(rule, 'postgres').sql).toContain('("t"."email" ~ $1::text)');
    expect(compile(rule, 'duckdb').sql).toContain('regexp_matches("t"."email", CAST($1 AS VARCHAR))');
    const bq = compile(rule, 'bigquery');
    expect(bq.sql).toContain('REGEXP_CONTAINS(`t`.`email`, @p1)');
    expect(bq.sql).toContain('(@p2 IN UNNEST(`t`.`interests`))');
    // The pattern is bound in each engine's syntax.
    expect(compile(rule, 'postgres').params[0]!.value).toBe('^[a-z]{1,}\\u002E');
    expect(bq.params[0]!.value).toBe('(?s)\\A[a-z]{1,}\\x{2E}');
  });

  it('warns about dead var defaults', () => {
    expect(compile({ '>': [{ var: ['ltv', 100] }, 5] }).warnings[0]).toMatch(/default .* is never used/);
  });

  it.each([
    ['a string column against a number', { '<': [{ var: 'email' }, 5] }, '/rule/</0', 'number', 'string'],
    ['a string column equal to a number', { '==': [{ var: 'email' }, 5] }, '/rule/==/0', 'string', 'number'],
    ['two string columns ordered', { '<': [{ var: 'first_name' }, { var: 'last_name' }] }, '/rule/</0', 'string literal', 'string column'],
    ['division by a column', { '>': [{ '/': [100, { var: 'ltv' }] }, 1] }, '/rule/>/0/~1/1', 'non-zero number literal', undefined],
    ['division by zero', { '>': [{ '/': [{ var: 'ltv' }, 0] }, 1] }, '/rule/>/0/~1/1', 'non-zero number literal', undefined],
    ['a float remainder', { '==': [{ '%': [{ var: 'ltv' }, 2] }, 1] }, '/rule/==/0/%/0', 'integer', undefined],
    ['substr of a column', { '==': [{ substr: [{ var: 'email' }, 0, 3] }, 'abc'] }, '/rule/==/0', undefined, undefined],
    ['cat of a number column', { '==': [{ cat: [{ var: 'ltv' }, 'x'] }, '1x'] }, '/rule/==/0/cat/0', 'string', 'number'],
    ['== on a timestamp', { '==': [{ var: 'created_at' }, '2026-01-01'] }, '/rule/==/0', undefined, 'timestamp'],
    ['before with a non-ISO literal', { before: [{ var: 'created_at' }, 'last tuesday'] }, '/rule/before/1', 'ISO-8601 date or date-time', undefined],
    ['before with a zone-less date-time', { before: [{ var: 'created_at' }, '2026-01-01T10:00'] }, '/rule/before/1', 'ISO-8601 date or date-time', undefined],
    ['an unsupported regex', { matches: [{ var: 'email' }, '(?=x)'] }, '/rule/matches/1', undefined, undefined],
    ['a regex that is not a literal', { matches: [{ var: 'email' }, { var: 'city' }] }, '/rule/matches/1', 'string literal', undefined],
    ['and used as a value', { '==': [{ and: [{ var: 'email' }, 'x'] }, 'x'] }, '/rule/==/0', undefined, undefined],
    ['a lone surrogate', { '==': [{ var: 'email' }, '\ud800'] }, '/rule/==/1', undefined, undefined],
    ['sum of a string', { '>': [{ sum: [{ var: 'orders' }, { var: 'status' }] }, 1] }, '/rule/>/0/sum/1/var', 'number', 'string'],
    ['in_segment without a resolver', { in_segment: ['vip'] }, '/rule/in_segment/0', undefined, undefined],
  ])('refuses %s with a pointer', (_name, rule, pointer, expected, found) => {
    const problem = refusal(rule);
    expect(problem.pointer).toBe(pointer);
    if (expected) expect(problem.expected).toBe(expected);
    if (found) expect(problem.found).toBe(found);
  });

  it('turns count comparisons with constants into EXISTS, NOT EXISTS or a grouped semi-join', () => {
    const count = (window: number) => ({ count: [{ var: 'orders' }, { '==': [{ var: 'status' }, 'completed'] }, [window, 'days']] });
    expect(compile({ '>': [count(30), 0] }).sql).toMatch(/WHERE EXISTS \(SELECT 1 FROM "demo"."orders"/);
    expect(compile({ '==': [count(30), 0] }).sql).toMatch(/WHERE \(NOT EXISTS \(SELECT 1 FROM "demo"."orders"/);
    const grouped = compile({ '>=': [count(30), 3] });
    expect(grouped.sql).toContain('"t"."customer_id" IN (SELECT "r"."customer_id" FROM "demo"."orders" AS "r" WHERE "r"."customer_id" IS NOT NULL AND');
    expect(grouped.sql).toContain('GROUP BY "r"."customer_id" HAVING COUNT(*) >= $4::bigint');
    expect(grouped.params[3]).toEqual({ name: 'p4', type: 'integer', value: 3 });
    expect(compile({ '<': [2.5, count(7)] }).params.at(-1)!.value).toBe(3); // 2.5 < count ⇔ count ≥ 3
    expect(compile({ '<': [count(7), -1] }).sql).toMatch(/WHERE FALSE$/);
    expect(compile({ '>': [{ sum: [{ var: 'orders' }, { var: 'total' }] }, 10] }).sql).toContain('(SELECT SUM(');
  });

  it('inlines in_segment and refuses cycles', () => {
    const rules: Record<string, unknown> = { a: { '>': [{ var: 'ltv' }, 10] }, b: { in_segment: ['c'] }, c: { in_segment: ['b'] } };
    const compiled = compileRule({ rule: { in_segment: ['a'] }, model, dialect: 'postgres', asOf, resolveSegment: (s) => rules[s] });
    expect(compiled.sql).toContain('> $1::double precision');
    expect(() => compileRule({ rule: { in_segment: ['b'] }, model, dialect: 'postgres', asOf, resolveSegment: (s) => rules[s] })).toThrow(/cycle: b → c → b/);
  });

  it('excludes the model suppression rule', () => {
    const suppressed = compilerModelOf({ ...JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'segments/customers.model.json'), 'utf8')), suppression: { '!': { var: 'marketing_opt_in' } } });
    const { sql } = compileRule({ rule: true, model: suppressed, dialect: 'postgres', asOf });
    expect(sql).toMatch(/WHERE "t"."marketing_opt_in"$/);
  });
});
