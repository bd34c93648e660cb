import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDirectory, formatPlan, PartialApplyError, type ApplyOptions } from '../../src/as-code/apply';
import type { AuditEvent } from '../../src/audit/audit-log';
import { exportDirectory, type ExportResult } from '../../src/as-code/export';
import { DefinitionFileError } from '../../src/as-code/load-definitions';
import { loadConfig } from '../../src/config';
import { seedDemo } from '../../src/demo/seed-demo';
import { DEMO_SCHEMA, openRuntime, type Runtime } from '../../src/runtime';
import { ACCOUNT, APP_SECRET, TOKEN } from '../destinations/meta/helpers';
import { GraphApiFake } from '../fakes/graph-api-fake';
import { createTestDatabase } from '../support/test-database';
import { DEMO_KINDS, REPO_ROOT, SEGMENTS_DIR } from '../support/test-service';

/**
 * Audiences as code end to end on the services: objects made through them (a Meta destination
 * against the Graph API fake, a file destination, syncs, an in_segment segment) are exported, the
 * export applies as a no-op, an edited file is exactly that update, a removed file is kept or
 * pruned, and bad files (a pasted secret, a missing variable, an unknown segment) write nothing.
 */

const TOKEN_VAR = 'AUDIENCES_DEST_META_ADS_ACCESS_TOKEN';
const SECRET_VAR = 'AUDIENCES_DEST_META_ADS_APP_SECRET';
const ROTATED = `EAAJrotatedToken${'Xy7'.repeat(30)}`;

let fake: GraphApiFake;
let runtime: Runtime;
let tmp: string;
let dropDatabase: () => Promise<void>;
let exported: ExportResult;
let exportDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  fake = new GraphApiFake();
  await fake.start();
  fake.addAccount({ id: ACCOUNT, name: 'Acme Retail' });
  fake.validTokens.add(TOKEN);
  fake.validTokens.add(ROTATED);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'audiences-as-code-'));
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  const config = loadConfig({
    DATABASE_URL: database.url, LOG_LEVEL: 'silent', META_GRAPH_URL: fake.url,
    AUDIENCES_ENCRYPTION_KEY: randomBytes(32).toString('base64'), FILE_DESTINATION_ROOT: path.join(tmp, 'exports'),
  }, REPO_ROOT);
  runtime = await openRuntime(config, { log: () => {} });
  await seedDemo(runtime.warehouse, { schema: DEMO_SCHEMA, customers: 300, anchor: new Date('2026-11-01T00:00:00Z') });
  await applyDirectory({ dir: SEGMENTS_DIR, services: runtime, defaultSchema: runtime.warehouse.defaultSchema, kinds: DEMO_KINDS });

  await runtime.segments.create({ slug: 'us-vip', name: 'US VIPs', model: 'customers', rule: { and: [{ in_segment: ['us-high-value'] }, { '==': [{ var: 'plan' }, 'enterprise'] }] } });
  await runtime.destinations.create({
    slug: 'meta-ads', name: 'Meta ads', kind: 'meta_custom_audience', config: { adAccountId: ACCOUNT }, credentials: { accessToken: TOKEN, appSecret: APP_SECRET },
  });
  await runtime.destinations.create({ slug: 'files', name: 'Files', kind: 'file', config: { directory: 'out' } });
  await runtime.syncs.create({
    slug: 'hv-meta', name: 'High value → Meta', segment: 'us-high-value', destination: 'meta-ads', mapping: { email: 'email', phone: 'phone' },
    options: { removalThreshold: 0.5 }, schedule: { type: 'cron', cron: '0 6 * * *', timezone: 'Europe/Berlin' },
  });
  await runtime.syncs.create({ slug: 'lapsed-files', name: 'Lapsed → files', segment: 'lapsed-customers', destination: 'files', mapping: { email: 'email' }, schedule: { type: 'after_refresh' } });

  exportDir = path.join(tmp, 'defs');
  exported = await exportDirectory({ dir: exportDir, services: runtime, defaultSchema: runtime.warehouse.defaultSchema });
  env = { [TOKEN_VAR]: TOKEN, [SECRET_VAR]: APP_SECRET };
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await dropDatabase?.();
  await fake?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** A copy of the export to edit. */
