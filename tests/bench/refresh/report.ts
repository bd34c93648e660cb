/** Markdown report of the refresh benchmark. */
import type { Explained } from './explain';
import type { JobResult } from './service-process';
import { fmtInt, fmtMiB, fmtMs, fmtRatio, sizeTag } from './util';

export const RATIO_TARGET = 1.3;

export interface Measurement {
  kind: 'initial' | 'churn';
  /** One per repetition (twin segments). */
  refreshes: JobResult[];
  baselines: JobResult[];
  baselineNoIndex?: JobResult;
  /** Same size, enters, exits; same (member_key, fingerprint) sets in the service's and the baseline's snapshots, every repetition. */
  same: boolean;
  loadBefore: string;
  loadAfter: string;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const refreshMs = (m: Measurement) => mean(m.refreshes.map((r) => r.durationMs));
const baselineMs = (m: Measurement) => mean(m.baselines.map((r) => r.durationMs));
/** "mean (a / b)" when there are several repetitions. */
const timeCell = (values: number[]) => (values.length > 1 ? `${fmtMs(mean(values))} (${values.map(fmtMs).join(' / ')})` : fmtMs(values[0]));

export interface EngineRun {
  engine: string;
  size: number;
  generated: { ms: number; vacuumMs: number; tableSize: string };
  churned: { ms: number; changed: number[] };
  measurements: Measurement[];
  explained: Explained[];
  totalMs: number;
}

export interface ReportInput {
  startedAt: Date;
  totalMs: number;
  environment: Array<[string, string]>;
  settings: Array<{ name: string; setting: string }>;
  settingNotes: ReadonlyArray<readonly [string, string, string]>;
  runs: EngineRun[];
  failure?: unknown;
}

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;

const sum = (timings: JobResult['statements'], ...steps: string[]) =>
  timings.filter((t) => steps.includes(t.step)).reduce((a, t) => a + t.ms, 0);

/** Rows of the per-statement comparison: label, service ms, baseline ms (null: no such step); means over repetitions. */
function breakdown(m: Measurement): Array<[string, number | null, number | null]> {
  const service = (...steps: string[]) => mean(m.refreshes.map((r) => sum(r.statements, ...steps)));
  const baseline = (...steps: string[]) => mean(m.baselines.map((r) => sum(r.statements, ...steps)));
  const inTx = mean(m.refreshes.map((r) => r.transactionMs - r.statements.reduce((a, t) => a + t.ms, 0)));
  const outside = mean(m.refreshes.map((r) => r.durationMs - r.transactionMs));
  return [
    ['create snapshot table (DDL)', service('create snapshot'), null],
    ['fill snapshot: INSERT … <compiled> / CREATE TABLE … AS', service('fill snapshot (compiled query)'), baseline('snapshot (CTAS)')],
    ['log enters (anti-join)', service('log enters'), baseline('log enters')],
    ['log exits (anti-join)', service('log exits'), baseline('log exits')],
    ['count events (membership_log by run_id)', service('count events (log by run_id)'), null],
    ['count rows (snapshot)', service('count rows (snapshot)'), null],
    ['pointer, state-schema run record, drop', service('read pointer', 'swap pointer', 'drop older snapshot', 'record run (state schema)'), baseline('swap pointer')],
    ['BEGIN / COMMIT', inTx, baseline('commit')],
    ['outside the warehouse transaction (metadata rows)', outside, null],
    ['**total** (run durationMs / baseline transaction)', refreshMs(m), baselineMs(m)],
  ];
}

export function renderReport(input: ReportInput): string {
  const out: string[] = [];
  out.push('# Segment refresh benchmarks', '');
  out.push(`Run started ${input.startedAt.toISOString()}; whole run took **${(input.totalMs / 1000).toFixed(1)} s**.`, '');
  if (input.failure) out.push(`**The run stopped early:** ${input.failure instanceof Error ? input.failure.message : String(input.failure)}`, '');
  out.push(row(['What', 'Value']), row(['---', '---']));
  for (const [k, v] of input.environment) out.push(row([k, v]));
  out.push('');

  out.push('## Results', '');
  out.push(
    'Refresh time is the run\'s own `durationMs` (RefreshService: from the start of execution to the recorded run; the process is warm: pools open, ' +
    'DuckDB file open, state schema migrated). "Wall" also covers loading and compiling the segment, the lock and the run rows. ' +
    'Baseline: the minimal hand-written SQL doing the same work on the same engine in one transaction (BEGIN … COMMIT), its log with the service\'s ' +
    `two indexes; ratio = refresh / baseline (target ≤ ${RATIO_TARGET}). Peak RSS: the service process (a forked Node process running only the refresh), ` +
    'sampled every 50 ms during the refresh (max over the repetitions). ' +
    'With several repetitions, times read "mean (repetition 1 / repetition 2)": repetition r refreshes twin segment r (same rule; the second ' +
    'one logs into a log that already holds the first one\'s events) and runs baseline r (its own snapshots, a shared baseline log).', '',
  );
  out.push(row(['Engine', 'Customers', 'Refresh', 'Members', 'Entered', 'Exited', 'Refresh time', 'Wall', 'Baseline', 'Ratio', `≤ ${RATIO_TARGET}?`, 'Baseline, log w/o indexes', 'Ratio vs that', 'Peak RSS', 'Same result']));
  out.push(row(['---', '---:', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---', '---:', '---:', '---:', '---']));
  for (const r of input.runs) {
    for (const m of r.measurements) {
      const first = m.refreshes[0]!;
      const ratio = refreshMs(m) / baselineMs(m);
      const ratioNo = m.baselineNoIndex ? refreshMs(m) / m.baselineNoIndex.durationMs : null;
      out.push(row([
        r.engine, fmtInt(r.size), m.kind, fmtInt(first.size), fmtInt(first.entered), fmtInt(first.exited),
        timeCell(m.refreshes.map((x) => x.durationMs)), fmtMs(mean(m.refreshes.map((x) => x.wallMs))), timeCell(m.baselines.map((x) => x.durationMs)),
        fmtRatio(ratio), ratio <= RATIO_TARGET ? 'yes' : '**no**',
        m.baselineNoIndex ? fmtMs(m.baselineNoIndex.durationMs) : '—', fmtRatio(ratioNo),
        fmtMiB(Math.max(...m.refreshes.map((x) => x.rss.max))), m.same ? 'yes' : '**NO**',
      ]));
    }
  }
  out.push('');

  out.push('## Peak RSS of the service process', '');
  out.push('Before = after opening the runtime and warming up, right before the refresh; peak = max of the 50 ms samples during the refresh; ' +
    'ru_maxrss = the kernel\'s high-water mark for the whole process life (startup included). The baseline column is the same measure for the ' +
    'process running the hand-written SQL (for DuckDB the engine runs inside that process too).', '');
  out.push(row(['Engine', 'Customers', 'Refresh', 'RSS before', 'Peak RSS during refresh', 'Samples', 'ru_maxrss', 'RSS after', 'Baseline process peak']));
  out.push(row(['---', '---:', '---', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const r of input.runs) {
    for (const m of r.measurements) {
      m.refreshes.forEach((x, i) => {
        out.push(row([r.engine, fmtInt(r.size), `${m.kind} #${i + 1}`, fmtMiB(x.rss.before), `**${fmtMiB(x.rss.max)}**`, x.rss.samples, fmtMiB(x.rss.maxRssKernel), fmtMiB(x.rss.after), fmtMiB(m.baselines[i]?.rss.max)]));
      });
    }
  }
  out.push('');
  const duck = input.runs.filter((r) => r.measurements.some((m) => m.refreshes[0]?.duckdbMemory));
  if (duck.length) {
    out.push('DuckDB memory right after the refresh (`duckdb_memory()`, tags over 0 bytes) and settings:', '');
    for (const r of duck) {
      for (const m of r.measurements) {
        const x = m.refreshes[0]!;
        const mem = (x.duckdbMemory ?? []).map((x) => `${x.tag} ${fmtMiB(x.bytes)}`).join(', ');
        const settings = Object.entries(x.duckdbSettings ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
        out.push(`- ${r.engine} ${sizeTag(r.size)} ${m.kind} #1: ${mem || 'nothing'} (${settings})`);
      }
    }
    out.push('');
  }

  out.push('## Where the time goes (per statement)', '');
  out.push('Each statement timed inside the warehouse transaction (the service\'s `Warehouse.transaction` is wrapped by the benchmark; src/ is untouched).', '');
  for (const r of input.runs) {
    const initial = r.measurements.find((m) => m.kind === 'initial');
    const churn = r.measurements.find((m) => m.kind === 'churn');
    if (!initial) continue;
    out.push(`### ${r.engine}, ${fmtInt(r.size)} customers`, '');
    out.push(row(['Step', 'Initial: service', 'Initial: baseline', 'Churn: service', 'Churn: baseline']));
    out.push(row(['---', '---:', '---:', '---:', '---:']));
    const a = breakdown(initial);
    const b = churn ? breakdown(churn) : [];
    a.forEach(([label, s, base], i) => {
      const c = b[i];
      out.push(row([label, fmtMs(s), base === null ? '—' : fmtMs(base), c ? fmtMs(c[1]) : '—', c && c[2] !== null ? fmtMs(c[2]) : '—']));
    });
    out.push('');
    out.push(`Data: generated in ${fmtMs(r.generated.ms)} (+ ${fmtMs(r.generated.vacuumMs)} ${r.engine.startsWith('postgres') ? 'VACUUM (FREEZE, ANALYZE) + CHECKPOINT' : 'CHECKPOINT'}), ${r.generated.tableSize}; ` +
      `churn applied in ${fmtMs(r.churned.ms)} (${r.churned.changed.map(fmtInt).join(' membership flips + ')} identifier changes); ` +
      `load average before/after the timed runs: initial ${initial.loadBefore} → ${initial.loadAfter}${churn ? `, churn ${churn.loadBefore} → ${churn.loadAfter}` : ''}; ` +
      `engine total ${fmtMs(r.totalMs)}.`, '');
  }

  const explained = input.runs.filter((r) => r.explained.length);
  if (explained.length) {
    out.push('## Plans of the heavy statements', '');
    out.push('Taken after the churn refresh on the same data, in a transaction that is rolled back.', '');
    for (const r of explained) {
      out.push(`### ${r.engine}, ${fmtInt(r.size)} customers`, '');
      for (const e of r.explained) {
        out.push(`<details><summary>${e.statement}${e.analyze ? ' (EXPLAIN ANALYZE)' : ' (EXPLAIN)'}</summary>`, '', '```', e.plan, '```', '', '</details>', '');
      }
    }
  }

  if (input.settings.length) {
    out.push('## Embedded Postgres settings', '');
    out.push(row(['Setting', 'Value', 'Why']), row(['---', '---', '---']));
    const notes = new Map(input.settingNotes.map(([name, , why]) => [name, why]));
    for (const s of input.settings) out.push(row([s.name, s.setting, notes.get(s.name) ?? '']));
    out.push('');
    out.push('The benchmark\'s own customers table is UNLOGGED in Postgres (generated by two sessions in 500k-id chunks, then VACUUM (FREEZE, ANALYZE) and CHECKPOINT); ' +
      'the service\'s and the baseline\'s tables are ordinary logged tables. A CHECKPOINT precedes every timed run. DuckDB runs with the service\'s instance ' +
      'configuration (no memory_limit, default threads = cores) unless a memory_limit variant is listed.', '');
  }
  return out.join('\n');
}

/** One line per (engine, size, refresh kind) for the console. */
export function refreshSummary(runs: EngineRun[]): string[] {
  return runs.flatMap((r) => r.measurements.map((m) => {
    const ratio = refreshMs(m) / baselineMs(m);
    return `refresh ${r.engine} ${sizeTag(r.size)} ${m.kind}: ${fmtInt(m.refreshes[0]!.size)} members (+${fmtInt(m.refreshes[0]!.entered)} −${fmtInt(m.refreshes[0]!.exited)}), ` +
      `refresh ${fmtMs(refreshMs(m))} vs baseline ${fmtMs(baselineMs(m))} = ${fmtRatio(ratio)} (${ratio <= RATIO_TARGET ? 'within' : 'OVER'} ${RATIO_TARGET}), ` +
      `peak RSS ${fmtMiB(Math.max(...m.refreshes.map((x) => x.rss.max)))}, same result: ${m.same ? 'yes' : 'NO'}; load ${m.loadAfter}`;
  }));
}
