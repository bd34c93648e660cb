import fc from 'fast-check';
import { LONG_STRING } from './differential';

/**
 * Well-typed random rules over the differential model (tests/support/differential.ts):
 * customers(id, name, email, country, score, visits, active, born, seen_at, tags) with orders
 * (total, qty, status, placed_at). Depth is bounded; literals include the adversarial values.
 * Some generated rules are (correctly) refused by the compiler; the properties count them.
 */

type Rule = unknown;
type Arb = fc.Arbitrary<Rule>;

const v = (name: string) => ({ var: name });

// ---- literals -------------------------------------------------------------------------------

/** Characters for random strings: ASCII, regex/SQL metacharacters, accents, CJK, astral. Nothing in U+E000–U+FFFF. */
const CHARS = [...'abcABC012 _%\'"\\$@*/-;.\n\t', 'é', 'ß', 'İ', '中', '😀', '👍', '🏽'];

export const stringLiteral: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(
    '', '0', ' 1 ', '1', 'abc', 'ABC', 'Abc', 'a', 'b', 'ab', 'c', 'null', 'true', 'false', 'a%b_c', "quote's", 'back\\slash',
    'line\nbreak', 'tab\t', 'é', 'É', 'ß', 'İ', '😀', '👍🏽', 'a😀b', '中文字符', 'US', 'us', 'abc@example.com', 'running', 'run',
    '@', '%', '_', "'", '\\', ' ', 'x_y', 'NaN', 'Infinity', '1e3', '-1', 'zzz', '~', LONG_STRING.slice(0, 4000), LONG_STRING.slice(-3000)) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...CHARS), { maxLength: 5 }).map((cs) => cs.join('')) },
);

export const numberLiteral: fc.Arbitrary<number> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(0, -0, 1, -1, 0.1, 0.2, 0.30000000000000004, 1e15, -1e15, 5e-324, 1e-10, 123.456, 2 ** 53, 2 ** 53 - 1, 0.5, 2.5, -2.5, 3, 7, 10, 42, 100, 250, 1000, 1e6, -7, 2 ** 31, 1e300, -1e300) },
  { weight: 2, arbitrary: fc.integer({ min: -12, max: 12 }) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }) },
);

/** Things JS converts to numbers in comparisons: booleans, null, numeric (and non-numeric) strings. */
const numberish: Arb = fc.oneof(
  { weight: 6, arbitrary: numberLiteral },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.constantFrom('1', ' 1 ', '', '0', '-0', 'abc', '1e3', '0x10', '.5', 'Infinity', '3', '100', ' ', 'true') },
);

const nonZeroLiteral = fc.constantFrom(1, -1, 2, 3, 7, -3, 0.5, 10, 0.1, 1e15, 2.5, '4', true);
const intDivisor = fc.constantFrom(1, 2, 3, 7, -2, -3, 10, 1000, 2 ** 31, '3', true);

export const REGEXES = ['^a', 'b$', '\\d+', '[a-c]', '(ab|c)*', '.', '^$', '^.$', 'A', '^\\s', '\\w+@\\w+', '[^a-z]', 'é', '😀', '^.{3}$', 'ru?n', 'a|b', '\\.', '%', '_', '^[0-9]+$', 'ab{2,}', '(?:a|b)c', '\\D', '\\S+\\s', 'İ', '\\\\', "'", '\\n', '$a', '$.', 'a^b', '(a|$)b', '^(?i)a', 'a{300}', '(a)\\1'];

