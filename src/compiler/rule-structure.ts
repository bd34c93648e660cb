import type { AttributeType } from '../models/model-schema';
import { joinPointer } from './json-pointer';
import { OPERATORS, TIME_UNITS } from './operators';

/** What a rule can name: the model's attributes and relationships, with their types. Pure data. */
export interface RuleModel {
  attributes: ReadonlyMap<string, AttributeType>;
  relationships: ReadonlyMap<string, { attributes: ReadonlyMap<string, AttributeType>; hasTimeColumn: boolean }>;
}

export interface RuleLimits {
  maxDepth: number;
  maxNodes: number;
  maxStringLength: number;
}

export const DEFAULT_RULE_LIMITS: RuleLimits = { maxDepth: 32, maxNodes: 5_000, maxStringLength: 4_096 };

export interface RuleProblem {
  pointer: string;
  message: string;
}

export interface RuleStructure {
  problems: RuleProblem[];
  /** Slugs named by `in_segment`, for dependency and cycle checks. */
  segmentRefs: string[];
  nodeCount: number;
}

/** What `{"var": …}` resolves against at a point of the rule. */
type Scope =
  | { kind: 'entity' }
  | { kind: 'relationship'; name: string; attributes: ReadonlyMap<string, AttributeType> }
  | { kind: 'element'; of: string };

class TooLarge extends Error {}

/**
 * Structural validation of a rule against a model: one-key operator objects, known operators
 * with the right number of arguments, `var` paths that exist where they are used, the special
 * forms' shapes, and size limits. Type-checking is the compiler's job; this pass reports every
 * problem it finds (not just the first), each with a JSON pointer into the request.
 */
