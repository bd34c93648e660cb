/**
 * EXPLAIN ANALYZE of the sync engine's plan-page read and delivered mark (sync-sql.ts, as of
 * 05a6f6c) next to row-comparison variants, on a live plan table of the sync benchmark (run it
 * while a large sync of tests/bench/sync/run.ts is sending; it waits up to 2 min for a table in
 * schema syncbench_state, and rolls its UPDATEs back):
 *
 *   node --import tsx tests/bench/sync/explain-probe.ts postgres://postgres:audiences@127.0.0.1:<port>/audiences
 */
import pg from 'pg';
const url = process.argv[2]!;
const c = new pg.Client({ connectionString: url });
await c.connect();
for (let i = 0; i < 600; i++) {
  const { rows } = await c.query(`select table_name from information_schema.tables where table_schema = 'syncbench_state' and table_name like 'syncplan_%'`);
  if (rows.length) {
    const t = `syncbench_state."${rows[0].table_name}"`;
    const n = (await c.query(`select count(*)::int as n, max(member_key) as mx from ${t} where op = 'add'`)).rows[0];
    const mid = (await c.query(`select member_key from ${t} where op = 'add' order by member_key offset ${Math.floor(n.n * 0.9)} limit 1`)).rows[0].member_key;
    console.log('plan table', t, 'add rows', n.n, 'after key (90%)', mid);
    const show = async (label: string, sql: string, params: unknown[]) => {
      const r = await c.query(`explain (analyze, buffers, costs off) ${sql}`, params);
      console.log(`--- ${label}\n` + r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n'));
    };
    await c.query('begin');
    await show('planPage (as in sync-sql.ts), page at 90%', `SELECT op, member_key, n_email AS email FROM ${t} WHERE op IN ('add', 'change') AND (op > $1 OR (op = $1 AND member_key > $2)) ORDER BY op, member_key LIMIT $3`, ['add', mid, 10000]);
    await show('planPage with a row comparison and op range (no IN)', `SELECT op, member_key, n_email AS email FROM ${t} WHERE (op, member_key) > ($1, $2) AND op <= 'change' ORDER BY op, member_key LIMIT $3`, ['add', mid, 10000]);
    await show('markDelivered (as in sync-sql.ts), 1 row at 90%', `UPDATE ${t} SET added_ok = TRUE WHERE op IN ('add', 'change') AND (op > $1 OR (op = $1 AND member_key >= $2)) AND (op < $3 OR (op = $3 AND member_key <= $4))`, ['add', mid, 'add', mid]);
    await show('markDelivered with row comparisons (no IN), 1 row at 90%', `UPDATE ${t} SET added_ok = TRUE WHERE (op, member_key) >= ($1, $2) AND (op, member_key) <= ($3, $4)`, ['add', mid, 'add', mid]);
    const at = (f: number) => c.query(`select member_key from ${t} where op = 'add' order by member_key offset ${Math.floor(n.n * f)} limit 1`).then((r) => r.rows[0].member_key as string);
    const k0 = await at(0.5); const k1 = await at(0.51);
    await show('markDelivered (as in sync-sql.ts), a 10k page at 50%', `UPDATE ${t} SET added_ok = TRUE WHERE op IN ('add', 'change') AND (op > $1 OR (op = $1 AND member_key >= $2)) AND (op < $3 OR (op = $3 AND member_key <= $4))`, ['add', k0, 'add', k1]);
    await show('markDelivered with row comparisons (no IN), a 10k page at 50%', `UPDATE ${t} SET added_ok = TRUE WHERE (op, member_key) >= ($1, $2) AND (op, member_key) <= ($3, $4)`, ['add', k0, 'add', k1]);
    await show('planPage (as in sync-sql.ts), page at 10%', `SELECT op, member_key, n_email AS email FROM ${t} WHERE op IN ('add', 'change') AND (op > $1 OR (op = $1 AND member_key > $2)) ORDER BY op, member_key LIMIT $3`, ['add', await at(0.1), 10000]);
    await show('planPage with a row comparison and op range (no IN), page at 10%', `SELECT op, member_key, n_email AS email FROM ${t} WHERE (op, member_key) > ($1, $2) AND op <= 'change' ORDER BY op, member_key LIMIT $3`, ['add', await at(0.1), 10000]);
    await c.query('rollback');
    break;
  }
  await new Promise((r) => setTimeout(r, 200));
}
await c.end();
