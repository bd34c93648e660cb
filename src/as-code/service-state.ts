import { checkRuleStructure } from '../compiler/rule-structure';
import type { DestinationResource } from '../destinations/destination-schema';
import type { DestinationsService } from '../destinations/destinations-service';
import type { Model } from '../models/model-schema';
import type { ModelsService } from '../models/models-service';
import type { Segment } from '../segments/segment-schema';
import type { SegmentsService } from '../segments/segments-service';
import type { Page } from '../store/cursor';
import type { SyncResource } from '../syncs/sync-schema';
import type { SyncsService } from '../syncs/syncs-service';
import { destinationContent, modelContent, segmentFileContent, syncContent } from './content';
import type { CurrentObject, Ref } from './plan';

/** The services audiences as code reads and writes through (a Runtime is one). */
export interface DefinitionServices {
  models: ModelsService;
  segments: SegmentsService;
  destinations: DestinationsService;
  syncs: SyncsService;
}

/** What the service holds, per kind and slug: the public resource, and its comparable content. */
export interface ServiceState {
  models: Map<string, Model>;
  segments: Map<string, Segment>;
  destinations: Map<string, DestinationResource>;
  syncs: Map<string, SyncResource>;
}

async function listAll<T extends { slug: string }>(list: (options: { limit: number; cursor?: string }) => Promise<Page<T>>): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  let cursor: string | undefined;
  do {
    const page = await list({ limit: 200, ...(cursor ? { cursor } : {}) });
    for (const item of page.data) out.set(item.slug, item);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

export async function readServiceState(services: DefinitionServices): Promise<ServiceState> {
  return {
    models: await listAll((o) => services.models.list(o)),
    segments: await listAll((o) => services.segments.list(o)),
    destinations: await listAll((o) => services.destinations.list(o)),
    syncs: await listAll((o) => services.syncs.list(o)),
  };
}

/** The segments a rule uses through in_segment. */
export function segmentRefsOf(rule: unknown): Ref[] {
  const refs = checkRuleStructure(rule, { attributes: new Map(), relationships: new Map() }).segmentRefs;
  return [...new Set(refs)].map((slug) => ({ kind: 'segment', slug, pointer: '/rule' }));
}

/** Every object the service holds, as the planner compares it. */
export function currentObjects(state: ServiceState, defaultSchema: string): CurrentObject[] {
  return [
    ...[...state.models.values()].map((m): CurrentObject => ({ kind: 'model', slug: m.slug, content: modelContent(m, defaultSchema) })),
    ...[...state.segments.values()].map((s): CurrentObject => ({ kind: 'segment', slug: s.slug, content: segmentFileContent(s), refs: segmentRefsOf(s.rule) })),
    ...[...state.destinations.values()].map((d): CurrentObject => ({ kind: 'destination', slug: d.slug, content: destinationContent(d) })),
    ...[...state.syncs.values()].map((y): CurrentObject => ({ kind: 'sync', slug: y.slug, content: { ...syncContent(y), remoteAudienceId: y.remoteAudienceId } })),
  ];
}