/** Random patterns of the supported subset: anchors anywhere, classes, groups, alternation, quantifiers. */
const REGEX_ATOMS = ['a', 'b', 'c', 'A', '1', '.', '\\d', '\\w', '\\s', '\\D', '[a-c]', '[^a]', '[0-9]', '(ab|c)', '(?:a|1)', 'é', '😀', '\\.', '%', '_', "'", ' '];
const REGEX_QUANTIFIERS = ['', '', '', '*', '+', '?', '{1,2}', '{2}', '*?'];
export const randomRegex: fc.Arbitrary<string> = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...REGEX_ATOMS), fc.constantFrom(...REGEX_QUANTIFIERS)).map(([a, q]) => a + q) },
    { weight: 1, arbitrary: fc.constantFrom('^', '$', '|') },
  ),
  { minLength: 1, maxLength: 5 },
).map((parts) => parts.join(''));

const DATE_LITERALS = [
  '2024-02-29', '2024-03-01', '2024-02-23', '2024-02-22', '2024-01-31', '1970-01-01', '2000-02-29', '1900-01-01', '0050-06-15', '2099-01-01',
  '2024-02-29T23:59:59.999Z', '2024-03-01T00:00:00Z', '2024-03-01T01:00:00+01:00', '2024-02-23T00:00:00.000Z', '2024-02-29 12:00Z',
  '2024-02-29T12:00:00.123456Z', '2024-02-29T12:00:00-0530', '1969-12-31T23:59:59.999Z', '2024-02-30', 'yesterday', '2024-02-29T12:00:00',
];
export const dateLiteral = fc.constantFrom(...DATE_LITERALS);

const windowArb = fc.tuple(fc.constantFrom(0, 1, 7, 30, 365, 100_000), fc.constantFrom('minutes', 'hours', 'days', 'weeks'));

// ---- attributes -----------------------------------------------------------------------------

const numberAttr: Arb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(v('score'), v('visits'), v('id')) },
  { weight: 1, arbitrary: fc.constantFrom({ var: ['score', 1] }, { var: ['visits', 0] }) },
);
const integerAttr: Arb = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(v('visits'), v('id')) }, { weight: 1, arbitrary: fc.constant(v('score')) });
const stringAttr: Arb = fc.constantFrom(v('name'), v('email'), v('country'));
const boolAttr: Arb = fc.constant(v('active'));
const timeAttr: Arb = fc.constantFrom(v('born'), v('seen_at'));
const ATTRIBUTE_NAMES = ['id', 'name', 'email', 'country', 'score', 'visits', 'active', 'born', 'seen_at', 'tags'];

const COMPARE = ['==', '!=', '===', '!==', '<', '<=', '>', '>='] as const;
const compareOp = fc.constantFrom(...COMPARE);
const orderedOp = fc.constantFrom('<', '<=', '>', '>=');

const swap = (op: string, a: Rule, b: Rule, flip: boolean) => (flip ? { [op]: [b, a] } : { [op]: [a, b] });

// ---- orders (related scope) -----------------------------------------------------------------

function orderPred(depth: number): Arb {
  const leaves: Arb[] = [
    fc.tuple(compareOp, fc.constantFrom(v('total'), v('qty')), numberish, fc.boolean()).map(([op, a, b, flip]) => swap(op, a, b, flip)),
    fc.tuple(fc.constantFrom('==', '!=', '===', '!=='), stringLiteral, fc.boolean()).map(([op, s, flip]) => swap(op, v('status'), s, flip)),
    fc.tuple(orderedOp, fc.constantFrom('completed', 'c', '', 'pending', 'z')).map(([op, s]) => ({ [op]: [v('status'), s] })),
    fc.subarray(['completed', 'cancelled', '', 'null', 'Completed', null] as Array<string | null>, { minLength: 1 }).map((list) => ({ in: [v('status'), list] })),
    fc.constantFrom('omp', 'c', '', 'null').map((s) => ({ in: [s, v('status')] })),
    fc.tuple(fc.constantFrom('within_last', 'not_within_last'), windowArb).map(([op, [n, u]]) => ({ [op]: [v('placed_at'), n, u] })),
    fc.tuple(fc.constantFrom('before', 'after'), dateLiteral).map(([op, d]) => ({ [op]: [v('placed_at'), d] })),
    fc.constantFrom({ missing: ['status'] }, { missing: ['total', 'qty'] }, { missing_some: [1, ['status', 'total']] }),
    fc.constantFrom(v('total'), v('status'), v('qty'), v('placed_at'), { '!': v('status') }),
    fc.tuple(fc.constantFrom('starts_with', 'ends_with', 'icontains'), fc.constantFrom('c', 'C', 'ed', '', 'pend')).map(([op, s]) => ({ [op]: [v('status'), s] })),
    fc.tuple(fc.constantFrom('>', '<', '=='), fc.constantFrom(0, 10, 100)).map(([op, n]) => ({ [op]: [{ '*': [v('total'), v('qty')] }, n] })),
  ];
  const leaf = fc.oneof(...leaves);
  if (depth <= 0) return leaf;
  const sub = orderPred(depth - 1);
  return fc.oneof(
    { weight: 5, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(sub, { minLength: 1, maxLength: 3 }).map((xs) => ({ and: xs })) },
    { weight: 1, arbitrary: fc.array(sub, { minLength: 1, maxLength: 3 }).map((xs) => ({ or: xs })) },
    { weight: 1, arbitrary: sub.map((x) => ({ '!': x })) },
  );
}

