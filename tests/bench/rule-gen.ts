/**
 * Deterministic generator of JsonLogic rules over the demo `customers` model, of a chosen size,
 * for the compile-time benchmark. Sizes are exact: `countNodes` counts nodes the way the rule
 * structure checker does (`checkRuleStructure(...).nodeCount`, which the service limits to 5,000):
 * every operation, literal, array literal and array element is a node; `var` paths, the
 * relationship named by a quantifier/aggregate and time-window arguments are part of their
 * operation and not counted separately.
 */
import { OPERATORS } from '../../src/compiler/operators';

type Rule = unknown;

/** mulberry32: a small deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function countNodes(node: unknown): number {
  if (node === null || typeof node !== 'object') return 1;
  if (Array.isArray(node)) return 1 + node.reduce((n: number, item) => n + countNodes(item), 0);
  const op = Object.keys(node)[0]!;
  const raw = (node as Record<string, unknown>)[op];
  const args = Array.isArray(raw) ? raw : [raw];
  const form = OPERATORS[op]?.form;
  switch (form) {
    case 'expression': return 1 + args.reduce((n: number, a) => n + countNodes(a), 0);
    case 'var': return 1 + (args.length === 2 ? countNodes(args[1]) : 0);
    case 'missing': case 'missing_some': case 'segment_ref': return 1;
    case 'quantifier': return 1 + countNodes(args[1]);
    case 'aggregate': {
      const filterIndex = op === 'count' ? 1 : 2;
      return 1 + (args.length > filterIndex ? countNodes(args[filterIndex]) : 0);
    }
    case 'time_window': return 1 + countNodes(args[0]);
    default: throw new Error(`countNodes: unknown operator ${op}`);
  }
}

/** Operators used anywhere in a rule, with how often (for the report). */
export function operatorHistogram(node: unknown, into = new Map<string, number>()): Map<string, number> {
  if (node === null || typeof node !== 'object') return into;
  if (Array.isArray(node)) {
    for (const item of node) operatorHistogram(item, into);
    return into;
  }
  const op = Object.keys(node)[0]!;
  into.set(op, (into.get(op) ?? 0) + 1);
  const raw = (node as Record<string, unknown>)[op];
  for (const arg of Array.isArray(raw) ? raw : [raw]) operatorHistogram(arg, into);
  return into;
}

const v = (name: string) => ({ var: name });

