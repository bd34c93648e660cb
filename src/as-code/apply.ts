import path from 'node:path';
import type { AuditContext, AuditedWrite } from '../audit/audit-log';
import type { DestinationDefinition } from '../destinations/destination-schema';
import { AppError } from '../errors';
import type { ModelDefinition } from '../models/model-schema';
import type { SegmentDefinition } from '../segments/segment-schema';
import type { SyncDefinition } from '../syncs/sync-schema';
import { checkDefinitions, type CheckedObject } from './check-definitions';
import { DEFINITION_KINDS, DefinitionFileError, loadDefinitions, type DefinitionKind } from './load-definitions';
import { planChanges, type PlanEntry } from './plan';
import { currentObjects, readServiceState, type DefinitionServices } from './service-state';

export { formatPlan, type PlanAction, type PlanEntry } from './plan';

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
  /** Who applies: each write records its audit event in the transaction that makes it. */
  audit?: AuditContext;
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
  if (!options.dryRun) await execute(plan, { checked, options });
  return plan;
}

type Write = PlanEntry & { action: 'create' | 'update' | 'delete' };
const isWrite = (entry: PlanEntry): entry is Write => entry.action === 'create' || entry.action === 'update' || entry.action === 'delete';

async function execute(plan: PlanEntry[], context: { checked: CheckedObject[]; options: ApplyOptions }): Promise<void> {
  const bodies = new Map(context.checked.map((c) => [`${c.desired.kind} ${c.desired.slug}`, c.definition]));
  const done: PlanEntry[] = [];
  for (const entry of plan.filter(isWrite)) {
    try {
      await write(context.options.services, entry, bodies.get(`${entry.kind} ${entry.slug}`), { audit: context.options.audit });
    } catch (error) {
      throw new PartialApplyError(done, failureOf(entry, error));
    }
    done.push(entry);
  }
}

/** One create, replace or delete through the kind's service; resolves to the resource after it (deletes: nothing). */
async function write(services: DefinitionServices, entry: Write, body: unknown, options: AuditedWrite): Promise<unknown> {
  const { slug } = entry;
  switch (entry.kind) {
    case 'model': {
      const def = body as ModelDefinition;
      return entry.action === 'delete' ? services.models.delete(slug, options) : entry.action === 'create' ? services.models.create(def, options) : services.models.replace(slug, def, options);
    }
    case 'segment': {
      const def = body as SegmentDefinition;
      return entry.action === 'delete' ? services.segments.delete(slug, options) : entry.action === 'create' ? services.segments.create(def, options) : services.segments.update(slug, def, options);
    }
    case 'destination': {
      const def = body as DestinationDefinition;
      return entry.action === 'delete' ? services.destinations.delete(slug, options) : entry.action === 'create' ? services.destinations.create(def, options) : services.destinations.replace(slug, def, options);
    }
    case 'sync': {
      const def = body as SyncDefinition;
      return entry.action === 'delete' ? services.syncs.delete(slug, options) : entry.action === 'create' ? services.syncs.create(def, options) : services.syncs.replace(slug, def, options);
    }
  }
}

/** A service's refusal, named by the file (creates, updates) or the object (deletes, which have no file). */
function failureOf(entry: Write, error: unknown): Error {
  if (!(error instanceof AppError) || error instanceof DefinitionFileError) return error instanceof Error ? error : new Error(String(error));
  if (entry.file) return new DefinitionFileError(entry.file, error.errors?.length ? error.errors : [{ pointer: '', message: error.message }]);
  return new AppError(error.status, error.title, `could not delete ${entry.kind} "${entry.slug}": ${error.message}`, error.errors);
}