/** `[{var: "orders"}, …]` aggregates as number expressions. */
function aggregate(): Arb {
  const filter = fc.option(orderPred(1), { nil: undefined });
  const window = fc.option(windowArb, { nil: undefined });
  return fc.oneof(
    fc.tuple(filter, window).map(([f, w]) => ({ count: [v('orders'), ...(f !== undefined || w ? [f ?? true] : []), ...(w ? [w] : [])] })),
    fc.tuple(fc.constantFrom('sum', 'avg', 'min_of', 'max_of'), fc.constantFrom(v('total'), v('qty')), filter, window).map(([op, value, f, w]) => ({
      [op]: [v('orders'), value, ...(f !== undefined || w ? [f ?? true] : []), ...(w ? [w] : [])],
    })),
  );
}

// ---- expressions ------------------------------------------------------------------------------

export function numberExpr(depth: number, options: { aggregates?: boolean } = {}): Arb {
  const leaf: Arb = fc.oneof({ weight: 3, arbitrary: numberAttr }, { weight: 2, arbitrary: numberLiteral });
  if (depth <= 0) return leaf;
  const sub = numberExpr(depth - 1, options);
  const operand = fc.oneof({ weight: 6, arbitrary: sub }, { weight: 1, arbitrary: boolAttr }, { weight: 1, arbitrary: fc.constantFrom(null, '2', true) });
  const branches: Array<{ weight: number; arbitrary: Arb }> = [
    { weight: 4, arbitrary: leaf },
    { weight: 2, arbitrary: fc.array(operand, { minLength: 1, maxLength: 3 }).map((xs) => ({ '+': xs })) },
    { weight: 1, arbitrary: fc.array(operand, { minLength: 1, maxLength: 2 }).map((xs) => ({ '-': xs })) },
    { weight: 2, arbitrary: fc.array(operand, { minLength: 1, maxLength: 3 }).map((xs) => ({ '*': xs })) },
    { weight: 1, arbitrary: fc.tuple(operand, nonZeroLiteral).map(([a, b]) => ({ '/': [a, b] })) },
    { weight: 1, arbitrary: fc.tuple(fc.oneof({ weight: 5, arbitrary: integerAttr }, { weight: 1, arbitrary: fc.integer({ min: -20, max: 20 }) }), intDivisor).map(([a, b]) => ({ '%': [a, b] })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('min', 'max'), fc.array(operand, { minLength: 1, maxLength: 3 })).map(([op, xs]) => ({ [op]: xs })) },
    { weight: 1, arbitrary: fc.tuple(pred(depth - 1, { ...options, aggregates: false }), sub, fc.oneof(sub, fc.constant(null))).map(([c, a, b]) => ({ if: [c, a, b] })) },
    { weight: 1, arbitrary: fc.tuple(pred(depth - 1, { ...options, aggregates: false }), sub).map(([c, a]) => ({ if: [c, a] })) },
  ];
  if (options.aggregates !== false) branches.push({ weight: 1, arbitrary: aggregate() });
  return fc.oneof(...branches);
}

