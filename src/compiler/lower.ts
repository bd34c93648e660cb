import type { CompilerAttribute, CompilerModel, CompilerRelationship } from './compiler-model';
import { applyPrepared, prepareRule, truthy as jsTruthy } from './evaluate';
import { type Sql, type Param, type ParamType, sql } from './ir';
import { parseIsoTime, UNIT_MS, type TimeUnit } from './iso-time';
import { joinPointer } from './json-pointer';
import { RegexSubsetError, validateRegex } from './regex-subset';
import { checkRuleStructure, type RuleModel } from './rule-structure';

/**
 * Lowering: JsonLogic (already structurally valid, see rule-structure.ts) → IR, type-checked
 * against the model. Every construct gets the exact JavaScript meaning json-logic-js gives it:
 * null is 0 in `<`, `!=` is true for NULL, `and`/`or` test truthiness, `==` coerces. Where SQL
 * cannot reproduce that meaning for every possible value, the rule is rejected with a pointer.
 */
export class RuleTypeError extends Error {
  constructor(readonly pointer: string, message: string, readonly expected?: string, readonly found?: string) {
    super(message);
  }
}

/** The JS type a value has at run time (when not null). */
type Kind = 'number' | 'string' | 'boolean' | 'null' | 'string_array' | 'date' | 'timestamp' | 'list';

interface Val {
  kind: Kind;
  sql: Sql;
  /** The SQL value can be NULL. */
  nullable: boolean;
  /** What a SQL NULL stands for in JavaScript: null, or NaN (arithmetic on null in json-logic-js). */
  nullIs: 'null' | 'nan';
  /** Integer-valued (for `%`). */
  integral: boolean;
  /** A compile-time constant and its JavaScript value. */
  literal?: { value: unknown };
  /** For integer attributes: the column without a float cast. */
  rawInteger?: Sql;
  /**
   * The SQL value may be a floating-point NaN (a NaN stored in a double column, or Infinity − Infinity).
   * SQL engines order NaN above everything and make it equal to itself; JavaScript does neither,
   * so every consumer guards it.
   */
  nanPossible?: boolean;
  /** For `count` aggregates: what is counted, so comparisons with a constant become (NOT) EXISTS or a grouped IN. */
  counted?: { from: { kind: 'relation'; schema: string; table: string; foreignKey: string }; where: Sql };
}

const PARAM_TYPE_OF_KIND: Record<Exclude<Kind, 'null' | 'list'>, ParamType> = {
  number: 'float', string: 'string', boolean: 'boolean', string_array: 'string_array', date: 'timestamp', timestamp: 'timestamp',
};

type Scope =
  | { kind: 'entity' }
  | { kind: 'related'; relationship: CompilerRelationship }
  | { kind: 'element' };

export interface LowerOptions {
  model: CompilerModel;
  asOf: Date;
  resolveSegment?: (slug: string) => unknown;
}

function describe(v: Val): string {
  if (v.literal) return v.kind === 'list' ? 'an array literal' : `the literal ${JSON.stringify(v.literal.value)}`;
  return `a ${v.kind.replace('_', ' ')} value`;
}

export class Lowerer {
  readonly warnings: string[] = [];
  private readonly asOfMs: number;
  private readonly asOfParam: Param;
  private readonly inlining: string[] = [];

  constructor(private readonly options: LowerOptions) {
    this.asOfMs = options.asOf.getTime();
    this.asOfParam = this.newParam('timestamp', options.asOf.toISOString());
  }

  private newParam(type: ParamType, value: unknown): Param {
    return Object.freeze({ name: '', type, value });
  }

  private param(type: ParamType, value: unknown): Sql {
    return sql.param(this.newParam(type, value));
  }

  /** The predicate for a rule: its JS truthiness. */
  predicate(rule: unknown, pointer: string): Sql {
    return this.pred(rule, pointer, { kind: 'entity' });
  }

  // ---- values -------------------------------------------------------------------------------

