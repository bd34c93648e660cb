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
  /** A TIMESTAMP placeholder: BigQuery infers a STRING type for an ISO string, so it is cast. */
  pt(i: number): string { return this.big ? 'CAST(? AS TIMESTAMP)' : `$${i}`; }
  /** `at` is a reserved keyword in GoogleSQL: always quoted. */
  private get at(): string { return this.d.quoteIdentifier('at'); }
  /** BigQuery cannot run DDL in a transaction: its migrations must be safe to re-run. */
  private get createTable(): string { return this.big ? 'CREATE TABLE IF NOT EXISTS' : 'CREATE TABLE'; }
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
    return `INSERT INTO ${this.table('_state_migrations')} (version, applied_at) VALUES (${this.p(1)}, ${this.pt(2)})`;
  }

  /** Versioned migrations of the state schema: each entry is the statements of one version. */
  migrations(): string[][] {
    const t = this.text; const n = this.notNull; const time = this.time; const big = this.bigint;
    return [
      [
        `${this.createTable} ${this.table('membership_log')} (segment_id ${t}${n}, member_key ${t}${n}, event ${t}${n}, run_id ${t}${n}, ${this.at} ${time}${n})`,
        `${this.createTable} ${this.table('snapshots')} (segment_id ${t}${n}, current_table ${t}${n}, previous_table ${t}, run_id ${t}${n}, refreshed_at ${time}${n})`,
        `${this.createTable} ${this.table('refresh_runs')} (run_id ${t}${n}, segment_id ${t}${n}, segment_slug ${t}, segment_version ${big}, as_of ${time}${n}, ` +
          `started_at ${time}${n}, finished_at ${time}${n}, size ${big}${n}, entered ${big}${n}, exited ${big}${n}, snapshot_table ${t}${n})`,
        ...(this.big ? [] : [
          `CREATE INDEX membership_log_segment_at ON ${this.table('membership_log')} (segment_id, ${this.at})`,
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

  /**
   * BigQuery: creates and fills a snapshot in one statement from the compiled snapshot query (named
   * `@p1`… parameters). The column list keeps the NOT NULLs of `createSnapshot`.
   */
  createSnapshotAs(name: string, identifierKinds: string[], compiledSql: string): string {
    return `${this.createSnapshot(name, identifierKinds)} AS ${compiledSql}`;
  }

  currentPointer(): string {
    return `SELECT current_table, previous_table, run_id FROM ${this.table('snapshots')} WHERE segment_id = ${this.p(1)}`;
  }

  /** Members of `from` absent from `other` (or all of `from` when there is no other) into the log. */
  logDifference(event: 'enter' | 'exit', from: string, other: string | null, values: [segmentId: string, runId: string, at: string] = [this.p(1), this.p(2), this.pt(3)]): string {
    const q = this.d.quoteIdentifier;
    const anti = other ? ` WHERE NOT EXISTS (SELECT 1 FROM ${this.table(other)} AS o WHERE o.${q('member_key')} = s.${q('member_key')})` : '';
    return `INSERT INTO ${this.table('membership_log')} (segment_id, member_key, event, run_id, ${this.at}) ` +
      `SELECT ${values[0]}, s.${q('member_key')}, '${event}', ${values[1]}, ${values[2]} FROM ${this.table(from)} AS s${anti}`;
  }

  countEvents(): string {
    return `SELECT event, COUNT(*) AS n FROM ${this.table('membership_log')} WHERE run_id = ${this.p(1)} GROUP BY event`;
  }

  countRows(name: string): string {
    return `SELECT COUNT(*) AS n FROM ${this.table(name)}`;
  }

  deletePointer(segmentId: string = this.p(1)): string {
    return `DELETE FROM ${this.table('snapshots')} WHERE segment_id = ${segmentId}`;
  }

  insertPointer(values: string[] = [this.p(1), this.p(2), this.p(3), this.p(4), this.pt(5)]): string {
    return `INSERT INTO ${this.table('snapshots')} (segment_id, current_table, previous_table, run_id, refreshed_at) VALUES (${values.join(', ')})`;
  }

  dropTable(name: string): string {
    return `DROP TABLE IF EXISTS ${this.table(name)}`;
  }

  recordRun(values: string[] = Array.from({ length: 11 }, (_, i) => ([5, 6, 7].includes(i + 1) ? this.pt(i + 1) : this.p(i + 1)))): string {
    return `INSERT INTO ${this.table('refresh_runs')} (run_id, segment_id, segment_slug, segment_version, as_of, started_at, finished_at, size, entered, exited, snapshot_table) ` +
      `VALUES (${values.join(', ')})`;
  }

  /** Postgres: serializes refreshes of a segment inside the warehouse until the transaction ends. */
  lockSegment(): string {
    return `SELECT pg_advisory_xact_lock(hashtext('audiences.refresh'), hashtext(${this.p(1)}))`;
  }

  /** Runs recorded as committed since a time (reconciliation with the metadata store). */
  recordedRunsSince(): string {
    return `SELECT run_id, size, entered, exited, finished_at, snapshot_table FROM ${this.table('refresh_runs')} WHERE segment_id = ${this.p(1)} AND started_at >= ${this.pt(2)} ORDER BY started_at`;
  }

  /** What a recorded run counted (BigQuery: read back when it is unclear whether a refresh committed). */
  recordedRun(): string {
    return `SELECT size, entered, exited, snapshot_table FROM ${this.table('refresh_runs')} WHERE run_id = ${this.p(1)}`;
  }

  /**
   * BigQuery: the transactional part of a refresh as ONE multi-statement script with named
   * parameters only (`@segment_id`, `@run_id`, `@at`, … — never `@p<n>`, the compiled query's
   * names). BigQuery allows no CREATE / DROP of permanent tables in a transaction, so the
   * snapshot was created before (`createSnapshotAs`) and the displaced one is dropped after the
   * commit. The counts come from `@@row_count` (no scan of the log) and are the script's last
   * result, read only once the transaction has committed.
   */
  refreshScript(table: string, previous: string | null): string {
    const named = ['@segment_id', '@run_id', '@at'] as [string, string, string];
    return [
      'DECLARE v_entered INT64 DEFAULT 0;',
      'DECLARE v_exited INT64 DEFAULT 0;',
      'DECLARE v_size INT64 DEFAULT 0;',
      'BEGIN TRANSACTION;',
      `${this.logDifference('enter', table, previous, named)};`,
      'SET v_entered = @@row_count;',
      ...(previous ? [`${this.logDifference('exit', previous, table, named)};`, 'SET v_exited = @@row_count;'] : []),
      `SET v_size = (${this.countRows(table)});`,
      `${this.deletePointer('@segment_id')};`,
      `${this.insertPointer(['@segment_id', '@snapshot_table', '@previous_table', '@run_id', '@at'])};`,
      `${this.recordRun(['@run_id', '@segment_id', '@segment_slug', '@segment_version', '@as_of', '@at', '@finished_at', 'v_size', 'v_entered', 'v_exited', '@snapshot_table'])};`,
      'COMMIT TRANSACTION;',
      'SELECT v_size AS size, v_entered AS entered, v_exited AS exited;',
    ].join('\n');
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
    const at = this.at;
    const cursor = options.after ? ` AND (${at} > ${this.pt(4)} OR (${at} = ${this.pt(4)} AND (member_key > ${this.p(5)} OR (member_key = ${this.p(5)} AND event > ${this.p(6)}))))` : '';
    // LIMIT takes a literal or a parameter (an INT64 one on BigQuery: the caller passes an integer).
    const limit = this.p(options.after ? 7 : 4);
    return `SELECT member_key, event, run_id, ${at} FROM ${this.table('membership_log')} WHERE segment_id = ${this.p(1)} AND ${at} >= ${this.pt(2)} AND ${at} < ${this.pt(3)}${cursor} ` +
      `ORDER BY ${at}, member_key, event LIMIT ${limit}`;
  }

  /**
   * The values of `changesPage`'s placeholders, in their order. BigQuery's `?` are not numbered:
   * a value used twice is bound twice.
   */
  changesParams(segmentId: string, since: string, until: string, cursor: [at: string, memberKey: string, event: string] | undefined, limit: number): unknown[] {
    if (!cursor) return [segmentId, since, until, limit];
    const [at, memberKey, event] = cursor;
    return this.big ? [segmentId, since, until, at, at, memberKey, memberKey, event, limit] : [segmentId, since, until, at, memberKey, event, limit];
  }

  /** Replays the log: members of a segment as of a run (for audits and invariant checks). */
  membersFromLog(): string {
    // A run logs at most one event per member, and runs of a segment have distinct, increasing `at`.
    return `SELECT member_key FROM (SELECT member_key, event, ROW_NUMBER() OVER (PARTITION BY member_key ORDER BY ${this.at} DESC) AS rn ` +
      `FROM ${this.table('membership_log')} WHERE segment_id = ${this.p(1)} AND ${this.at} <= ${this.pt(2)}) AS l WHERE rn = 1 AND event = 'enter' ORDER BY member_key`;
  }
}
