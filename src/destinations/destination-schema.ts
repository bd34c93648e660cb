import { Type, type Static } from '@sinclair/typebox';
import { slug, stringEnum } from '../api/schema-helpers';
import { DESTINATION_KIND_NAMES } from './registry';

const Kind = stringEnum(DESTINATION_KIND_NAMES, { description: 'The destination kind; `GET /v1/destination-kinds` gives each kind\'s configuration and credentials schemas.' });

export const DestinationDefinitionSchema = Type.Object({
  slug: slug('Unique, URL-safe name.'),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  kind: Kind,
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'Non-secret settings, per kind (see `GET /v1/destination-kinds`).' }),
  credentials: Type.Optional(Type.Record(Type.String(), Type.Unknown(), {
    writeOnly: true,
    description: 'Secrets, per kind. Encrypted at rest (AES-256-GCM) and never returned. On replace, omit to keep the stored credentials.',
  })),
}, { $id: 'DestinationDefinition', additionalProperties: false, title: 'Destination definition' });
export type DestinationDefinition = Static<typeof DestinationDefinitionSchema>;

export const DestinationSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  kind: Kind,
  platform: stringEnum(['meta', 'google', 'file'] as const),
  config: Type.Record(Type.String(), Type.Unknown()),
  credentialsSet: Type.Boolean({ description: 'Whether credentials are stored (they are never returned).' }),
  credentialFields: Type.Array(Type.String(), { description: 'Names of the stored credential fields, for orientation.' }),
  version: Type.Integer({ minimum: 1 }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
}, { $id: 'Destination', additionalProperties: false, title: 'Destination' });
export type DestinationResource = Static<typeof DestinationSchema>;

export const ConnectionCheckSchema = Type.Object({
  ok: Type.Boolean(),
  detail: Type.String({ description: 'What was checked and what the platform answered (no secrets).' }),
  failure: Type.Optional(stringEnum(['rate_limited', 'retryable', 'permanent', 'invalid_request'] as const, { description: 'How the failure is classified, when not ok.' })),
  account: Type.Optional(Type.Object({ id: Type.String(), name: Type.Optional(Type.String()), currency: Type.Optional(Type.String()) }, { additionalProperties: false })),
}, { $id: 'ConnectionCheck', additionalProperties: false, title: 'Connection check' });

export const DestinationKindInfoSchema = Type.Object({
  kind: Kind,
  platform: stringEnum(['meta', 'google', 'file'] as const),
  description: Type.String(),
  configSchema: Type.Record(Type.String(), Type.Unknown(), { description: 'JSON Schema of `config`.' }),
  credentialsSchema: Type.Record(Type.String(), Type.Unknown(), { description: 'JSON Schema of `credentials`.' }),
}, { $id: 'DestinationKindInfo', additionalProperties: false, title: 'Destination kind' });

export const DestinationKindListSchema = Type.Object({
  data: Type.Array(Type.Unsafe<Static<typeof DestinationKindInfoSchema>>({ $ref: 'DestinationKindInfo#' })),
}, { $id: 'DestinationKindList', additionalProperties: false, title: 'Destination kinds' });
