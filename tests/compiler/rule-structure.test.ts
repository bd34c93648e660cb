import { describe, expect, it } from 'vitest';
import { checkRuleStructure, type RuleModel } from '../../src/compiler/rule-structure';

const model: RuleModel = {
  attributes: new Map([
    ['country', 'string'], ['ltv', 'number'], ['created_at', 'timestamp'], ['interests', 'string_array'], ['opt_in', 'boolean'],
  ]),
  relationships: new Map([
    ['orders', { attributes: new Map([['total', 'number'], ['status', 'string']]), hasTimeColumn: true }],
    ['notes', { attributes: new Map([['body', 'string']]), hasTimeColumn: false }],
  ]),
};

const problemsOf = (rule: unknown) => checkRuleStructure(rule, model, { basePointer: '/rule' }).problems;

describe('rule structure', () => {
  it.each([
    ['true', true],
    ['comparison', { '==': [{ var: 'country' }, 'US'] }],
    ['var with default', { '>': [{ var: ['ltv', 0] }, 5] }],
    ['shorthand single argument', { '!': { var: 'opt_in' } }],
    ['between', { '<': [1, { var: 'ltv' }, 10] }],
    ['nested logic', { or: [{ and: [{ var: 'opt_in' }, { '!!': [{ var: 'country' }] }] }, { if: [{ var: 'opt_in' }, true, false] }] }],
    ['in array', { in: [{ var: 'country' }, ['US', 'CA']] }],
    ['missing', { missing: ['country', 'ltv'] }],
    ['missing nested list', { missing: [['country']] }],
    ['missing_some', { missing_some: [1, ['country', 'ltv']] }],
    ['some over relationship', { some: [{ var: 'orders' }, { '>': [{ var: 'total' }, 100] }] }],
    ['all over array attribute', { all: [{ var: 'interests' }, { '!=': [{ var: '' }, 'x'] }] }],
    ['count with filter and window', { '>=': [{ count: [{ var: 'orders' }, { '==': [{ var: 'status' }, 'completed'] }, [30, 'days']] }, 3] }],
    ['sum', { '>': [{ sum: [{ var: 'orders' }, { var: 'total' }] }, 500] }],
    ['within_last', { within_last: [{ var: 'created_at' }, 7, 'days'] }],
    ['extensions', { and: [{ starts_with: [{ var: 'country' }, 'U'] }, { icontains: [{ var: 'country' }, 'u'] }, { matches: [{ var: 'country' }, '^U'] }] }],
    ['arithmetic', { '>': [{ '+': [{ var: 'ltv' }, { '*': [2, { '%': [{ var: 'ltv' }, 3] }] }] }, 0] }],
    ['in_segment', { in_segment: ['vip'] }],
  ])('accepts %s', (_name, rule) => {
    expect(problemsOf(rule)).toEqual([]);
  });

  it.each([
    ['a bare string', 'country', '/rule', /JsonLogic operation/],
    ['an array', [1], '/rule', /JsonLogic operation/],
    ['null', null, '/rule', /JsonLogic operation/],
    ['an empty object', {}, '/rule', /exactly one key/],
    ['two keys', { '==': [1, 1], '!=': [1, 2] }, '/rule', /exactly one key/],
    ['unknown operator', { filter: [{ var: 'orders' }, true] }, '/rule/filter', /unknown operator "filter"/],
    ['wrong arity', { '==': [1, 2, 3] }, '/rule/==', /takes 2 arguments, got 3/],
    ['too few for and', { and: [] }, '/rule/and', /at least 1/],
    ['unknown attribute', { '==': [{ var: 'contry' }, 'US'] }, '/rule/==/0/var', /unknown attribute "contry"/],
    ['computed var path', { var: { cat: ['c', 'ountry'] } }, '/rule/var', /literal string/],
    ['dotted path', { var: 'orders.total' }, '/rule/var', /nested var path/],
    ['relationship used as a value', { '==': [{ var: 'orders' }, 1] }, '/rule/==/0/var', /is a relationship/],
    ['empty var outside an element scope', { var: '' }, '/rule/var', /empty var path/],
    ['parent attribute inside some', { some: [{ var: 'orders' }, { '==': [{ var: 'country' }, 'US'] }] }, '/rule/some/1/==/0/var', /of relationship "orders"/],
    ['quantifier over a scalar', { some: [{ var: 'ltv' }, true] }, '/rule/some/0', /number attribute/],
    ['count over an array attribute', { count: [{ var: 'interests' }] }, '/rule/count/0', /not a relationship/],
    ['sum without attribute', { sum: [{ var: 'orders' }, 5] }, '/rule/sum/1', /attribute to aggregate/],
    ['sum of an unknown attribute', { sum: [{ var: 'orders' }, { var: 'price' }] }, '/rule/sum/1/var', /unknown attribute "price"/],
    ['bad window unit', { count: [{ var: 'orders' }, true, [3, 'months']] }, '/rule/count/2/1', /window unit/],
    ['window on a relationship without time column', { count: [{ var: 'notes' }, true, [3, 'days']] }, '/rule/count/2', /no timeColumn/],
    ['bad within_last amount', { within_last: [{ var: 'created_at' }, -1, 'days'] }, '/rule/within_last/1', /amount/],
    ['in_segment without slug', { in_segment: [5] }, '/rule/in_segment/0', /slug/],
    ['non-finite number', { '>': [{ var: 'ltv' }, Number.NaN] }, '/rule/>/1', /finite/],
    ['missing with unknown name', { missing: ['nope'] }, '/rule/missing/0', /unknown attribute "nope"/],
    ['missing_some without count', { missing_some: ['x', ['country']] }, '/rule/missing_some/0', /non-negative integer/],
  ])('rejects %s with a pointer', (_name, rule, pointer, message) => {
    const problems = problemsOf(rule);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]!.pointer).toBe(pointer);
    expect(problems[0]!.message).toMatch(message);
  });

  it('escapes operator keys in pointers (RFC 6901)', () => {
    expect(problemsOf({ '/': [{ var: 'nope' }, 2] })[0]!.pointer).toBe('/rule/~1/0/var');
  });

  it('reports every problem, not just the first', () => {
    const problems = problemsOf({ and: [{ var: 'a' }, { var: 'b' }, { zzz: 1 }] });
    expect(problems.map((p) => p.pointer)).toEqual(['/rule/and/0/var', '/rule/and/1/var', '/rule/and/2/zzz']);
  });

  it('enforces depth, node and string limits', () => {
    let deep: unknown = { var: 'ltv' };
    for (let i = 0; i < 10; i++) deep = { '!': [deep] };
    const limits = { maxDepth: 8, maxNodes: 50, maxStringLength: 5 };
    expect(checkRuleStructure(deep, model, { limits }).problems[0]!.message).toMatch(/deeper than 8/);
    const wide = { or: Array.from({ length: 60 }, () => ({ var: 'ltv' })) };
    expect(checkRuleStructure(wide, model, { limits }).problems[0]!.message).toMatch(/more than 50 nodes/);
    expect(checkRuleStructure({ '==': [{ var: 'country' }, 'toolong'] }, model, { limits }).problems[0]!.message).toMatch(/longer than 5/);
  });

  it('collects in_segment references', () => {
    const result = checkRuleStructure({ or: [{ in_segment: ['a'] }, { and: [{ in_segment: 'b' }, true] }] }, model);
    expect(result.segmentRefs).toEqual(['a', 'b']);
  });

  it('treats prototype-like keys as unknown operators', () => {
    expect(problemsOf(JSON.parse('{"__proto__": [1]}'))[0]!.message).toMatch(/unknown operator "__proto__"/);
    expect(problemsOf({ constructor: [1] })[0]!.message).toMatch(/unknown operator "constructor"/);
    expect(problemsOf({ toString: [1] })[0]!.message).toMatch(/unknown operator "toString"/);
  });
});
