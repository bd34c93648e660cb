import fs from 'node:fs';
import path from 'node:path';
import { BOOLEAN, DOUBLE, INTEGER, LIST, VARCHAR, listValue, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import jsonLogic from 'json-logic-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompileError, compileRule, type CompiledRule } from '../../src/compiler/compile';
import type { CompilerAttribute, CompilerModel, CompilerRelationship } from '../../src/compiler/compiler-model';
import { OPERATORS } from '../../src/compiler/operators';
import { ATTRIBUTE_TYPES, type AttributeType } from '../../src/models/model-schema';
import { PostgresWarehouse } from '../../src/warehouse/postgres/postgres-warehouse';
import { pgNumber, shortJson } from '../support/differential';
import { DuckDBRunner } from '../support/duckdb-runner';
import { createTestDatabase } from '../support/test-database';
import { REPO_ROOT } from '../support/test-service';

/**
 * The JsonLogic community conformance suites (Apache-2.0, vendored from ../shared/conformance/jsonlogic) run
 * through the compiler: every case whose data can be a row of a model becomes a table in Postgres
 * and DuckDB; when the compiler accepts the rule, the row must be selected iff json-logic-js 2.0.5
 * (on the same data) returns a truthy value. A second, "lifted" pass moves the scalar literals of
 * each rule into data columns, so operators are exercised in SQL and not only by constant folding.
 */
// Vendored (with its LICENSE) so a clone runs them anywhere; next to a checkout of the shared
// folder, a test below checks the copy is current.
const SUITE_DIR = path.join(REPO_ROOT, 'tests/compiler/jsonlogic-conformance');
const SHARED_DIR = path.resolve(REPO_ROOT, '../shared/conformance/jsonlogic');
const SCHEMA = 'conf';
const AS_OF = new Date('2024-03-01T00:00:00.000Z');
/**
 * Slightly below what the compiler accepted when this test was written (658, 42 and 949 cases):
 * a regression that starts rejecting what it used to compile fails here.
 */
const MIN_ACCEPTED = 640;
const MIN_ACCEPTED_DATA_DEPENDENT = 40;
const MIN_LIFTED_ACCEPTED = 900;

interface Case { file: string; index: number; description: string; rule: unknown; data: unknown }

function loadCases(): Case[] {
  const index = JSON.parse(fs.readFileSync(path.join(SUITE_DIR, 'index.json'), 'utf8')) as string[];
  const listed = new Set(index);
  const all = fs.readdirSync(SUITE_DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json') && f !== 'index.json').map((f) => f.split(path.sep).join('/'));
  const files = [...index, ...all.filter((f) => !listed.has(f)).sort()];
  return files.flatMap((file) => {
    const cases = JSON.parse(fs.readFileSync(path.join(SUITE_DIR, file), 'utf8')) as unknown[];
    return cases.flatMap((c, i): Case[] => {
      if (typeof c === 'string') return []; // a comment
      const tc = c as { description?: string; rule: unknown; data?: unknown };
      return [{ file, index: i, description: tc.description ?? '', rule: tc.rule, data: tc.data }];
    });
  });
}

// ---- modelling the data -------------------------------------------------------------------

type Scalar = string | number | boolean | null | string[];
type ColumnType = AttributeType | 'null';
interface Table { columns: Array<{ name: string; type: ColumnType }>; rows: Array<Record<string, Scalar>> }
interface Modelled { entity: Table; relationships: Array<{ name: string; table: Table }> }

function scalarType(value: unknown): ColumnType | string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value.includes('\u0000') ? 'a string with NUL' : value.isWellFormed() ? 'string' : 'a lone surrogate';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isSafeInteger(value) ? 'integer' : Number.isFinite(value) ? 'number' : 'a non-finite number';
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) return (value as string[]).every((s) => scalarType(s) === 'string') ? 'string_array' : 'an odd string in an array';
    return value.every((v) => typeof v === 'number') ? 'an array of numbers' : 'a mixed array';
  }
  return 'a nested object';
}

/** Columns for rows of plain scalars; a column's type is its non-null values' type (integer + number → number). */
function tableOf(rows: Array<Record<string, unknown>>): Table | string {
  const types = new Map<string, ColumnType>();
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      const t = scalarType(value);
      if (!(ATTRIBUTE_TYPES as readonly string[]).includes(t) && t !== 'null') return `${t} at "${key}"`;
      const seen = types.get(key);
      const next = t as ColumnType;
      if (seen === undefined || seen === 'null') types.set(key, next);
      else if (next !== 'null' && next !== seen) {
        if ((seen === 'integer' && next === 'number') || (seen === 'number' && next === 'integer')) types.set(key, 'number');
        else return `mixed types at "${key}"`;
      }
    }
  }
  return { columns: [...types].map(([name, type]) => ({ name, type })), rows: rows as Array<Record<string, Scalar>> };
}

