import jsonLogic from 'json-logic-js';
import type { CompilerModel } from './compiler-model';
import { parseIsoTime, UNIT_MS, type TimeUnit } from './iso-time';
import { jsRegex } from './regex-subset';

/**
 * The JavaScript side of our rule semantics: json-logic-js 2.0.5 plus the audiences extensions.
 * One module serves the differential-test oracle, the evaluate endpoint and constant folding in
 * the compiler, so there is one definition of what a rule means.
 *
 * Extensions that need the as-of time or look into related rows are rewritten before evaluation
 * (see prepareRule): json-logic-js evaluates operator arguments eagerly, so a filter rule is
 * passed "quoted" (an object with two keys, which json-logic-js leaves alone).
 */
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const regexCache = new Map<string, RegExp>();
const QUOTE = '$rule';

type Row = Record<string, unknown>;
interface Quoted { [QUOTE]: unknown; quoted: true }

function inWindow(value: unknown, cutoff: unknown, asOf: unknown): boolean {
  const t = parseIsoTime(value);
  return typeof cutoff === 'number' && typeof asOf === 'number' && cutoff <= t && t < asOf;
}

function relatedRows(rows: unknown, filter: Quoted, timeKey: string | null, cutoff: number | null, asOf: number | null): Row[] {
  if (!Array.isArray(rows)) return [];
  return (rows as Row[]).filter((row) =>
    jsonLogic.truthy(jsonLogic.apply(filter[QUOTE] as jsonLogic.RulesLogic, row)) &&
    (timeKey === null || inWindow(row[timeKey], cutoff, asOf)));
}

function numbersOf(rows: Row[], key: string): number[] {
  return rows.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
}

let registered = false;
export function registerExtensions(): void {
  if (registered) return;
  registered = true;
  const add = (name: string, fn: (...args: any[]) => unknown) => jsonLogic.add_operation(name, fn);
  add('starts_with', (a: unknown, b: unknown) => typeof a === 'string' && typeof b === 'string' && a.startsWith(b));
  add('ends_with', (a: unknown, b: unknown) => typeof a === 'string' && typeof b === 'string' && a.endsWith(b));
  add('icontains', (a: unknown, b: unknown) => typeof a === 'string' && typeof b === 'string' && asciiLower(a).includes(asciiLower(b)));
  add('matches', (a: unknown, pattern: unknown) => {
    if (typeof a !== 'string' || typeof pattern !== 'string') return false;
    let re = regexCache.get(pattern);
    if (!re) {
      re = jsRegex(pattern);
      if (regexCache.size > 1000) regexCache.clear();
      regexCache.set(pattern, re);
    }
    return re.test(a);
  });
  add('before', (a: unknown, b: unknown) => parseIsoTime(a) < parseIsoTime(b));
  add('after', (a: unknown, b: unknown) => parseIsoTime(a) > parseIsoTime(b));
  add('$window', inWindow);
  add('$count', (rows: unknown, filter: Quoted, timeKey: string | null, cutoff: number | null, asOf: number | null) =>
    relatedRows(rows, filter, timeKey, cutoff, asOf).length);
  add('$sum', (rows: unknown, key: string, filter: Quoted, timeKey: string | null, cutoff: number | null, asOf: number | null) =>
    numbersOf(relatedRows(rows, filter, timeKey, cutoff, asOf), key).reduce((a, b) => a + b, 0));
  add('$avg', (rows: unknown, key: string, filter: Quoted, timeKey: string | null, cutoff: number | null, asOf: number | null) => {
    const values = numbersOf(relatedRows(rows, filter, timeKey, cutoff, asOf), key);
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  });
  add('$min_of', (rows: unknown, key: string, filter: Quoted, timeKey: string | null, cutoff: number | null, asOf: number | null) => {
    const values = numbersOf(relatedRows(rows, filter, timeKey, cutoff, asOf), key);
    return values.length ? Math.min(...values) : null;
  });
  add('$max_of', (rows: unknown, key: string, filter: Quoted, timeKey: string | null, cutoff: number | null, asOf: number | null) => {
    const values = numbersOf(relatedRows(rows, filter, timeKey, cutoff, asOf), key);
    return values.length ? Math.max(...values) : null;
  });
}

