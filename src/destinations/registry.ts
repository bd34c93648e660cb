import type { DestinationEndpoints, DestinationKind } from './destination';
import { fileDestinationKind } from './file/file-destination';
import { googleDestinationKind } from './google';
import { metaDestinationKind } from './meta';

/** The destination kinds this service can build, by name. */
export class DestinationRegistry {
  private readonly kinds = new Map<string, DestinationKind>();

  constructor(kinds: DestinationKind[], readonly endpoints: DestinationEndpoints = {}) {
    for (const kind of kinds) this.kinds.set(kind.kind, kind);
  }

  get(kind: string): DestinationKind | undefined {
    return this.kinds.get(kind);
  }

  list(): DestinationKind[] {
    return [...this.kinds.values()];
  }

  names(): string[] {
    return [...this.kinds.keys()];
  }
}

/** Kind names, fixed so the OpenAPI enum does not depend on configuration. */
export const DESTINATION_KIND_NAMES = ['file', 'meta_custom_audience', 'google_customer_match'] as const;

export function createDestinationRegistry(options: { fileRoot: string; endpoints?: DestinationEndpoints; extraKinds?: DestinationKind[] }): DestinationRegistry {
  const kinds: DestinationKind[] = [
    fileDestinationKind({ root: options.fileRoot }) as unknown as DestinationKind,
    metaDestinationKind as unknown as DestinationKind,
    googleDestinationKind as unknown as DestinationKind,
    ...(options.extraKinds ?? []),
  ];
  return new DestinationRegistry(kinds, options.endpoints ?? {});
}