function modelData(data: unknown): Modelled | string {
  if (data === null || data === undefined) return { entity: { columns: [], rows: [{}] }, relationships: [] };
  if (typeof data !== 'object' || Array.isArray(data)) return `data is ${Array.isArray(data) ? 'an array' : `a ${typeof data}`}`;
  const scalars: Record<string, unknown> = {};
  const relationships: Modelled['relationships'] = [];
  for (const [key, value] of Object.entries(data)) {
    if (Array.isArray(value) && value.length > 0 && value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
      const table = tableOf(value as Array<Record<string, unknown>>);
      if (typeof table === 'string') return `related rows "${key}" hold ${table}`;
      relationships.push({ name: key, table });
    } else scalars[key] = value;
  }
  const entity = tableOf([scalars]);
  if (typeof entity === 'string') return entity;
  return { entity, relationships };
}

const hasNulls = (m: Modelled) => [m.entity, ...m.relationships.map((r) => r.table)].some((t) => t.columns.some((c) => c.type === 'null'));

const PG_TYPE: Record<AttributeType, string> = {
  string: 'text', number: 'double precision', integer: 'bigint', boolean: 'boolean', date: 'date', timestamp: 'timestamptz', string_array: 'text[]',
};
const DUCK_TYPE: Record<AttributeType, string> = {
  string: 'VARCHAR', number: 'DOUBLE', integer: 'BIGINT', boolean: 'BOOLEAN', date: 'DATE', timestamp: 'TIMESTAMPTZ', string_array: 'VARCHAR[]',
};

/** One concrete model of the data: null-only columns get `nullType` (NULL is a faithful value of every type). */
interface Variant { label: string; model: CompilerModel; modelled: Modelled; resolve: (t: ColumnType) => AttributeType }

let tableCounter = 0;
function variantsOf(modelled: Modelled): Variant[] {
  const nullTypes: AttributeType[] = hasNulls(modelled) ? [...ATTRIBUTE_TYPES] : ['string'];
  return nullTypes.map((nullType) => {
    const resolve = (t: ColumnType): AttributeType => (t === 'null' ? nullType : t);
    const n = ++tableCounter;
    const attributes = (table: Table) => new Map(table.columns.map((c, i): [string, CompilerAttribute] => [c.name, { name: c.name, column: `a${i}`, type: resolve(c.type) }]));
    const empty = modelled.entity.columns.length === 0 && modelled.relationships.length === 0;
    const model: CompilerModel = {
      schema: SCHEMA, table: empty ? 'empty' : `c${n}`, primaryKey: '__pk', attributes: attributes(modelled.entity),
      relationships: new Map(modelled.relationships.map((r, j): [string, CompilerRelationship] => [r.name, {
        name: r.name, schema: SCHEMA, table: `c${n}_r${j}`, foreignKey: '__fk', timeColumn: undefined, attributes: attributes(r.table),
      }])),
      suppression: undefined,
    };
    return { label: hasNulls(modelled) ? `nulls as ${nullType}` : 'typed', model, modelled, resolve };
  });
}

// ---- lifting literals into data ----------------------------------------------------------------

type LiftStrategy = 'all' | 'numbers and booleans' | 'strings' | 'first literal';
const LIFT_STRATEGIES: LiftStrategy[] = ['all', 'numbers and booleans', 'strings', 'first literal'];

/**
 * Moves scalar literals at expression positions into data (`{"var": "__l0"}`), except the
 * divisors of `/` and `%` (the compiler requires literals there, by design) and anything inside
 * special forms (var, missing, quantifiers, aggregates) or unknown operators. Strategies choose
 * which literals move: each gives the compiler a different mix of columns and literals.
 */
