/**
 * EXPLAIN of the refresh's heavy statements, exactly as state-sql.ts spells them, next to the
 * baseline's snapshot statement; in one transaction that is rolled back. With ANALYZE (statements
 * really run) up to REFRESH_BENCH_EXPLAIN_ANALYZE_MAX customers (default 1,000,000), plain
 * EXPLAIN above.
 */
import pg from 'pg';
import { StateSql } from '../../../src/audiences/state-sql';
import { DuckDBWarehouse } from '../../../src/warehouse/duckdb/duckdb-warehouse';

export interface Explained {
  statement: string;
  analyze: boolean;
  plan: string;
}

export interface ExplainInput {
  target: { size: number; dataSchema: string; stateSchema: string; baseSchema: string };
  compiled: { sql: string; params: unknown[] };
  /** The service's current (churn) snapshot. */
  serviceSnapshot: string;
  /** The baseline's CREATE TABLE … AS statement (into snap_explain). */
  baselineSql: string;
  segmentId: string;
  runId: string;
  /** [identifier kind, column] in the service's order. */
  identifiers: ReadonlyArray<readonly [string, string]>;
}

const analyzeMax = Number(process.env.REFRESH_BENCH_EXPLAIN_ANALYZE_MAX ?? 1_000_000);

class Rollback extends Error {}

interface Statement {
  statement: string;
  sql: string;
  params: unknown[];
}

function statements(sqlFor: StateSql, input: ExplainInput, previous: string): Statement[] {
  return [
    { statement: 'service: fill snapshot — INSERT INTO snap … <compiled query>', sql: sqlFor.fillSnapshot('snap_explain', input.identifiers.map(([kind]) => kind), input.compiled.sql), params: input.compiled.params },
    { statement: 'baseline: CREATE TABLE snap AS SELECT … (same filter, hand-written)', sql: input.baselineSql, params: [] },
    { statement: 'service: log enters — anti-join new ▷ previous', sql: sqlFor.logDifference('enter', input.serviceSnapshot, previous), params: [input.segmentId, 'explain', new Date().toISOString()] },
    { statement: 'service: count events — membership_log WHERE run_id = $1 GROUP BY event', sql: sqlFor.countEvents(), params: [input.runId] },
    { statement: 'service: count rows — SELECT COUNT(*) FROM snapshot', sql: sqlFor.countRows(input.serviceSnapshot), params: [] },
  ];
}

export async function explainPostgres(url: string, input: ExplainInput): Promise<Explained[]> {
  const analyze = input.target.size <= analyzeMax;
  const sqlFor = new StateSql('postgres', input.target.stateSchema);
  const client = new pg.Client({ connectionString: url, options: '-c TimeZone=UTC' });
  await client.connect();
  const out: Explained[] = [];
  try {
    const { rows: [pointer] } = await client.query<{ previous_table: string }>(sqlFor.currentPointer(), [input.segmentId]);
    await client.query('BEGIN');
    await client.query(`CREATE TABLE ${sqlFor.table('snap_explain')} (LIKE ${sqlFor.table(input.serviceSnapshot)})`);
    for (const s of statements(sqlFor, input, pointer!.previous_table)) {
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (${analyze ? 'ANALYZE, BUFFERS, ' : ''}COSTS OFF) ${s.sql}`, s.params);
      out.push({ statement: s.statement, analyze, plan: rows.map((r) => r['QUERY PLAN']).join('\n') });
    }
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    await client.end();
  }
  return out;
}

export async function explainDuckDB(file: string, input: ExplainInput): Promise<Explained[]> {
  const analyze = input.target.size <= analyzeMax;
  const sqlFor = new StateSql('duckdb', input.target.stateSchema);
  const warehouse = new DuckDBWarehouse({ path: file, maxConnections: 1 });
  const out: Explained[] = [];
  try {
    const [pointer] = await warehouse.query<{ previous_table: string }>(sqlFor.currentPointer(), [input.segmentId]);
    await warehouse.transaction(async (query) => {
      await query(`CREATE TABLE ${sqlFor.table('snap_explain')} AS SELECT * FROM ${sqlFor.table(input.serviceSnapshot)} LIMIT 0`);
      for (const s of statements(sqlFor, input, pointer!.previous_table)) {
        const rows = await query(`EXPLAIN ${analyze ? 'ANALYZE ' : ''}${s.sql}`, s.params);
        // The profile echoes the statement text in its header: left out (the statement is named above).
        const plan = rows.map((r) => String(r.explain_value)).join('\n').split('\n').filter((line) => !/^EXPLAIN /.test(line)).join('\n');
        out.push({ statement: s.statement, analyze, plan });
      }
      throw new Rollback();
    }).catch((error: unknown) => {
      if (!(error instanceof Rollback)) throw error;
    });
  } finally {
    await warehouse.close();
  }
  return out;
}

