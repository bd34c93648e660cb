import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../src/demo/seed-demo';
import { createWarehouse } from '../../src/warehouse/create-warehouse';
import { createTestDatabase } from '../support/test-database';
import { runCli, type CliRun } from '../support/run-cli';

/**
 * The `audiences` CLI as a user runs it (`node src/bin.mjs …` from the repository root) against a
 * metadata database of its own (DATABASE_URL); the warehouse is then that database's `demo` schema.
 */

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const SEGMENTS_DIR = path.join(REPO_ROOT, 'segments');
const ANCHOR = new Date('2026-11-01T00:00:00Z');

type Run = CliRun;

type TestDatabase = Awaited<ReturnType<typeof createTestDatabase>>;

let tmp: string;
/** DATA_DIR points here; with DATABASE_URL set nothing may ever create it (no embedded Postgres). */
let unusedDataDir: string;
let segmentSlugs: string[];
let definitionCount: number;
const databases: TestDatabase[] = [];
const clients: pg.Client[] = [];

function cli(args: string[], databaseUrl?: string): Promise<Run> {
  return runCli(args, { DATA_DIR: unusedDataDir, FILE_DESTINATION_ROOT: path.join(tmp, 'exports'), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) });
}

/** A migrated-or-not metadata database with a seeded demo warehouse, and a pg client on it. */
async function seededDatabase(): Promise<{ url: string; client: pg.Client }> {
  const database = await createTestDatabase();
  databases.push(database);
  const warehouse = createWarehouse(database.url, { defaultSchema: 'demo' });
  try {
    await seedDemo(warehouse, { schema: 'demo', customers: 300, anchor: ANCHOR });
  } finally {
    await warehouse.close();
  }
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  clients.push(client);
  return { url: database.url, client };
}