export function stringExpr(depth: number): Arb {
  const leaf: Arb = fc.oneof({ weight: 3, arbitrary: stringAttr }, { weight: 1, arbitrary: stringLiteral });
  if (depth <= 0) return leaf;
  const part = fc.oneof(
    { weight: 4, arbitrary: stringExpr(depth - 1) },
    { weight: 1, arbitrary: boolAttr },
    { weight: 1, arbitrary: fc.constantFrom(null, true, 1, -0, 0.1, 1e21) },
  );
  return fc.oneof(
    { weight: 4, arbitrary: leaf },
    { weight: 2, arbitrary: fc.array(part, { minLength: 1, maxLength: 3 }).map((xs) => ({ cat: xs })) },
    { weight: 1, arbitrary: fc.tuple(pred(depth - 1, { aggregates: false }), stringExpr(depth - 1), fc.oneof(stringExpr(depth - 1), fc.constant(null))).map(([c, a, b]) => ({ if: [c, a, b] })) },
  );
}

// ---- predicates --------------------------------------------------------------------------------

function numberComparison(depth: number, options: { aggregates?: boolean }): Arb {
  const expr = numberExpr(depth, options);
  return fc.oneof(
    { weight: 5, arbitrary: fc.tuple(compareOp, expr, numberish, fc.boolean()).map(([op, a, b, flip]) => swap(op, a, b, flip)) },
    { weight: 2, arbitrary: fc.tuple(compareOp, expr, expr).map(([op, a, b]) => ({ [op]: [a, b] })) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('<', '<='), numberish, expr, numberish).map(([op, a, b, c]) => ({ [op]: [a, b, c] })) },
  );
}

function stringComparison(depth: number): Arb {
  const expr = stringExpr(depth);
  return fc.oneof(
    { weight: 5, arbitrary: fc.tuple(compareOp, expr, fc.oneof({ weight: 6, arbitrary: stringLiteral }, { weight: 1, arbitrary: fc.constant(null) }), fc.boolean()).map(([op, a, b, flip]) => swap(op, a, b, flip)) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('==', '!=', '===', '!=='), expr, expr).map(([op, a, b]) => ({ [op]: [a, b] })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('<', '<='), stringLiteral, stringAttr, stringLiteral).map(([op, a, b, c]) => ({ [op]: [a, b, c] })) },
  );
}

function booleanComparison(): Arb {
  const other = fc.oneof(fc.boolean(), fc.constantFrom(0, 1, 2, -1, null, '1', '', 'true', '0'), boolAttr);
  return fc.tuple(compareOp, other, fc.boolean()).map(([op, b, flip]) => swap(op, v('active'), b, flip));
}

function inPred(depth: number): Arb {
  const strings = fc.array(fc.oneof({ weight: 8, arbitrary: stringLiteral }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(1, true) }), { maxLength: 5 });
  const numbers = fc.array(fc.oneof({ weight: 8, arbitrary: numberLiteral }, { weight: 1, arbitrary: fc.constantFrom(null, '1', true, false) }), { maxLength: 5 });
  return fc.oneof(
    fc.tuple(stringExpr(depth), strings).map(([a, list]) => ({ in: [a, list] })),
    fc.tuple(numberExpr(Math.min(depth, 1), { aggregates: false }), numbers).map(([a, list]) => ({ in: [a, list] })),
    fc.tuple(boolAttr, fc.array(fc.constantFrom(true, false, null, 1, 0), { maxLength: 3 })).map(([a, list]) => ({ in: [a, list] })),
    fc.tuple(fc.oneof(stringLiteral, stringAttr, boolAttr, fc.constantFrom(1, null, true, -0)), stringExpr(Math.min(depth, 1))).map(([a, b]) => ({ in: [a, b] })),
    fc.tuple(fc.oneof({ weight: 4, arbitrary: stringLiteral }, { weight: 2, arbitrary: stringAttr }, { weight: 1, arbitrary: fc.constantFrom(null, 1, true) }, { weight: 1, arbitrary: fc.constantFrom(v('score'), v('active')) }), fc.constant(v('tags'))).map(([a, b]) => ({ in: [a, b] })),
  );
}