function lift(rule: unknown, data: unknown, strategy: LiftStrategy): { rule: unknown; data: Record<string, unknown> } | null {
  if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data))) return null;
  const values: Record<string, unknown> = {};
  let n = 0;
  const wanted = (v: string | number | boolean) =>
    strategy === 'all' || (strategy === 'first literal' && n === 0) || (strategy === 'strings' ? typeof v === 'string' : strategy === 'numbers and booleans' && typeof v !== 'string');
  const walk = (node: unknown, liftable: boolean): unknown => {
    if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') {
      if (!liftable || !wanted(node)) return node;
      const key = `__l${n++}`;
      values[key] = node;
      return { var: key };
    }
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    const keys = Object.keys(node);
    if (keys.length !== 1) return node;
    const op = keys[0]!;
    const spec = Object.hasOwn(OPERATORS, op) ? OPERATORS[op] : undefined;
    if (!spec || spec.form !== 'expression') return node;
    const raw = (node as Record<string, unknown>)[op];
    if (!Array.isArray(raw)) return { [op]: walk(raw, true) };
    return { [op]: raw.map((arg, i) => walk(arg, !((op === '/' || op === '%') && i === 1))) };
  };
  const lifted = walk(rule, false);
  if (n === 0) return null;
  return { rule: lifted, data: { ...((data ?? {}) as Record<string, unknown>), ...values } };
}

const usesData = (rule: unknown): boolean => {
  if (rule === null || typeof rule !== 'object') return false;
  if (Array.isArray(rule)) return rule.some(usesData);
  const op = Object.keys(rule)[0];
  if (op === 'var' || op === 'missing' || op === 'missing_some') return true;
  return Object.values(rule).some(usesData);
};

// ---- engines ------------------------------------------------------------------------------

let pg: PostgresWarehouse;
let duck: DuckDBRunner;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  pg = new PostgresWarehouse({ connectionString: database.url, maxConnections: 2 });
  duck = await DuckDBRunner.open();
  await pg.query(`create schema ${SCHEMA}; create table ${SCHEMA}.empty (__pk integer primary key); insert into ${SCHEMA}.empty values (1)`);
  await duck.run(`create schema ${SCHEMA}; create table ${SCHEMA}.empty (__pk INTEGER primary key); insert into ${SCHEMA}.empty values (1)`);
});

afterAll(async () => {
  await pg?.close();
  duck?.close();
  await dropDatabase?.();
});

async function createTable(name: string, table: Table, resolve: (t: ColumnType) => AttributeType, key: '__pk' | '__fk'): Promise<void> {
  const pgColumns = [`${key} integer`, ...table.columns.map((c, i) => `a${i} ${PG_TYPE[resolve(c.type)]}`)];
  const duckColumns = [`${key} INTEGER`, ...table.columns.map((c, i) => `a${i} ${DUCK_TYPE[resolve(c.type)]}`)];
  await pg.query(`create table ${SCHEMA}.${name} (${pgColumns.join(', ')})`);
  await duck.run(`create table ${SCHEMA}.${name} (${duckColumns.join(', ')})`);
  for (const row of table.rows) {
    const values = table.columns.map((c) => (row[c.name] === undefined ? null : row[c.name]!));
    const types = table.columns.map((c) => resolve(c.type));
    const pgParams = [1, ...values.map((v) => (typeof v === 'number' ? pgNumber(v) : v))];
    const casts = ['integer', ...types.map((t) => PG_TYPE[t])];
    await pg.query(`insert into ${SCHEMA}.${name} values (${casts.map((c, i) => `$${i + 1}::${c}`).join(', ')})`, pgParams);
    const duckValues: DuckDBValue[] = [1];
    const duckTypes: DuckDBType[] = [INTEGER];
    values.forEach((v, i) => {
      const t = types[i]!;
      if (t === 'number') { duckValues.push(v as number | null); duckTypes.push(DOUBLE); }
      else if (t === 'boolean') { duckValues.push(v as boolean | null); duckTypes.push(BOOLEAN); }
      else if (t === 'string_array') { duckValues.push(v === null ? null : listValue(v as string[])); duckTypes.push(LIST(VARCHAR)); }
      else { duckValues.push(v === null ? null : String(v)); duckTypes.push(VARCHAR); }
    });
    await duck.run(`insert into ${SCHEMA}.${name} values (${duckValues.map((_, i) => `CAST($${i + 1} AS ${i === 0 ? 'INTEGER' : DUCK_TYPE[types[i - 1]!]})`).join(', ')})`, duckValues, duckTypes);
  }
}

async function loadVariant(v: Variant): Promise<void> {
  if (v.model.table === 'empty') return;
  await createTable(v.model.table, v.modelled.entity, v.resolve, '__pk');
  for (const [j, r] of v.modelled.relationships.entries()) await createTable(`${v.model.table}_r${j}`, r.table, v.resolve, '__fk');
}

async function selected(compiled: CompiledRule, engine: 'postgres' | 'duckdb'): Promise<boolean | string> {
  try {
    const rows = engine === 'postgres' ? await pg.execute(compiled) : await duck.execute(compiled);
    return rows.some((r) => Number(r.member_key) === 1);
  } catch (error) {
    return `ERROR ${(error as Error).message.split('\n')[0]}`;
  }
}

