import { Type, type Static } from '@sinclair/typebox';
import { ref, slug } from '../api/schema-helpers';

export const RuleSchema = Type.Unsafe<unknown>({
  $id: 'Rule',
  description:
    'A JsonLogic rule (json-logic-js dialect plus the audiences extensions). `var` paths name attributes and ' +
    'relationships of the segment\'s model. `true` selects every row.',
  anyOf: [{ type: 'object', minProperties: 1, maxProperties: 1, additionalProperties: true }, { type: 'boolean' }],
});

const segmentFields = {
  slug: slug('Unique, URL-safe name; usable in place of the id in every URL.'),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  model: slug('Slug of the model the rule is written against.'),
  rule: ref(RuleSchema),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50, uniqueItems: true })),
};

export const SegmentDefinitionSchema = Type.Object(segmentFields, {
  $id: 'SegmentDefinition',
  additionalProperties: false,
  description: 'A named JsonLogic rule over a model: who belongs to an audience.',
});
export type SegmentDefinition = Static<typeof SegmentDefinitionSchema>;

export const SegmentPatchSchema = Type.Partial(Type.Object(segmentFields), {
  $id: 'SegmentPatch',
  additionalProperties: false,
  minProperties: 1,
  description: 'Fields to change; omitted fields keep their value.',
});
export type SegmentPatch = Static<typeof SegmentPatchSchema>;

export const SegmentSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    ...segmentFields,
    description: Type.String(),
    tags: Type.Array(Type.String()),
    version: Type.Integer({ minimum: 1, description: 'Incremented by every update; also the ETag.' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Segment', additionalProperties: false },
);
export type Segment = Static<typeof SegmentSchema>;

export const SegmentVersionSchema = Type.Object(
  {
    version: Type.Integer({ minimum: 1 }),
    slug: slug('Unique, URL-safe name; usable in place of the id in every URL.'),
    name: Type.String(),
    description: Type.String(),
    model: slug(),
    rule: ref(RuleSchema),
    tags: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time', description: 'When this version was written.' }),
  },
  { $id: 'SegmentVersion', additionalProperties: false, description: 'One saved definition of a segment.' },
);
export type SegmentVersion = Static<typeof SegmentVersionSchema>;
