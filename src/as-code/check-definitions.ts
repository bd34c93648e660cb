import path from 'node:path';
import type { Destination } from '../destinations/destination';
import type { DestinationDefinition } from '../destinations/destination-schema';
import { AppError } from '../errors';
import type { ModelDefinition } from '../models/model-schema';
import { normalizeModelDefinition } from '../models/models-service';
import type { SegmentDefinition } from '../segments/segment-schema';
import type { SyncDefinition } from '../syncs/sync-schema';
import { destinationContent, modelContent, segmentFileContent, syncContent } from './content';
import { resolveCredentials } from './env-references';
import { DefinitionFileError, type Definitions, type LoadedFile } from './load-definitions';
import type { DesiredObject } from './plan';
import { segmentRefsOf, type DefinitionServices, type ServiceState } from './service-state';

/**
 * Checks every file of a directory through the services' own validation, before anything is
 * written: models against the warehouse, rules against their models, destinations against their
 * kind (credentials read from the environment), syncs against their segment's model and their
 * destination — each of which may be in the directory and not stored yet.
 */

/** A checked file: what the planner compares, and the body its create / replace gets. */
export interface CheckedObject {
  desired: DesiredObject;
  definition: unknown;
}

export interface CheckContext {
  files: Definitions;
  state: ServiceState;
  services: DefinitionServices;
  defaultSchema: string;
  env: Record<string, string | undefined>;
  /** How the directory is named in messages. */
  dir: string;
}

const relative = (file: string) => path.relative(process.cwd(), file) || file;

/** A service's refusal, as a problem of the file being checked. */
async function inFile<T>(file: string, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DefinitionFileError || !(error instanceof AppError)) throw error;
    throw new DefinitionFileError(file, error.errors?.length ? error.errors : [{ pointer: '', message: error.message }]);
  }
}

const missing = (file: string, pointer: string, what: string, dir: string) =>
  new DefinitionFileError(file, [{ pointer, message: `${what} is neither in ${dir} nor in the service` }]);

export async function checkDefinitions(context: CheckContext): Promise<CheckedObject[]> {
  const models = await checkModels(context);
  const segments = await checkSegments(context);
  const destinations = await checkDestinations(context);
  const syncs = await checkSyncs(context, new Map(destinations.map((d) => [d.desired.slug, d.resolved])));
  return [...models, ...segments, ...destinations, ...syncs];
}

async function checkModels({ files, services, defaultSchema }: CheckContext): Promise<CheckedObject[]> {
  const checked: CheckedObject[] = [];
  for (const { file, definition } of files.models) {
    await inFile(file, () => services.models.validate(normalizeModelDefinition(definition, defaultSchema)));
    checked.push({ desired: { kind: 'model', slug: definition.slug, file: relative(file), content: modelContent(definition, defaultSchema) }, definition });
  }
  return checked;
}

/** The model a segment is written against: the directory's version first, then the service's. */
function modelLookup({ files, state, defaultSchema }: CheckContext): (slug: string) => ModelDefinition | undefined {
  const inDir = new Map(files.models.map((m) => [m.definition.slug, normalizeModelDefinition(m.definition, defaultSchema)]));
  return (slug) => inDir.get(slug) ?? state.models.get(slug);
}

async function checkSegments(context: CheckContext): Promise<CheckedObject[]> {
  const { files, state, services, dir } = context;
  const modelOf = modelLookup(context);
  // in_segment resolves to the directory's rules first, then the service's.
  const rules = new Map<string, unknown>([...state.segments.values()].map((s) => [s.slug, s.rule]));
  for (const { definition } of files.segments) rules.set(definition.slug, definition.rule);
  const checked: CheckedObject[] = [];
  for (const { file, definition } of files.segments) {
    const model = modelOf(definition.model);
    if (!model) throw missing(file, '/model', `model "${definition.model}"`, dir);
    await inFile(file, () => services.segments.checkRule(definition.rule, model, (slug) => rules.get(slug)));
    const refs = [{ kind: 'model' as const, slug: definition.model, pointer: '/model' }, ...segmentRefsOf(definition.rule)];
    checked.push({ desired: { kind: 'segment', slug: definition.slug, file: relative(file), content: segmentFileContent(definition), refs }, definition });
  }
  return checked;
}

