import { Type, type Static } from '@sinclair/typebox';
import { slug, stringEnum } from '../api/schema-helpers';
import { IDENTIFIER_KINDS } from '../destinations/destination';

const Consent = stringEnum(['GRANTED', 'DENIED'] as const);
const IdentifierKind = stringEnum(IDENTIFIER_KINDS);

export const SyncOptionsSchema = Type.Object({
  mode: Type.Optional(stringEnum(['mirror', 'add_only'] as const, { description: '`mirror` adds and removes; `add_only` never removes.' })),
  removalThreshold: Type.Optional(Type.Number({
    minimum: 0, maximum: 1,
    description: 'A run that would remove more than this fraction of what the destination holds waits for approval (default 0.2).',
  })),
  removalFloor: Type.Optional(Type.Integer({ minimum: 0, description: 'Removals up to this many never need approval (default 10).' })),
  defaultRegion: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$', description: 'Region for phone numbers written without a country code (default US).' })),
  consent: Type.Optional(Type.Object({
    source: stringEnum(['model', 'sync'] as const, { description: '`model`: the model\'s consent columns per member, these values where they are null; `sync`: these values for everyone.' }),
    adUserData: Consent,
    adPersonalization: Consent,
  }, { additionalProperties: false, description: 'Google: EU user consent sent with members.' })),
  maxStalenessMinutes: Type.Optional(Type.Integer({ minimum: 0, description: 'Refresh the segment first when its snapshot is older than this (default 60), or when the segment changed since.' })),
  membershipLifeSpanDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'Google list membership life span (≤ 540, 10000 = no expiry).' })),
}, { $id: 'SyncOptions', additionalProperties: false, title: 'Sync options' });
export type SyncOptions = Static<typeof SyncOptionsSchema>;

export const SyncScheduleSchema = Type.Union([
  Type.Object({
    type: Type.Literal('cron'),
    cron: Type.String({ minLength: 9, maxLength: 100, description: 'Five-field cron expression.', examples: ['0 6 * * *'] }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone (default UTC).', examples: ['Europe/Berlin'] })),
  }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('after_refresh') }, { additionalProperties: false, description: 'After every successful refresh of the segment.' }),
], { $id: 'SyncSchedule', title: 'Sync schedule' });
export type SyncSchedule = Static<typeof SyncScheduleSchema>;

export const SyncDefinitionSchema = Type.Object({
  slug: slug('Unique, URL-safe name.'),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  segment: Type.String({ minLength: 1, maxLength: 64, description: 'Segment id or slug.' }),
  destination: Type.String({ minLength: 1, maxLength: 64, description: 'Destination id or slug.' }),
  mapping: Type.Record(Type.String({ pattern: '^[a-z_]+$' }), IdentifierKind, {
    description: 'Platform field ← model identifier: what is sent as what, e.g. `{"email": "email", "external_id": "external_id"}`.',
    minProperties: 1,
  }),
  options: Type.Optional(Type.Unsafe<SyncOptions>({ $ref: 'SyncOptions#' })),
  schedule: Type.Optional(Type.Union([Type.Unsafe<SyncSchedule>({ $ref: 'SyncSchedule#' }), Type.Null()])),
  enabled: Type.Optional(Type.Boolean({ description: 'Scheduled runs happen only while enabled (default true).' })),
  remoteAudience: Type.Optional(Type.Object({
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Adopt this existing audience / list instead of creating one.' })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Name of the audience to create (default: the sync name).' })),
  }, { additionalProperties: false })),
}, { $id: 'SyncDefinition', additionalProperties: false, title: 'Sync definition' });
export type SyncDefinition = Static<typeof SyncDefinitionSchema>;

export const SyncSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  segmentId: Type.String({ format: 'uuid' }),
  segment: Type.String({ description: 'Segment slug.' }),
  destinationId: Type.String({ format: 'uuid' }),
  destination: Type.String({ description: 'Destination slug.' }),
  remoteAudienceId: Type.String({ description: 'The audience / list on the platform.' }),
  mapping: Type.Record(Type.String(), Type.String()),
  options: Type.Unsafe<Required<Omit<SyncOptions, 'consent' | 'membershipLifeSpanDays'>> & Pick<SyncOptions, 'consent' | 'membershipLifeSpanDays'>>({ $ref: 'SyncOptions#' }),
  schedule: Type.Union([Type.Unsafe<SyncSchedule>({ $ref: 'SyncSchedule#' }), Type.Null()]),
  enabled: Type.Boolean(),
  version: Type.Integer({ minimum: 1 }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
}, { $id: 'Sync', additionalProperties: false, title: 'Sync' });
export type SyncResource = Static<typeof SyncSchema>;

