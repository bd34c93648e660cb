/**
 * Query speed on Postgres: the compiled query of each segment vs a hand-written equivalent.
 * Ratios use the compiled `select: {kind: 'count'}` query; the default key-selecting query,
 * wrapped as `SELECT count(*) FROM (<compiled>) q`, is timed too and shown for reference.
 */
import os from 'node:os';
import { compileRule } from '../../src/compiler/compile';
import type { CompilerModel } from '../../src/compiler/compiler-model';
import { postgresDialect } from '../../src/compiler/dialects/postgres';
import type { PostgresWarehouse } from '../../src/warehouse/postgres/postgres-warehouse';
import type { BenchSegment } from './segments';
import { log, median, timeMs } from './stats';

export interface PreparedQuery {
  sql: string;
  params: unknown[];
}

export interface QueryResult {
  slug: string;
  members: number;
  runs: number;
  /** 1-minute load average after the timed runs (2 cores: above ~2 means something else was competing). */
  loadAfter: number;
  compiledMs: number;
  compiledKeysMs: number;
  handMs: number;
  ratio: number;
  compiled: PreparedQuery;
  hand: PreparedQuery;
  handShape: string;
  rule: unknown;
  /** Alternative shapes for the same rule (see BenchSegment.variants), median times. */
  variants: Array<{ label: string; ms: number; query: PreparedQuery }>;
  explain?: { compiled: string; hand: string };
}

export interface QueryBenchOptions {
  warehouse: PostgresWarehouse;
  model: CompilerModel;
  schema: string;
  asOf: Date;
  segments: readonly BenchSegment[];
  runs: number;
  /** EXPLAIN (ANALYZE, BUFFERS) both queries when compiled/hand-written exceeds this. */
  explainAbove: number;
  explainAll: boolean;
  /** Also time the historical shapes (as compiled before 5a6e571). */
  history?: boolean;
}

export function compiledQueries(segment: BenchSegment, model: CompilerModel, asOf: Date): { count: PreparedQuery; keys: PreparedQuery } {
  const toPrepared = (c: { sql: string; params: readonly Parameters<typeof postgresDialect.driverValue>[0][] }) =>
    ({ sql: c.sql, params: c.params.map((p) => postgresDialect.driverValue(p)) });
  const count = compileRule({ rule: segment.rule, model, dialect: 'postgres', asOf, select: { kind: 'count' } });
  const keys = compileRule({ rule: segment.rule, model, dialect: 'postgres', asOf });
  for (const w of [...count.warnings, ...keys.warnings]) log(`warning from compiler for ${segment.slug}: ${w}`);
  const keysPrepared = toPrepared(keys);
  return {
    count: toPrepared(count),
    keys: { sql: `SELECT count(*) AS "count" FROM (${keysPrepared.sql}) q`, params: keysPrepared.params },
  };
}

async function countOf(warehouse: PostgresWarehouse, q: PreparedQuery): Promise<number> {
  const rows = await warehouse.query<{ count: number | string }>(q.sql, q.params);
  return Number(rows[0]?.count);
}

export async function explain(warehouse: PostgresWarehouse, q: PreparedQuery): Promise<string> {
  const rows = await warehouse.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.params);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

