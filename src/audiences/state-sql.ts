import type { DialectName } from '../compiler/dialects/dialect';
import { DIALECT_BY_NAME } from '../compiler/compile';

/**
 * SQL for the service's own schema in the warehouse (default `audiences_state`): membership log,
 * snapshot pointers, refresh runs and per-run snapshot tables. Names come from configuration
 * (validated) and from ids we generate; values are always parameters. Postgres and DuckDB share
 * this SQL; BigQuery spells types and parameters differently.
 */
export const SNAPSHOT_TABLE = /^snap_[0-9a-f]{12}_[0-9a-f]{12}$/;

export class StateSql {
  private readonly d;
  readonly schema: string;

  constructor(readonly dialect: DialectName, schema: string) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid state schema name "${schema}"`);
    this.schema = schema;
    this.d = DIALECT_BY_NAME[dialect];
  }

  private get big() { return this.dialect === 'bigquery'; }
  /** Positional placeholder i (1-based) in the engine's own SQL. */
  p(i: number): string { return this.big ? '?' : `$${i}`; }
  table(name: string): string { return this.d.tableName(this.schema, name); }
  private get text() { return this.big ? 'STRING' : 'VARCHAR'; }
  private get bigint() { return this.big ? 'INT64' : 'BIGINT'; }
  private get time() { return this.big ? 'TIMESTAMP' : 'TIMESTAMPTZ'; }
  private get notNull() { return ' NOT NULL'; }

  snapshotTable(segmentId: string, runId: string): string {
    const name = `snap_${segmentId.replace(/-/g, '').slice(0, 12)}_${runId.replace(/-/g, '').slice(0, 12)}`;
    if (!SNAPSHOT_TABLE.test(name)) throw new Error('unexpected id format');
    return name;
  }

  createSchema(): string {
    return this.big ? `CREATE SCHEMA IF NOT EXISTS ${this.d.quoteIdentifier(this.schema)}` : `CREATE SCHEMA IF NOT EXISTS ${this.d.quoteIdentifier(this.schema)}`;
  }

  createMigrationsTable(): string {
    return `CREATE TABLE IF NOT EXISTS ${this.table('_state_migrations')} (version ${this.bigint}${this.notNull}, applied_at ${this.time}${this.notNull})`;
  }

  appliedMigrations(): string {
    return `SELECT version FROM ${this.table('_state_migrations')} ORDER BY version`;
  }

  recordMigration(): string {
    return `INSERT INTO ${this.table('_state_migrations')} (version, applied_at) VALUES (${this.p(1)}, ${this.p(2)})`;
  }

  /** Versioned migrations of the state schema: each entry is the statements of one version. */
  migrations(): string[][] {
    const t = this.text; const n = this.notNull; const time = this.time; const big = this.bigint;
    return [
      [
        `CREATE TABLE ${this.table('membership_log')} (segment_id ${t}${n}, member_key ${t}${n}, event ${t}${n}, run_id ${t}${n}, at ${time}${n})`,
        `CREATE TABLE ${this.table('snapshots')} (segment_id ${t}${n}, current_table ${t}${n}, previous_table ${t}, run_id ${t}${n}, refreshed_at ${time}${n})`,
        `CREATE TABLE ${this.table('refresh_runs')} (run_id ${t}${n}, segment_id ${t}${n}, segment_slug ${t}, segment_version ${big}, as_of ${time}${n}, ` +
          `started_at ${time}${n}, finished_at ${time}${n}, size ${big}${n}, entered ${big}${n}, exited ${big}${n}, snapshot_table ${t}${n})`,
        ...(this.big ? [] : [
          `CREATE INDEX membership_log_segment_at ON ${this.table('membership_log')} (segment_id, at)`,
          `CREATE INDEX membership_log_run ON ${this.table('membership_log')} (run_id)`,
        ]),
      ],
    ];
  }

  createSnapshot(name: string, identifierKinds: string[]): string {
    const t = this.text;
    const columns = ['member_key', ...identifierKinds, 'fingerprint'].map((c) => `${this.d.quoteIdentifier(c)} ${t}${c === 'member_key' || c === 'fingerprint' ? this.notNull : ''}`);
    return `CREATE TABLE ${this.table(name)} (${columns.join(', ')})`;
  }

  /** Fills a snapshot from the compiled snapshot query (whose placeholders start at 1). */
  fillSnapshot(name: string, identifierKinds: string[], compiledSql: string): string {
    const columns = ['member_key', ...identifierKinds, 'fingerprint'].map((c) => this.d.quoteIdentifier(c)).join(', ');
    return `INSERT INTO ${this.table(name)} (${columns}) ${compiledSql}`;
  }

  currentPointer(): string {
    return `SELECT current_table, previous_table, run_id FROM ${this.table('snapshots')} WHERE segment_id = ${this.p(1)}`;
  }

  /** Members of `from` absent from `other` (or all of `from` when there is no other) into the log. */
  logDifference(event: 'enter' | 'exit', from: string, other: string | null): string {
    const q = this.d.quoteIdentifier;
    const anti = other ? ` WHERE NOT EXISTS (SELECT 1 FROM ${this.table(other)} AS o WHERE o.${q('member_key')} = s.${q('member_key')})` : '';
    return `INSERT INTO ${this.table('membership_log')} (segment_id, member_key, event, run_id, at) ` +
      `SELECT ${this.p(1)}, s.${q('member_key')}, '${event}', ${this.p(2)}, ${this.p(3)} FROM ${this.table(from)} AS s${anti}`;
  }

  countEvents(): string {
    return `SELECT event, COUNT(*) AS n FROM ${this.table('membership_log')} WHERE run_id = ${this.p(1)} GROUP BY event`;
  }

  countRows(name: string): string {
    return `SELECT COUNT(*) AS n FROM ${this.table(name)}`;
  }

  deletePointer(): string {
    return `DELETE FROM ${this.table('snapshots')} WHERE segment_id = ${this.p(1)}`;
  }

  insertPointer(): string {
    return `INSERT INTO ${this.table('snapshots')} (segment_id, current_table, previous_table, run_id, refreshed_at) VALUES (${[1, 2, 3, 4, 5].map((i) => this.p(i)).join(', ')})`;
  }

  dropTable(name: string): string {
    return `DROP TABLE IF EXISTS ${this.table(name)}`;
  }

  recordRun(): string {
    return `INSERT INTO ${this.table('refresh_runs')} (run_id, segment_id, segment_slug, segment_version, as_of, started_at, finished_at, size, entered, exited, snapshot_table) ` +
      `VALUES (${Array.from({ length: 11 }, (_, i) => this.p(i + 1)).join(', ')})`;
  }

  /** A page of the current snapshot, by member key. */
  membersPage(table: string, identifierKinds: string[], options: { after: boolean }): string {
    const q = this.d.quoteIdentifier;
    const columns = ['member_key', ...identifierKinds].map((c) => q(c)).join(', ');
    const where = options.after ? ` WHERE ${q('member_key')} > ${this.p(1)}` : '';
    return `SELECT ${columns} FROM ${this.table(table)}${where} ORDER BY ${q('member_key')} LIMIT ${this.p(options.after ? 2 : 1)}`;
  }

  /** Enters and exits of a segment in [since, until), in time order; keyset-paginated. */
  changesPage(options: { after: boolean }): string {
    const cursor = options.after ? ` AND (at > ${this.p(4)} OR (at = ${this.p(4)} AND (member_key > ${this.p(5)} OR (member_key = ${this.p(5)} AND event > ${this.p(6)}))))` : '';
    const limit = this.p(options.after ? 7 : 4);
    return `SELECT member_key, event, run_id, at FROM ${this.table('membership_log')} WHERE segment_id = ${this.p(1)} AND at >= ${this.p(2)} AND at < ${this.p(3)}${cursor} ` +
      `ORDER BY at, member_key, event LIMIT ${limit}`;
  }

  /** Replays the log: members of a segment as of a run (for audits and invariant checks). */
  membersFromLog(): string {
    // A run logs at most one event per member, and runs of a segment have distinct, increasing `at`.
    return `SELECT member_key FROM (SELECT member_key, event, ROW_NUMBER() OVER (PARTITION BY member_key ORDER BY at DESC) AS rn ` +
      `FROM ${this.table('membership_log')} WHERE segment_id = ${this.p(1)} AND at <= ${this.p(2)}) l WHERE rn = 1 AND event = 'enter' ORDER BY member_key`;
  }
}