const HashedSample = Type.Object({
  op: stringEnum(['add', 'remove', 'change'] as const),
  memberKey: Type.String(),
  /** Per platform field, what would be sent (hashes, or normalized values the platform takes in the clear). */
  identifiers: Type.Record(Type.String(), Type.String()),
  previous: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Changes: what is removed first.' })),
}, { additionalProperties: false });

export const SyncPlanSchema = Type.Object({
  adds: Type.Integer(), removes: Type.Integer(), changes: Type.Integer(),
  expectedRejections: Type.Integer({ description: 'Planned members without a single usable identifier: never sent.' }),
  identifierRejections: Type.Record(Type.String(), Type.Integer(), { description: 'Identifier values that cannot be normalized, by reason.' }),
  destinationSize: Type.Integer({ description: 'Members the destination holds by our last committed run.' }),
  segmentSize: Type.Integer(),
  snapshotAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When the snapshot planned against was taken.' }),
  needsApproval: Type.Union([Type.String(), Type.Null()], { description: 'Why a run with this plan would wait for approval, or null.' }),
  samples: Type.Array(HashedSample, { description: 'Up to 5 rows per op, hashed as they would be sent.' }),
}, { $id: 'SyncPlan', additionalProperties: false, title: 'Sync plan' });
export type SyncPlan = Static<typeof SyncPlanSchema>;

export const SyncRunSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  syncId: Type.String({ format: 'uuid' }),
  status: stringEnum(['queued', 'running', 'needs_approval', 'succeeded', 'failed', 'cancelled'] as const),
  trigger: stringEnum(['api', 'schedule', 'after_refresh'] as const),
  reason: Type.Union([Type.String(), Type.Null()], { description: 'Why the run waits for approval, or why it stopped.' }),
  refreshRunId: Type.Union([Type.String(), Type.Null()]),
  normalizerVersion: Type.String(),
  planned: Type.Union([Type.Object({ adds: Type.Integer(), removes: Type.Integer(), changes: Type.Integer() }, { additionalProperties: false }), Type.Null()]),
  sent: Type.Integer(), confirmed: Type.Integer(), rejected: Type.Integer(), failed: Type.Integer(),
  requests: Type.Integer(), retries: Type.Integer(),
  identifierRejections: Type.Record(Type.String(), Type.Integer()),
  timings: Type.Record(Type.String(), Type.Integer(), { description: 'Milliseconds per stage (refresh, plan, send, commit).' }),
  error: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  approvedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
}, { $id: 'SyncRun', additionalProperties: false, title: 'Sync run' });
export type SyncRun = Static<typeof SyncRunSchema>;

export const SyncRejectionSchema = Type.Object({
  memberKey: Type.String(), op: Type.String(), reason: Type.String(), detail: Type.Union([Type.String(), Type.Null()]),
}, { $id: 'SyncRejection', additionalProperties: false, title: 'Rejected row' });

export const LookalikeRequestSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  meta: Type.Optional(Type.Object({
    ratio: Type.Optional(Type.Number({ minimum: 0.01, maximum: 0.2 })),
    startingRatio: Type.Optional(Type.Number({ minimum: 0, maximum: 0.19 })),
    country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
    locationSpec: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }, { additionalProperties: false })),
  google: Type.Optional(Type.Object({
    expansionLevel: stringEnum(['NARROW', 'BALANCED', 'BROAD'] as const),
    countryCodes: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), { minItems: 1 }),
  }, { additionalProperties: false })),
}, { $id: 'LookalikeRequest', additionalProperties: false, title: 'Lookalike request' });
export type LookalikeRequest = Static<typeof LookalikeRequestSchema>;

export const LookalikeSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  syncId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  remoteId: Type.String(),
  spec: Type.Record(Type.String(), Type.Unknown()),
  seedSize: Type.Integer(),
  status: Type.Optional(Type.Object({ code: Type.Union([Type.String(), Type.Number()]), description: Type.Optional(Type.String()) })),
  createdAt: Type.String({ format: 'date-time' }),
}, { $id: 'Lookalike', additionalProperties: false, title: 'Lookalike audience' });
export type Lookalike = Static<typeof LookalikeSchema>;
