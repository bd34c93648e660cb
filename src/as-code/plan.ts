import { isDeepStrictEqual } from 'node:util';
import type { ProblemDetail } from '../errors';
import type { Content } from './content';
import { DEFINITION_KINDS, DefinitionFileError, type DefinitionKind } from './load-definitions';

/**
 * The apply planner: pure. Given what the directory wants and what the service holds (both as
 * comparable content), it decides creates, updates with the fields they change, deletes, and what
 * a plan must refuse. No I/O here: apply.ts reads, checks and writes.
 */

export type PlanAction = 'create' | 'update' | 'unchanged' | 'delete' | 'keep';

/** A reference from one object to another, by slug, at a pointer of the referring file. */
export interface Ref {
  kind: DefinitionKind;
  slug: string;
  pointer: string;
}

export interface DesiredObject {
  kind: DefinitionKind;
  slug: string;
  file: string;
  content: Content;
  /** Fields the file leaves to the service, not compared (e.g. a remote audience id it does not pin). */
  unmanaged?: string[];
  /** Fields known to differ although they are not in `content` (credentials, compared by the service). */
  changed?: string[];
  refs?: Ref[];
}

export interface CurrentObject {
  kind: DefinitionKind;
  slug: string;
  content: Content;
  /** Only references among objects of one kind matter here: they order deletes (in_segment). */
  refs?: Ref[];
}

export interface PlanEntry {
  kind: DefinitionKind;
  slug: string;
  action: PlanAction;
  /** The definition file; absent for objects that are only in the service. */
  file?: string;
  /** Updates: the top-level fields that change. */
  fields?: string[];
}

export interface PlanInput {
  desired: DesiredObject[];
  current: CurrentObject[];
  /** Kinds being applied: objects of other kinds are neither deleted nor listed. */
  kinds: readonly DefinitionKind[];
  /** Delete what the service holds and the directory does not; otherwise list it as kept. */
  prune: boolean;
  /** How the directory is named in messages. */
  dir: string;
}

const MOVE_SYNC = 'a sync stays connected to its segment, destination and remote audience: give the file a new slug for a new sync '
  + '(it creates a new remote audience) and remove the old one with --prune';

/** Fields a replace cannot change, and what to do instead: planned as errors, never as a silent delete + create. */
const FIXED: Partial<Record<DefinitionKind, Record<string, { pointer: string; instead: string }>>> = {
  destination: {
    kind: { pointer: '/kind', instead: 'a destination keeps its kind: give the file a new slug for a new destination (and move its syncs)' },
  },
  sync: {
    segment: { pointer: '/segment', instead: MOVE_SYNC },
    destination: { pointer: '/destination', instead: MOVE_SYNC },
    remoteAudienceId: { pointer: '/remoteAudience/id', instead: MOVE_SYNC },
  },
};

const keyOf = (o: { kind: DefinitionKind; slug: string }) => `${o.kind} ${o.slug}`;

export function planChanges(input: PlanInput): PlanEntry[] {
  const current = new Map(input.current.map((c) => [keyOf(c), c]));
  const desired = new Map(input.desired.map((d) => [keyOf(d), d]));
  const problems = new Map<string, ProblemDetail[]>();
  const report = (file: string, problem: ProblemDetail) => problems.set(file, [...(problems.get(file) ?? []), problem]);

  for (const d of input.desired) {
    for (const problem of referenceProblems(d, { desired, current, prune: input.prune, dir: input.dir })) report(d.file, problem);
  }
  const upserts = upsertOrder(input.desired).map((d) => upsertEntry(d, current.get(keyOf(d)), (p) => report(d.file, p)));
  const first = input.desired.find((d) => problems.has(d.file));
  if (first) throw new DefinitionFileError(first.file, problems.get(first.file)!);

  const gone = input.current.filter((c) => input.kinds.includes(c.kind) && !desired.has(keyOf(c)));
  const removals = deleteOrder(gone).map((c): PlanEntry => ({ kind: c.kind, slug: c.slug, action: input.prune ? 'delete' : 'keep' }));
  return [...upserts, ...removals];
}

/** Top-level fields that differ; fields the file leaves to the service are skipped. */
export function changedFields(desired: DesiredObject, current: Content): string[] {
  const fields = new Set([...Object.keys(desired.content), ...Object.keys(current)]);
  for (const field of desired.unmanaged ?? []) fields.delete(field);
  const differing = [...fields].filter((field) => !isDeepStrictEqual(desired.content[field], current[field]));
  return [...new Set([...differing, ...(desired.changed ?? [])])];
}

function upsertEntry(d: DesiredObject, current: CurrentObject | undefined, report: (p: ProblemDetail) => void): PlanEntry {
  if (!current) return { kind: d.kind, slug: d.slug, action: 'create', file: d.file };
  const fields = changedFields(d, current.content);
  for (const field of fields) {
    const fixed = FIXED[d.kind]?.[field];
    if (fixed) report({ pointer: fixed.pointer, message: `cannot change from ${JSON.stringify(current.content[field])} to ${JSON.stringify(d.content[field])}: ${fixed.instead}` });
  }
  return fields.length ? { kind: d.kind, slug: d.slug, action: 'update', file: d.file, fields } : { kind: d.kind, slug: d.slug, action: 'unchanged', file: d.file };
}