async function copyOfExport(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.cp(exportDir, dir, { recursive: true });
  return dir;
}

async function editJson(file: string, edit: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  await fs.writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
}

function apply(dir: string, options: Partial<ApplyOptions> = {}) {
  return applyDirectory({ dir, services: runtime, defaultSchema: runtime.warehouse.defaultSchema, env, ...options });
}

let applies = 0;

/** Applies as an actor of its own; resolves to the plan and the audit events its writes recorded, oldest first. */
async function auditedApply(dir: string, options: Partial<ApplyOptions> = {}): Promise<{ plan: Awaited<ReturnType<typeof apply>>; events: AuditEvent[] }> {
  const actor = `test:apply-${++applies}`;
  const plan = await apply(dir, { ...options, audit: { actor: { tokenId: null, name: actor } } });
  return { plan, events: await auditEventsOf(actor) };
}

async function auditEventsOf(actor: string): Promise<AuditEvent[]> {
  const { data } = await runtime.audit.list({}, { limit: 200 });
  return data.filter((e) => e.actor.name === actor).reverse();
}

async function refusal(work: Promise<unknown>): Promise<DefinitionFileError> {
  const error = await work.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DefinitionFileError);
  return error as DefinitionFileError;
}

const changes = (plan: Awaited<ReturnType<typeof apply>>) => plan.filter((e) => e.action !== 'unchanged').map((e) => ({ action: e.action, kind: e.kind, slug: e.slug, fields: e.fields }));

/** A fingerprint of what the service holds: every object's slug and version. */
async function versions(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [kind, list] of [
    ['model', runtime.models.list({ limit: 200 })], ['segment', runtime.segments.list({ limit: 200 })],
    ['destination', runtime.destinations.list({ limit: 200 })], ['sync', runtime.syncs.list({ limit: 200 })],
  ] as const) for (const item of (await list).data) out[`${kind} ${item.slug}`] = item.version;
  return out;
}

