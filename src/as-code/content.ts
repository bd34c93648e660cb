import type { DestinationDefinition, DestinationResource } from '../destinations/destination-schema';
import type { ModelDefinition } from '../models/model-schema';
import { normalizeModelDefinition } from '../models/models-service';
import type { Segment, SegmentDefinition } from '../segments/segment-schema';
import { segmentContent } from '../segments/segments-service';
import type { SyncDefinition, SyncResource } from '../syncs/sync-schema';
import { syncOptionsOf } from '../syncs/syncs-service';

/**
 * The comparable content of each kind: a file's definition and the service's resource map to the
 * same shape (defaults filled in, service-owned fields such as ids and versions left out), so
 * apply can diff them field by field and export can write what apply reads back as unchanged.
 */
export type Content = Record<string, unknown>;

/** Drops undefined fields, so "absent" and "undefined" compare equal. */
const plain = (value: Content): Content => JSON.parse(JSON.stringify(value)) as Content;

export function modelContent(def: ModelDefinition, defaultSchema: string): Content {
  const { slug, name, description, schema, table, primaryKey, attributes, identifiers, consent, relationships, suppression } = normalizeModelDefinition(def, defaultSchema);
  return plain({ slug, name, description, schema, table, primaryKey, attributes, identifiers, consent, relationships, suppression: suppression ?? null });
}

export function segmentFileContent(def: SegmentDefinition | Segment): Content {
  return plain(segmentContent(def));
}

/** Without credentials: they are write-only, so the service compares them (see DestinationsService.credentialsEqual). */
export function destinationContent(def: DestinationDefinition | DestinationResource): Content {
  return plain({ slug: def.slug, name: def.name, kind: def.kind, config: def.config });
}

/**
 * `remoteAudience` is left out: its name is used once, at create, and its id is compared only
 * when a file pins one (see the apply planner's `unmanaged`).
 */
export function syncContent(def: SyncDefinition | SyncResource): Content {
  return plain({
    slug: def.slug, name: def.name, segment: def.segment, destination: def.destination, mapping: def.mapping,
    options: syncOptionsOf(def.options), schedule: def.schedule ?? null, enabled: def.enabled ?? true,
  });
}