async function count(client: pg.Client, table: string): Promise<number> {
  const exists = await client.query<{ found: boolean }>('select to_regclass($1) is not null as found', [`public.${table}`]);
  if (!exists.rows[0]?.found) return 0;
  const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from public.${table}`);
  return rows[0]!.n;
}

async function copySegments(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.cp(SEGMENTS_DIR, dir, { recursive: true });
  return dir;
}

async function editJson(file: string, edit: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  await fs.writeFile(file, JSON.stringify(json, null, 2));
}

const planLines = (stdout: string, verb: string) =>
  stdout.split('\n').filter((line) => line.startsWith(`${verb} `)).map((line) => line.replace(/\s+/g, ' ').trim());

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-cli-'));
  unusedDataDir = path.join(tmp, 'data-dir-must-not-exist');
  const files = (await fs.readdir(SEGMENTS_DIR)).filter((f) => /\.(model|segment|destination|sync)\.json$/.test(f));
  definitionCount = files.length;
  segmentSlugs = [];
  for (const file of files.filter((f) => f.endsWith('.segment.json'))) {
    segmentSlugs.push((JSON.parse(await fs.readFile(path.join(SEGMENTS_DIR, file), 'utf8')) as { slug: string }).slug);
  }
  segmentSlugs.sort();
  expect(segmentSlugs).toContain('us-high-value');
});

afterAll(async () => {
  for (const client of clients) await client.end().catch(() => {});
  for (const database of databases) await database.drop().catch(() => {});
  if (tmp) {
    // With DATABASE_URL set, no command may have started an embedded Postgres in DATA_DIR.
    const dataDirCreated = await fs.access(unusedDataDir).then(() => true, () => false);
    await fs.rm(tmp, { recursive: true, force: true });
    expect(dataDirCreated).toBe(false);
  }
});

describe('usage', () => {
  it('prints usage and exits 2 without a command', async () => {
    const run = await cli([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/^usage: audiences <command>/);
    for (const command of ['serve', 'migrate', 'apply DIR [--dry-run] [--prune]', 'export DIR [--force]', 'openapi', 'schemas']) expect(run.stdout).toContain(command);
  });

  it('rejects an unknown command with exit code 2', async () => {
    const run = await cli(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown command "frobnicate"');
    expect(run.stderr).toContain('usage: audiences <command>');
    expect(run.stdout).toBe('');
  });

  it('rejects apply without a directory with exit code 2', async () => {
    const run = await cli(['apply']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('apply takes one directory');
  });
});

describe('migrate and apply against DATABASE_URL', () => {
  let db: { url: string; client: pg.Client };
  beforeAll(async () => { db = await seededDatabase(); });

  it('migrate succeeds, and again as a no-op', async () => {
    const first = await cli(['migrate'], db.url);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('migrated metadata store: 0001_models_and_segments');
    expect(first.stdout).toContain('metadata store is up to date');

    const second = await cli(['migrate'], db.url);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).not.toContain('migrated metadata store');
    expect(second.stdout).toContain('metadata store is up to date');

    const { rows } = await db.client.query<{ name: string }>('select name from knex_migrations order by id');
    expect(rows.map((r) => r.name)).toEqual(['0001_models_and_segments', '0002_refresh_runs', '0003_destinations', '0004_syncs', '0005_tokens_and_audit', '0006_definition_change_notify', '0007_rate_limit_counts']);
  });

  it('apply --dry-run plans every definition and writes nothing', async () => {
    const run = await cli(['apply', 'segments', '--dry-run'], db.url);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const wouldCreate = planLines(run.stdout, 'would create');
    expect(wouldCreate).toContain('would create model customers (segments/customers.model.json)');
    for (const slug of segmentSlugs) expect(wouldCreate.some((line) => line.startsWith(`would create segment ${slug} (`))).toBe(true);
    expect(wouldCreate).toContain('would create destination demo-files (segments/demo-files.destination.json)');
    expect(wouldCreate).toContain('would create sync us-high-value-to-files (segments/us-high-value-to-files.sync.json)');
    expect(wouldCreate).toHaveLength(definitionCount);
    expect(run.stdout).toContain(`plan: ${definitionCount} to create, 0 to update, 0 unchanged (dry run: nothing was changed)`);
    expect(await count(db.client, 'syncs')).toBe(0);

    expect(await count(db.client, 'models')).toBe(0);
    expect(await count(db.client, 'segments')).toBe(0);
    expect(await count(db.client, 'segment_versions')).toBe(0);
  });

  it('apply creates the model and every segment', async () => {
    const run = await cli(['apply', 'segments'], db.url);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const created = planLines(run.stdout, 'created');
    expect(created).toContain('created model customers (segments/customers.model.json)');
    for (const slug of segmentSlugs) expect(created.some((line) => line.startsWith(`created segment ${slug} (`))).toBe(true);
    expect(created).toHaveLength(definitionCount);
    expect(run.stdout.trimEnd().split('\n').pop()).toBe(`applied: ${definitionCount} created, 0 updated, 0 unchanged`);

    const { rows } = await db.client.query<{ slug: string; version: number }>('select slug, version from segments order by slug');
    expect(rows).toEqual(segmentSlugs.map((slug) => ({ slug, version: 1 })));
    expect(await count(db.client, 'models')).toBe(1);
    expect(await count(db.client, 'segment_versions')).toBe(segmentSlugs.length);
    const syncs = await db.client.query<{ slug: string; schedule: unknown }>('select slug, schedule from syncs order by slug');
    expect(syncs.rows).toEqual([
      { slug: 'lapsed-customers-to-files', schedule: { type: 'after_refresh' } },
      { slug: 'us-high-value-to-files', schedule: { type: 'cron', cron: '*/5 * * * *', timezone: 'UTC' } },
    ]);
    // Each write is in the audit log, under the API's action names, by `cli:apply`.
    const audit = await db.client.query<{ actor: string; action: string; resource_slug: string }>('select actor, action, resource_slug from audit_events order by id');
    expect(audit.rows).toHaveLength(definitionCount);
    expect(new Set(audit.rows.map((r) => r.actor))).toEqual(new Set(['cli:apply']));
    expect(audit.rows.map((r) => r.action)).toContain('segment.create');
    expect(audit.rows.find((r) => r.action === 'sync.create' && r.resource_slug === 'us-high-value-to-files')).toBeDefined();
  });

  it('a second apply changes nothing', async () => {
    const run = await cli(['apply', 'segments'], db.url);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(planLines(run.stdout, 'unchanged')).toHaveLength(definitionCount);
    expect(planLines(run.stdout, 'created')).toEqual([]);
    expect(planLines(run.stdout, 'updated')).toEqual([]);
    expect(run.stdout).toContain(`applied: 0 created, 0 updated, ${definitionCount} unchanged`);
    expect(await count(db.client, 'audit_events')).toBe(definitionCount);
    expect(await count(db.client, 'segments')).toBe(segmentSlugs.length);
    expect(await count(db.client, 'segment_versions')).toBe(segmentSlugs.length);
  });

  it('a changed segment is the only one updated, and gets version 2', async () => {
    const dir = await copySegments('renamed');
    await editJson(path.join(dir, 'us-high-value.segment.json'), (json) => { json.name = 'US high-value customers (renamed)'; });

    const dry = await cli(['apply', dir, '--dry-run'], db.url);
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(planLines(dry.stdout, 'would update').map((line) => line.split(' (')[0])).toEqual(['would update segment us-high-value']);
    expect(dry.stdout).toContain(`plan: 0 to create, 1 to update, ${definitionCount - 1} unchanged`);

    const run = await cli(['apply', dir], db.url);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const updated = planLines(run.stdout, 'updated');
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatch(/^updated segment us-high-value \(.*us-high-value\.segment\.json\)$/);
    expect(planLines(run.stdout, 'created')).toEqual([]);
    expect(run.stdout).toContain(`applied: 0 created, 1 updated, ${definitionCount - 1} unchanged`);

    const versions = await db.client.query<{ slug: string; version: number; name: string }>(
      'select slug, version, name from segment_versions where version > 1 order by slug, version',
    );
    expect(versions.rows).toEqual([{ slug: 'us-high-value', version: 2, name: 'US high-value customers (renamed)' }]);
    const current = await db.client.query<{ version: number; name: string }>("select version, name from segments where slug = 'us-high-value'");
    expect(current.rows).toEqual([{ version: 2, name: 'US high-value customers (renamed)' }]);

    // Applying the same directory again is a no-op.
    const again = await cli(['apply', dir], db.url);
    expect(again.stdout).toContain(`applied: 0 created, 0 updated, ${definitionCount} unchanged`);
    expect(await count(db.client, 'segment_versions')).toBe(segmentSlugs.length + 1);
  });

  it('a directory with a bad file does not update the valid ones next to it', async () => {
    const dir = await copySegments('renamed-again-with-bad-file');
    await editJson(path.join(dir, 'us-high-value.segment.json'), (json) => { json.name = 'Renamed once more'; });
    await fs.writeFile(path.join(dir, 'zz-broken.segment.json'), JSON.stringify({ slug: 'zz-broken', name: 'Broken', model: 'customers', rule: { '==': [{ var: 'contry' }, 'US'] } }));
    const run = await cli(['apply', dir], db.url);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('zz-broken.segment.json');
    expect(await count(db.client, 'segment_versions')).toBe(segmentSlugs.length + 1);
    const current = await db.client.query<{ version: number }>("select version from segments where slug = 'us-high-value'");
    expect(current.rows).toEqual([{ version: 2 }]);
  });
});

describe('apply with an invalid file changes nothing', () => {
  let db: { url: string; client: pg.Client };
  beforeAll(async () => { db = await seededDatabase(); });

  async function expectNothingWritten() {
    expect(await count(db.client, 'models')).toBe(0);
    expect(await count(db.client, 'segments')).toBe(0);
    expect(await count(db.client, 'segment_versions')).toBe(0);
  }

  it('an unknown attribute in a rule: names the file and the JSON pointer, exits non-zero', async () => {
    const dir = await copySegments('unknown-attribute');
    // Sorted last, so every valid file of the directory is read (and planned) before it.
    await fs.writeFile(path.join(dir, 'zz-typo.segment.json'), JSON.stringify({
      slug: 'zz-typo', name: 'Typo', model: 'customers',
      rule: { and: [{ '==': [{ var: 'plan' }, 'pro'] }, { '==': [{ var: 'contry' }, 'US'] }] },
    }, null, 2));
    const run = await cli(['apply', dir], db.url);
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBe(2);
    expect(run.stdout).not.toMatch(/^(created|updated|applied)/m);
    expect(run.stderr).toContain('zz-typo.segment.json');
    expect(run.stderr).toContain('/rule/and/1/==/0/var');
    expect(run.stderr).toContain('unknown attribute "contry"');
    await expectNothingWritten();
  });

  it('invalid JSON: names the file and what is wrong, exits non-zero', async () => {
    const dir = await copySegments('invalid-json');
    await fs.writeFile(path.join(dir, 'zz-broken.segment.json'), '{ "slug": "zz-broken", "name": "Broken", }\n');
    const run = await cli(['apply', dir], db.url);
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBe(2);
    expect(run.stdout).not.toMatch(/^(created|updated|applied)/m);
    expect(run.stderr).toContain('zz-broken.segment.json');
    expect(run.stderr).toMatch(/not valid JSON: .*position \d+/);
    await expectNothingWritten();
  });

  it('a schema violation: names the file and the JSON pointer, exits non-zero', async () => {
    const dir = await copySegments('schema-violation');
    await editJson(path.join(dir, 'lapsed-customers.segment.json'), (json) => { json.tags = 'not-an-array'; });
    const run = await cli(['apply', dir], db.url);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('lapsed-customers.segment.json');
    expect(run.stderr).toContain('/tags');
    await expectNothingWritten();

    // The same directory without the bad file applies (so the failures above were the bad files' doing).
    await editJson(path.join(dir, 'lapsed-customers.segment.json'), (json) => { json.tags = ['demo']; });
    const ok = await cli(['apply', dir], db.url);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(await count(db.client, 'segments')).toBe(segmentSlugs.length);
  });
});

describe('export, then apply and --prune', () => {
  let db: { url: string; client: pg.Client };
  let dir: string;
  beforeAll(async () => {
    db = await seededDatabase();
    expect((await cli(['apply', 'segments'], db.url)).code).toBe(0);
    dir = path.join(tmp, 'exported');
  });

  it('export writes every definition; applying it changes nothing', async () => {
    const exported = await cli(['export', dir], db.url);
    expect(exported).toMatchObject({ code: 0, stderr: '' });
    expect(exported.stdout).toContain(`wrote ${definitionCount} definition files to `);
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.json')).sort()).toEqual((await fs.readdir(SEGMENTS_DIR)).filter((f) => /\.(model|segment|destination|sync)\.json$/.test(f)).sort());
    // The demo has no credentials, so no variables to set.
    expect(exported.stdout).not.toContain('environment variables');
    const again = await cli(['export', dir], db.url);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('--force');

    const run = await cli(['apply', dir], db.url);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`applied: 0 created, 0 updated, ${definitionCount} unchanged`);
  });

  it('a removed sync file is kept and listed; --prune --dry-run shows the delete; --prune deletes it', async () => {
    await fs.rm(path.join(dir, 'us-high-value-to-files.sync.json'));
    const kept = await cli(['apply', dir], db.url);
    expect(kept).toMatchObject({ code: 0, stderr: '' });
    expect(planLines(kept.stdout, 'not in')).toEqual(['not in exported/ sync us-high-value-to-files (kept; --prune deletes)'.replace('exported/', `${path.relative(REPO_ROOT, dir)}/`)]);
    expect(kept.stdout).toContain(`applied: 0 created, 0 updated, ${definitionCount - 1} unchanged, 1 not in`);

    const dry = await cli(['apply', dir, '--prune', '--dry-run'], db.url);
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(planLines(dry.stdout, 'would delete').map((l) => l.split(' (')[0])).toEqual(['would delete sync us-high-value-to-files']);
    expect(await count(db.client, 'syncs')).toBe(2);

    const pruned = await cli(['apply', dir, '--prune'], db.url);
    expect(pruned).toMatchObject({ code: 0, stderr: '' });
    expect(planLines(pruned.stdout, 'deleted').map((l) => l.split(' (')[0])).toEqual(['deleted sync us-high-value-to-files']);
    const { rows } = await db.client.query<{ slug: string }>('select slug from syncs');
    expect(rows).toEqual([{ slug: 'lapsed-customers-to-files' }]);
  });

  it('a literal secret in a destination file: the file and the pointer, never the value', async () => {
    const secret = 'EAAJliteralSecretThatMustNotBePrinted';
    await fs.writeFile(path.join(dir, 'meta.destination.json'), JSON.stringify({
      slug: 'meta', name: 'Meta', kind: 'meta_custom_audience', config: { adAccountId: 'act_1' }, credentials: { accessToken: secret },
    }));
    const run = await cli(['apply', dir, '--dry-run'], db.url);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('meta.destination.json');
    expect(run.stderr).toContain('/credentials/accessToken: must be an environment reference like {"env": "AUDIENCES_DEST_META_ACCESS_TOKEN"}');
    expect(`${run.stdout}${run.stderr}`).not.toContain(secret);
  });
});
