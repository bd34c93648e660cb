import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompileError, compileRule, type CompiledRule } from '../../src/compiler/compile';
import type { DialectName } from '../../src/compiler/dialects/dialect';
import { validateRegex } from '../../src/compiler/regex-subset';
import { AS_OF, Differential, MODEL, shortJson } from '../support/differential';

/**
 * SQL injection: rule text must never reach SQL. Hostile strings in every literal position of a
 * set of rule templates must change only the parameters (the SQL text equals the text compiled
 * with a benign literal, in every dialect), and the queries must run and agree with the oracle on
 * data that contains the hostile strings. Hostile strings as var paths, relationship names,
 * operators or window units must be refused before any SQL is written.
 */
const HOSTILE: readonly string[] = [
  "'; DROP TABLE x; --",
  "' OR '1'='1",
  '" OR 1=1 --',
  '"; DROP TABLE diff.customers; --',
  "x'); SELECT 1; --",
  "' || pg_sleep(1) || '",
  '`',
  '`; DROP TABLE x; --`',
  '$1',
  '$1::text',
  '$2) OR (1=1',
  '@p1',
  '@@version',
  '\\',
  "\\'",
  "'\\",
  '\\x27',
  '*/',
  '/*',
  '/* comment */ OR 1=1',
  '--',
  '%',
  '_',
  '%_%',
  ':param',
  '?',
  '$$',
  '$tag$ x $tag$',
  "E'\\x41'",
  'U&"\\0041"',
  '\u2028\u2029',
  '\u202Eevil',
  'аdmin', // Cyrillic а
  'ʼ; DROP TABLE x; --', // U+02BC modifier apostrophe
  '\u2019 OR 1=1',
  'a\u200Db',
  'ＡＢＣ＇', // fullwidth letters and apostrophe (U+FF07)
  '\uFEFFbom',
  'a\r\nb',
  'NULL',
  'null',
  ' ',
  "'".repeat(4096),
  `${'x'.repeat(4000)}'; --`,
];
/** Longer than the rule limit (4,096 characters): refused whatever it holds. */
const TOO_LONG = `${"'".repeat(4097)}`;

/** Characters whose order differs between JS (UTF-16) and SQL (code points) against astral ones: not for ordering templates. */
const HIGH_BMP = /[\uE000-\uFFFF]/;
const DIALECTS: readonly DialectName[] = ['postgres', 'duckdb', 'bigquery'];

interface Template {
  name: string;
  rule: (x: string) => unknown;
  /** The literal to compare the SQL with; JS-level facts the compiler decides at compile time must match. */
  benign?: (x: string) => string;
  /** When the hostile string is acceptable at all (else it must be refused). */
  valid?: (x: string) => boolean;
  ordering?: boolean;
}

const TEMPLATES: readonly Template[] = [
  { name: 'string ==', rule: (x) => ({ '==': [{ var: 'name' }, x] }) },
  { name: 'string !=', rule: (x) => ({ '!=': [{ var: 'email' }, x] }) },
  { name: 'string === (literal first)', rule: (x) => ({ '===': [x, { var: 'country' }] }) },
  // A null column is 0 against Number(literal) in JS: the compiler decides that branch now, so the benign literal keeps Number(x).
  { name: 'string <', rule: (x) => ({ '<': [{ var: 'name' }, x] }), benign: (x) => (Number.isNaN(Number(x)) ? 'benign' : String(Number(x))), ordering: true },
  { name: 'string between', rule: (x) => ({ '<=': ['', { var: 'email' }, x] }), benign: (x) => (Number.isNaN(Number(x)) ? 'benign' : String(Number(x))), ordering: true },
  { name: 'in a list', rule: (x) => ({ in: [{ var: 'name' }, [x, 'other', null]] }) },
  { name: 'substring of a column', rule: (x) => ({ in: [x, { var: 'email' }] }) },
  { name: 'in a string array column', rule: (x) => ({ in: [x, { var: 'tags' }] }) },
  { name: 'cat', rule: (x) => ({ '==': [{ cat: [{ var: 'name' }, x] }, { cat: [x, 'a'] }] }) },
  { name: 'cat in a list', rule: (x) => ({ in: [{ cat: [x, { var: 'country' }] }, [x, 'US']] }) },
  { name: 'starts_with', rule: (x) => ({ starts_with: [{ var: 'name' }, x] }) },
  { name: 'ends_with', rule: (x) => ({ ends_with: [{ var: 'email' }, x] }) },
  { name: 'icontains', rule: (x) => ({ icontains: [{ var: 'country' }, x] }) },
  { name: 'matches', rule: (x) => ({ matches: [{ var: 'name' }, x] }), valid: (x) => { try { validateRegex(x); return true; } catch { return false; } } },
  { name: 'before (date)', rule: (x) => ({ before: [{ var: 'born' }, x] }), benign: () => '2024-01-01', valid: () => false },
  { name: 'after (timestamp)', rule: (x) => ({ after: [{ var: 'seen_at' }, x] }), benign: () => '2024-01-01T00:00:00Z', valid: () => false },
  { name: 'related attribute in some', rule: (x) => ({ some: [{ var: 'orders' }, { '==': [{ var: 'status' }, x] }] }) },
  { name: 'aggregate filter', rule: (x) => ({ '>': [{ count: [{ var: 'orders' }, { starts_with: [{ var: 'status' }, x] }, [30, 'days']] }, 0] }) },
  { name: 'array element', rule: (x) => ({ some: [{ var: 'tags' }, { or: [{ '==': [{ var: '' }, x] }, { ends_with: [{ var: '' }, x] }] }] }) },
  { name: 'if branches', rule: (x) => ({ if: [{ '!=': [{ var: 'name' }, x] }, { icontains: [{ var: 'email' }, x] }, { '==': [{ var: 'country' }, x] }] }) },
];

