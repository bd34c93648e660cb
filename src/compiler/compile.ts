import type { CompiledQuery } from '../warehouse/warehouse';
import type { CompilerModel } from './compiler-model';
import type { Dialect, DialectName } from './dialects/dialect';
import { bigqueryDialect } from './dialects/bigquery';
import { duckdbDialect } from './dialects/duckdb';
import { postgresDialect } from './dialects/postgres';
import { type Sql, sql } from './ir';
import { Lowerer, RuleTypeError, ruleModelOf as ruleModelOfCompilerModel } from './lower';
import { Renderer } from './render';
import { checkRuleStructure, type RuleLimits } from './rule-structure';

export const DIALECT_BY_NAME: Record<DialectName, Dialect> = { postgres: postgresDialect, duckdb: duckdbDialect, bigquery: bigqueryDialect };

export interface CompileProblem {
  pointer: string;
  message: string;
  expected?: string;
  found?: string;
}

export class CompileError extends Error {
  constructor(readonly problems: CompileProblem[]) {
    super(problems.map((p) => `${p.pointer || '/'}: ${p.message}`).join('; '));
  }
}

/** What the query returns: member keys, a count, or keys with more columns (identifiers, for a sample). */
export type Selection =
  | { kind: 'keys' }
  | { kind: 'count' }
  | { kind: 'columns'; columns: Array<{ column: string; as: string }>; limit?: number }
  /** A refresh snapshot: key and identifiers as text, plus their fingerprint; unordered. */
  | { kind: 'snapshot'; columns: Array<{ column: string; as: string }> };

export interface CompileOptions {
  rule: unknown;
  model: CompilerModel;
  dialect: DialectName;
  /** The as-of time of the run; bound as a parameter, never `now()`. */
  asOf: Date;
  /** Rules of other segments of the same model, for in_segment (inlined). */
  resolveSegment?: (slug: string) => unknown;
  select?: Selection;
  /** Pointer prefix for problems (`/rule` when the rule sits in a request body). */
  basePointer?: string;
  limits?: RuleLimits;
}

export interface CompiledRule extends CompiledQuery {
  warnings: string[];
}

export { ruleModelOf as ruleModelOfCompilerModel } from './lower';

/** The WHERE predicate of a segment: its rule, minus the model's suppression rule. */
function memberPredicate(options: CompileOptions, lowerer: Lowerer): Sql {
  const base = options.basePointer ?? '';
  const check = (rule: unknown, pointer: string) => {
    const structure = checkRuleStructure(rule, ruleModelOfCompilerModel(options.model), { basePointer: pointer, ...(options.limits ? { limits: options.limits } : {}) });
    if (structure.problems.length) throw new CompileError(structure.problems);
  };
  check(options.rule, base);
  const lower = (rule: unknown, pointer: string) => {
    try {
      return lowerer.predicate(rule, pointer);
    } catch (error) {
      if (error instanceof RuleTypeError) {
        throw new CompileError([{ pointer: error.pointer, message: error.message, ...(error.expected ? { expected: error.expected } : {}), ...(error.found ? { found: error.found } : {}) }]);
      }
      throw error;
    }
  };
  const rule = lower(options.rule, base);
  if (options.model.suppression === undefined) return rule;
  check(options.model.suppression, '/suppression');
  return sql.and([rule, sql.not(lower(options.model.suppression, '/suppression'))]);
}

/**
 * Compiles a segment rule into one parameterized query over its model (pure: no I/O).
 * parse (structure) → bind and type-check (lowering) → IR → SQL text for one dialect.
 */
export function compileRule(options: CompileOptions): CompiledRule {
  const dialect = DIALECT_BY_NAME[options.dialect];
  const lowerer = new Lowerer({ model: options.model, asOf: options.asOf, ...(options.resolveSegment ? { resolveSegment: options.resolveSegment } : {}) });
  const where = memberPredicate(options, lowerer);
  const renderer = new Renderer(dialect, options.model.primaryKey);
  const q = (name: string) => dialect.quoteIdentifier(name);
  const key = renderer.column('entity', options.model.primaryKey);
  const select = options.select ?? { kind: 'keys' };
  const whereSql = renderer.render(where, 'where');
  const from = `FROM ${dialect.tableName(options.model.schema, options.model.table)} AS ${q('t')}`;
  let text: string;
  if (select.kind === 'count') text = `SELECT COUNT(*) AS ${q('count')} ${from} WHERE ${whereSql}`;
  else if (select.kind === 'keys') text = `SELECT ${key} AS ${q('member_key')} ${from} WHERE ${whereSql}`;
  else if (select.kind === 'snapshot') {
    const identifiers = select.columns.map((c) => renderer.column('entity', c.column));
    const columns = [
      `${dialect.castText(key)} AS ${q('member_key')}`,
      ...select.columns.map((c, i) => `${dialect.castText(identifiers[i]!)} AS ${q(c.as)}`),
      `${dialect.fingerprint(identifiers)} AS ${q('fingerprint')}`,
    ];
    text = `SELECT ${columns.join(', ')} ${from} WHERE ${whereSql}`;
  }
  else {
    const columns = [`${key} AS ${q('member_key')}`, ...select.columns.map((c) => `${renderer.column('entity', c.column)} AS ${q(c.as)}`)];
    text = `SELECT ${columns.join(', ')} ${from} WHERE ${whereSql} ORDER BY ${key}`;
    if (select.limit !== undefined) {
      text += ` LIMIT ${renderer.placeholder(Object.freeze({ name: '', type: 'integer', value: select.limit }))}`;
    }
  }
  return { dialect: options.dialect, sql: text, params: renderer.params, warnings: lowerer.warnings };
}
