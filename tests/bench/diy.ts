/**
 * The do-it-yourself baseline: pull every customer with its orders and events (as arrays, the
 * shape `isMember` reads) into Node in keyset-paginated batches, and evaluate each segment rule
 * with json-logic-js (our evaluator: the rule is prepared once, then applied per record).
 * Memory stays bounded by the batch size. Batches are fetched and evaluated one after the other
 * (no prefetching), so fetch time and evaluation time add up and can be reported separately.
 */
import type { CompilerModel } from '../../src/compiler/compiler-model';
import { applyPrepared, isMember, prepareRule, truthy } from '../../src/compiler/evaluate';
import type { PostgresWarehouse } from '../../src/warehouse/postgres/postgres-warehouse';
import type { BenchSegment } from './segments';
import { log, now, nsToMs } from './stats';

export interface DiyOptions {
  warehouse: PostgresWarehouse;
  model: CompilerModel;
  schema: string;
  asOf: Date;
  segments: readonly BenchSegment[];
  totalCustomers: number;
  batchSize: number;
  /** Stop after `sampleCustomers` and extrapolate when the full pull is projected to take longer. */
  maxProjectedMs: number;
  sampleCustomers: number;
}

export interface DiyResult {
  customersProcessed: number;
  sampled: boolean;
  /** Time to fetch and parse all batches (measured, for the customers processed). */
  fetchMs: number;
  /** Measured evaluation time per segment (for the customers processed). */
  evalMs: Record<string, number>;
  members: Record<string, number>;
  /** Largest customer_id processed (for checking counts on a sample). */
  lastCustomerId: number;
  /** Wall time of the whole pass (fetch + all five evaluations), measured. */
  wallMs: number;
  /** Factor from the measured sample to all customers (1 when not sampled). */
  scale: number;
  batchSql: string;
}

type Row = Record<string, unknown>;

export function batchSql(schema: string): string {
  const s = `"${schema}"`;
  return `select row_to_json(x) as r from (
  select c.*,
         coalesce((select json_agg(json_build_object('total', o.total, 'status', o.status, 'channel', o.channel, 'ordered_at', o.ordered_at))
                     from ${s}.orders o where o.customer_id = c.customer_id), '[]') as orders,
         coalesce((select json_agg(json_build_object('name', e.name, 'channel', e.channel, 'occurred_at', e.occurred_at))
                     from ${s}.events e where e.customer_id = c.customer_id), '[]') as events
    from (select * from ${s}.customers where customer_id > $1 order by customer_id limit $2) c
   order by c.customer_id) x`;
}

export async function runDiy(options: DiyOptions): Promise<DiyResult> {
  const sql = batchSql(options.schema);
  const prepared = options.segments.map((s) => ({ slug: s.slug, rule: s.rule, prepared: prepareRule(s.rule, { asOf: options.asOf, model: options.model }) }));
  const evalNs = new Map(prepared.map((p) => [p.slug, 0n]));
  const members = new Map(prepared.map((p) => [p.slug, 0]));
  let fetchNs = 0n;
  let processed = 0;
  let lastId = 0;
  let sampled = false;
  // Not timed: the fast path below must agree with the public isMember on real records.
  const probe = (await options.warehouse.query<{ r: Row }>(sql, [0, 2_000])).map((row) => row.r);
  for (const p of prepared) {
    for (const record of probe) {
      const fast = (() => { try { return truthy(applyPrepared(p.prepared, record)); } catch { return false; } })();
      if (fast !== isMember(p.rule, record, { asOf: options.asOf, model: options.model })) {
        throw new Error(`${p.slug}: prepared evaluation disagrees with isMember on customer ${String(record.customer_id)}`);
      }
    }
  }
  const started = now();
  let lastLog = started;
  for (;;) {
    const t0 = now();
    const rows = await options.warehouse.query<{ r: Row }>(sql, [lastId, options.batchSize]);
    const records = rows.map((row) => row.r);
    fetchNs += now() - t0;
    if (records.length === 0) break;
    for (const p of prepared) {
      const t1 = now();
      let n = 0;
      for (const record of records) {
        try {
          if (truthy(applyPrepared(p.prepared, record))) n++;
        } catch {
          // json-logic-js threw on this record: not a member (as isMember decides)
        }
      }
      evalNs.set(p.slug, evalNs.get(p.slug)! + (now() - t1));
      members.set(p.slug, members.get(p.slug)! + n);
    }
    processed += records.length;
    lastId = Number(records[records.length - 1]!.customer_id);
    const elapsedMs = nsToMs(now() - started);
    if (nsToMs(now() - lastLog) > 15_000) {
      lastLog = now();
      log(`DIY: ${processed} customers in ${(elapsedMs / 1000).toFixed(1)} s`);
    }
    if (processed >= options.sampleCustomers && processed < options.totalCustomers) {
      const projected = (elapsedMs * options.totalCustomers) / processed;
      if (projected > options.maxProjectedMs) {
        log(`DIY: projected ${(projected / 1000).toFixed(0)} s for all customers; stopping at a sample of ${processed} and extrapolating`);
        sampled = true;
        break;
      }
    }
  }
  return {
    customersProcessed: processed,
    sampled,
    fetchMs: nsToMs(fetchNs),
    evalMs: Object.fromEntries([...evalNs].map(([slug, ns]) => [slug, nsToMs(ns)])),
    members: Object.fromEntries(members),
    lastCustomerId: lastId,
    wallMs: nsToMs(now() - started),
    scale: sampled ? options.totalCustomers / processed : 1,
    batchSql: sql,
  };
}