export interface PrepareOptions {
  asOf: Date;
  model?: CompilerModel;
  /** The rule of another segment, for in_segment (inlined, as the compiler does). */
  resolveSegment?: (slug: string) => unknown;
}

/** Rewrites extensions that depend on the as-of time, related rows or other segments. */
export function prepareRule(rule: unknown, options: PrepareOptions, inlining: string[] = []): unknown {
  const asOf = options.asOf.getTime();
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const keys = Object.keys(node);
    if (keys.length !== 1) return node;
    const op = keys[0]!;
    const raw = (node as Record<string, unknown>)[op];
    const args = Array.isArray(raw) ? raw : [raw];
    switch (op) {
      case 'within_last':
      case 'not_within_last': {
        const [value, amount, unit] = args as [unknown, number, TimeUnit];
        const window = { $window: [walk(value), asOf - amount * UNIT_MS[unit], asOf] };
        return op === 'within_last' ? window : { '!': window };
      }
      case 'count': case 'sum': case 'avg': case 'min_of': case 'max_of': {
        const relationshipName = (args[0] as { var: unknown }).var as string;
        const relationship = options.model?.relationships.get(Array.isArray(relationshipName) ? relationshipName[0] : relationshipName);
        const hasValue = op !== 'count';
        const valueKey = hasValue ? ((args[1] as { var: unknown }).var as string) : null;
        const filter = args[hasValue ? 2 : 1] ?? true;
        const window = args[hasValue ? 3 : 2] as [number, TimeUnit] | undefined;
        let timeKey: string | null = null;
        if (window && relationship?.timeColumn) {
          const attribute = [...relationship.attributes.values()].find((a) => a.column === relationship.timeColumn);
          timeKey = attribute?.name ?? relationship.timeColumn;
        }
        const quoted = { [QUOTE]: walk(filter), quoted: true };
        const tail = [quoted, timeKey, window ? asOf - window[0] * UNIT_MS[window[1]] : null, window ? asOf : null];
        return { [`$${op}`]: hasValue ? [args[0], valueKey, ...tail] : [args[0], ...tail] };
      }
      case 'in_segment': {
        const slug = args[0] as string;
        if (inlining.includes(slug)) throw new Error(`in_segment cycle: ${[...inlining, slug].join(' → ')}`);
        const target = options.resolveSegment?.(slug);
        if (target === undefined) throw new Error(`in_segment: unknown segment "${slug}"`);
        return { '!!': [prepareRule(target, options, [...inlining, slug])] };
      }
      default:
        return { [op]: Array.isArray(raw) ? raw.map(walk) : walk(raw) };
    }
  };
  return walk(rule);
}

/** json-logic-js on a prepared rule. */
export function applyPrepared(prepared: unknown, data: unknown): unknown {
  registerExtensions();
  return jsonLogic.apply(prepared as jsonLogic.RulesLogic, data);
}

export interface EvaluateOptions extends PrepareOptions {
  model?: CompilerModel;
}

/**
 * Whether one record is a member: the rule is truthy and the model's suppression rule is not.
 * Related rows are arrays under the relationship's name. A rule json-logic-js cannot evaluate on
 * this record (it throws) does not select it, as the SQL would not.
 */
export function isMember(rule: unknown, record: Row, options: EvaluateOptions): boolean {
  registerExtensions();
  try {
    if (!jsonLogic.truthy(applyPrepared(prepareRule(rule, options), record))) return false;
    const suppression = options.model?.suppression;
    return suppression === undefined || !jsonLogic.truthy(applyPrepared(prepareRule(suppression, options), record));
  } catch {
    return false;
  }
}

export const truthy = (value: unknown): boolean => jsonLogic.truthy(value);
