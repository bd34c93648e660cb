import type { WarehouseTable } from '../warehouse/warehouse';
import { IDENTIFIER_KINDS, type Attribute, type IdentifierKind, type ModelDefinition, type Relationship } from './model-schema';

// Column names that usually carry an identifier kind; a draft is a suggestion the user edits.
const IDENTIFIER_HINTS: Record<IdentifierKind, RegExp> = {
  email: /^(e_?mail|email_address)$/i,
  phone: /^(phone|phone_number|mobile|mobile_phone|telephone)$/i,
  first_name: /^(first_?name|given_name|fname)$/i,
  last_name: /^(last_?name|surname|family_name|lname)$/i,
  city: /^city$/i,
  state: /^(state|region|province)$/i,
  zip: /^(zip|zip_code|postal_code|postcode)$/i,
  country: /^(country|country_code)$/i,
  date_of_birth: /^(date_of_birth|dob|birth_date|birthday)$/i,
  gender: /^(gender|sex)$/i,
  mobile_ad_id: /^(mobile_ad_id|madid|idfa|gaid|maid)$/i,
  external_id: /^(external_id|crm_id)$/i,
};

function attributesOf(table: WarehouseTable): Attribute[] {
  return table.columns.filter((c) => c.attributeType !== null).map((c) => ({ name: c.name, type: c.attributeType! }));
}

export function slugify(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return /^[a-z]/.test(slug) ? slug.slice(0, 64) : `m-${slug}`.slice(0, 64);
}

/**
 * Drafts a model from a warehouse table: typed attributes for every column with a known type,
 * the primary key, identifier kinds guessed from column names, and has-many relationships from
 * foreign keys that point at the table.
 */
export function draftModel(table: WarehouseTable, related: WarehouseTable[]): { model: ModelDefinition; notes: string[] } {
  const notes: string[] = [];
  const skipped = table.columns.filter((c) => c.attributeType === null);
  for (const column of skipped) notes.push(`column "${column.name}" (${column.nativeType}) has no attribute type and was left out`);
  const attributes = attributesOf(table);
  const identifiers: Partial<Record<IdentifierKind, string>> = {};
  for (const kind of IDENTIFIER_KINDS) {
    const match = attributes.find((a) => IDENTIFIER_HINTS[kind].test(a.name));
    if (match) identifiers[kind] = match.name;
  }
  const primaryKey = table.primaryKey.length === 1 ? table.primaryKey[0]! : table.columns[0]?.name ?? 'id';
  if (table.primaryKey.length !== 1) notes.push(`no single-column primary key found; "${primaryKey}" is a guess`);

  const relationships: Relationship[] = [];
  for (const reference of table.referencedBy) {
    const relatedTable = related.find((t) => t.schema === reference.schema && t.name === reference.table);
    if (!relatedTable || reference.columns.length !== 1) continue;
    const relAttributes = attributesOf(relatedTable).filter((a) => a.name !== reference.columns[0]);
    if (relAttributes.length === 0) continue;
    const timeColumn = relatedTable.columns.find((c) => c.attributeType === 'timestamp')?.name;
    relationships.push({
      name: reference.table,
      ...(reference.schema !== table.schema ? { schema: reference.schema } : {}),
      table: reference.table,
      foreignKey: reference.columns[0]!,
      ...(timeColumn ? { timeColumn } : {}),
      attributes: relAttributes,
    });
  }
  return {
    model: {
      slug: slugify(table.name),
      name: table.name.replace(/_/g, ' ').replace(/^\w/, (c) => c.toUpperCase()),
      schema: table.schema,
      table: table.name,
      primaryKey,
      attributes,
      identifiers,
      relationships,
    },
    notes,
  };
}