/** Places where a hostile string names something: it must be refused. */
const NAME_TEMPLATES: ReadonlyArray<{ name: string; rule: (x: string) => unknown }> = [
  { name: 'var', rule: (x) => ({ var: x }) },
  { name: 'var in a comparison', rule: (x) => ({ '==': [{ var: x }, 'a'] }) },
  { name: 'var with a default', rule: (x) => ({ '==': [{ var: [x, 'a'] }, 'a'] }) },
  { name: 'relationship of some', rule: (x) => ({ some: [{ var: x }, true] }) },
  { name: 'relationship of count', rule: (x) => ({ '>': [{ count: [{ var: x }] }, 0] }) },
  { name: 'aggregated attribute', rule: (x) => ({ '>': [{ sum: [{ var: 'orders' }, { var: x }] }, 0] }) },
  { name: 'related attribute', rule: (x) => ({ some: [{ var: 'orders' }, { '==': [{ var: x }, 'a'] }] }) },
  { name: 'missing', rule: (x) => ({ missing: [x] }) },
  { name: 'missing_some', rule: (x) => ({ missing_some: [1, ['name', x]] }) },
  { name: 'operator', rule: (x) => ({ [x]: [{ var: 'name' }, 'a'] }) },
  { name: 'window unit', rule: (x) => ({ within_last: [{ var: 'seen_at' }, 7, x] }) },
  { name: 'aggregate window unit', rule: (x) => ({ '>': [{ count: [{ var: 'orders' }, true, [7, x]] }, 0] }) },
  { name: 'in_segment slug', rule: (x) => ({ in_segment: [x] }) },
];

const compile = (rule: unknown, dialect: DialectName): CompiledRule => compileRule({ rule, model: MODEL, dialect, asOf: AS_OF });
const refusal = (rule: unknown, dialect: DialectName): unknown => {
  try {
    compile(rule, dialect);
    return null;
  } catch (error) {
    return error;
  }
};

let diff: Differential;

beforeAll(async () => {
  // The hostile strings are also data: names, emails, countries and tags hold them.
  // Also through the production DuckDB adapter: its parameter binding must carry them as they are.
  diff = await Differential.open({ seed: 11, customers: 120, extraStrings: HOSTILE, duckdbAdapter: true });
});

afterAll(async () => {
  await diff?.close();
});

describe('hostile literals only ever become parameters', () => {
  for (const template of TEMPLATES) {
    it(`${template.name}: same SQL as a benign literal in every dialect, refused when invalid, and the oracle's answer`, async () => {
      const benignOf = template.benign ?? (() => 'benign');
      let executed = 0;
      for (const hostile of [...HOSTILE, TOO_LONG]) {
        if (template.ordering && HIGH_BMP.test(hostile)) continue;
        const rule = template.rule(hostile);
        const benign = template.rule(benignOf(hostile));
        const refusable = hostile === TOO_LONG || (template.valid !== undefined && !template.valid(hostile));
        for (const dialect of DIALECTS) {
          const expectedSql = compile(benign, dialect);
          if (refusable) {
            expect(refusal(rule, dialect), `${template.name} with ${shortJson(hostile)} (${dialect}) must be refused`).toBeInstanceOf(CompileError);
            continue;
          }
          const compiled = compile(rule, dialect);
          expect(compiled.sql, `${template.name} with ${shortJson(hostile)} (${dialect})`).toBe(expectedSql.sql);
          expect(compiled.params.map((p) => [p.name, p.type])).toEqual(expectedSql.params.map((p) => [p.name, p.type]));
          // Every parameter value holds the hostile string where the benign one held the benign string (regexes are re-emitted).
          if (template.name !== 'matches') {
            const benignText = benignOf(hostile);
            const swap = (v: unknown): unknown =>
              typeof v === 'string' ? v.split(benignText).join(hostile) : Array.isArray(v) ? v.map(swap) : v;
            expect(compiled.params.map((p) => p.value)).toEqual(expectedSql.params.map((p) => swap(p.value)));
          }
        }
        if (refusable) continue;
        const result = await diff.runDifferential(rule);
        executed++;
        expect(result.errors, diff.describe(result)).toEqual({});
        expect({ postgres: result.postgres, duckdb: result.duckdb, duckdbAdapter: result.duckdbAdapter }, diff.describe(result))
          .toEqual({ postgres: result.oracle, duckdb: result.oracle, duckdbAdapter: result.oracle });
      }
      if (template.valid === undefined || template.name === 'matches') expect(executed).toBeGreaterThan(10);
    });
  }

  it('the data really holds the hostile strings (so the queries above could match them)', async () => {
    for (const hostile of HOSTILE) {
      const result = await diff.runDifferential({ '==': [{ var: 'name' }, hostile] });
      expect(result.oracle.length, shortJson(hostile)).toBeGreaterThan(0);
      expect(result.postgres).toEqual(result.oracle);
      expect(result.duckdb).toEqual(result.oracle);
      expect(result.duckdbAdapter).toEqual(result.oracle);
    }
  });
});

describe('hostile names are refused before any SQL is written', () => {
  for (const template of NAME_TEMPLATES) {
    it(`${template.name}`, () => {
      for (const hostile of HOSTILE) {
        for (const dialect of DIALECTS) {
          const error = refusal(template.rule(hostile), dialect);
          expect(error, `${template.name} with ${shortJson(hostile)} (${dialect})`).toBeInstanceOf(CompileError);
        }
      }
    });
  }
});
