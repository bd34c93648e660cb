/**
 * Key differences between a compiled and a hand-written plan, and the SQL shape the compiler
 * could emit instead, derived from the plans and the SQL (for the report; heuristics only).
 */

/** Node types and estimated costs, top to bottom: equal for two queries that got the same plan. */
function planSkeleton(plan: string): string[] {
  return plan.split('\n')
    .map((l) => l.match(/^\s*(?:->\s+)?(.+?)\s+\(cost=([\d.]+)\.\.([\d.]+) rows=(\d+)/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => `${m[1]!.replace(/ (on|using) .*/, '')} ${m[2]} ${m[3]} ${m[4]}`);
}

/** Differences worth reporting between the two EXPLAIN (ANALYZE) outputs. */
export function planFindings(compiled: string, hand: string): string[] {
  const out: string[] = [];
  const a = planSkeleton(compiled);
  if (a.length && a.join('|') === planSkeleton(hand).join('|')) {
    out.push(`Same plan: identical node types and estimated costs (${a.length} nodes); the measured difference is run-to-run noise (see "Load avg after"), not the SQL shape.`);
    return out;
  }
  if (!/Workers Launched/.test(compiled) && /Workers Launched/.test(hand)) out.push('The compiled plan is not parallel; the hand-written one uses parallel workers.');
  if (/ on customers t\b/.test(compiled) && !/customers/.test(hand.replace(/^.*Planning.*$/m, ''))) {
    out.push('The compiled query reads every customer (it joins the qualifying keys back to the model\'s table, as it must: it cannot assume that every orders.customer_id exists in customers); the hand-written query relies on orders.customer_id being a NOT NULL foreign key and never touches customers.');
  }
  const dupAgg = compiled.split('\n').filter((l) => /->\s+(GroupAggregate|HashAggregate)\b.*loops=([2-9])/.test(l));
  if (dupAgg.length && /Workers Launched/.test(compiled)) {
    const node = dupAgg[0]!.match(/(GroupAggregate|HashAggregate)/)![1];
    out.push(`Inside the parallel plan the grouped subquery is not partial: every process recomputes the whole ${node} (loops=${dupAgg[0]!.match(/loops=(\d+)/)![1]}), repeating that part of the work in each worker.`);
  }
  if (/Filter: .*COALESCE/.test(compiled)) {
    out.push('Same plan shape; the difference is per-row expression cost in the Filter (COALESCE wrappers, casts of the column to double precision), evaluated for every scanned row.');
  }
  return out;
}

/** Suggestions from the compiled SQL text itself. */
export function sqlSuggestions(compiledSql: string): string[] {
  const out: string[] = [];
  // COALESCE(…, FALSE) in a position where NULL and FALSE mean the same (anything not directly under NOT).
  const wrappers = (compiledSql.match(/, FALSE\)/g) ?? []).length;
  const underNot = (compiledSql.match(/NOT COALESCE\(/g) ?? []).length;
  if (wrappers > underNot) {
    out.push('Where only truthiness matters (conjuncts/disjuncts of the top-level WHERE, the WHERE of an EXISTS or aggregate subquery, HAVING), render predicates without `COALESCE(…, FALSE)`: NULL and FALSE both reject the row there. Keep the wrapper only under NOT and where a predicate is used as a value. This gives the planner real selectivity estimates and lets time windows become index conditions.');
  }
  if (/"t"\."[^"]+" IN \(SELECT "r"\."[^"]+" FROM [^)]*GROUP BY [^)]*HAVING/.test(compiledSql)) {
    out.push('The grouped semi-join `t.key IN (SELECT r.fk … GROUP BY r.fk HAVING …)` is the right shape, but Postgres runs it as a merge join over the whole primary-key index of the model table. ' +
      'When few keys qualify, `t.key = ANY(ARRAY(SELECT r.fk … GROUP BY r.fk HAVING …))` evaluates the subquery once (an InitPlan) and probes the primary key instead — see the variants table. ' +
      'It fixes the strategy for the planner (bad when most customers qualify), so it is a Postgres-only option for selective aggregates (or something to choose with a cheap count first), not a general replacement.');
  }
  const casts = new Map<string, number>();
  for (const m of compiledSql.matchAll(/CAST\(("t"\."[^"]+") AS double precision\)/g)) casts.set(m[1]!, (casts.get(m[1]!) ?? 0) + 1);
  for (const [column, n] of casts) {
    if (n > 1 && compiledSql.includes(`CAST(${column} AS double precision), CAST(0 AS double precision)) = CAST('NaN' AS double precision)`)) {
      out.push(`${column} is cast to double precision for the comparison, and again inside the NaN guard \`NOT COALESCE((COALESCE(CAST(${column} AS double precision), 0) = 'NaN'), FALSE)\` (for the rows that pass the comparison). ` +
        'On a `numeric` column that cast is the expensive part of the filter: Postgres converts numeric to double precision through text (numeric_out + float8in). ' +
        'If the model knew the native column type (describeTable reports it), a number attribute backed by `numeric` could be compared as numeric, with the NaN test on the raw column (`col = \'NaN\'`, an untyped literal that takes the column type); see the variants measured above. Whether JavaScript double semantics survive that for every literal needs the differential tests, so this is a suggestion, not a drop-in change.');
    }
  }
  return out;
}