// ---- one pass over the cases ------------------------------------------------------------------

interface Disagreement {
  file: string; index: number; description: string; rule: unknown; data: unknown; variant: string;
  jsonLogic: unknown; expected: boolean; postgres: boolean | string; duckdb: boolean | string; sql: string; params: unknown[];
}

interface PassReport {
  total: number;
  jsonLogicThrows: number;
  notModellable: { count: number; byReason: Record<string, number> };
  rejected: { count: number; byReason: Record<string, number> };
  accepted: number;
  acceptedDataDependent: number;
  agreed: number;
  /** Accepted cases by json-logic-js's truthiness: both outcomes must be exercised. */
  acceptedTruthy: number;
  acceptedFalsy: number;
  disagreed: Disagreement[];
  /** The compiler threw something other than CompileError (a crash, e.g. an HTTP 500). */
  crashed: string[];
}

function reasonOf(error: CompileError): string {
  const message = error.problems[0]?.message ?? error.message;
  const op = /^unknown operator "[^"]*"/.exec(message);
  if (op) return op[0];
  const arity = /^("[^"]*") (takes .*)$/.exec(message);
  if (arity) return `${arity[1]} ${arity[2]!.replace(/\d+/g, 'N')}`;
  return message.replace(/"[^"]*"/g, '"…"').replace(/-?\d+(\.\d+)?/g, 'N').split(/\s+/).slice(0, 9).join(' ');
}

const bump = (counts: Record<string, number>, key: string) => { counts[key] = (counts[key] ?? 0) + 1; };
const sortCounts = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));