/** A destination file with its credentials read from the environment (never printed, never planned). */
type CheckedDestination = CheckedObject & { resolved: DestinationDefinition };

async function checkDestinations({ files, state, services, env }: CheckContext): Promise<CheckedDestination[]> {
  const checked: CheckedDestination[] = [];
  for (const { file, definition } of files.destinations) {
    const { credentials: references, ...fields } = definition;
    const resolved: DestinationDefinition = { ...fields };
    if (references) {
      const { credentials, problems } = resolveCredentials(references, env);
      if (problems.length) throw new DefinitionFileError(file, problems);
      resolved.credentials = credentials;
    }
    const stored = state.destinations.get(definition.slug);
    const normalized = await inFile(file, () => services.destinations.validate(resolved, { credentialsRequired: !stored }));
    // Compared inside the service: stored credentials are write-only.
    const credentialsChanged = Boolean(stored && resolved.credentials && stored.kind === resolved.kind
      && !(await services.destinations.credentialsEqual(stored.id, resolved.credentials)));
    // Unchanged credentials are not sent again: a replace without them keeps the stored ones.
    const body = !stored || credentialsChanged ? resolved : fields;
    checked.push({
      desired: { kind: 'destination', slug: definition.slug, file: relative(file), content: destinationContent(normalized), changed: credentialsChanged ? ['credentials'] : [] },
      definition: body, resolved,
    });
  }
  return checked;
}

async function checkSyncs(context: CheckContext, destinationsInDir: Map<string, DestinationDefinition>): Promise<CheckedObject[]> {
  const { files, services } = context;
  const built = new Map<string, Destination>();
  try {
    const checked: CheckedObject[] = [];
    for (const { file, definition } of files.syncs) {
      const model = syncModel(context, { file, definition });
      const destinationDef = destinationsInDir.get(definition.destination) ?? context.state.destinations.get(definition.destination);
      if (!destinationDef) throw missing(file, '/destination', `destination "${definition.destination}"`, context.dir);
      let destination = built.get(definition.destination);
      if (!destination) {
        destination = await inFile(file, () => services.destinations.build(destinationDef));
        built.set(definition.destination, destination);
      }
      const target = destination;
      await inFile(file, () => services.syncs.validate(definition, { model, destination: target }));
      checked.push({ desired: syncDesired(file, definition), definition });
    }
    return checked;
  } finally {
    for (const destination of built.values()) await destination.close?.().catch(() => {});
  }
}

/** The model of a sync's segment: the segment and its model from the directory first, then the service. */
function syncModel(context: CheckContext, { file, definition }: LoadedFile<SyncDefinition>): ModelDefinition {
  const segment: Pick<SegmentDefinition, 'model'> | undefined = context.files.segments.find((s) => s.definition.slug === definition.segment)?.definition
    ?? context.state.segments.get(definition.segment);
  if (!segment) throw missing(file, '/segment', `segment "${definition.segment}"`, context.dir);
  const model = modelLookup(context)(segment.model);
  if (!model) throw missing(file, '/segment', `model "${segment.model}" of segment "${definition.segment}"`, context.dir);
  return model;
}

function syncDesired(file: string, definition: SyncDefinition): DesiredObject {
  const pinned = definition.remoteAudience?.id;
  return {
    kind: 'sync', slug: definition.slug, file: relative(file),
    content: { ...syncContent(definition), ...(pinned ? { remoteAudienceId: pinned } : {}) },
    // A file that does not pin a remote audience leaves it to the service (created once, kept).
    unmanaged: pinned ? [] : ['remoteAudienceId'],
    refs: [{ kind: 'segment', slug: definition.segment, pointer: '/segment' }, { kind: 'destination', slug: definition.destination, pointer: '/destination' }],
  };
}
