/** The Markdown report of a benchmark run. */
import type { CompileResult } from './compile-bench';
import type { DiyResult } from './diy';
import type { QueryResult } from './query-bench';
import { planTraits } from './query-bench';
import { planFindings, sqlSuggestions } from './findings';
import { fmtInt, fmtMs, fmtRatio } from './stats';

export interface ReportInput {
  startedAt: Date;
  environment: Array<[string, string]>;
  seed?: { customers: number; orders: number; events: number; wallMs: number; maxEvents: number; sizes: Array<[string, string]> };
  settings: Array<{ name: string; setting: string }>;
  settingNotes: ReadonlyArray<readonly [string, string, string]>;
  compile: CompileResult[];
  compileTarget: { nodes: number; ms: number };
  queries: QueryResult[];
  queryTarget: number;
  diy?: DiyResult;
  totalWallMs?: number;
}

/** A Markdown table; text columns (by header) are left-aligned, numbers right-aligned. */
const TEXT_COLUMNS = /^(Segment|Shape|Dialect|Setting|What|Value|Purpose|Compiled plan|Hand-written plan|Size)$/;
const table = (header: string[], rows: string[][]) =>
  [`| ${header.join(' | ')} |`, `|${header.map((h) => (TEXT_COLUMNS.test(h) ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export function renderReport(input: ReportInput): string {
  const out: string[] = [];
  out.push('# Rule compiler benchmarks', '');
  out.push(`Run started ${input.startedAt.toISOString()}${input.totalWallMs !== undefined ? `; whole run took **${fmtMs(input.totalWallMs)}**` : ''}.`, '');
  out.push(table(['What', 'Value'], input.environment.map(([k, v]) => [k, v])), '');

  // ---- compile time
  out.push('## 1. Compile time (`compileRule`, pure, no I/O)', '');
  out.push('Deterministic generated rules over the demo model (comparisons, `!=`, 3-argument `<=`, `%`, in-lists, starts_with/ends_with/icontains, within_last/not_within_last, before/after, some/all/none over orders, events and interests, count/sum/avg/min_of/max_of with filters and windows, `missing`, nested and/or/!). ' +
    'Nodes are counted exactly as `checkRuleStructure(...).nodeCount` counts them (every operation, literal, array literal and array element), and the generator\'s own count is checked against it. ' +
    'Each (rule, dialect) is warmed up (≥ 200 runs and ≥ 300 ms) and then timed per call with `process.hrtime.bigint()`.', '');
  out.push(table(
    ['Nodes (target → actual)', 'Operators', 'Dialect', 'Runs', 'Median', 'p95', 'SQL chars', 'Subqueries', 'Params'],
    input.compile.map((r) => [`${fmtInt(r.target)} → ${fmtInt(r.nodes)}`, fmtInt(r.operators), r.dialect, fmtInt(r.iterations), fmtMs(r.medianMs), fmtMs(r.p95Ms), fmtInt(r.sqlChars), fmtInt(r.subqueries), fmtInt(r.params)]),
  ), '');
  const atTarget = input.compile.filter((r) => r.target === input.compileTarget.nodes);
  if (atTarget.length) {
    const worstMedian = Math.max(...atTarget.map((r) => r.medianMs));
    const worstP95 = Math.max(...atTarget.map((r) => r.p95Ms));
    const met = worstMedian < input.compileTarget.ms;
    out.push(`**Target: under ${input.compileTarget.ms} ms at ${input.compileTarget.nodes} nodes — ${met ? 'MET' : 'NOT MET'}** (slowest dialect: median ${fmtMs(worstMedian)}, p95 ${fmtMs(worstP95)}${worstP95 < input.compileTarget.ms ? '; p95 also under target' : '; p95 over target'}).`, '');
  }

  // ---- queries
  if (input.seed) {
    const s = input.seed;
    out.push('## 2. Query speed on embedded Postgres', '');
    out.push(`Data: \`seedDemo\` with ${fmtInt(s.customers)} customers, ${fmtInt(s.orders)} orders, ${fmtInt(s.events)} events (maxEventsPerCustomer ${s.maxEvents}, i.e. 0–${s.maxEvents} events each, mean ≈ ${(s.events / s.customers).toFixed(2)}); seed wall time **${fmtMs(s.wallMs)}**.`, '');
    if (s.sizes.length) out.push(table(['What', 'Size'], s.sizes), '');
  }
  if (input.queries.length) {
    const runs = input.queries[0]!.runs;
    out.push(`Median of ${runs} runs after one warm-up run (which also asserts that the compiled count query, the compiled key query and the hand-written query return the same count). ` +
      'The machine is shared with other work: "Load avg after" is the 1-minute load average when the segment\'s runs finished (2 cores; the benchmark itself — a leader plus 2 parallel workers — accounts for up to about 3, clearly more means other work competed for the CPU; ratios are more robust than absolute times because all shapes of a segment are timed in rotation). ' +
      '"Compiled" is `compileRule(..., select: {kind: \'count\'})`, and the ratio uses it; "compiled keys" is the default key-selecting query wrapped as `SELECT count(*) FROM (<compiled>) q`, for reference. Times include the round trip through `PostgresWarehouse` (pg pool, extended protocol).', '');
    out.push(table(
      ['Segment', 'Members', 'Compiled (count)', 'Compiled keys, wrapped', 'Hand-written', 'Ratio compiled / hand', `≤ ${input.queryTarget}?`, 'Load avg after'],
      input.queries.map((q) => [q.slug, fmtInt(q.members), fmtMs(q.compiledMs), fmtMs(q.compiledKeysMs), fmtMs(q.handMs), fmtRatio(q.ratio, 3), q.ratio <= input.queryTarget ? 'yes' : '**no**', q.loadAfter.toFixed(2)]),
    ), '');
  }

  const withVariants = input.queries.filter((q) => q.variants.length);
  if (withVariants.length) {
    out.push('### What other SQL shapes would buy', '');
    out.push('The same rules in other shapes, written in the compiler\'s style (quoted aliases, typed placeholders): what a further change would buy, and what the hand-written query would cost written differently (with BENCH_HISTORY=1 also the shapes the compiler emitted before commit 5a6e571: correlated `(SELECT COUNT(*) …)` per customer, `COALESCE(…, FALSE)` around every predicate). Timed in the same rotation as the queries above; counts asserted equal. SQL in the "Queries" section below.', '');
    out.push(table(
      ['Segment', 'Shape', 'Median', 'vs hand-written', 'vs compiled'],
      withVariants.flatMap((q) => [
        [q.slug, '**compiled (today)**', fmtMs(q.compiledMs), fmtRatio(q.ratio), '1.00×'],
        ...q.variants.map((v) => [q.slug, v.label, fmtMs(v.ms), fmtRatio(v.ms / q.handMs), fmtRatio(v.ms / q.compiledMs)]),
      ]),
    ), '');
  }

  // ---- DIY
  if (input.diy && input.queries.length) {
    const d = input.diy;
    out.push('## 3. DIY baseline: json-logic-js over all rows pulled into Node', '');
    out.push(`Every customer with its orders and events as arrays (one \`row_to_json\` per customer, \`json_agg\` of the related rows), pulled in keyset-paginated batches and evaluated with the json-logic-js evaluator (\`prepareRule\` once, then \`applyPrepared\` per record; checked against \`isMember\` on 2,000 records first). ` +
      `${d.sampled
        ? `**Sampled:** the full pull was projected to exceed the time limit, so the first ${fmtInt(d.customersProcessed)} customers (ids ≤ ${fmtInt(d.lastCustomerId)}) were measured and the times **extrapolated ×${d.scale.toFixed(2)}** linearly to all customers (the seed is uniform in customer_id). Member counts are checked against the compiled query restricted to the same ids.`
        : `All ${fmtInt(d.customersProcessed)} customers were pulled (no extrapolation).`} ` +
      `Measured: fetch+parse ${fmtMs(d.fetchMs)}, one pass evaluating all five segments ${fmtMs(d.wallMs)} wall. ` +
      'A DIY user computing one audience pays the whole pull plus that segment\'s evaluation: "DIY total" = fetch + evaluation of that segment (× scale when sampled).', '');
    out.push(table(
      ['Segment', 'Members (DIY = compiled)', 'DIY fetch', 'DIY evaluate', 'DIY total', 'Compiled (count)', 'Ratio DIY / compiled'],
      input.queries.map((q) => {
        const evalMs = d.evalMs[q.slug] ?? Number.NaN;
        const total = (d.fetchMs + evalMs) * d.scale;
        return [q.slug, fmtInt(d.members[q.slug] ?? -1), fmtMs(d.fetchMs * d.scale), fmtMs(evalMs * d.scale), fmtMs(total), fmtMs(q.compiledMs), fmtRatio(total / q.compiledMs)];
      }),
    ), '');
    out.push('<details><summary>DIY batch query</summary>', '', '```sql', d.batchSql, '```', '', '</details>', '');
  }

  // ---- settings
  if (input.settings.length) {
    out.push('## Postgres settings', '');
    out.push('`startEmbeddedPostgres` passes a fixed set of `postgresFlags`, so these were set with `ALTER SYSTEM` and the server restarted once (needed for `shared_buffers` and `wal_level`). Values as reported by the server:', '');
    const notes = new Map(input.settingNotes.map(([n, , why]) => [n, why]));
    out.push(table(['Setting', 'Value', 'Purpose'], input.settings.map((s) => [`\`${s.name}\``, `\`${s.setting}\``, notes.get(s.name) ?? ''])), '');
  }

  // ---- EXPLAIN
  const explained = input.queries.filter((q) => q.explain);
  if (explained.length) {
    out.push('## EXPLAIN (ANALYZE, BUFFERS)', '');
    for (const q of explained) {
      out.push(`### ${q.slug} (ratio ${fmtRatio(q.ratio, 3)})`, '');
      out.push(table(['What', 'Compiled plan', 'Hand-written plan'], [['Plan features', planTraits(q.explain!.compiled).join('<br>'), planTraits(q.explain!.hand).join('<br>')]]), '');
      const findings = planFindings(q.explain!.compiled, q.explain!.hand);
      if (findings.length) out.push('Key differences:', '', ...findings.map((f) => `- ${f}`), '');
      const shapes = sqlSuggestions(q.compiled.sql);
      if (shapes.length) out.push('Suggested SQL shape:', '', ...shapes.map((f) => `- ${f}`), '');
      out.push('<details><summary>Compiled: SQL and plan</summary>', '', '```sql', q.compiled.sql, `-- params: ${JSON.stringify(q.compiled.params)}`, '```', '', '```', q.explain!.compiled, '```', '', '</details>', '');
      out.push('<details><summary>Hand-written: SQL and plan</summary>', '', '```sql', q.hand.sql, `-- params: ${JSON.stringify(q.hand.params)}`, '```', '', '```', q.explain!.hand, '```', '', '</details>', '');
    }
  }

  // ---- SQL
  if (input.queries.length) {
    out.push('## Queries', '');
    for (const q of input.queries) {
      const lines = q.explain ? ['-- compiled and hand-written: see the EXPLAIN section'] : [
        '-- compiled', q.compiled.sql, `-- params: ${JSON.stringify(q.compiled.params)}`, '',
        `-- hand-written (${q.handShape})`, q.hand.sql, `-- params: ${JSON.stringify(q.hand.params)}`];
      for (const v of q.variants) lines.push('', `-- variant: ${v.label}`, v.query.sql, `-- params: ${JSON.stringify(v.query.params)}`);
      out.push(`<details><summary>${q.slug}</summary>`, '', '```sql', ...lines, '```', '', '</details>', '');
    }
  }
  return out.join('\n');
}

