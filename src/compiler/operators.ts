/**
 * The operators a rule may use (design.md §4): json-logic-js built-ins we can reproduce in SQL,
 * and our extensions. Anything not listed here is rejected: failing closed keeps an unknown
 * operator from silently widening an audience.
 */
export interface OperatorSpec {
  minArgs: number;
  maxArgs: number;
  /** How the arguments are read: plain expressions, or the shape of a special form. */
  form: 'expression' | 'var' | 'missing' | 'missing_some' | 'quantifier' | 'aggregate' | 'time_window' | 'segment_ref';
}

const many = Number.POSITIVE_INFINITY;

export const OPERATORS: Readonly<Record<string, OperatorSpec>> = Object.freeze({
  '==': { minArgs: 2, maxArgs: 2, form: 'expression' },
  '!=': { minArgs: 2, maxArgs: 2, form: 'expression' },
  '===': { minArgs: 2, maxArgs: 2, form: 'expression' },
  '!==': { minArgs: 2, maxArgs: 2, form: 'expression' },
  '<': { minArgs: 2, maxArgs: 3, form: 'expression' },
  '<=': { minArgs: 2, maxArgs: 3, form: 'expression' },
  '>': { minArgs: 2, maxArgs: 2, form: 'expression' },
  '>=': { minArgs: 2, maxArgs: 2, form: 'expression' },
  '!': { minArgs: 1, maxArgs: 1, form: 'expression' },
  '!!': { minArgs: 1, maxArgs: 1, form: 'expression' },
  and: { minArgs: 1, maxArgs: many, form: 'expression' },
  or: { minArgs: 1, maxArgs: many, form: 'expression' },
  if: { minArgs: 1, maxArgs: many, form: 'expression' },
  in: { minArgs: 2, maxArgs: 2, form: 'expression' },
  var: { minArgs: 1, maxArgs: 2, form: 'var' },
  missing: { minArgs: 1, maxArgs: many, form: 'missing' },
  missing_some: { minArgs: 2, maxArgs: 2, form: 'missing_some' },
  some: { minArgs: 2, maxArgs: 2, form: 'quantifier' },
  all: { minArgs: 2, maxArgs: 2, form: 'quantifier' },
  none: { minArgs: 2, maxArgs: 2, form: 'quantifier' },
  '+': { minArgs: 1, maxArgs: many, form: 'expression' },
  '-': { minArgs: 1, maxArgs: 2, form: 'expression' },
  '*': { minArgs: 1, maxArgs: many, form: 'expression' },
  '/': { minArgs: 2, maxArgs: 2, form: 'expression' },
  '%': { minArgs: 2, maxArgs: 2, form: 'expression' },
  min: { minArgs: 1, maxArgs: many, form: 'expression' },
  max: { minArgs: 1, maxArgs: many, form: 'expression' },
  cat: { minArgs: 1, maxArgs: many, form: 'expression' },
  substr: { minArgs: 2, maxArgs: 3, form: 'expression' },
  starts_with: { minArgs: 2, maxArgs: 2, form: 'expression' },
  ends_with: { minArgs: 2, maxArgs: 2, form: 'expression' },
  icontains: { minArgs: 2, maxArgs: 2, form: 'expression' },
  matches: { minArgs: 2, maxArgs: 2, form: 'expression' },
  within_last: { minArgs: 3, maxArgs: 3, form: 'time_window' },
  not_within_last: { minArgs: 3, maxArgs: 3, form: 'time_window' },
  before: { minArgs: 2, maxArgs: 2, form: 'expression' },
  after: { minArgs: 2, maxArgs: 2, form: 'expression' },
  // count: [relationship, filter?, window?]; the others take the aggregated attribute second.
  count: { minArgs: 1, maxArgs: 3, form: 'aggregate' },
  sum: { minArgs: 2, maxArgs: 4, form: 'aggregate' },
  avg: { minArgs: 2, maxArgs: 4, form: 'aggregate' },
  min_of: { minArgs: 2, maxArgs: 4, form: 'aggregate' },
  max_of: { minArgs: 2, maxArgs: 4, form: 'aggregate' },
  in_segment: { minArgs: 1, maxArgs: 1, form: 'segment_ref' },
});

export const TIME_UNITS = ['minutes', 'hours', 'days', 'weeks'] as const;
