import { describe, expect, it } from 'vitest';
import { envVarKey, envVarName, envVarNames, literalSecretProblems, resolveCredentials } from '../../src/as-code/env-references';
import { DefinitionFileError } from '../../src/as-code/load-definitions';
import { formatPlan, planChanges, type CurrentObject, type DesiredObject, type PlanInput } from '../../src/as-code/plan';

/** The apply planner and the credential references: pure, no database. */

const ALL = ['model', 'segment', 'destination', 'sync'] as const;
const plan = (input: Partial<PlanInput>) => planChanges({ desired: [], current: [], kinds: ALL, prune: false, dir: 'defs/', ...input });
const refusal = (input: Partial<PlanInput>): DefinitionFileError => {
  try {
    plan(input);
  } catch (error) {
    if (error instanceof DefinitionFileError) return error;
    throw error;
  }
  throw new Error('the plan was not refused');
};

const segment = (slug: string, content: Record<string, unknown> = {}, refs: string[] = []): DesiredObject => ({
  kind: 'segment', slug, file: `defs/${slug}.segment.json`, content: { slug, name: slug, rule: true, tags: [], ...content },
  refs: [{ kind: 'model', slug: 'customers', pointer: '/model' }, ...refs.map((r) => ({ kind: 'segment' as const, slug: r, pointer: '/rule' }))],
});
const current = (d: DesiredObject, content: Record<string, unknown> = {}): CurrentObject => ({ kind: d.kind, slug: d.slug, content: { ...d.content, ...content }, ...(d.refs ? { refs: d.refs } : {}) });
const model: DesiredObject = { kind: 'model', slug: 'customers', file: 'defs/customers.model.json', content: { slug: 'customers', table: 'customers' } };
const sync: DesiredObject = {
  kind: 'sync', slug: 'vip-meta', file: 'defs/vip-meta.sync.json', content: { slug: 'vip-meta', segment: 'vip', destination: 'meta', enabled: true },
  unmanaged: ['remoteAudienceId'],
  refs: [{ kind: 'segment', slug: 'vip', pointer: '/segment' }, { kind: 'destination', slug: 'meta', pointer: '/destination' }],
};
const destination: DesiredObject = { kind: 'destination', slug: 'meta', file: 'defs/meta.destination.json', content: { slug: 'meta', kind: 'meta_custom_audience', config: {} } };

describe('planChanges', () => {
  it('creates in apply order, what a segment uses first', () => {
    const entries = plan({ desired: [sync, destination, segment('vip', {}, ['base']), segment('base'), model] });
    expect(entries.map((e) => `${e.action} ${e.kind} ${e.slug}`)).toEqual([
      'create model customers', 'create segment base', 'create segment vip', 'create destination meta', 'create sync vip-meta',
    ]);
  });

  it('names the top-level fields an update changes, and counts fields known to differ elsewhere', () => {
    const vip = segment('vip', { tags: ['a'], rule: { '==': [1, 1] } });
    const entries = plan({
      desired: [model, vip, { ...destination, changed: ['credentials'] }],
      current: [current(model), current(vip, { tags: [], rule: true }), current(destination)],
    });
    expect(entries).toEqual([
      { kind: 'model', slug: 'customers', action: 'unchanged', file: 'defs/customers.model.json' },
      { kind: 'segment', slug: 'vip', action: 'update', file: 'defs/vip.segment.json', fields: ['rule', 'tags'] },
      { kind: 'destination', slug: 'meta', action: 'update', file: 'defs/meta.destination.json', fields: ['credentials'] },
    ]);
  });

  it('does not compare what a file leaves to the service', () => {
    const entries = plan({ desired: [model, segment('vip'), destination, sync], current: [current(model), current(segment('vip')), current(destination), current(sync, { remoteAudienceId: '123' })] });
    expect(entries.find((e) => e.kind === 'sync')?.action).toBe('unchanged');
  });

  it('lists what only the service holds as kept, or deletes it with prune: syncs first, users before what they use', () => {
    const base = segment('base');
    const vip = segment('vip', {}, ['base']);
    const state = [current(model), current(base), current(vip), current(destination), current(sync)];
    const kept = plan({ desired: [model], current: state });
    expect(kept.filter((e) => e.action !== 'unchanged').map((e) => `${e.action} ${e.kind} ${e.slug}`)).toEqual([
      'keep sync vip-meta', 'keep destination meta', 'keep segment vip', 'keep segment base',
    ]);
    const pruned = plan({ desired: [model], current: state, prune: true });
    expect(pruned.filter((e) => e.action === 'delete').map((e) => `${e.kind} ${e.slug}`)).toEqual(['sync vip-meta', 'destination meta', 'segment vip', 'segment base']);
    expect(plan({ desired: [model], current: state, prune: true, kinds: ['model', 'segment'] }).filter((e) => e.action === 'delete').map((e) => e.kind)).toEqual(['segment', 'segment']);
  });

  it('refuses a prune that would delete what a file still uses, naming the file and the pointer', () => {
    const error = refusal({ desired: [model, segment('vip'), sync], current: [current(model), current(segment('vip')), current(destination)], prune: true });
    expect(error.file).toBe('defs/vip-meta.sync.json');
    expect(error.errors).toEqual([{ pointer: '/destination', message: expect.stringContaining('destination "meta" is not in defs/, so --prune would delete it') }]);
    // Without prune it is simply kept.
    expect(plan({ desired: [model, segment('vip'), sync], current: [current(model), current(segment('vip')), current(destination)] }).map((e) => e.action)).toContain('create');
  });

  it('refuses a reference to something neither in the directory nor in the service', () => {
    const error = refusal({ desired: [model, destination, { ...sync, refs: [{ kind: 'segment', slug: 'nope', pointer: '/segment' }] }] });
    expect(error.errors).toEqual([{ pointer: '/segment', message: 'segment "nope" is neither in defs/ nor in the service' }]);
  });

  it('refuses to move a sync to another segment, or change a destination\'s kind, and says what to do instead', () => {
    const moved = refusal({ desired: [model, segment('vip'), segment('other'), destination, { ...sync, content: { ...sync.content, segment: 'other' } }], current: [current(model), current(segment('vip')), current(segment('other')), current(destination), current(sync)] });
    expect(moved.file).toBe('defs/vip-meta.sync.json');
    expect(moved.errors![0]!.pointer).toBe('/segment');
    expect(moved.errors![0]!.message).toMatch(/cannot change from "vip" to "other": .*new slug.*--prune/);
    const rekinded = refusal({ desired: [{ ...destination, content: { ...destination.content, kind: 'file' } }], current: [current(destination)] });
    expect(rekinded.errors![0]).toMatchObject({ pointer: '/kind', message: expect.stringContaining('keeps its kind') });
  });

  it('refuses an in_segment cycle', () => {
    expect(refusal({ desired: [model, segment('a', {}, ['b']), segment('b', {}, ['a'])] }).errors![0]!.message).toMatch(/cycle/);
  });
});