function missingPred(): Arb {
  const names = fc.subarray(ATTRIBUTE_NAMES, { minLength: 1, maxLength: 4 });
  return fc.oneof(
    names.map((ns) => ({ missing: ns })),
    names.map((ns) => ({ missing: [ns] })),
    fc.tuple(fc.integer({ min: 0, max: 5 }), names).map(([k, ns]) => ({ missing_some: [k, ns] })),
  );
}

function stringTest(depth: number): Arb {
  const expr = stringExpr(Math.min(depth, 1));
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom('starts_with', 'ends_with', 'icontains'), expr, stringLiteral, fc.boolean()).map(([op, a, b, flip]) => swap(op, a, b, flip)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('starts_with', 'ends_with', 'icontains'), expr, expr).map(([op, a, b]) => ({ [op]: [a, b] })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('starts_with', 'icontains'), fc.constantFrom(v('score'), v('active'), null, 1)).map(([op, a]) => ({ [op]: [a, 'a'] })) },
    { weight: 3, arbitrary: fc.tuple(expr, fc.constantFrom(...REGEXES)).map(([a, re]) => ({ matches: [a, re] })) },
    { weight: 2, arbitrary: fc.tuple(expr, randomRegex).map(([a, re]) => ({ matches: [a, re] })) },
  );
}

function timePred(): Arb {
  const value = fc.oneof({ weight: 4, arbitrary: timeAttr }, { weight: 1, arbitrary: dateLiteral });
  return fc.oneof(
    fc.tuple(fc.constantFrom('within_last', 'not_within_last'), value, windowArb).map(([op, a, [n, u]]) => ({ [op]: [a, n, u] })),
    fc.tuple(fc.constantFrom('before', 'after'), value, fc.oneof({ weight: 3, arbitrary: dateLiteral }, { weight: 1, arbitrary: timeAttr }), fc.boolean()).map(([op, a, b, flip]) => swap(op, a, b, flip)),
  );
}

function elementPred(depth: number): Arb {
  const e = v('');
  const leaf = fc.oneof(
    fc.tuple(compareOp, fc.oneof(stringLiteral, fc.constant(null)), fc.boolean()).map(([op, s, flip]) => swap(op, e, s, flip)),
    fc.array(fc.oneof(stringLiteral, fc.constant(null)), { maxLength: 3 }).map((list) => ({ in: [e, list] })),
    stringLiteral.map((s) => ({ in: [s, e] })),
    fc.tuple(fc.constantFrom('starts_with', 'ends_with', 'icontains'), stringLiteral).map(([op, s]) => ({ [op]: [e, s] })),
    fc.constantFrom(...REGEXES.slice(0, 12)).map((re) => ({ matches: [e, re] })),
    fc.constantFrom(e, { '!': e }, { missing: [''] }),
    stringLiteral.map((s) => ({ '==': [{ cat: [e, '!'] }, s] })),
  );
  if (depth <= 0) return leaf;
  const sub = elementPred(depth - 1);
  return fc.oneof({ weight: 4, arbitrary: leaf }, { weight: 1, arbitrary: fc.array(sub, { minLength: 1, maxLength: 2 }).map((xs) => ({ or: xs })) }, { weight: 1, arbitrary: sub.map((x) => ({ '!': x })) });
}

