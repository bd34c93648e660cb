import path from 'node:path';
import type { DestinationDefinition } from '../destinations/destination-schema';
import { AppError } from '../errors';
import type { ModelDefinition } from '../models/model-schema';
import type { SegmentDefinition } from '../segments/segment-schema';
import type { SyncDefinition } from '../syncs/sync-schema';
import { checkDefinitions, type CheckedObject } from './check-definitions';
import { DEFINITION_KINDS, DefinitionFileError, loadDefinitions, type DefinitionKind } from './load-definitions';
import { planChanges, type PlanEntry } from './plan';
import { currentObjects, readServiceState, resourceOf, type DefinitionServices, type ServiceState } from './service-state';

export { formatPlan, type PlanAction, type PlanEntry } from './plan';

/** One write apply made, with the public representations around it (no secrets: credentials are write-only). */
export interface AppliedChange {
  action: 'create' | 'update' | 'delete';
  kind: DefinitionKind;
  slug: string;
  before: unknown;
  after: unknown;
}

export interface ApplyOptions {
  dir: string;
  services: DefinitionServices;
  /** The warehouse schema models default to. */
  defaultSchema: string;
  /** Plan only: read and check everything, write nothing. */
  dryRun?: boolean;
  /** Delete what the service holds and the directory does not (otherwise it is listed as kept). */
  prune?: boolean;
  /** Which kinds of files to apply (default all): the others are neither read, written nor pruned. */
  kinds?: readonly DefinitionKind[];
  /** Where credential references are read (default process.env). */
  env?: Record<string, string | undefined>;
  /** Called after each successful write, in order; a failure stops the apply. */
  onChange?: (change: AppliedChange) => Promise<void>;
}

/** A write failed after others succeeded: what was applied, and the failure. */
export class PartialApplyError extends Error {
  constructor(readonly applied: PlanEntry[], readonly failure: Error) {
    super(failure.message);
  }
}

/** `segments/`, as messages name a directory. */
export const dirLabel = (dir: string) => `${path.relative(process.cwd(), dir) || '.'}/`;

/**
 * Applies a directory of definition files by slug: models → segments → destinations → syncs, then
 * (with `prune`) deletes in reverse. Everything is read and checked before anything is written, so
 * a bad file changes nothing; a failing write stops the apply (PartialApplyError says how far it got).
 */
export async function applyDirectory(options: ApplyOptions): Promise<PlanEntry[]> {
  const kinds = options.kinds ?? DEFINITION_KINDS;
  const dir = dirLabel(options.dir);
  const files = await loadDefinitions(options.dir, { kinds });
  const state = await readServiceState(options.services);
  const checked = await checkDefinitions({ files, state, services: options.services, defaultSchema: options.defaultSchema, env: options.env ?? process.env, dir });
  const plan = planChanges({ desired: checked.map((c) => c.desired), current: currentObjects(state, options.defaultSchema), kinds, prune: options.prune ?? false, dir });
  if (!options.dryRun) await execute(plan, { checked, state, options });
  return plan;
}

type Write = PlanEntry & { action: AppliedChange['action'] };
const isWrite = (entry: PlanEntry): entry is Write => entry.action === 'create' || entry.action === 'update' || entry.action === 'delete';

async function execute(plan: PlanEntry[], context: { checked: CheckedObject[]; state: ServiceState; options: ApplyOptions }): Promise<void> {
  const bodies = new Map(context.checked.map((c) => [`${c.desired.kind} ${c.desired.slug}`, c.definition]));
  const done: PlanEntry[] = [];
  for (const entry of plan.filter(isWrite)) {
    const before = entry.action === 'create' ? null : resourceOf(context.state, entry.kind, entry.slug);
    let after: unknown;
    try {
      after = await write(context.options.services, entry, bodies.get(`${entry.kind} ${entry.slug}`));
    } catch (error) {
      throw new PartialApplyError(done, failureOf(entry, error));
    }
    done.push(entry);
    try {
      await context.options.onChange?.({ action: entry.action, kind: entry.kind, slug: entry.slug, before, after: after ?? null });
    } catch (error) {
      throw new PartialApplyError(done, error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** One create, replace or delete through the kind's service; resolves to the resource after it (deletes: nothing). */
async function write(services: DefinitionServices, entry: Write, body: unknown): Promise<unknown> {
  const { slug } = entry;
  switch (entry.kind) {
    case 'model': {
      const def = body as ModelDefinition;
      return entry.action === 'delete' ? services.models.delete(slug) : entry.action === 'create' ? services.models.create(def) : services.models.replace(slug, def);
    }
    case 'segment': {
      const def = body as SegmentDefinition;
      return entry.action === 'delete' ? services.segments.delete(slug) : entry.action === 'create' ? services.segments.create(def) : services.segments.update(slug, def);
    }
    case 'destination': {
      const def = body as DestinationDefinition;
      return entry.action === 'delete' ? services.destinations.delete(slug) : entry.action === 'create' ? services.destinations.create(def) : services.destinations.replace(slug, def);
    }
    case 'sync': {
      const def = body as SyncDefinition;
      return entry.action === 'delete' ? services.syncs.delete(slug) : entry.action === 'create' ? services.syncs.create(def) : services.syncs.replace(slug, def);
    }
  }
}

/** A service's refusal, named by the file (creates, updates) or the object (deletes, which have no file). */
function failureOf(entry: Write, error: unknown): Error {
  if (!(error instanceof AppError) || error instanceof DefinitionFileError) return error instanceof Error ? error : new Error(String(error));
  if (entry.file) return new DefinitionFileError(entry.file, error.errors?.length ? error.errors : [{ pointer: '', message: error.message }]);
  return new AppError(error.status, error.title, `could not delete ${entry.kind} "${entry.slug}": ${error.message}`, error.errors);
}