export async function runQueryBench(options: QueryBenchOptions): Promise<QueryResult[]> {
  const { warehouse } = options;
  const results: QueryResult[] = [];
  for (const segment of options.segments) {
    const { count: compiled, keys } = compiledQueries(segment, options.model, options.asOf);
    const hand = { sql: segment.handSql(options.schema), params: segment.handParams(options.asOf) };
    // The shapes compiled before 5a6e571 take 5–30 s each at 1M customers: only on request.
    const variants = segment.variants.filter((v) => options.history || !v.label.startsWith('as compiled before') && !v.label.includes('half of the 5a6e571')).map((v) => ({ label: v.label, query: { sql: v.sql(options.schema), params: segment.handParams(options.asOf) } }));
    // Warm-up run of each, which also checks that they all select the same audience.
    const [c, k, h] = [await countOf(warehouse, compiled), await countOf(warehouse, keys), await countOf(warehouse, hand)];
    if (c !== h || k !== h) throw new Error(`${segment.slug}: counts differ: compiled ${c}, compiled keys ${k}, hand-written ${h}`);
    for (const v of variants) {
      const n = await countOf(warehouse, v.query);
      if (n !== h) throw new Error(`${segment.slug}: variant "${v.label}" counts ${n}, hand-written ${h}`);
    }
    const queries: Array<{ name: string; query: PreparedQuery; samples: number[] }> = [
      { name: 'compiled', query: compiled, samples: [] },
      { name: 'keys', query: keys, samples: [] },
      { name: 'hand', query: hand, samples: [] },
      ...variants.map((v) => ({ name: v.label, query: v.query, samples: [] as number[] })),
    ];
    for (let i = 0; i < options.runs; i++) {
      // Rotate the order so that no query always runs right after another one.
      for (let j = 0; j < queries.length; j++) {
        const q = queries[(i + j) % queries.length]!;
        q.samples.push((await timeMs(() => countOf(warehouse, q.query))).ms);
      }
    }
    const medianOf = (name: string) => median(queries.find((q) => q.name === name)!.samples);
    const result: QueryResult = {
      slug: segment.slug, members: h, runs: options.runs, loadAfter: os.loadavg()[0]!,
      compiledMs: medianOf('compiled'), compiledKeysMs: medianOf('keys'), handMs: medianOf('hand'),
      ratio: medianOf('compiled') / medianOf('hand'), compiled, hand, handShape: segment.handShape, rule: segment.rule,
      variants: variants.map((v) => ({ label: v.label, ms: medianOf(v.label), query: v.query })),
    };
    log(`query ${segment.slug}: ${h} members; compiled ${result.compiledMs.toFixed(1)} ms, keys-wrapped ${result.compiledKeysMs.toFixed(1)} ms, hand-written ${result.handMs.toFixed(1)} ms, ratio ${result.ratio.toFixed(2)}`);
    if (options.explainAll || result.ratio > options.explainAbove) {
      result.explain = { compiled: await explain(warehouse, compiled), hand: await explain(warehouse, hand) };
    }
    results.push(result);
  }
  return results;
}

/** Plan features worth comparing: correlated SubPlans and how often they ran, join strategies, parallelism. */
export function planTraits(plan: string): string[] {
  const traits: string[] = [];
  const lines = plan.split('\n');
  const subplans = lines.filter((l) => /^\s*SubPlan \d+\s*$/.test(l));
  for (const sub of subplans) {
    const i = lines.indexOf(sub);
    const next = lines.slice(i + 1).find((l) => /actual time/.test(l));
    const loops = next?.match(/loops=(\d+)/)?.[1];
    traits.push(`correlated ${sub.trim()}, executed loops=${loops ?? '?'} times (once per outer row reaching it)`);
  }
  for (const kind of ['Hash Semi Join', 'Hash Anti Join', 'Hash Right Semi Join', 'Hash Right Anti Join', 'Hash Join', 'Merge Semi Join', 'Merge Anti Join', 'Nested Loop Semi Join', 'Nested Loop Anti Join', 'Nested Loop', 'HashAggregate', 'GroupAggregate', 'Seq Scan', 'Index Only Scan', 'Index Scan', 'Bitmap Heap Scan']) {
    const n = lines.filter((l) => new RegExp(`(->|^)\\s*(Parallel )?${kind}\\b`).test(l.trim()) || l.trim().startsWith(`${kind} `)).length;
    if (n) traits.push(`${kind} ×${n}`);
  }
  const launched = lines.filter((l) => /Workers Launched/.test(l)).map((l) => l.trim());
  if (launched.length) traits.push(launched.join(', '));
  else traits.push('no parallel workers');
  const exec = lines.find((l) => /Execution Time/.test(l));
  if (exec) traits.push(exec.trim());
  return traits;
}
