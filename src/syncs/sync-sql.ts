import type { DialectName } from '../compiler/dialects/dialect';
import { DIALECT_BY_NAME } from '../compiler/compile';

/**
 * Warehouse SQL of the sync engine, in the state schema. Per sync:
 * - `sync_<id>`: the rows the destination holds according to our last committed run (member key
 *   and the mapped identifier / consent columns, raw, as the snapshot has them);
 * - `syncplan_<id>`: the plan of the current run — op (`add`, `remove`, `change`), member key,
 *   new (`n_*`) and old (`o_*`) columns, and whether the remove and add halves were delivered.
 * Commit moves the state by the delivered rows only, so a crash or a failed batch is re-planned
 * and re-sent next run (at least once; adds and removes are idempotent on the platforms).
 * Postgres and DuckDB share this SQL; values are always parameters.
 */
export const PLAN_OPS = ['add', 'change', 'remove'] as const;
export type PlanOp = (typeof PLAN_OPS)[number];

export class SyncSql {
  private readonly d;

  constructor(readonly dialect: DialectName, readonly schema: string, private readonly syncId: string, readonly columns: string[], private readonly planName?: string) {
    if (dialect === 'bigquery') throw new Error('syncs on BigQuery are not supported yet');
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid state schema name "${schema}"`);
    for (const c of columns) if (!/^[a-z_][a-z0-9_]{0,62}$/.test(c)) throw new Error(`invalid sync column "${c}"`);
    this.d = DIALECT_BY_NAME[dialect];
  }

  private q(name: string): string { return this.d.quoteIdentifier(name); }
  private table(name: string): string { return this.d.tableName(this.schema, name); }
  private get suffix(): string { return this.syncId.replace(/-/g, '').slice(0, 20); }
  get stateTable(): string { return this.table(`sync_${this.suffix}`); }
  get planTable(): string { return this.table(this.planName ?? `syncplan_${this.suffix}`); }

  /** The same SQL over another plan table (dry runs plan into a table of their own). */
  withPlanTable(name: string): SyncSql {
    if (!/^syncprev_[0-9a-f]{20}_[0-9a-f]{8}$/.test(name)) throw new Error('unexpected plan table name');
    return new SyncSql(this.dialect, this.schema, this.syncId, this.columns, name);
  }

  previewTableName(random: string): string { return `syncprev_${this.suffix}_${random}`; }

  createState(): string {
    // unsent: settled without being sent (no usable identifier): it does not count as on the platform.
    const cols = ['member_key VARCHAR NOT NULL', ...this.columns.map((c) => `${this.q(c)} VARCHAR`), 'unsent BOOLEAN NOT NULL DEFAULT FALSE'];
    return `CREATE TABLE IF NOT EXISTS ${this.stateTable} (${cols.join(', ')})`;
  }

  /** State tables written before `unsent` existed get it (a no-op on newer ones). */
  upgradeState(): string[] {
    return [`ALTER TABLE ${this.stateTable} ADD COLUMN IF NOT EXISTS unsent BOOLEAN DEFAULT FALSE`];
  }

  dropPlan(): string { return `DROP TABLE IF EXISTS ${this.planTable}`; }
  dropState(): string { return `DROP TABLE IF EXISTS ${this.stateTable}`; }

  /** The plan against a snapshot table (a `SNAPSHOT_TABLE` name in the state schema). */
  createPlan(snapshotTable: string): string {
    const snap = this.table(snapshotTable);
    const n = (alias: string | null) => this.columns.map((c) => (alias ? `${alias}.${this.q(c)}` : 'CAST(NULL AS VARCHAR)') + ` AS ${this.q(`n_${c}`)}`);
    const o = (alias: string | null) => this.columns.map((c) => (alias ? `${alias}.${this.q(c)}` : 'CAST(NULL AS VARCHAR)') + ` AS ${this.q(`o_${c}`)}`);
    const flags = 'FALSE AS removed_ok, FALSE AS added_ok, FALSE AS unsent';
    const differs = this.columns.length ? this.columns.map((c) => `s.${this.q(c)} IS DISTINCT FROM t.${this.q(c)}`).join(' OR ') : 'FALSE';
    return `CREATE TABLE ${this.planTable} AS ` +
      `SELECT CAST('add' AS VARCHAR) AS op, s.member_key, ${[...n('s'), ...o(null)].join(', ')}, ${flags} FROM ${snap} AS s ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${this.stateTable} AS t WHERE t.member_key = s.member_key) ` +
      `UNION ALL SELECT CAST('remove' AS VARCHAR), t.member_key, ${[...n(null), ...o('t')].join(', ')}, ${flags} FROM ${this.stateTable} AS t ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${snap} AS s WHERE s.member_key = t.member_key) ` +
      `UNION ALL SELECT CAST('change' AS VARCHAR), s.member_key, ${[...n('s'), ...o('t')].join(', ')}, ${flags} FROM ${snap} AS s ` +
      `JOIN ${this.stateTable} AS t ON t.member_key = s.member_key WHERE ${differs}`;
  }

  /** Postgres: pages of the plan are read by (op, member_key). */
  indexPlan(): string | null {
    return this.dialect === 'postgres' ? `CREATE INDEX ON ${this.planTable} (op, member_key)` : null;
  }

  countPlan(): string {
    return `SELECT op, COUNT(*) AS n FROM ${this.planTable} GROUP BY op`;
  }

  countState(): string {
    return `SELECT COUNT(*) AS n FROM ${this.stateTable}`;
  }

  countSnapshot(snapshotTable: string): string {
    return `SELECT COUNT(*) AS n FROM ${this.table(snapshotTable)}`;
  }

  /**
   * A page of one phase, keyset-paginated on (op, member_key): the remove phase reads the old
   * columns of `change` and `remove` rows, the add phase the new columns of `add` and `change` rows.
   */
  planPage(phase: 'remove' | 'add', options: { after: boolean }): string {
    const prefix = phase === 'remove' ? 'o_' : 'n_';
    const cols = this.columns.map((c) => `${this.q(`${prefix}${c}`)} AS ${this.q(c)}`);
    // A row comparison the (op, member_key) index can start from: each page reads its own rows,
    // not every row after it (an OR of comparisons made paging quadratic).
    const after = options.after ? ' AND (op, member_key) > ($1, $2)' : '';
    const limit = options.after ? '$3' : '$1';
    return `SELECT op, member_key${cols.length ? ', ' + cols.join(', ') : ''} FROM ${this.planTable} WHERE ${this.phaseFilter(phase)}${after} ORDER BY op, member_key LIMIT ${limit}`;
  }

  /**
   * Rows of a phase, as an op range (ops sort add < change < remove) plus a row filter. A change's
   * new identifiers go out only once its old ones were removed: were the add sent after a failed
   * remove, the platform would hold both while the state can name one, and the old ones could
   * never be taken off again.
   */
  private phaseFilter(phase: 'remove' | 'add'): string {
    return phase === 'remove' ? `op >= 'change'` : `op <= 'change' AND (op = 'add' OR removed_ok)`;
  }

  /** Marks a delivered page: the phase's rows from (op, key) `first` to `last` inclusive. */
  markDelivered(phase: 'remove' | 'add'): string {
    const flag = phase === 'remove' ? 'removed_ok' : 'added_ok';
    // DuckDB folds two row comparisons into a BETWEEN it cannot run on rows; it scans anyway.
    const range = this.dialect === 'postgres'
      ? '(op, member_key) >= ($1, $2) AND (op, member_key) <= ($3, $4)'
      : '(op > $1 OR (op = $1 AND member_key >= $2)) AND (op < $3 OR (op = $3 AND member_key <= $4))';
    return `UPDATE ${this.planTable} SET ${flag} = TRUE WHERE ${this.phaseFilter(phase)} AND ${range}`;
  }

  /** Rows of the add phase settled without being sent (refused by us or the platform); keys as parameters $1…$n. */
  markUnsent(count: number): string {
    return `UPDATE ${this.planTable} SET unsent = TRUE WHERE op IN ('add', 'change') AND member_key IN (${Array.from({ length: count }, (_, i) => `$${i + 1}`).join(', ')})`;
  }

  /** Members the platform was sent, by our last commit (lookalike seeds). */
  countSent(): string {
    return `SELECT COUNT(*) AS n FROM ${this.stateTable} WHERE unsent IS NOT TRUE`;
  }

  /** Add-only syncs never remove: their removes and the remove half of changes count as done. */
  skipRemoves(): string {
    return `UPDATE ${this.planTable} SET removed_ok = TRUE WHERE op IN ('change', 'remove')`;
  }

  /** The commit, as statements of one transaction: drop what was removed, add what was added. */
  commit(options: { addOnly: boolean }): string[] {
    const cols = this.columns.map((c) => this.q(c));
    // Add-only: a removed member stays in the state (the platform still has it).
    const removed = options.addOnly ? `op = 'change' AND removed_ok AND added_ok` : `(op = 'remove' AND removed_ok) OR (op = 'change' AND removed_ok AND added_ok)`;
    return [
      `DELETE FROM ${this.stateTable} WHERE member_key IN (SELECT member_key FROM ${this.planTable} WHERE ${removed})`,
      `INSERT INTO ${this.stateTable} (member_key${cols.length ? ', ' + cols.join(', ') : ''}, unsent) ` +
        `SELECT member_key${this.columns.length ? ', ' + this.columns.map((c) => this.q(`n_${c}`)).join(', ') : ''}, unsent FROM ${this.planTable} ` +
        `WHERE (op = 'add' AND added_ok) OR (op = 'change' AND removed_ok AND added_ok)`,
    ];
  }

  /** Rows of the plan not delivered, by op (what the next run will re-send). */
  countUndelivered(options: { addOnly: boolean }): string {
    const notRemoved = options.addOnly ? 'FALSE' : `(op IN ('change', 'remove') AND NOT removed_ok)`;
    return `SELECT op, COUNT(*) AS n FROM ${this.planTable} WHERE ${notRemoved} OR (op IN ('add', 'change') AND NOT added_ok) GROUP BY op`;
  }

  /** Hash-free samples of planned member keys (the API hashes identifiers itself). */
  samplePlan(): string {
    const cols = this.columns.flatMap((c) => [this.q(`n_${c}`), this.q(`o_${c}`)]);
    return `SELECT op, member_key${cols.length ? ', ' + cols.join(', ') : ''} FROM ${this.planTable} WHERE op = $1 ORDER BY member_key LIMIT $2`;
  }

  /** Current state rows (tests and audits). */
  stateRows(): string {
    return `SELECT member_key${this.columns.length ? ', ' + this.columns.map((c) => this.q(c)).join(', ') : ''} FROM ${this.stateTable} ORDER BY member_key`;
  }
}