describe('formatPlan', () => {
  it('prints fields, kept objects and a summary', () => {
    const text = formatPlan([
      { kind: 'segment', slug: 'vip', action: 'update', file: 'defs/vip.segment.json', fields: ['rule', 'tags'] },
      { kind: 'sync', slug: 'old', action: 'keep' },
      { kind: 'model', slug: 'customers', action: 'unchanged', file: 'defs/customers.model.json' },
    ], { dryRun: true, dir: 'defs/' });
    const lines = text.split('\n').map((l) => l.replace(/\s+/g, ' '));
    expect(lines).toEqual([
      'would update segment vip (rule, tags) (defs/vip.segment.json)',
      'not in defs/ sync old (kept; --prune deletes)',
      'unchanged model customers (defs/customers.model.json)',
      'plan: 0 to create, 1 to update, 1 unchanged, 1 not in defs/ (kept) (dry run: nothing was changed)',
    ]);
  });
});

describe('credential references', () => {
  it('names variables after the destination and field', () => {
    expect(envVarName('meta-ads', 'accessToken')).toBe('AUDIENCES_DEST_META_ADS_ACCESS_TOKEN');
    expect(envVarName('google_cm', 'developerToken')).toBe('AUDIENCES_DEST_GOOGLE_CM_DEVELOPER_TOKEN');
  });

  it('never gives two secrets one variable: names that would collide get a stable suffix, the rest stay plain', () => {
    const fields = [
      { destination: 'meta-ads', field: 'accessToken' }, { destination: 'meta_ads', field: 'accessToken' },
      { destination: 'a-b', field: 'c' }, { destination: 'a', field: 'bC' }, { destination: 'google-cm', field: 'developerToken' },
    ];
    const names = envVarNames(fields);
    const named = fields.map((f) => names.get(envVarKey(f.destination, f.field))!);
    expect(new Set(named).size).toBe(fields.length);
    expect(named[4]).toBe('AUDIENCES_DEST_GOOGLE_CM_DEVELOPER_TOKEN');
    expect(named[0]).toMatch(/^AUDIENCES_DEST_META_ADS_ACCESS_TOKEN_[0-9A-F]{6}$/);
    expect(named[2]).toMatch(/^AUDIENCES_DEST_A_B_C_[0-9A-F]{6}$/);
    for (const name of named) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
    // The same field is named the same whatever else is exported with it.
    expect(envVarNames([...fields].reverse()).get(envVarKey('meta-ads', 'accessToken'))).toBe(named[0]);
  });

  it('flags literal values by pointer without repeating them', () => {
    const problems = literalSecretProblems({ accessToken: 'EAAsecret', 'app/secret': { env: 'X', value: 'y' }, ok: { env: 'OK' } }, 'meta');
    expect(problems.map((p) => p.pointer)).toEqual(['/credentials/accessToken', '/credentials/app~1secret']);
    expect(JSON.stringify(problems)).not.toContain('EAAsecret');
  });

  it('reads variables, and names the missing ones', () => {
    expect(resolveCredentials({ accessToken: { env: 'T' } }, { T: 'tok' })).toEqual({ credentials: { accessToken: 'tok' }, problems: [] });
    expect(resolveCredentials({ accessToken: { env: 'T' }, appSecret: { env: 'S' } }, { S: '' }).problems).toEqual([
      { pointer: '/credentials/accessToken/env', message: 'environment variable T is not set' },
      { pointer: '/credentials/appSecret/env', message: 'environment variable S is not set' },
    ]);
  });
});