/**
 * Every reference must resolve: to the directory, or to the service unless --prune would delete
 * the target while this object still uses it (checked here so the deletes cannot fail on it half-way).
 */
function referenceProblems(
  d: DesiredObject, context: { desired: Map<string, DesiredObject>; current: Map<string, CurrentObject>; prune: boolean; dir: string },
): ProblemDetail[] {
  return (d.refs ?? []).flatMap((ref): ProblemDetail[] => {
    const key = keyOf(ref);
    if (context.desired.has(key)) return [];
    if (!context.current.has(key)) return [{ pointer: ref.pointer, message: `${ref.kind} "${ref.slug}" is neither in ${context.dir} nor in the service` }];
    if (!context.prune) return [];
    return [{ pointer: ref.pointer, message: `${ref.kind} "${ref.slug}" is not in ${context.dir}, so --prune would delete it, but this ${d.kind} uses it: add its file, or drop --prune` }];
  });
}

/** Kinds in apply order; within a kind, what an object uses comes first. */
function upsertOrder(desired: DesiredObject[]): DesiredObject[] {
  return DEFINITION_KINDS.flatMap((kind) => dependencyOrder(desired.filter((d) => d.kind === kind)));
}

/** Kinds in reverse apply order; within a kind, users before what they use. */
function deleteOrder(gone: CurrentObject[]): CurrentObject[] {
  return [...DEFINITION_KINDS].reverse().flatMap((kind) => dependencyOrder(gone.filter((c) => c.kind === kind)).reverse());
}

/** Objects of one kind ordered so that every same-kind reference comes before its user; a cycle is an error. */
export function dependencyOrder<T extends { kind: DefinitionKind; slug: string; refs?: Ref[]; file?: string }>(objects: T[]): T[] {
  const bySlug = new Map(objects.map((o) => [o.slug, o]));
  const state = new Map<string, 'visiting' | 'done'>();
  const ordered: T[] = [];
  const visit = (o: T) => {
    const mark = state.get(o.slug);
    if (mark === 'done') return;
    if (mark === 'visiting') {
      const ref = o.refs?.find((r) => r.kind === o.kind);
      throw new DefinitionFileError(o.file ?? `${o.kind} ${o.slug}`, [{ pointer: ref?.pointer ?? '', message: `reference cycle through ${o.kind} "${o.slug}"` }]);
    }
    state.set(o.slug, 'visiting');
    for (const ref of o.refs ?? []) {
      const target = ref.kind === o.kind ? bySlug.get(ref.slug) : undefined;
      if (target) visit(target);
    }
    state.set(o.slug, 'done');
    ordered.push(o);
  };
  objects.forEach(visit);
  return ordered;
}

// ——— output ———

const VERBS: Record<PlanAction, { dryRun: string; applied: string }> = {
  create: { dryRun: 'would create', applied: 'created' },
  update: { dryRun: 'would update', applied: 'updated' },
  unchanged: { dryRun: 'unchanged', applied: 'unchanged' },
  delete: { dryRun: 'would delete', applied: 'deleted' },
  keep: { dryRun: 'not in DIR', applied: 'not in DIR' },
};

/**
 * One line per object, then a summary:
 *   would update  segment      us-high-value (rule, tags)  (segments/us-high-value.segment.json)
 *   not in DIR    sync         old-sync  (kept; --prune deletes)
 */
export function formatPlan(plan: PlanEntry[], options: { dryRun: boolean; dir?: string }): string {
  const verb = (a: PlanAction) => VERBS[a][options.dryRun ? 'dryRun' : 'applied'].replace('DIR', options.dir ?? 'DIR');
  const width = Math.max(12, ...plan.map((e) => verb(e.action).length));
  const trailer = (e: PlanEntry) => (e.action === 'keep' ? 'kept; --prune deletes' : e.action === 'delete' ? `not in ${options.dir ?? 'DIR'}` : e.file);
  const lines = plan.map((e) => `${verb(e.action).padEnd(width)} ${e.kind.padEnd(11)} ${e.slug}${e.fields ? ` (${e.fields.join(', ')})` : ''}  (${trailer(e)})`);
  lines.push(summary(plan, options));
  return lines.join('\n');
}

function summary(plan: PlanEntry[], options: { dryRun: boolean; dir?: string }): string {
  const count = (a: PlanAction) => plan.filter((e) => e.action === a).length;
  // Deletes and kept objects are mentioned only when there are some, so the common line stays short.
  const extra = (n: number, text: string) => (n ? `, ${n} ${text}` : '');
  if (options.dryRun) {
    return `plan: ${count('create')} to create, ${count('update')} to update, ${count('unchanged')} unchanged`
      + `${extra(count('delete'), 'to delete')}${extra(count('keep'), `not in ${options.dir ?? 'DIR'} (kept)`)} (dry run: nothing was changed)`;
  }
  return `applied: ${count('create')} created, ${count('update')} updated, ${count('unchanged')} unchanged`
    + `${extra(count('delete'), 'deleted')}${extra(count('keep'), `not in ${options.dir ?? 'DIR'} (kept)`)}`;
}
