import type { AttributeType } from '../../models/model-schema';

/** Attribute types a Postgres column type can back. The first is the one introspection suggests. */
export function attributeTypesForPostgres(dataType: string, udtName: string): AttributeType[] {
  switch (dataType) {
    case 'text':
    case 'character varying':
    case 'character':
      return ['string'];
    case 'smallint':
    case 'integer':
    case 'bigint':
      return ['integer', 'number'];
    case 'numeric':
    case 'real':
    case 'double precision':
      return ['number'];
    case 'boolean':
      return ['boolean'];
    case 'date':
      return ['date'];
    case 'timestamp without time zone':
    case 'timestamp with time zone':
      return ['timestamp'];
    case 'ARRAY':
      return ['_text', '_varchar', '_bpchar'].includes(udtName) ? ['string_array'] : [];
    case 'USER-DEFINED':
      return udtName === 'citext' ? ['string'] : [];
    default:
      return [];
  }
}

export function nativeTypeName(dataType: string, udtName: string): string {
  if (dataType === 'ARRAY') return `${udtName.replace(/^_/, '')}[]`;
  if (dataType === 'USER-DEFINED') return udtName;
  return dataType;
}