function quantifier(): Arb {
  return fc.oneof(
    fc.tuple(fc.constantFrom('some', 'all', 'none'), orderPred(2)).map(([op, p]) => ({ [op]: [v('orders'), p] })),
    fc.tuple(fc.constantFrom('some', 'all', 'none'), elementPred(1)).map(([op, p]) => ({ [op]: [v('tags'), p] })),
  );
}

function aggregateComparison(): Arb {
  return fc.oneof(
    fc.tuple(compareOp, aggregate(), fc.oneof(numberLiteral, fc.constantFrom(null, '2', true)), fc.boolean()).map(([op, a, b, flip]) => swap(op, a, b, flip)),
    aggregate(),
    fc.tuple(fc.constantFrom('<', '<='), fc.constantFrom(0, 1, 2), aggregate(), fc.constantFrom(3, 5, 1000)).map(([op, a, b, c]) => ({ [op]: [a, b, c] })),
  );
}

function truthiness(): Arb {
  return fc.constantFrom(...ATTRIBUTE_NAMES.map(v), { '!!': v('tags') }, { '!': v('name') }, { '!!': [v('score')] }, true, false);
}

export type Area = 'comparisons' | 'arithmetic' | 'strings' | 'time' | 'collections' | 'mixed';

/** A predicate; `area` shifts the weights towards one family of operators. */
export function pred(depth: number, options: { aggregates?: boolean; area?: Area } = {}): Arb {
  // Expression depth never exceeds the predicate depth, and expressions nest predicates one level
  // shallower, so the recursion terminates.
  const d = depth;
  const w = (area: Area, base: number) => (options.area === area ? base * 6 : options.area && options.area !== 'mixed' ? Math.max(1, Math.floor(base / 2)) : base);
  const leaves: Array<{ weight: number; arbitrary: Arb }> = [
    { weight: w('comparisons', 3), arbitrary: numberComparison(Math.min(d, 1), { aggregates: false }) },
    { weight: w('comparisons', 2), arbitrary: booleanComparison() },
    { weight: w('comparisons', 2), arbitrary: inPred(Math.min(d, 1)) },
    { weight: w('comparisons', 1), arbitrary: missingPred() },
    { weight: w('comparisons', 1), arbitrary: truthiness() },
    { weight: w('arithmetic', 2), arbitrary: numberComparison(Math.min(d, 2), { aggregates: false }) },
    { weight: w('strings', 3), arbitrary: stringComparison(Math.min(d, 2)) },
    { weight: w('strings', 3), arbitrary: stringTest(Math.min(d, 1)) },
    { weight: w('time', 3), arbitrary: timePred() },
  ];
  if (options.aggregates !== false) {
    leaves.push({ weight: w('collections', 3), arbitrary: quantifier() });
    leaves.push({ weight: w('collections', 3), arbitrary: aggregateComparison() });
  }
  const leaf = fc.oneof(...leaves);
  if (depth <= 0) return leaf;
  const sub = pred(depth - 1, options);
  return fc.oneof(
    { weight: 6, arbitrary: leaf },
    { weight: 2, arbitrary: fc.array(sub, { minLength: 1, maxLength: 3 }).map((xs) => ({ and: xs })) },
    { weight: 2, arbitrary: fc.array(sub, { minLength: 1, maxLength: 3 }).map((xs) => ({ or: xs })) },
    { weight: 1, arbitrary: sub.map((x) => ({ '!': x })) },
    { weight: 1, arbitrary: sub.map((x) => ({ '!!': [x] })) },
    { weight: 1, arbitrary: fc.tuple(sub, sub, sub).map(([a, b, c]) => ({ if: [a, b, c] })) },
    { weight: 1, arbitrary: fc.tuple(sub, sub, sub, sub).map((xs) => ({ if: xs })) },
  );
}
