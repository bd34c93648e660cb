/**
 * Where the refresh's "fill snapshot" step loses to the hand-written baseline on Postgres: the
 * statement shape (CREATE TABLE + INSERT … SELECT, the service's, vs CREATE TABLE … AS, the
 * baseline's) or the query text (compiled snapshot SELECT vs hand-written). Times the four
 * combinations and the SELECTs alone in rotation, each in its own transaction after a CHECKPOINT,
 * then EXPLAIN (ANALYZE, BUFFERS, WAL) of both compiled shapes. Not part of `npm run bench`:
 *
 *   node --import tsx tests/bench/refresh/insert-vs-ctas.ts          # N=1000000 RUNS=3
 */
import pg from 'pg';
import { compileRule } from '../../../src/compiler/compile';
import { compilerModelOf } from '../../../src/compiler/compiler-model';
import { postgresDialect } from '../../../src/compiler/dialects/postgres';
import { baselineStatements } from './baseline';
import { createCustomersSql, insertCustomersSql, modelDefinition, SEGMENT_RULE } from './data';
import { startBenchPostgres } from './pg-server';
const N = Number(process.env.N ?? 1000000);
const server = await startBenchPostgres();
const c = new pg.Client({ connectionString: server.url, options: '-c TimeZone=UTC' }); await c.connect();
try {
  for (const s of createCustomersSql('postgres', 'd')) await c.query(s);
  for (let f = 1; f <= N; f += 500_000) await c.query(insertCustomersSql('postgres', 'd', f, Math.min(N, f + 499999)));
  await c.query('VACUUM (FREEZE, ANALYZE) d.customers'); await c.query('CHECKPOINT');
  const def = modelDefinition('m', 'd');
  const kinds: Array<[string, string]> = [...Object.entries(def.identifiers as Record<string, string>), ['consent_ad_user_data', 'consent_ad_user_data'], ['consent_ad_personalization', 'consent_ad_personalization']];
  const compiled = compileRule({ rule: SEGMENT_RULE, model: compilerModelOf(def), dialect: 'postgres', asOf: new Date(), select: { kind: 'snapshot', columns: kinds.map(([k, col]) => ({ column: col, as: k })) } });
  const params = compiled.params.map((p) => postgresDialect.driverValue(p));
  const hand = baselineStatements({ engine: 'postgres', schema: 's', dataSchema: 'd', newTable: 'x', previousTable: null, segmentId: 'x', runId: 'x', at: new Date().toISOString(), identifiers: kinds })[0]!.sql.replace(/^CREATE TABLE "s"\."x" AS /, '');
  await c.query('CREATE SCHEMA s');
  const cols = ['member_key', ...kinds.map(([k]) => k), 'fingerprint'];
  const create = `CREATE TABLE s.x (${cols.map((k) => `"${k}" text${k === 'member_key' || k === 'fingerprint' ? ' NOT NULL' : ''}`).join(', ')})`;
  const shapes: Array<[string, string[], unknown[]]> = [
    ['CTAS hand-written select', [`CREATE TABLE s.x AS ${hand}`], []],
    ['CTAS compiled select', [`CREATE TABLE s.x AS ${compiled.sql}`], params],
    ['CREATE + INSERT compiled select (service)', [create, `INSERT INTO s.x (${cols.map((k) => `"${k}"`).join(', ')}) ${compiled.sql}`], params],
    ['CREATE + INSERT hand-written select', [create, `INSERT INTO s.x (${cols.map((k) => `"${k}"`).join(', ')}) ${hand}`], []],
    ['SELECT count(*) of compiled select (no write)', [`SELECT count(*) FROM (${compiled.sql}) q`], params],
    ['SELECT count(*) of hand-written select (no write)', [`SELECT count(*) FROM (${hand}) q`], []],
  ];
  const times: Record<string, number[]> = {};
  for (let r = 0; r < Number(process.env.RUNS ?? 3); r++) for (const [name, stmts, p] of shapes) {
    await c.query('CHECKPOINT');
    const t = performance.now();
    await c.query('BEGIN');
    for (const s of stmts) await c.query(s, s.includes('$1') ? p : []);
    await c.query('COMMIT');
    (times[name] ??= []).push(performance.now() - t);
    await c.query('DROP TABLE IF EXISTS s.x');
  }
  for (const [k, v] of Object.entries(times)) console.log(k.padEnd(50), v.map((x) => x.toFixed(0)).join(' / '), 'median', [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!.toFixed(0));
  const ex = await c.query(`EXPLAIN (ANALYZE, VERBOSE, BUFFERS, WAL) CREATE TABLE s.y AS ${compiled.sql}`, params); console.log(ex.rows.map((r) => r['QUERY PLAN']).join('\n'));
  await c.query(create.replace('s.x', 's.z'));
  const ex2 = await c.query(`EXPLAIN (ANALYZE, VERBOSE, BUFFERS, WAL) INSERT INTO s.z ${compiled.sql}`, params); console.log(ex2.rows.map((r) => r['QUERY PLAN']).join('\n'));
} finally { await c.end(); await server.stop(); }