  private literal(value: unknown, pointer: string): Val {
    const base = { nullable: false, nullIs: 'null' as const, literal: { value } };
    if (value === null) return { ...base, kind: 'null', sql: sql.nullOf('string'), nullable: true, integral: false };
    if (typeof value === 'boolean') return { ...base, kind: 'boolean', sql: sql.bool(value), integral: false };
    if (typeof value === 'number') {
      if (Number.isNaN(value)) return { ...base, kind: 'number', sql: sql.nullOf('float'), nullable: true, nullIs: 'nan', integral: false };
      if (!Number.isFinite(value)) throw new RuleTypeError(pointer, 'an infinite value cannot be compared in SQL');
      return { ...base, kind: 'number', sql: this.param('float', value), integral: Number.isInteger(value) };
    }
    if (typeof value === 'string') {
      if (!value.isWellFormed()) throw new RuleTypeError(pointer, 'string is not well-formed Unicode (lone surrogate)');
      return { ...base, kind: 'string', sql: this.param('string', value), integral: false };
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (item !== null && typeof item === 'object') throw new RuleTypeError(joinPointer(pointer, i), 'array literals may only hold strings, numbers, booleans and null');
      });
      return { ...base, kind: 'list', sql: sql.nullOf('string'), integral: false };
    }
    throw new RuleTypeError(pointer, `unsupported literal of type ${typeof value}`);
  }

  private attribute(attribute: CompilerAttribute, scope: 'entity' | 'related'): Val {
    const base = { nullable: true, nullIs: 'null' as const, integral: false };
    switch (attribute.type) {
      case 'number': return { ...base, kind: 'number', sql: sql.column(scope, attribute.column, 'float'), nanPossible: true };
      case 'integer': return { ...base, kind: 'number', sql: sql.column(scope, attribute.column, 'float'), integral: true, rawInteger: sql.column(scope, attribute.column, 'integer') };
      case 'string': return { ...base, kind: 'string', sql: sql.column(scope, attribute.column) };
      case 'boolean': return { ...base, kind: 'boolean', sql: sql.column(scope, attribute.column) };
      case 'date': return { ...base, kind: 'date', sql: sql.column(scope, attribute.column) };
      case 'timestamp': return { ...base, kind: 'timestamp', sql: sql.column(scope, attribute.column) };
      case 'string_array': return { ...base, kind: 'string_array', sql: sql.column(scope, attribute.column) };
    }
  }

  private variable(args: unknown[], pointer: string, scope: Scope): Val {
    const path = args[0] as string;
    if (args.length > 1) this.warnings.push(`${pointer}: the default of {"var": "${path}"} is never used: a declared attribute is always present (null stays null)`);
    if (scope.kind === 'element') return { kind: 'string', sql: sql.column('element', 'v'), nullable: true, nullIs: 'null', integral: false };
    if (scope.kind === 'related') return this.attribute(scope.relationship.attributes.get(path)!, 'related');
    return this.attribute(this.options.model.attributes.get(path)!, 'entity');
  }

  /** A predicate used as a value: a boolean that is never null. */
  private boolVal(pred: Sql): Val {
    return { kind: 'boolean', sql: pred, nullable: false, nullIs: 'null', integral: false };
  }

  private number(sqlNode: Sql, options: { nullable: boolean; integral?: boolean; nullIs?: 'null' | 'nan'; nanPossible?: boolean }): Val {
    return { kind: 'number', sql: sqlNode, nullable: options.nullable, nullIs: options.nullIs ?? 'nan', integral: options.integral ?? false, nanPossible: options.nanPossible ?? false };
  }

  private isNaN(v: Val): Sql {
    return v.nanPossible ? sql.coalesce(sql.fn('is_nan', v.sql), sql.bool(false)) : sql.bool(false);
  }

  /** A number whose SQL NULL means NaN, with stored NaNs turned into NULL too. */
  private nanAsNull(v: Val): Val {
    if (!v.nanPossible) return v;
    return { ...v, sql: sql.case([[this.isNaN(v), sql.nullOf('float')]], v.sql), nullable: true, nanPossible: false };
  }

  private value(node: unknown, pointer: string, scope: Scope): Val {
    if (node === null || typeof node !== 'object') return this.literal(node, pointer);
    if (Array.isArray(node)) {
      if (node.every((item) => item === null || typeof item !== 'object')) return this.literal(node, pointer);
      const folded = this.fold(node);
      if (folded.ok) return this.literal(folded.value, pointer);
      throw new RuleTypeError(pointer, 'array literals may only hold constants');
    }
    const op = Object.keys(node)[0]!;
    const raw = (node as Record<string, unknown>)[op];
    const args = Array.isArray(raw) ? raw : [raw];
    const at = (i: number) => (Array.isArray(raw) ? joinPointer(pointer, op, i) : joinPointer(pointer, op));

    if (op === 'var') return this.variable(args, at(0), scope);
    const folded = this.fold(node);
    if (folded.ok) return this.literal(folded.value, pointer);

    switch (op) {
      case '+': return this.sum(args, at, scope);
      case '*': return args.length === 1 ? this.value(args[0], at(0), scope) : this.product(args, at, scope);
      case '-': return this.minus(args, at, scope);
      case '/': return this.divide(args, at, scope);
      case '%': return this.modulo(args, at, scope);
      case 'min': case 'max': return this.extreme(op, args, at, scope);
      case 'cat': return this.concat(args, at, scope);
      case 'if': return this.ifValue(args, at, scope, pointer);
      case 'count': case 'sum': case 'avg': case 'min_of': case 'max_of': return this.aggregate(op, args, at, scope);
      case 'substr':
        throw new RuleTypeError(pointer, 'substr of a column cannot be reproduced exactly (JavaScript counts UTF-16 units, SQL counts characters); use starts_with, ends_with or matches');
      case 'and': case 'or':
        throw new RuleTypeError(pointer, `"${op}" returns one of its operands in JsonLogic; use it as a condition, not as a value`);
      case 'missing': case 'missing_some':
        throw new RuleTypeError(pointer, `"${op}" returns a list of names; use it as a condition`);
      default:
        // Everything else is a condition; as a value it is a boolean that is never null.
        return this.boolVal(this.pred(node, pointer, scope));
    }
  }

  /** Constant folding through json-logic-js itself: a subtree without `var` is evaluated now. */
  private fold(node: unknown): { ok: true; value: unknown } | { ok: false } {
    if (!isConstant(node)) return { ok: false };
    try {
      const value = applyPrepared(prepareRule(node, { asOf: this.options.asOf }), {});
      if (value === undefined) return { ok: true, value: null };
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { ok: false };
      if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) return { ok: false };
      return { ok: true, value };
    } catch {
      return { ok: false };
    }
  }

  // ---- numbers ------------------------------------------------------------------------------

  /** JavaScript ToNumber (relational operators, `-`, `/`, `%`, min/max): null → 0, booleans → 0/1. */
  private toNumber(v: Val, pointer: string, options: { keepNaN?: boolean } = {}): Val {
    if (v.literal) {
      if (v.kind === 'list') throw new RuleTypeError(pointer, 'an array cannot be used as a number', 'number', 'array');
      return this.literal(Number(v.literal.value as never), pointer);
    }
    switch (v.kind) {
      case 'number': {
        if (v.nullable && v.nullIs === 'null') {
          // null → 0; a stored NaN stays NaN: kept as a float NaN for the caller to guard (cheap), or NULL.
          const zeroed = sql.coalesce(v.sql, sql.zero);
          if (v.nanPossible && options.keepNaN) return this.number(zeroed, { nullable: false, integral: v.integral, nanPossible: true });
          return v.nanPossible
            ? this.number(sql.case([[this.isNaN(v), sql.nullOf('float')]], zeroed), { nullable: true, integral: v.integral })
            : this.number(zeroed, { nullable: false, integral: v.integral });
        }
        return options.keepNaN ? { ...v, nullIs: 'nan' } : this.nanAsNull({ ...v, nullIs: 'nan' });
      }
      case 'boolean':
        return this.number(sql.case([[sql.coalesce(v.sql, sql.bool(false)), sql.one]], sql.zero), { nullable: false, integral: true });
      case 'null':
        return this.number(sql.zero, { nullable: false, integral: true });
      default:
        throw new RuleTypeError(pointer, `${describe(v)} cannot be used as a number: JavaScript's string-to-number conversion cannot be reproduced in SQL`, 'number', v.kind);
    }
  }

  /** parseFloat (json-logic-js `+` and `*`): null and booleans become NaN. */
  private parseFloatOf(v: Val, pointer: string): Val {
    if (v.literal) {
      if (v.kind === 'list') throw new RuleTypeError(pointer, 'an array cannot be added or multiplied', 'number', 'array');
      return this.literal(Number.parseFloat(v.literal.value as never), pointer);
    }
    if (v.kind === 'number') return this.nanAsNull({ ...v, nullIs: 'nan' });
    if (v.kind === 'boolean' || v.kind === 'null') return this.literal(Number.NaN, pointer);
    throw new RuleTypeError(pointer, `${describe(v)} cannot be added or multiplied: JavaScript's parseFloat cannot be reproduced in SQL`, 'number', v.kind);
  }

  private arithmetic(op: '+' | '-' | '*' | '/', operands: Val[], integral: boolean): Val {
    const nullable = operands.some((o) => o.nullable);
    const node = operands.slice(1).reduce((acc, o) => sql.binary(op, acc, o.sql), operands[0]!.sql);
    return this.number(node, { nullable, integral, nanPossible: true });
  }

  private sum(args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const operands = args.map((a, i) => this.parseFloatOf(this.value(a, at(i), scope), at(i)));
    return this.arithmetic('+', operands, operands.every((o) => o.integral));
  }

  private product(args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const operands = args.map((a, i) => this.parseFloatOf(this.value(a, at(i), scope), at(i)));
    return this.arithmetic('*', operands, operands.every((o) => o.integral));
  }

  private minus(args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const operands = args.map((a, i) => this.toNumber(this.value(a, at(i), scope), at(i)));
    if (operands.length === 1) {
      const [o] = operands as [Val];
      return this.number(sql.fn('negate', o.sql), { nullable: o.nullable, integral: o.integral, nanPossible: o.nanPossible ?? false });
    }
    return this.arithmetic('-', operands, operands.every((o) => o.integral));
  }

  private constantDivisor(v: Val, pointer: string, op: string): number {
    const divisor = v.literal ? Number(v.literal.value as never) : Number.NaN;
    if (!v.literal || !Number.isFinite(divisor) || divisor === 0) {
      throw new RuleTypeError(pointer, `the right side of "${op}" must be a non-zero number literal: JavaScript gives Infinity or NaN where SQL raises an error`, 'non-zero number literal', describe(v));
    }
    return divisor;
  }

  private divide(args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const dividend = this.toNumber(this.value(args[0], at(0), scope), at(0));
    const divisor = this.constantDivisor(this.value(args[1], at(1), scope), at(1), '/');
    return this.arithmetic('/', [dividend, this.literal(divisor, at(1))], false);
  }

  private modulo(args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const dividend = this.value(args[0], at(0), scope);
    const divisor = this.constantDivisor(this.value(args[1], at(1), scope), at(1), '%');
    if (!Number.isSafeInteger(divisor)) throw new RuleTypeError(at(1), '"%" needs an integer divisor within ±2^53', 'integer', String(divisor));
    let left: Sql;
    if (dividend.rawInteger) left = sql.coalesce(dividend.rawInteger, sql.integerZero);
    else if (dividend.literal && Number.isSafeInteger(Number(dividend.literal.value))) left = this.param('integer', Number(dividend.literal.value));
    else throw new RuleTypeError(at(0), '"%" needs an integer attribute or literal on the left: floating-point remainders differ between JavaScript and SQL', 'integer', describe(dividend));
    return this.number(sql.fn('to_float', sql.fn('mod', left, this.param('integer', divisor))), { nullable: false, integral: true });
  }

  private extreme(op: 'min' | 'max', args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const operands = args.map((a, i) => this.toNumber(this.value(a, at(i), scope), at(i)));
    const node = sql.fn(op === 'min' ? 'least' : 'greatest', ...operands.map((o) => o.sql));
    const mayBeNaN = operands.filter((o) => o.nullable);
    // LEAST/GREATEST skip NULLs in Postgres and DuckDB; Math.min gives NaN if any argument is NaN.
    const guarded = mayBeNaN.length ? sql.case([[sql.or(mayBeNaN.map((o) => sql.isNull(o.sql))), sql.nullOf('float')]], node) : node;
    return this.number(guarded, { nullable: mayBeNaN.length > 0, integral: operands.every((o) => o.integral) });
  }

  // ---- strings ------------------------------------------------------------------------------

  /** Array.prototype.join semantics: null → "", booleans → "true"/"false". */
  private concat(args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const parts = args.map((a, i): Sql => {
      const v = this.value(a, at(i), scope);
      if (v.literal) {
        if (v.kind === 'list') throw new RuleTypeError(at(i), 'cat of an array is not supported');
        return this.param('string', v.literal.value === null ? '' : String(v.literal.value));
      }
      switch (v.kind) {
        case 'string': return v.nullable ? sql.coalesce(v.sql, sql.emptyString) : v.sql;
        case 'boolean': return sql.case([[sql.coalesce(v.sql, sql.bool(false)), sql.text('true')], [sql.not(sql.coalesce(v.sql, sql.bool(true))), sql.text('false')]], sql.emptyString);
        case 'null': return sql.emptyString;
        default:
          throw new RuleTypeError(at(i), `cat of ${describe(v)} is not supported: JavaScript's formatting of numbers and dates cannot be reproduced in SQL`, 'string', v.kind);
      }
    });
    const node = parts.slice(1).reduce((acc, p) => sql.binary('||', acc, p), parts[0]!);
    return { kind: 'string', sql: node, nullable: false, nullIs: 'null', integral: false };
  }

  /** JavaScript String(v) as used by `indexOf` on a string: null → "null". */
  private toStringForSearch(v: Val, pointer: string): Sql {
    if (v.literal) {
      if (v.kind === 'list') throw new RuleTypeError(pointer, 'an array cannot be searched for in a string');
      return this.param('string', String(v.literal.value));
    }
    if (v.kind === 'string') return v.nullable ? sql.coalesce(v.sql, sql.text('null')) : v.sql;
    if (v.kind === 'boolean') return sql.case([[sql.isNull(v.sql), sql.text('null')], [v.sql, sql.text('true')]], sql.text('false'));
    throw new RuleTypeError(pointer, `searching a string for ${describe(v)} is not supported`, 'string', v.kind);
  }

  // ---- conditions ---------------------------------------------------------------------------

  private truthy(v: Val): Sql {
    if (v.literal) return sql.bool(jsTruthy(v.literal.value));
    switch (v.kind) {
      case 'number': return sql.and([sql.coalesce(sql.binary('<>', v.sql, sql.zero), sql.bool(false)), sql.not(this.isNaN(v))]);
      case 'string': return sql.coalesce(sql.binary('<>', v.sql, sql.emptyString), sql.bool(false));
      case 'boolean': return v.nullable ? sql.coalesce(v.sql, sql.bool(false)) : v.sql;
      case 'string_array': return sql.coalesce(sql.binary('>', sql.fn('array_length', v.sql), sql.zero), sql.bool(false));
      case 'date': case 'timestamp': return sql.isNull(v.sql, true);
      case 'null': case 'list': return sql.bool(false);
    }
  }

  /** Is the JavaScript value null (not NaN)? */
  private isJsNull(v: Val): Sql {
    if (v.kind === 'null') return sql.bool(true);
    if (v.literal || !v.nullable || v.nullIs === 'nan') return sql.bool(false);
    return sql.isNull(v.sql);
  }

  private pred(node: unknown, pointer: string, scope: Scope): Sql {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return this.truthy(this.value(node, pointer, scope));
    const op = Object.keys(node)[0]!;
    const raw = (node as Record<string, unknown>)[op];
    const args = Array.isArray(raw) ? raw : [raw];
    const at = (i: number) => (Array.isArray(raw) ? joinPointer(pointer, op, i) : joinPointer(pointer, op));
    const folded = this.fold(node);
    if (folded.ok) return sql.bool(jsTruthy(folded.value));

    switch (op) {
      case 'and': return sql.and(args.map((a, i) => this.pred(a, at(i), scope)));
      case 'or': return sql.or(args.map((a, i) => this.pred(a, at(i), scope)));
      case '!': return sql.not(this.pred(args[0], at(0), scope));
      case '!!': return this.pred(args[0], at(0), scope);
      case 'if': return this.ifPred(args, at, scope);
      case '==': return this.looseEquals(this.value(args[0], at(0), scope), this.value(args[1], at(1), scope), at(0));
      case '!=': return sql.not(this.looseEquals(this.value(args[0], at(0), scope), this.value(args[1], at(1), scope), at(0)));
      case '===': return this.strictEquals(this.value(args[0], at(0), scope), this.value(args[1], at(1), scope), at(0));
      case '!==': return sql.not(this.strictEquals(this.value(args[0], at(0), scope), this.value(args[1], at(1), scope), at(0)));
      case '<': case '<=': case '>': case '>=': {
        const values = args.map((a, i) => this.value(a, at(i), scope));
        if (values.length === 3) {
          return sql.and([this.relational(op, values[0]!, values[1]!, at(0)), this.relational(op, values[1]!, values[2]!, at(1))]);
        }
        return this.relational(op, values[0]!, values[1]!, at(0));
      }
      case 'in': return this.inPred(this.value(args[0], at(0), scope), this.value(args[1], at(1), scope), at(0), at(1));
      case 'missing': {
        const keys = (Array.isArray(args[0]) ? args[0] : args) as string[];
        return sql.or(keys.map((key) => this.isMissing(key, scope)));
      }
      case 'missing_some': return this.missingSome(args[0] as number, args[1] as string[], scope);
      case 'some': case 'all': case 'none': return this.quantifier(op, args, at, scope);
      case 'starts_with': case 'ends_with': case 'icontains': return this.stringTest(op, args, at, scope);
      case 'matches': return this.matches(args, at, scope);
      case 'within_last': case 'not_within_last': {
        const within = this.within(args, at, scope);
        return op === 'within_last' ? within : sql.not(within);
      }
      case 'before': case 'after': return this.beforeAfter(op, args, at, scope);
      case 'in_segment': return this.inSegment(args[0] as string, at(0), scope);
      default: return this.truthy(this.value(node, pointer, scope));
    }
  }

  private ifPred(args: unknown[], at: (i: number) => string, scope: Scope): Sql {
    const whens: Array<readonly [Sql, Sql]> = [];
    let i = 0;
    for (; i < args.length - 1; i += 2) whens.push([this.pred(args[i], at(i), scope), this.pred(args[i + 1], at(i + 1), scope)]);
    const otherwise = i === args.length - 1 ? this.pred(args[i], at(i), scope) : sql.bool(false);
    return whens.length ? sql.case(whens, otherwise) : otherwise;
  }

  private ifValue(args: unknown[], at: (i: number) => string, scope: Scope, pointer: string): Val {
    const branches: Val[] = [];
    const conditions: Sql[] = [];
    let i = 0;
    for (; i < args.length - 1; i += 2) {
      conditions.push(this.pred(args[i], at(i), scope));
      branches.push(this.value(args[i + 1], at(i + 1), scope));
    }
    const otherwise = i === args.length - 1 ? this.value(args[i], at(i), scope) : this.literal(null, pointer);
    branches.push(otherwise);
    const kinds = new Set(branches.filter((b) => b.kind !== 'null').map((b) => b.kind));
    if (kinds.size > 1 || kinds.has('list')) {
      throw new RuleTypeError(pointer, `the branches of "if" used as a value must have one type; found ${[...kinds].join(', ')}`);
    }
    const kind = [...kinds][0] ?? 'null';
    if (kind === 'null') return this.literal(null, pointer);
    // One SQL NULL cannot mean both null (a null branch or column) and NaN (arithmetic on null).
    const meansNull = branches.some((b) => b.kind === 'null' || (b.nullable && b.nullIs === 'null'));
    const meansNaN = branches.some((b) => b.nullable && b.nullIs === 'nan');
    if (meansNull && meansNaN) {
      throw new RuleTypeError(pointer, 'the branches of "if" mix null with arithmetic that can be NaN; SQL has one NULL for both');
    }
    const typed = branches.map((b) => (b.kind === 'null' ? { ...b, sql: sql.nullOf(PARAM_TYPE_OF_KIND[kind as Exclude<Kind, 'null' | 'list'>]) } : b));
    const whens = conditions.map((c, j) => [c, typed[j]!.sql] as const);
    return {
      kind, sql: whens.length ? sql.case(whens, typed[typed.length - 1]!.sql) : typed[0]!.sql,
      nullable: branches.some((b) => b.nullable), nullIs: meansNaN ? 'nan' : 'null',
      integral: branches.every((b) => b.integral || b.kind === 'null'),
      nanPossible: branches.some((b) => b.nanPossible),
    };
  }

  private sameTypeEquals(a: Val, b: Val): Sql {
    // NaN equals nothing in JavaScript (SQL engines make it equal to itself).
    return sql.and([sql.coalesce(sql.binary('=', a.sql, b.sql), sql.bool(false)), sql.not(this.isNaN(a))]);
  }

  private rejectTimeOrArray(v: Val, pointer: string, op: string): void {
    if (v.kind === 'date' || v.kind === 'timestamp') throw new RuleTypeError(pointer, `"${op}" on ${describe(v)} compares its text in JavaScript; use before/after/within_last`, 'number, string or boolean', v.kind);
    if (v.kind === 'string_array' || v.kind === 'list') throw new RuleTypeError(pointer, `"${op}" on ${describe(v)} compares array identity or text in JavaScript; use "in" or some/all/none`, 'number, string or boolean', 'array');
  }

  /** count(...) ≥ m as a predicate the planner can run as a semi-join. */
  private atLeast(counted: NonNullable<Val['counted']>, m: number): Sql {
    if (m <= 0) return sql.bool(true);
    if (m > Number.MAX_SAFE_INTEGER) return sql.bool(false); // no relationship has that many rows
    if (m === 1) return Object.freeze({ k: 'exists', from: counted.from, where: counted.where });
    return Object.freeze({ k: 'key_in_counted', from: counted.from, where: counted.where, minCount: this.newParam('integer', m) });
  }

  /**
   * `count(…) op n` (or `n op count(…)`) with a constant n: counts are non-negative integers, so
   * every such comparison is "at least m" or its negation — EXISTS, NOT EXISTS, or a grouped IN,
   * instead of a correlated COUNT(*) per row.
   */
  private countComparison(op: '<' | '<=' | '>' | '>=' | '==', a: Val, b: Val): Sql | null {
    const [count, constant, flipped] = a.counted && b.literal ? [a, b, false] : b.counted && a.literal ? [b, a, true] : [null, null, false];
    if (!count?.counted || !constant?.literal) return null;
    const n = Number(constant.literal.value as never);
    if (!Number.isFinite(n) || typeof constant.literal.value === 'string' || Array.isArray(constant.literal.value)) return null;
    const direction = flipped ? ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==' } as const)[op] : op;
    switch (direction) {
      case '>': return this.atLeast(count.counted, Math.floor(n) + 1);
      case '>=': return this.atLeast(count.counted, Math.ceil(n));
      case '<': return sql.not(this.atLeast(count.counted, Math.ceil(n)));
      case '<=': return sql.not(this.atLeast(count.counted, Math.floor(n) + 1));
      case '==':
        if (!Number.isInteger(n) || n < 0) return sql.bool(false);
        return sql.and([this.atLeast(count.counted, n), sql.not(this.atLeast(count.counted, n + 1))]);
    }
  }

  /** JavaScript `===`. */
  private strictEquals(a: Val, b: Val, pointer: string): Sql {
    const bothNull = sql.and([this.isJsNull(a), this.isJsNull(b)]);
    if (a.kind === 'null' || b.kind === 'null') return bothNull;
    this.rejectTimeOrArray(a, pointer, '===');
    this.rejectTimeOrArray(b, pointer, '===');
    if (a.kind !== b.kind) {
      this.warnings.push(`${pointer}: "===" between ${describe(a)} and ${describe(b)} is only true when both are null`);
      return bothNull;
    }
    return this.countComparison('==', a, b) ?? sql.or([this.sameTypeEquals(a, b), bothNull]);
  }

  /** JavaScript `==`: null equals only null; otherwise booleans and strings are converted to numbers. */
  private looseEquals(a: Val, b: Val, pointer: string): Sql {
    const bothNull = sql.and([this.isJsNull(a), this.isJsNull(b)]);
    if (a.kind === 'null' || b.kind === 'null') return bothNull;
    this.rejectTimeOrArray(a, pointer, '==');
    this.rejectTimeOrArray(b, pointer, '==');
    // Same type: SQL `=` is already false when either side is NULL or NaN.
    if (a.kind === b.kind) return this.countComparison('==', a, b) ?? sql.or([this.sameTypeEquals(a, b), bothNull]);
    let equal: Sql;
    {
      // Different types: both become numbers (a non-null JS value here).
      if ((a.kind === 'string' && !a.literal) || (b.kind === 'string' && !b.literal)) {
        const str = a.kind === 'string' ? a : b;
        const other = a.kind === 'string' ? b : a;
        throw new RuleTypeError(pointer, `"==" between ${describe(str)} and ${describe(other)} converts the string to a number in JavaScript, which SQL cannot reproduce; compare with a string`, 'string', other.kind);
      }
      const left = this.toNumber(a, pointer, { keepNaN: true });
      const right = this.toNumber(b, pointer, { keepNaN: true });
      equal = sql.and([sql.coalesce(sql.binary('=', left.sql, right.sql), sql.bool(false)), sql.not(this.isNaN(left))]);
    }
    const notNull = sql.and([sql.not(this.isJsNull(a)), sql.not(this.isJsNull(b))]);
    return sql.or([sql.and([notNull, equal]), bothNull]);
  }

  /** JavaScript `<` family: string order when both are strings, else numbers (null → 0, NaN → false). */
  private relational(op: '<' | '<=' | '>' | '>=', a: Val, b: Val, pointer: string): Sql {
    const counted = this.countComparison(op, a, b);
    if (counted) return counted;
    if (a.kind === 'string' && b.kind === 'string') {
      if (!a.literal && !b.literal) {
        throw new RuleTypeError(pointer, `"${op}" between two string columns cannot be reproduced when one is null (JavaScript then compares numbers); compare a column with a literal`, 'string literal', 'string column');
      }
      // A null column is 0 against Number(literal) in JavaScript: decided now.
      const column = a.literal ? b : a;
      const literal = (a.literal ? a : b).literal!.value as string;
      const nullCase = a.literal ? compareJs(op, Number(literal), 0) : compareJs(op, 0, Number(literal));
      const compared = sql.coalesce(sql.binary(`string${op}`, a.sql, b.sql), sql.bool(false));
      return column.nullable ? sql.case([[sql.isNull(column.sql), sql.bool(nullCase)]], compared) : compared;
    }
    if ((a.kind === 'string' && !a.literal) || (b.kind === 'string' && !b.literal)) {
      const str = a.kind === 'string' ? a : b;
      throw new RuleTypeError(pointer, `"${op}" between ${describe(str)} and a number converts the string to a number in JavaScript, which SQL cannot reproduce`, 'number', 'string');
    }
    for (const v of [a, b]) this.rejectTimeOrArray(v, pointer, op);
    // NaN compares false in JavaScript; SQL engines order it above everything: guard it.
    const left = this.toNumber(a, pointer, { keepNaN: true });
    const right = this.toNumber(b, pointer, { keepNaN: true });
    return sql.and([sql.coalesce(sql.binary(op, left.sql, right.sql), sql.bool(false)), sql.not(this.isNaN(left)), sql.not(this.isNaN(right))]);
  }

  /** JsonLogic `in`: membership in an array literal or array column, or substring of a string. */
  private inPred(needle: Val, haystack: Val, needlePointer: string, haystackPointer: string): Sql {
    if (haystack.kind === 'list') {
      const items = haystack.literal!.value as unknown[];
      const hasNull = items.includes(null);
      const nullMatch = hasNull ? this.isJsNull(needle) : sql.bool(false);
      if (needle.kind === 'null') return sql.bool(hasNull);
      switch (needle.kind) {
        case 'string': {
          const strings = items.filter((x): x is string => typeof x === 'string');
          const match = strings.length ? sql.coalesce(sql.fn('array_contains', this.param('string_array', strings), needle.sql), sql.bool(false)) : sql.bool(false);
          return sql.or([match, nullMatch]);
        }
        case 'number': {
          const numbers = items.filter((x): x is number => typeof x === 'number');
          const match = numbers.length ? sql.coalesce(sql.fn('array_contains', this.param('float_array', numbers), needle.sql), sql.bool(false)) : sql.bool(false);
          return sql.or([match, nullMatch]);
        }
        case 'boolean': {
          const options = [
            ...(items.includes(true) ? [sql.coalesce(needle.sql, sql.bool(false))] : []),
            ...(items.includes(false) ? [sql.not(sql.coalesce(needle.sql, sql.bool(true)))] : []),
          ];
          return sql.or([...options, nullMatch]);
        }
        default:
          throw new RuleTypeError(needlePointer, `"in" an array literal is not supported for ${describe(needle)}`, 'string, number or boolean', needle.kind);
      }
    }
    if (haystack.kind === 'string') {
      const search = this.toStringForSearch(needle, needlePointer);
      // json-logic-js: a falsy haystack ("" or null) contains nothing.
      return sql.coalesce(sql.and([sql.binary('<>', haystack.sql, sql.emptyString), sql.binary('>', sql.fn('strpos', haystack.sql, search), sql.zero)]), sql.bool(false));
    }
    if (haystack.kind === 'string_array') {
      // indexOf is strict equality: a null needle finds a null element.
      const nullElement: Sql = { k: 'exists', from: { kind: 'array', array: haystack.sql }, where: sql.isNull(sql.column('element', 'v')) };
      const nullMatch = sql.and([this.isJsNull(needle), nullElement]);
      if (needle.kind === 'null') return nullElement;
      if (needle.kind === 'number' || needle.kind === 'boolean') return nullMatch; // never equal to a string
      if (needle.kind !== 'string') throw new RuleTypeError(needlePointer, `"in" a string array needs a string, not ${describe(needle)}`, 'string', needle.kind);
      const match = sql.coalesce(sql.fn('array_contains', haystack.sql, needle.sql), sql.bool(false));
      return needle.nullable ? sql.or([match, nullMatch]) : match;
    }
    if (haystack.kind === 'null' || haystack.kind === 'number' || haystack.kind === 'boolean') return sql.bool(false);
    throw new RuleTypeError(haystackPointer, `"in" needs an array or a string to search, not ${describe(haystack)}`, 'array or string', haystack.kind);
  }

  private isMissing(key: string, scope: Scope): Sql {
    const v = this.variable([key], '', scope);
    return v.kind === 'string'
      ? sql.or([sql.isNull(v.sql), sql.binary('=', v.sql, sql.emptyString)])
      : sql.isNull(v.sql);
  }

  private missingSome(need: number, keys: string[], scope: Scope): Sql {
    // Truthy when fewer than `need` are present and at least one is missing.
    const missingCount = keys
      .map((k): Sql => sql.case([[this.isMissing(k, scope), sql.one]], sql.zero))
      .reduce((acc, x) => sql.binary('+', acc, x), sql.zero as Sql);
    const threshold = Math.max(keys.length - need, 0);
    return sql.binary('>', missingCount, this.param('float', threshold));
  }

  private relationshipOf(node: unknown, scope: Scope, pointer: string): CompilerRelationship {
    if (scope.kind !== 'entity') throw new RuleTypeError(pointer, 'relationships can only be used at the top level of a rule');
    return this.options.model.relationships.get(varPath(node))!;
  }

  private windowPred(relationship: CompilerRelationship, window: [number, TimeUnit] | undefined): Sql {
    if (!window || !relationship.timeColumn) return sql.bool(true);
    const attribute = [...relationship.attributes.values()].find((a) => a.column === relationship.timeColumn);
    const column = sql.column('related', relationship.timeColumn);
    const time = attribute?.type === 'date' ? sql.fn('date_to_timestamp', column) : column;
    return this.timeRange(time, window);
  }

  private timeRange(time: Sql, [amount, unit]: [number, TimeUnit]): Sql {
    const cutoff = this.param('timestamp', new Date(this.asOfMs - amount * UNIT_MS[unit]).toISOString());
    return sql.coalesce(sql.and([sql.binary('>=', time, cutoff), sql.binary('<', time, sql.param(this.asOfParam))]), sql.bool(false));
  }

  private quantifier(op: 'some' | 'all' | 'none', args: unknown[], at: (i: number) => string, scope: Scope): Sql {
    const path = varPath(args[0]);
    const attribute = scope.kind === 'entity' ? this.options.model.attributes.get(path) : undefined;
    let from: { kind: 'relation'; schema: string; table: string; foreignKey: string } | { kind: 'array'; array: Sql };
    let inner: Sql;
    if (attribute) {
      from = { kind: 'array', array: this.attribute(attribute, 'entity').sql };
      inner = this.pred(args[1], at(1), { kind: 'element' });
    } else {
      const relationship = this.relationshipOf(args[0], scope, at(0));
      from = { kind: 'relation', schema: relationship.schema, table: relationship.table, foreignKey: relationship.foreignKey };
      inner = this.pred(args[1], at(1), { kind: 'related', relationship });
    }
    const exists = (where: Sql): Sql => Object.freeze({ k: 'exists', from, where });
    if (op === 'some') return exists(inner);
    if (op === 'none') return sql.not(exists(inner));
    return sql.and([exists(sql.bool(true)), sql.not(exists(sql.not(inner)))]);
  }

  private aggregate(op: 'count' | 'sum' | 'avg' | 'min_of' | 'max_of', args: unknown[], at: (i: number) => string, scope: Scope): Val {
    const relationship = this.relationshipOf(args[0], scope, at(0));
    const related: Scope = { kind: 'related', relationship };
    const hasValue = op !== 'count';
    let value: Sql | null = null;
    let valueMayBeNaN = false;
    if (hasValue) {
      const v = this.variable([varPath(args[1])], at(1), related);
      if (v.kind !== 'number') throw new RuleTypeError(joinPointer(at(1), 'var'), `"${op}" needs a number attribute`, 'number', v.kind);
      value = v.sql;
      valueMayBeNaN = v.nanPossible ?? false;
    }
    const filterArg = args[hasValue ? 2 : 1];
    const filter = filterArg === undefined ? sql.bool(true) : this.pred(filterArg, at(hasValue ? 2 : 1), related);
    const window = args[hasValue ? 3 : 2] as [number, TimeUnit] | undefined;
    const from = { kind: 'relation' as const, schema: relationship.schema, table: relationship.table, foreignKey: relationship.foreignKey };
    const where = sql.and([filter, this.windowPred(relationship, window)]);
    const fn = ({ count: 'count', sum: 'sum', avg: 'avg', min_of: 'min', max_of: 'max' } as const)[op];
    const nanPropagates = (fn === 'min' || fn === 'max') && valueMayBeNaN;
    const node: Sql = Object.freeze({ k: 'aggregate', fn, value, from, where, nanPropagates });
    if (op === 'count') return { ...this.number(node, { nullable: false, integral: true, nullIs: 'null' }), counted: { from, where } };
    if (op === 'sum') return this.number(sql.coalesce(node, sql.zero), { nullable: false, nullIs: 'null', nanPossible: true });
    // avg/min/max of no rows is null in both engines and in our JS definition.
    return this.number(node, { nullable: true, nullIs: 'null', nanPossible: true });
  }

  private stringTest(op: 'starts_with' | 'ends_with' | 'icontains', args: unknown[], at: (i: number) => string, scope: Scope): Sql {
    const [a, b] = args.map((x, i) => this.value(x, at(i), scope)) as [Val, Val];
    for (const [v, i] of [[a, 0], [b, 1]] as const) {
      if (v.kind !== 'string' && v.kind !== 'null') {
        if (v.literal || v.kind === 'number' || v.kind === 'boolean') return sql.bool(false); // not strings: false, as the extension says
        throw new RuleTypeError(at(i), `"${op}" needs strings, not ${describe(v)}`, 'string', v.kind);
      }
    }
    if (a.kind === 'null' || b.kind === 'null') return sql.bool(false);
    const test = op === 'icontains'
      ? sql.binary('>', sql.fn('strpos', sql.fn('lower_ascii', a.sql), sql.fn('lower_ascii', b.sql)), sql.zero)
      : sql.fn(op, a.sql, b.sql);
    return sql.coalesce(test, sql.bool(false));
  }

  private matches(args: unknown[], at: (i: number) => string, scope: Scope): Sql {
    const value = this.value(args[0], at(0), scope);
    const pattern = this.value(args[1], at(1), scope);
    if (!pattern.literal || typeof pattern.literal.value !== 'string') throw new RuleTypeError(at(1), '"matches" needs the pattern as a string literal', 'string literal', describe(pattern));
    try {
      validateRegex(pattern.literal.value);
    } catch (error) {
      if (error instanceof RegexSubsetError) throw new RuleTypeError(at(1), `unsupported regular expression: ${error.message}`);
      throw error;
    }
    if (value.kind === 'null' || value.kind === 'number' || value.kind === 'boolean') return sql.bool(false);
    if (value.kind !== 'string') throw new RuleTypeError(at(0), `"matches" needs a string, not ${describe(value)}`, 'string', value.kind);
    return sql.coalesce(Object.freeze({ k: 'regex', value: value.sql, pattern: this.newParam('string', pattern.literal.value) }), sql.bool(false));
  }

  /** A date or timestamp as an instant: dates are UTC midnight, as in the JS evaluator. */
  private instant(v: Val, pointer: string, op: string): Sql | number {
    if (v.literal) {
      const t = parseIsoTime(v.literal.value);
      if (Number.isNaN(t)) throw new RuleTypeError(pointer, `"${op}" needs an ISO-8601 date (YYYY-MM-DD) or date-time with a zone (…Z or ±HH:MM)`, 'ISO-8601 date or date-time', describe(v));
      return t;
    }
    if (v.kind === 'timestamp') return v.sql;
    if (v.kind === 'date') return sql.fn('date_to_timestamp', v.sql);
    throw new RuleTypeError(pointer, `"${op}" needs a date or timestamp, not ${describe(v)}`, 'date or timestamp', v.kind);
  }

  private within(args: unknown[], at: (i: number) => string, scope: Scope): Sql {
    const t = this.instant(this.value(args[0], at(0), scope), at(0), 'within_last');
    const window: [number, TimeUnit] = [args[1] as number, args[2] as TimeUnit];
    if (typeof t === 'number') {
      const cutoff = this.asOfMs - window[0] * UNIT_MS[window[1]];
      return sql.bool(cutoff <= t && t < this.asOfMs);
    }
    return this.timeRange(t, window);
  }

  private beforeAfter(op: 'before' | 'after', args: unknown[], at: (i: number) => string, scope: Scope): Sql {
    const a = this.instant(this.value(args[0], at(0), scope), at(0), op);
    const b = this.instant(this.value(args[1], at(1), scope), at(1), op);
    const asSql = (x: Sql | number) => (typeof x === 'number' ? this.param('timestamp', new Date(x).toISOString()) : x);
    return sql.coalesce(sql.binary(op === 'before' ? '<' : '>', asSql(a), asSql(b)), sql.bool(false));
  }

  private inSegment(slug: string, pointer: string, scope: Scope): Sql {
    if (scope.kind !== 'entity') throw new RuleTypeError(pointer, 'in_segment can only be used at the top level of a rule, not inside a relationship');
    if (this.inlining.includes(slug)) throw new RuleTypeError(pointer, `in_segment cycle: ${[...this.inlining, slug].join(' → ')}`);
    const rule = this.options.resolveSegment?.(slug);
    if (rule === undefined) throw new RuleTypeError(pointer, `in_segment: no segment "${slug}" of this model`);
    const structure = checkRuleStructure(rule, ruleModelOf(this.options.model));
    if (structure.problems.length) {
      const [first] = structure.problems;
      throw new RuleTypeError(pointer, `in segment "${slug}" at ${first!.pointer || '/'}: ${first!.message}`);
    }
    this.inlining.push(slug);
    try {
      return this.pred(rule, '', scope);
    } catch (error) {
      if (error instanceof RuleTypeError) throw new RuleTypeError(pointer, `in segment "${slug}" at ${error.pointer || '/'}: ${error.message}`);
      throw error;
    } finally {
      this.inlining.pop();
    }
  }
}

export function ruleModelOf(model: CompilerModel): RuleModel {
  return {
    attributes: new Map([...model.attributes].map(([name, a]) => [name, a.type])),
    relationships: new Map([...model.relationships].map(([name, r]) => [name, {
      attributes: new Map([...r.attributes].map(([n, a]) => [n, a.type])), hasTimeColumn: r.timeColumn !== undefined,
    }])),
  };
}

/** The path of `{"var": "x"}` or `{"var": ["x", default]}`. */
function varPath(node: unknown): string {
  const arg = (node as { var: unknown }).var;
  return String(Array.isArray(arg) ? arg[0] : arg);
}

function compareJs(op: '<' | '<=' | '>' | '>=', a: number, b: number): boolean {
  switch (op) {
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}

/** No `var` (or anything else that reads data) anywhere below. */
function isConstant(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return true;
  if (Array.isArray(node)) return node.every(isConstant);
  const op = Object.keys(node)[0]!;
  if (['var', 'missing', 'missing_some', 'in_segment', 'count', 'sum', 'avg', 'min_of', 'max_of', 'some', 'all', 'none'].includes(op)) return false;
  return isConstant((node as Record<string, unknown>)[op]);
}

