import type { DestinationEndpoints, DestinationKind } from './destination';
import { fileDestinationKind } from './file/file-destination';
import { GOOGLE_KIND_DESCRIPTION, GoogleCustomerMatchConfigSchema, GoogleCustomerMatchCredentialsSchema } from './google/schemas';
import { META_KIND_DESCRIPTION, MetaCustomAudienceConfigSchema, MetaCustomAudienceCredentialsSchema } from './meta/schemas';

/**
 * Meta and Google kinds with their schemas at hand and their SDKs loaded on first use: the SDKs
 * take seconds to load, which every CLI command and test process would otherwise pay.
 */
const lazyMeta: DestinationKind = {
  kind: 'meta_custom_audience', platform: 'meta', description: META_KIND_DESCRIPTION,
  configSchema: MetaCustomAudienceConfigSchema, credentialsSchema: MetaCustomAudienceCredentialsSchema,
  create: async (options) => (await import('./meta/destination')).metaDestinationKind.create(options as never),
};
const lazyGoogle: DestinationKind = {
  kind: 'google_customer_match', platform: 'google', description: GOOGLE_KIND_DESCRIPTION,
  configSchema: GoogleCustomerMatchConfigSchema, credentialsSchema: GoogleCustomerMatchCredentialsSchema,
  create: async (options) => (await import('./google/index')).googleDestinationKind.create(options as never),
};

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
    lazyMeta,
    lazyGoogle,
    ...(options.extraKinds ?? []),
  ];
  return new DestinationRegistry(kinds, options.endpoints ?? {});
}
