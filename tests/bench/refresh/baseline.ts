/**
 * The minimal hand-written SQL doing a refresh's work, for the same engine, in one transaction:
 *   1. CREATE TABLE <new snapshot> AS SELECT key, identifiers and consent columns as text, md5 fingerprint FROM customers WHERE <filter>
 *   2. INSERT the enters into the log: anti-join new ▷ previous (initial refresh: every row)
 *   3. INSERT the exits into the log: anti-join previous ▷ new (churn refresh only)
 *   4. swap the pointer (DELETE + INSERT of one row)
 * Sizes and counts come from the statements' own row counts; nothing else is read.
 *
 * The log and pointer tables have exactly the service's columns and types (state-sql.ts), so the
 * snapshots and the log rows are the same bytes. `withIndexes` gives the log the service's two
 * indexes ((segment_id, at) and (run_id)); without them, the log is a bare heap/table.
 */
import { BASELINE_FILTER, q, type Engine } from './data';

export interface BaselineStatement {
  step: string;
  sql: string;
}

/** Untimed: the baseline's log and pointer tables (once per baseline schema). */
export function baselineSetupSql(schema: string, withIndexes: boolean): string[] {
  const s = q(schema);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    `CREATE TABLE IF NOT EXISTS ${s}.membership_log (segment_id VARCHAR NOT NULL, member_key VARCHAR NOT NULL, event VARCHAR NOT NULL, run_id VARCHAR NOT NULL, "at" TIMESTAMPTZ NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${s}.snapshots (segment_id VARCHAR NOT NULL, current_table VARCHAR NOT NULL, previous_table VARCHAR, run_id VARCHAR NOT NULL, refreshed_at TIMESTAMPTZ NOT NULL)`,
    ...(withIndexes ? [
      `CREATE INDEX IF NOT EXISTS membership_log_segment_at ON ${s}.membership_log (segment_id, "at")`,
      `CREATE INDEX IF NOT EXISTS membership_log_run ON ${s}.membership_log (run_id)`,
    ] : []),
  ];
}

/**
 * The fingerprint exactly as the compiler spells it: md5 of the identifiers, NULL as \N,
 * '|'-separated, in the order of the model's identifiers as the service reads them back.
 */
function fingerprint(identifiers: ReadonlyArray<readonly [string, string]>): string {
  return `md5(${identifiers.map(([, column]) => `COALESCE(CAST(${column} AS VARCHAR), '\\N')`).join(` || '|' || `)})`;
}

export function baselineStatements(options: {
  engine: Engine;
  schema: string;
  dataSchema: string;
  newTable: string;
  previousTable: string | null;
  segmentId: string;
  runId: string;
  at: string;
  /** [identifier kind, column], in the order the service fingerprints them. */
  identifiers: ReadonlyArray<readonly [string, string]>;
}): BaselineStatement[] {
  const s = q(options.schema);
  const table = (name: string) => `${s}.${q(name)}`;
  // The service's snapshot columns are text: non-text columns (the key, the date of birth, the consent booleans) are cast.
  const text = (column: string) => (/^(customer_id|date_of_birth|consent_.*|marketing_opt_in)$/.test(column) ? `CAST(${column} AS VARCHAR)` : column);
  const columns = [`CAST(customer_id AS VARCHAR) AS member_key`, ...options.identifiers.map(([kind, column]) => `${text(column)} AS ${q(kind)}`), `${fingerprint(options.identifiers)} AS fingerprint`];
  const lit = (value: string) => `'${value.replace(/'/g, "''")}'`;
  const at = `CAST(${lit(options.at)} AS TIMESTAMPTZ)`;
  const { newTable, previousTable } = options;
  const statements: BaselineStatement[] = [
    {
      step: 'snapshot (CTAS)',
      sql: `CREATE TABLE ${table(newTable)} AS SELECT ${columns.join(', ')} FROM ${q(options.dataSchema)}.customers WHERE ${BASELINE_FILTER}`,
    },
    {
      step: 'log enters',
      sql: `INSERT INTO ${s}.membership_log (segment_id, member_key, event, run_id, "at") SELECT ${lit(options.segmentId)}, n.member_key, 'enter', ${lit(options.runId)}, ${at} FROM ${table(newTable)} AS n` +
        (previousTable ? ` WHERE NOT EXISTS (SELECT 1 FROM ${table(previousTable)} AS o WHERE o.member_key = n.member_key)` : ''),
    },
  ];
  if (previousTable) {
    statements.push({
      step: 'log exits',
      sql: `INSERT INTO ${s}.membership_log (segment_id, member_key, event, run_id, "at") SELECT ${lit(options.segmentId)}, o.member_key, 'exit', ${lit(options.runId)}, ${at} FROM ${table(previousTable)} AS o` +
        ` WHERE NOT EXISTS (SELECT 1 FROM ${table(newTable)} AS n WHERE n.member_key = o.member_key)`,
    });
  }
  statements.push(
    { step: 'swap pointer', sql: `DELETE FROM ${s}.snapshots WHERE segment_id = ${lit(options.segmentId)}` },
    {
      step: 'swap pointer',
      sql: `INSERT INTO ${s}.snapshots (segment_id, current_table, previous_table, run_id, refreshed_at) VALUES (${lit(options.segmentId)}, ${lit(newTable)}, ${previousTable ? lit(previousTable) : 'NULL'}, ${lit(options.runId)}, ${at})`,
    },
  );
  return statements;
}