/** A few lines for the console: the headline numbers of each section. */
export function compilerSummary(input: ReportInput): string[] {
  const out: string[] = [];
  const sizes = [...new Set(input.compile.map((r) => r.target))];
  for (const target of sizes) {
    const rows = input.compile.filter((r) => r.target === target);
    const worst = rows.reduce((a, b) => (b.medianMs > a.medianMs ? b : a));
    out.push(`compile ${fmtInt(worst.nodes)} nodes: slowest dialect (${worst.dialect}) median ${fmtMs(worst.medianMs)}, p95 ${fmtMs(worst.p95Ms)}` +
      (target === input.compileTarget.nodes ? ` — target < ${input.compileTarget.ms} ms ${worst.medianMs < input.compileTarget.ms ? 'met' : 'NOT met'}` : ''));
  }
  for (const q of input.queries) {
    const diy = input.diy ? (input.diy.fetchMs + (input.diy.evalMs[q.slug] ?? Number.NaN)) * input.diy.scale : undefined;
    out.push(`query ${q.slug}: ${fmtInt(q.members)} members, compiled ${fmtMs(q.compiledMs)} vs hand-written ${fmtMs(q.handMs)} = ${fmtRatio(q.ratio)} ` +
      `(${q.ratio <= input.queryTarget ? 'within' : 'OVER'} ${input.queryTarget})${diy !== undefined ? `; DIY ${fmtMs(diy)} = ${fmtRatio(diy / q.compiledMs, 0)} compiled` : ''}; load ${q.loadAfter.toFixed(2)}`);
  }
  return out;
}