async function runPass(cases: Array<Case & { original?: Case }>): Promise<PassReport> {
  const report: PassReport = {
    total: cases.length, jsonLogicThrows: 0, notModellable: { count: 0, byReason: {} }, rejected: { count: 0, byReason: {} },
    accepted: 0, acceptedDataDependent: 0, agreed: 0, acceptedTruthy: 0, acceptedFalsy: 0, disagreed: [], crashed: [],
  };
  for (const c of cases) {
    let result: unknown;
    try {
      result = jsonLogic.apply(structuredClone(c.rule) as jsonLogic.RulesLogic, structuredClone(c.data));
    } catch {
      report.jsonLogicThrows++;
      continue;
    }
    const expected = jsonLogic.truthy(result);
    const modelled = modelData(c.data);
    if (typeof modelled === 'string') {
      report.notModellable.count++;
      bump(report.notModellable.byReason, modelled.replace(/"[^"]*"/g, '"…"'));
      continue;
    }
    let accepted = false;
    let agreed = true;
    let firstRefusal: string | null = null;
    for (const variant of variantsOf(modelled)) {
      let compiled: { postgres: CompiledRule; duckdb: CompiledRule };
      try {
        const options = { rule: c.rule, model: variant.model, asOf: AS_OF };
        compiled = { postgres: compileRule({ ...options, dialect: 'postgres' }), duckdb: compileRule({ ...options, dialect: 'duckdb' }) };
      } catch (error) {
        if (!(error instanceof CompileError)) {
          report.crashed.push(`${c.file}#${c.index} ${shortJson(c.rule)} data ${shortJson(c.data)} (${variant.label}): ${(error as Error).constructor.name}: ${(error as Error).message}`);
          agreed = false;
          continue;
        }
        firstRefusal ??= reasonOf(error);
        continue;
      }
      accepted = true;
      await loadVariant(variant);
      const postgres = await selected(compiled.postgres, 'postgres');
      const duckdb = await selected(compiled.duckdb, 'duckdb');
      if (postgres !== expected || duckdb !== expected) {
        agreed = false;
        report.disagreed.push({
          file: c.file, index: c.index, description: c.description, rule: c.rule, data: c.data, variant: variant.label,
          jsonLogic: result === undefined ? 'undefined' : result, expected, postgres, duckdb,
          sql: compiled.postgres.sql, params: compiled.postgres.params.map((p) => p.value),
        });
      }
    }
    if (!accepted && agreed) {
      report.rejected.count++;
      bump(report.rejected.byReason, firstRefusal ?? '?');
      continue;
    }
    if (!accepted) continue;
    report.accepted++;
    if (expected) report.acceptedTruthy++;
    else report.acceptedFalsy++;
    if (usesData(c.rule)) report.acceptedDataDependent++;
    if (agreed) report.agreed++;
  }
  report.notModellable.byReason = sortCounts(report.notModellable.byReason);
  report.rejected.byReason = sortCounts(report.rejected.byReason);
  return report;
}

describe('JsonLogic conformance suites through the compiler (Postgres and DuckDB vs json-logic-js 2.0.5)', () => {
  it('agrees with json-logic-js on every case it accepts, as written and with literals lifted into data', async () => {
    const cases = loadCases();
    expect(cases.length).toBeGreaterThan(1000);
    const asWritten = await runPass(cases);
    const liftedCases = cases.flatMap((c) => {
      const seen = new Set<string>();
      return LIFT_STRATEGIES.flatMap((strategy) => {
        const lifted = lift(c.rule, c.data, strategy);
        if (!lifted || seen.has(JSON.stringify(lifted))) return [];
        seen.add(JSON.stringify(lifted));
        return [{ ...c, description: `${c.description} [lifted: ${strategy}]`, rule: lifted.rule, data: lifted.data }];
      });
    });
    const lifted = await runPass(liftedCases);
    const report = {
      suites: path.relative(REPO_ROOT, SUITE_DIR),
      license: 'Apache-2.0 (see LICENSE in the suites directory)',
      files: new Set(cases.map((c) => c.file)).size,
      asWritten,
      lifted,
    };
    const summary = (name: string, r: PassReport) =>
      `${name}: ${r.total} cases, ${r.accepted} accepted (${r.acceptedDataDependent} reading data; ${r.acceptedTruthy} truthy, ${r.acceptedFalsy} falsy), ${r.agreed} agreed, ${r.disagreed.length} disagreed; ` +
      `${r.rejected.count} rejected, ${r.notModellable.count} not modellable, ${r.jsonLogicThrows} json-logic-js throws, ${r.crashed.length} compiler crashes`;
    console.log([
      summary('as written', asWritten), summary('lifted', lifted),
      `rejected (as written) by reason: ${JSON.stringify(asWritten.rejected.byReason, null, 1)}`,
      `rejected (lifted) by reason: ${JSON.stringify(lifted.rejected.byReason, null, 1)}`,
      `not modellable by reason: ${JSON.stringify(asWritten.notModellable.byReason, null, 1)}`,
      ...[...asWritten.crashed, ...lifted.crashed].map((c) => `CRASH ${c}`),
      ...[...asWritten.disagreed, ...lifted.disagreed].map((d) => `DISAGREE ${d.file}#${d.index} "${d.description}" (${d.variant}): rule ${shortJson(d.rule)} data ${shortJson(d.data)} json-logic-js ${shortJson(d.jsonLogic)} → ${d.expected}; postgres ${d.postgres}; duckdb ${d.duckdb}\n  SQL ${d.sql}\n  params ${shortJson(d.params)}`),
    ].join('\n'));
    if (process.env.WRITE_CONFORMANCE_REPORT === '1') {
      fs.writeFileSync(path.join(REPO_ROOT, 'tests/compiler/conformance-report.json'), `${JSON.stringify(report, null, 2)}\n`);
    }
    expect(asWritten.disagreed.map((d) => `${d.file}#${d.index} ${d.variant}`)).toEqual([]);
    expect(lifted.disagreed.map((d) => `${d.file}#${d.index} ${d.variant}`)).toEqual([]);
    expect([...asWritten.crashed, ...lifted.crashed]).toEqual([]);
    expect(asWritten.accepted).toBeGreaterThanOrEqual(MIN_ACCEPTED);
    expect(asWritten.acceptedDataDependent).toBeGreaterThanOrEqual(MIN_ACCEPTED_DATA_DEPENDENT);
    expect(lifted.accepted).toBeGreaterThanOrEqual(MIN_LIFTED_ACCEPTED);
    expect(Math.min(asWritten.acceptedTruthy, asWritten.acceptedFalsy, lifted.acceptedTruthy, lifted.acceptedFalsy)).toBeGreaterThan(100);
  });
});

it('the vendored suites are complete, and the shared ones when those are at hand', () => {
  const list = (dir: string) => fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json') || f.endsWith('LICENSE')).sort();
  const index = JSON.parse(fs.readFileSync(path.join(SUITE_DIR, 'index.json'), 'utf8')) as string[];
  for (const file of index) expect(fs.existsSync(path.join(SUITE_DIR, file)), file).toBe(true);
  expect(fs.existsSync(path.join(SUITE_DIR, 'LICENSE'))).toBe(true);
  if (!fs.existsSync(SHARED_DIR)) return;
  expect(list(SUITE_DIR)).toEqual(list(SHARED_DIR));
  for (const file of list(SHARED_DIR)) expect(fs.readFileSync(path.join(SUITE_DIR, file), 'utf8'), file).toBe(fs.readFileSync(path.join(SHARED_DIR, file), 'utf8'));
});