export function generateRule(target: number, seed: number): Rule {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const some = <T>(items: readonly T[], lo: number, hi: number): T[] => {
    const pool = [...items];
    const out: T[] = [];
    for (let n = int(lo, Math.min(hi, pool.length)); n > 0; n--) out.push(pool.splice(Math.floor(rnd() * pool.length), 1)[0]!);
    return out;
  };

  const COUNTRIES = ['US', 'GB', 'CA', 'DE', 'FR', 'AU'];
  const PLANS = ['free', 'pro', 'enterprise'];
  const CITIES = ['New York', 'London', 'Berlin', 'Paris', 'Toronto', 'Sydney', 'Chicago', 'Lyon'];
  const INTERESTS = ['running', 'cooking', 'travel', 'gaming', 'music', 'fashion'];
  const EVENTS = ['page_view', 'product_view', 'add_to_cart', 'checkout_started', 'app_open', 'email_open', 'email_click'];
  const BOOLS = ['marketing_opt_in', 'consent_ad_user_data', 'consent_ad_personalization'];
  const strAttr = (): [string, string[]] => pick([
    ['country', COUNTRIES], ['plan', PLANS], ['city', CITIES], ['gender', ['female', 'male']], ['state', ['NY', 'CA', 'TX', 'ON']],
  ] as Array<[string, string[]]>);

  const orderPred = (): Rule => pick([
    () => ({ '==': [v('status'), pick(['completed', 'refunded', 'cancelled'])] }),
    () => ({ in: [v('channel'), some(['web', 'app', 'store'], 1, 2)] }),
    () => ({ [pick(['>', '>=', '<'])]: [v('total'), int(20, 400)] }),
    () => ({ within_last: [v('ordered_at'), int(7, 365), 'days'] }),
  ])();
  const eventPred = (): Rule => pick([
    () => ({ '==': [v('name'), pick(EVENTS)] }),
    () => ({ in: [v('name'), some(EVENTS, 2, 3)] }),
    () => ({ '==': [v('channel'), pick(['web', 'app', 'email'])] }),
    () => ({ within_last: [v('occurred_at'), int(1, 90), 'days'] }),
  ])();
  const related = (inner: () => Rule): Rule => {
    const parts = Array.from({ length: int(1, 3) }, inner);
    return parts.length === 1 ? parts[0] : { and: parts };
  };

  /** One condition about a customer. */
  const clause = (): Rule => pick([
    () => { const [a, vals] = strAttr(); return { '==': [v(a), pick(vals)] }; },
    () => { const [a, vals] = strAttr(); return { '!=': [v(a), pick(vals)] }; },
    () => ({ [pick(['<', '<=', '>', '>='])]: [v('ltv'), int(0, 2000)] }),
    () => ({ '<=': [int(0, 300), v('ltv'), int(400, 3000)] }),
    () => ({ '==': [{ '%': [v('customer_id'), 10] }, int(0, 9)] }),
    () => { const [a, vals] = strAttr(); return { in: [v(a), some(vals, 2, 4)] }; },
    () => ({ starts_with: [v('first_name'), pick(['Ma', 'J', 'Li', 'Ro'])] }),
    () => ({ ends_with: [v('email'), pick(['@gmail.com', '@example.com'])] }),
    () => ({ icontains: [v('last_name'), pick(['son', 'ez', 'ow'])] }),
    () => ({ [pick(['within_last', 'not_within_last'])]: [v('created_at'), int(7, 720), 'days'] }),
    () => ({ [pick(['before', 'after'])]: [v('date_of_birth'), `${int(1955, 2000)}-01-01`] }),
    () => v(pick(BOOLS)),
    () => ({ '!': v(pick(BOOLS)) }),
    () => ({ some: [v('interests'), { '==': [v(''), pick(INTERESTS)] }] }),
    () => ({ in: [pick(INTERESTS), v('interests')] }),
    () => ({ some: [v('orders'), related(orderPred)] }),
    () => ({ none: [v('orders'), { within_last: [v('ordered_at'), int(30, 365), 'days'] }] }),
    () => ({ all: [v('orders'), { '!=': [v('status'), 'cancelled'] }] }),
    () => ({ some: [v('events'), related(eventPred)] }),
    () => ({ [pick(['>', '>='])]: [{ count: [v('events'), related(eventPred), [int(1, 60), 'days']] }, int(0, 4)] }),
    () => ({ '==': [{ count: [v('orders'), true, [int(7, 90), 'days']] }, 0] }),
    () => ({ '>=': [{ count: [v('orders'), related(orderPred)] }, int(1, 3)] }),
    () => ({ '>': [{ sum: [v('orders'), v('total'), { '==': [v('status'), 'completed'] }] }, int(50, 1500)] }),
    () => ({ '>': [{ [pick(['avg', 'max_of', 'min_of'])]: [v('orders'), v('total')] }, int(20, 300)] }),
    () => ({ missing: [pick(['phone', 'email', 'date_of_birth'])] }),
  ])();

  /** Exactly `n` nodes (n ≥ 1) of fillers. */
  const filler = (n: number): Rule[] => {
    const out: Rule[] = [];
    for (; n >= 3; n -= 3) { const [a, vals] = strAttr(); out.push({ '==': [v(a), pick(vals)] }); }
    if (n === 2) out.push({ '!': v(pick(BOOLS)) });
    if (n === 1) out.push(v(pick(BOOLS)));
    return out;
  };

  /** A list of conditions with exactly `budget` nodes, sometimes grouped under or / and / !. */
  const conditions = (budget: number, depth: number): Rule[] => {
    const out: Rule[] = [];
    let left = budget;
    while (left > 0) {
      if (left < 4) { out.push(...filler(left)); break; }
      const r = rnd();
      if (depth < 4 && left >= 16 && r < 0.18) {
        const size = int(8, Math.min(left - 1, Math.max(8, Math.floor(budget / 3))));
        const op = depth % 2 === 0 ? 'or' : 'and';
        out.push({ [op]: conditions(size - 1, depth + 1) });
        left -= size;
        continue;
      }
      if (left >= 6 && r < 0.22) {
        const inner = clause();
        const size = countNodes(inner) + 1;
        if (size <= left) { out.push({ '!': inner }); left -= size; continue; }
      }
      let placed = false;
      for (let attempt = 0; attempt < 20 && !placed; attempt++) {
        const candidate = clause();
        const size = countNodes(candidate);
        if (size <= left) { out.push(candidate); left -= size; placed = true; }
      }
      if (!placed) { out.push(...filler(left)); break; }
    }
    return out;
  };

  if (target < 2) return v(pick(BOOLS));
  const rule = { and: conditions(target - 1, 0) };
  const actual = countNodes(rule);
  if (actual !== target) throw new Error(`generateRule: wanted ${target} nodes, built ${actual}`);
  return rule;
}