export function checkRuleStructure(
  rule: unknown,
  model: RuleModel,
  options: { basePointer?: string; limits?: RuleLimits } = {},
): RuleStructure {
  const limits = options.limits ?? DEFAULT_RULE_LIMITS;
  const problems: RuleProblem[] = [];
  const segmentRefs: string[] = [];
  let nodeCount = 0;

  const report = (pointer: string, message: string) => {
    if (problems.length < 100) problems.push({ pointer, message });
  };

  const checkVarPath = (path: unknown, pointer: string, scope: Scope, allowRelationship: boolean) => {
    if (typeof path === 'number') {
      report(pointer, 'numeric var paths index arrays; name an attribute instead');
      return;
    }
    if (typeof path !== 'string') {
      report(pointer, 'var path must be a literal string naming an attribute');
      return;
    }
    if (path === '') {
      if (scope.kind !== 'element') report(pointer, 'the empty var path ("") only means the current element inside some/all/none over an array attribute');
      return;
    }
    if (path.includes('.')) {
      report(pointer, `nested var path "${path}" is not supported; use some/all/none or an aggregate over the relationship`);
      return;
    }
    if (scope.kind === 'entity') {
      if (model.attributes.has(path)) return;
      if (model.relationships.has(path)) {
        if (!allowRelationship) report(pointer, `"${path}" is a relationship; use it through some/all/none or count/sum/avg/min_of/max_of`);
        return;
      }
      report(pointer, `unknown attribute "${path}"; the model has ${describeNames([...model.attributes.keys(), ...model.relationships.keys()])}`);
    } else if (scope.kind === 'relationship') {
      if (!scope.attributes.has(path)) report(pointer, `unknown attribute "${path}" of relationship "${scope.name}"; it has ${describeNames([...scope.attributes.keys()])}`);
    } else {
      report(pointer, `inside some/all/none over "${scope.of}" only {"var": ""} (the element) is available, not "${path}"`);
    }
  };

  /** Resolves the collection a quantifier or aggregate ranges over, and the scope inside it. */
  const collectionScope = (node: unknown, pointer: string, scope: Scope, opts: { allowArrayAttribute: boolean }): Scope | null => {
    const path = varPathOf(node);
    if (path === undefined || typeof path !== 'string') {
      report(pointer, 'expected {"var": "<relationship or array attribute>"}');
      return null;
    }
    if (scope.kind !== 'entity') {
      report(pointer, 'quantifiers and aggregates cannot be nested inside another relationship');
      return null;
    }
    const relationship = model.relationships.get(path);
    if (relationship) return { kind: 'relationship', name: path, attributes: relationship.attributes };
    const type = model.attributes.get(path);
    if (type === 'string_array' && opts.allowArrayAttribute) return { kind: 'element', of: path };
    if (type) report(pointer, `"${path}" is a ${type} attribute, not a ${opts.allowArrayAttribute ? 'relationship or array attribute' : 'relationship'}`);
    else report(pointer, `unknown relationship "${path}"`);
    return null;
  };

  const walk = (node: unknown, pointer: string, scope: Scope, depth: number): void => {
    nodeCount += 1;
    if (nodeCount > limits.maxNodes) throw new TooLarge(`rule has more than ${limits.maxNodes} nodes`);
    if (depth > limits.maxDepth) {
      report(pointer, `rule is nested deeper than ${limits.maxDepth} levels`);
      return;
    }
    if (node === null || typeof node === 'boolean' || typeof node === 'number') {
      if (typeof node === 'number' && !Number.isFinite(node)) report(pointer, 'numbers must be finite');
      return;
    }
    if (typeof node === 'string') {
      if (node.length > limits.maxStringLength) report(pointer, `string literal longer than ${limits.maxStringLength} characters`);
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, joinPointer(pointer, i), scope, depth + 1));
      return;
    }
    if (typeof node !== 'object') {
      report(pointer, `unsupported value of type ${typeof node}`);
      return;
    }
    const keys = Object.keys(node);
    if (keys.length !== 1) {
      report(pointer, keys.length === 0 ? 'empty object: an operation is an object with exactly one key, the operator' : `an operation has exactly one key (the operator); found ${keys.length}: ${keys.slice(0, 5).map((k) => JSON.stringify(k)).join(', ')}`);
      return;
    }
    const op = keys[0]!;
    // Own properties only: `constructor`, `__proto__` and friends are not operators.
    const spec = Object.hasOwn(OPERATORS, op) ? OPERATORS[op] : undefined;
    const rawArgs = (node as Record<string, unknown>)[op];
    const opPointer = joinPointer(pointer, op);
    if (!spec) {
      report(opPointer, `unknown operator "${op}"`);
      return;
    }
    // json-logic-js accepts a single non-array argument as shorthand for [arg].
    const argsAreArray = Array.isArray(rawArgs);
    const args: unknown[] = argsAreArray ? (rawArgs as unknown[]) : [rawArgs];
    const argPointer = (i: number) => (argsAreArray ? joinPointer(opPointer, i) : opPointer);
    if (args.length < spec.minArgs || args.length > spec.maxArgs) {
      const expected = spec.maxArgs === Number.POSITIVE_INFINITY ? `at least ${spec.minArgs}` : spec.minArgs === spec.maxArgs ? `${spec.minArgs}` : `${spec.minArgs} to ${spec.maxArgs}`;
      report(opPointer, `"${op}" takes ${expected} argument${expected === '1' ? '' : 's'}, got ${args.length}`);
      return;
    }

    switch (spec.form) {
      case 'expression':
        args.forEach((arg, i) => walk(arg, argPointer(i), scope, depth + 1));
        return;
      case 'var':
        if (args.length === 2) walk(args[1], argPointer(1), scope, depth + 1);
        checkVarPath(args[0], argPointer(0), scope, false);
        return;
      case 'missing':
        // Either a list of paths or one nested list ({"missing": [["a", "b"]]}) as json-logic-js allows.
        (Array.isArray(args[0]) ? (args[0] as unknown[]) : args).forEach((path, i) =>
          checkVarPath(path, Array.isArray(args[0]) ? joinPointer(argPointer(0), i) : argPointer(i), scope, false),
        );
        return;
      case 'missing_some': {
        if (typeof args[0] !== 'number' || !Number.isInteger(args[0]) || args[0] < 0) report(argPointer(0), 'missing_some needs a non-negative integer count first');
        if (!Array.isArray(args[1])) report(argPointer(1), 'missing_some needs an array of attribute names second');
        else args[1].forEach((path, i) => checkVarPath(path, joinPointer(argPointer(1), i), scope, false));
        return;
      }
      case 'quantifier': {
        const inner = collectionScope(args[0], argPointer(0), scope, { allowArrayAttribute: true });
        if (inner) walk(args[1], argPointer(1), inner, depth + 1);
        return;
      }
      case 'aggregate': {
        const inner = collectionScope(args[0], argPointer(0), scope, { allowArrayAttribute: false });
        if (!inner || inner.kind !== 'relationship') return;
        let next = 1;
        if (op !== 'count') {
          const path = varPathOf(args[1]);
          if (path === undefined) report(argPointer(1), `"${op}" needs the attribute to aggregate second, as {"var": "<attribute>"}`);
          else checkVarPath(path, joinPointer(argPointer(1), 'var'), inner, false);
          next = 2;
        }
        if (args.length > next) walk(args[next], argPointer(next), inner, depth + 1);
        if (args.length > next + 1) {
          checkWindow(args[next + 1], argPointer(next + 1));
          const relationship = model.relationships.get(inner.name);
          if (relationship && !relationship.hasTimeColumn) report(argPointer(next + 1), `relationship "${inner.name}" has no timeColumn, so it cannot take a time window`);
        }
        return;
      }
      case 'time_window':
        walk(args[0], argPointer(0), scope, depth + 1);
        checkWindow([args[1], args[2]], argPointer(1), { split: [argPointer(1), argPointer(2)] });
        return;
      case 'segment_ref':
        if (typeof args[0] !== 'string' || args[0] === '') report(argPointer(0), 'in_segment takes the slug of another segment');
        else segmentRefs.push(args[0]);
        return;
    }
  };

  const checkWindow = (window: unknown, pointer: string, opts: { split?: [string, string] } = {}) => {
    const [amountPointer, unitPointer] = opts.split ?? [joinPointer(pointer, 0), joinPointer(pointer, 1)];
    if (!Array.isArray(window) || window.length !== 2) {
      report(pointer, `a time window is [amount, unit] with unit one of ${TIME_UNITS.join(', ')}`);
      return;
    }
    const [amount, unit] = window;
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 0 || amount > 100_000) report(amountPointer, 'window amount must be an integer from 0 to 100000');
    if (typeof unit !== 'string' || !(TIME_UNITS as readonly string[]).includes(unit)) report(unitPointer, `window unit must be one of ${TIME_UNITS.join(', ')}`);
  };

  const base = options.basePointer ?? '';
  if (rule === null || (typeof rule !== 'object' && typeof rule !== 'boolean') || Array.isArray(rule)) {
    report(base, 'a rule is a JsonLogic operation (an object with one operator key) or true/false');
  } else {
    try {
      walk(rule, base, { kind: 'entity' }, 0);
    } catch (error) {
      if (!(error instanceof TooLarge)) throw error;
      report(base, error.message);
    }
  }
  return { problems, segmentRefs, nodeCount };
}

function varPathOf(node: unknown): unknown {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1 || keys[0] !== 'var') return undefined;
  const arg = (node as { var: unknown }).var;
  return Array.isArray(arg) ? arg[0] : arg;
}

function describeNames(names: string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, 12).map((n) => `"${n}"`).join(', ');
  return names.length > 12 ? `${shown}, … (${names.length} in all)` : shown;
}