describe('export', () => {
  it('writes one file per object, credentials as environment references, and names the variables', async () => {
    const names = (await fs.readdir(exportDir)).filter((n) => n.endsWith('.json')).sort();
    const segments = (await runtime.segments.list({ limit: 200 })).data.map((s) => `${s.slug}.segment.json`);
    expect(names).toEqual([
      'customers.model.json', 'files.destination.json', 'hv-meta.sync.json', 'lapsed-files.sync.json', 'meta-ads.destination.json', ...segments,
    ].sort());
    expect(exported.files).toHaveLength(names.length);
    expect(exported.envVars).toEqual([
      { name: TOKEN_VAR, destination: 'meta-ads', field: 'accessToken' },
      { name: SECRET_VAR, destination: 'meta-ads', field: 'appSecret' },
    ].sort((a, b) => a.field.localeCompare(b.field)));

    const meta = JSON.parse(await fs.readFile(path.join(exportDir, 'meta-ads.destination.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(meta)).toEqual(['$schema', 'slug', 'name', 'kind', 'config', 'credentials']);
    expect(meta.credentials).toEqual({ accessToken: { env: TOKEN_VAR }, appSecret: { env: SECRET_VAR } });
    for (const name of names) {
      const text = await fs.readFile(path.join(exportDir, name), 'utf8');
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(APP_SECRET);
      expect(text, name).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    }
    const sync = JSON.parse(await fs.readFile(path.join(exportDir, 'hv-meta.sync.json'), 'utf8')) as Record<string, unknown>;
    expect(sync).toMatchObject({ $schema: './schema/sync.schema.json', segment: 'us-high-value', destination: 'meta-ads', schedule: { type: 'cron', cron: '0 6 * * *', timezone: 'Europe/Berlin' } });
    expect(Object.keys(sync)).toEqual(['$schema', 'slug', 'name', 'segment', 'destination', 'mapping', 'options', 'schedule', 'enabled']);
    expect(await fs.readdir(path.join(exportDir, 'schema'))).toEqual(expect.arrayContaining(['destination.schema.json', 'sync.schema.json']));
  });

  it('is stable: a second export writes the same bytes; a non-empty directory needs --force', async () => {
    const again = path.join(tmp, 'defs-again');
    await exportDirectory({ dir: again, services: runtime, defaultSchema: runtime.warehouse.defaultSchema });
    for (const file of exported.files) expect(await fs.readFile(path.join(again, path.basename(file)), 'utf8')).toBe(await fs.readFile(file, 'utf8'));

    await fs.writeFile(path.join(again, 'stale.segment.json'), '{}');
    await expect(exportDirectory({ dir: again, services: runtime, defaultSchema: runtime.warehouse.defaultSchema })).rejects.toThrow(/already holds definition files.*--force/);
    await exportDirectory({ dir: again, services: runtime, defaultSchema: runtime.warehouse.defaultSchema, force: true });
    await expect(fs.access(path.join(again, 'stale.segment.json'))).rejects.toThrow();
  });
});

describe('apply after export', () => {
  it('changes nothing, dry run or not', async () => {
    const before = await versions();
    const dry = await apply(exportDir, { dryRun: true });
    expect(changes(dry)).toEqual([]);
    expect(dry).toHaveLength(exported.files.length);
    const { plan, events } = await auditedApply(exportDir);
    expect(changes(plan)).toEqual([]);
    expect(events).toEqual([]);
    expect(await versions()).toEqual(before);
  });

  it('an edited segment is exactly that update, with the fields it changes', async () => {
    const dir = await copyOfExport('edited');
    await editJson(path.join(dir, 'us-high-value.segment.json'), (json) => {
      json.tags = ['demo', 'value', 'edited'];
      json.rule = { and: [{ '==': [{ var: 'country' }, 'US'] }, { '>': [{ var: 'ltv' }, 600] }] };
    });
    const dry = await apply(dir, { dryRun: true });
    expect(changes(dry)).toEqual([{ action: 'update', kind: 'segment', slug: 'us-high-value', fields: ['rule', 'tags'] }]);
    expect(formatPlan(dry, { dryRun: true, dir: 'edited/' }).replace(/ +/g, ' ')).toContain('would update segment us-high-value (rule, tags) (');

    const { plan, events } = await auditedApply(dir);
    expect(changes(plan)).toEqual(changes(dry));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'segment.update', resource: { type: 'segment', slug: 'us-high-value' },
      before: { version: 1, tags: ['demo', 'value'] }, after: { version: 2, tags: ['demo', 'edited', 'value'] },
    });
    expect(changes(await apply(dir))).toEqual([]);
    // The export applied again puts the segment back, for the tests after this.
    expect(changes(await apply(exportDir))).toEqual(changes(dry));
  });

  it('a write whose audit event cannot be written is rolled back and stops the apply; the error says what was written before it', async () => {
    const dir = await copyOfExport('audit-fails');
    await editJson(path.join(dir, 'lapsed-customers.segment.json'), (json) => { json.name = 'Renamed and audited'; });
    await editJson(path.join(dir, 'us-high-value.segment.json'), (json) => { json.name = 'Never renamed'; });
    await editJson(path.join(dir, 'us-vip.segment.json'), (json) => { json.name = 'Never reached'; });
    // The audit log refuses the second write's event (as a full disk or a lost connection would).
    await runtime.db.raw(`
      create function refuse_us_high_value_audit() returns trigger language plpgsql as $$
      begin if new.resource_slug = 'us-high-value' then raise exception 'audit log unavailable'; end if; return new; end $$;
      create trigger refuse_us_high_value_audit before insert on audit_events for each row execute function refuse_us_high_value_audit();`);
    let error: unknown;
    let events: AuditEvent[];
    try {
      error = await apply(dir, { audit: { actor: { tokenId: null, name: 'test:audit-fails' } } }).then(() => undefined, (e: unknown) => e);
      events = await auditEventsOf('test:audit-fails');
    } finally {
      await runtime.db.raw('drop trigger refuse_us_high_value_audit on audit_events; drop function refuse_us_high_value_audit();');
    }
    expect(error).toBeInstanceOf(PartialApplyError);
    const partial = error as PartialApplyError;
    expect(partial.failure.message).toContain('audit log unavailable');
    // Writes go in file order: the first one happened with its record; the second was undone with its record; the third never ran.
    expect(partial.applied.map((e) => `${e.action} ${e.kind} ${e.slug}`)).toEqual(['update segment lapsed-customers']);
    expect(events.map((e) => `${e.action} ${e.resource.slug}`)).toEqual(['segment.update lapsed-customers']);
    expect((await runtime.segments.get('lapsed-customers')).name).toBe('Renamed and audited');
    const untouched = await runtime.segments.get('us-high-value');
    expect(untouched.name).not.toBe('Never renamed');
    expect((await runtime.segments.versions('us-high-value', { limit: 200 })).data.map((v) => v.version)).toContain(untouched.version);
    expect((await runtime.segments.versions('us-high-value', { limit: 200 })).data.every((v) => v.version <= untouched.version)).toBe(true);
    expect((await runtime.segments.get('us-vip')).name).not.toBe('Never reached');
    expect(changes(await apply(exportDir)).map((c) => c.slug)).toEqual(['lapsed-customers']);
  });

  it('rotated credentials are an update of `credentials` only, never printed or passed on', async () => {
    const rotated = { ...env, [TOKEN_VAR]: ROTATED };
    const dry = await apply(exportDir, { dryRun: true, env: rotated });
    expect(changes(dry)).toEqual([{ action: 'update', kind: 'destination', slug: 'meta-ads', fields: ['credentials'] }]);
    const { plan, events } = await auditedApply(exportDir, { env: rotated });
    const output = `${formatPlan(plan, { dryRun: false })}${JSON.stringify(events)}${JSON.stringify(plan)}`;
    expect(output).not.toContain(ROTATED);
    expect(output).not.toContain(TOKEN);
    expect(events.map((e) => [e.action, e.resource.slug])).toEqual([['destination.replace', 'meta-ads']]);
    // The event says which credential fields were set, not what they were.
    expect(events[0]!.after).toMatchObject({ credentials: { accessToken: '[redacted]', appSecret: '[redacted]' } });
    expect(await runtime.destinations.credentialsEqual('meta-ads', { accessToken: ROTATED, appSecret: APP_SECRET })).toBe(true);
    // The new token works against the platform; then back to the first one, for the tests after this.
    expect((await runtime.destinations.test('meta-ads')).ok).toBe(true);
    expect(changes(await apply(exportDir, { env }))).toEqual([{ action: 'update', kind: 'destination', slug: 'meta-ads', fields: ['credentials'] }]);
  });
});

describe('objects not in the directory', () => {
  it('are listed as kept without --prune, and deleted with it: syncs before the segments they use', async () => {
    const dir = await copyOfExport('removed');
    await fs.rm(path.join(dir, 'hv-meta.sync.json'));
    await fs.rm(path.join(dir, 'us-vip.segment.json'));
    const kept = await apply(dir);
    expect(changes(kept)).toEqual([
      { action: 'keep', kind: 'sync', slug: 'hv-meta', fields: undefined },
      { action: 'keep', kind: 'segment', slug: 'us-vip', fields: undefined },
    ]);
    expect(formatPlan(kept, { dryRun: false, dir: 'removed/' }).replace(/ +/g, ' ')).toContain('not in removed/ sync hv-meta (kept; --prune deletes)');
    expect((await runtime.syncs.get('hv-meta')).slug).toBe('hv-meta');

    const dry = await apply(dir, { dryRun: true, prune: true });
    expect(changes(dry).map((c) => `${c.action} ${c.kind} ${c.slug}`)).toEqual(['delete sync hv-meta', 'delete segment us-vip']);
    const { events } = await auditedApply(dir, { prune: true });
    expect(events.map((e) => [e.action, e.resource.slug, e.after])).toEqual([['sync.delete', 'hv-meta', null], ['segment.delete', 'us-vip', null]]);
    expect(events[0]!.before).toMatchObject({ slug: 'hv-meta', destination: 'meta-ads' });
    await expect(runtime.syncs.get('hv-meta')).rejects.toMatchObject({ status: 404 });
    await expect(runtime.segments.get('us-vip')).rejects.toMatchObject({ status: 404 });
    expect(changes(await apply(dir, { prune: true }))).toEqual([]);
  });

  it('--prune refuses, before writing, to delete what a remaining file uses', async () => {
    const dir = await copyOfExport('destination-removed');
    await fs.rm(path.join(dir, 'files.destination.json'));
    const error = await refusal(apply(dir, { prune: true, dryRun: true }));
    expect(error.file).toMatch(/lapsed-files\.sync\.json$/);
    expect(error.errors).toEqual([{ pointer: '/destination', message: expect.stringContaining('--prune would delete it, but this sync uses it') }]);
  });

  it('the services answer 409 for a segment or destination a sync uses', async () => {
    await expect(runtime.segments.delete('lapsed-customers')).rejects.toMatchObject({ status: 409, message: expect.stringContaining('lapsed-files') });
    await expect(runtime.destinations.delete('files')).rejects.toMatchObject({ status: 409, message: expect.stringContaining('lapsed-files') });
  });
});

describe('bad files change nothing', () => {
  it('a literal secret is an error at its pointer that does not repeat it', async () => {
    const dir = await copyOfExport('literal-secret');
    await editJson(path.join(dir, 'meta-ads.destination.json'), (json) => { json.credentials = { accessToken: TOKEN, appSecret: { env: SECRET_VAR } }; });
    const error = await refusal(apply(dir, { dryRun: true }));
    expect(error.file).toMatch(/meta-ads\.destination\.json$/);
    expect(error.errors).toEqual([{ pointer: '/credentials/accessToken', message: expect.stringContaining(`{"env": "${TOKEN_VAR}"}`) }]);
    expect(`${error.message}${JSON.stringify(error.errors)}`).not.toContain(TOKEN);
  });

  it('a missing environment variable is an error naming it', async () => {
    const error = await refusal(apply(exportDir, { env: { [SECRET_VAR]: APP_SECRET } }));
    expect(error.file).toMatch(/meta-ads\.destination\.json$/);
    expect(error.errors).toEqual([{ pointer: '/credentials/accessToken/env', message: `environment variable ${TOKEN_VAR} is not set` }]);
  });

  it('a sync of an unknown segment: nothing is written, not even the valid files next to it', async () => {
    const before = await versions();
    const dir = await copyOfExport('unknown-segment');
    await editJson(path.join(dir, 'us-high-value.segment.json'), (json) => { json.name = 'Renamed, but never applied'; });
    await fs.writeFile(path.join(dir, 'brand-new.segment.json'), JSON.stringify({ slug: 'brand-new', name: 'Brand new', model: 'customers', rule: { '==': [{ var: 'plan' }, 'pro'] } }));
    await fs.writeFile(path.join(dir, 'more-files.destination.json'), JSON.stringify({ slug: 'more-files', name: 'More files', kind: 'file', config: { directory: 'more' } }));
    await fs.writeFile(path.join(dir, 'zz-orphan.sync.json'), JSON.stringify({ slug: 'zz-orphan', name: 'Orphan', segment: 'no-such-segment', destination: 'files', mapping: { email: 'email' } }));
    const error = await refusal(apply(dir));
    expect(error.file).toMatch(/zz-orphan\.sync\.json$/);
    expect(error.errors).toEqual([{ pointer: '/segment', message: expect.stringContaining('segment "no-such-segment" is neither in') }]);
    expect(await versions()).toEqual(before);
  });

  it('a sync cannot be moved to another segment: an error saying what to do instead', async () => {
    const dir = await copyOfExport('moved-sync');
    await editJson(path.join(dir, 'lapsed-files.sync.json'), (json) => { json.segment = 'us-high-value'; });
    const error = await refusal(apply(dir, { dryRun: true }));
    expect(error.errors![0]).toMatchObject({ pointer: '/segment', message: expect.stringMatching(/cannot change from "lapsed-customers" to "us-high-value".*new slug/) });
  });

  it('a mapping the platform does not take is refused by the sync service\'s own check', async () => {
    const dir = await copyOfExport('bad-mapping');
    await editJson(path.join(dir, 'lapsed-files.sync.json'), (json) => { json.mapping = { email: 'email', shoe_size: 'email' }; });
    const error = await refusal(apply(dir, { dryRun: true }));
    expect(error.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer: '/mapping/shoe_size' })]));
  });

});
