import { Type, type Static } from '@sinclair/typebox';
import { ref, slug, sqlIdentifier, stringEnum } from '../api/schema-helpers';
import { RuleSchema } from '../segments/segment-schema';

export const ATTRIBUTE_TYPES = ['string', 'number', 'integer', 'boolean', 'date', 'timestamp', 'string_array'] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

/** Identifier kinds the destinations understand (design.md §7). */
export const IDENTIFIER_KINDS = [
  'email', 'phone', 'first_name', 'last_name', 'city', 'state', 'zip', 'country',
  'date_of_birth', 'gender', 'mobile_ad_id', 'external_id',
] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

export const AttributeTypeSchema = stringEnum(ATTRIBUTE_TYPES, {
  $id: 'AttributeType',
  description: 'Type of an attribute as rules see it. `string_array` is a text[] / ARRAY<STRING> column.',
});

export const AttributeSchema = Type.Object(
  {
    name: sqlIdentifier('Name rules use in `{"var": name}`.'),
    column: Type.Optional(sqlIdentifier('Warehouse column; defaults to `name`.')),
    type: ref(AttributeTypeSchema),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { $id: 'Attribute', additionalProperties: false, description: 'A typed column of a table.' },
);

export const IdentifiersSchema = Type.Object(
  Object.fromEntries(
    IDENTIFIER_KINDS.map((kind) => [kind, Type.Optional(sqlIdentifier(`Attribute holding the ${kind.replace(/_/g, ' ')}.`))]),
  ),
  {
    $id: 'Identifiers',
    additionalProperties: false,
    description: 'Which attributes identify a person on ad platforms, by identifier kind.',
  },
);

export const ConsentSchema = Type.Object(
  {
    ad_user_data: Type.Optional(sqlIdentifier('Boolean attribute: consent to send user data for advertising.')),
    ad_personalization: Type.Optional(sqlIdentifier('Boolean attribute: consent to ad personalization.')),
  },
  { $id: 'Consent', additionalProperties: false, description: 'Boolean attributes carrying consent signals (Google EU user consent).' },
);

export const RelationshipSchema = Type.Object(
  {
    name: sqlIdentifier('Name rules use, e.g. `{"some": [{"var": "orders"}, …]}`.'),
    schema: Type.Optional(sqlIdentifier("Warehouse schema; defaults to the model's schema.")),
    table: sqlIdentifier(),
    foreignKey: sqlIdentifier("Column of the related table that holds the model's primary key."),
    timeColumn: Type.Optional(sqlIdentifier('Column used by time windows (`within_last`, aggregate windows).')),
    attributes: Type.Array(ref(AttributeSchema), { minItems: 1, maxItems: 500 }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { $id: 'Relationship', additionalProperties: false, description: 'A has-many relationship (orders, events) of the model.' },
);

const modelFields = {
  slug: slug('Unique, URL-safe name; usable in place of the id in every URL.'),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  schema: Type.Optional(sqlIdentifier('Warehouse schema (dataset); defaults to `public`.')),
  table: sqlIdentifier('Warehouse table of the entity (one row per customer).'),
  primaryKey: sqlIdentifier('Column that uniquely identifies a row; the audience member key.'),
  attributes: Type.Array(ref(AttributeSchema), { minItems: 1, maxItems: 1000 }),
  identifiers: Type.Optional(ref(IdentifiersSchema)),
  consent: Type.Optional(ref(ConsentSchema)),
  relationships: Type.Optional(Type.Array(ref(RelationshipSchema), { maxItems: 100 })),
  suppression: Type.Optional(Type.Unsafe<unknown>({
    ...ref(RuleSchema),
    description: 'A rule over the model; rows for which it is truthy are excluded from every segment of the model (e.g. opted-out customers).',
  })),
};

export const ModelDefinitionSchema = Type.Object(modelFields, {
  $id: 'ModelDefinition',
  additionalProperties: false,
  description: 'What a customer is in the warehouse: table, key, typed attributes, identifiers, consent and relationships.',
});
export type ModelDefinition = Static<typeof ModelDefinitionSchema>;
export type Attribute = Static<typeof AttributeSchema>;
export type Relationship = Static<typeof RelationshipSchema>;

export const ModelSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    ...modelFields,
    description: Type.String(),
    schema: sqlIdentifier(),
    identifiers: ref(IdentifiersSchema),
    consent: ref(ConsentSchema),
    relationships: Type.Array(ref(RelationshipSchema)),
    version: Type.Integer({ minimum: 1, description: 'Incremented by every update; the ETag.' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Model', additionalProperties: false },
);
export type Model = Static<typeof ModelSchema>;
