import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import type { AttributeType } from '../../models/model-schema';
import type { WarehouseColumn, WarehouseForeignKey } from '../warehouse';

/** tables.get speaks legacy SQL type names (INTEGER, FLOAT, BOOLEAN, RECORD); these are their GoogleSQL names. */
const STANDARD_NAMES: Record<string, string> = { INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL', RECORD: 'STRUCT' };

const standardName = (type: string | undefined) => {
  const upper = (type ?? 'UNKNOWN').toUpperCase();
  return STANDARD_NAMES[upper] ?? upper;
};

/** Attribute types a BigQuery field can back. The first is the one introspection suggests. */
export function attributeTypesForBigQuery(field: TableField): AttributeType[] {
  const type = standardName(field.type);
  if (field.mode === 'REPEATED') return type === 'STRING' ? ['string_array'] : [];
  switch (type) {
    case 'STRING':
      return ['string'];
    case 'INT64':
      return ['integer', 'number'];
    case 'FLOAT64':
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return ['number'];
    case 'BOOL':
      return ['boolean'];
    case 'DATE':
      return ['date'];
    case 'TIMESTAMP':
    case 'DATETIME':
      return ['timestamp'];
    default: // STRUCT, BYTES, GEOGRAPHY, JSON, TIME, INTERVAL, RANGE, …
      return [];
  }
}

/** GoogleSQL spelling of a field's type: `STRING(20)`, `NUMERIC(10, 2)`, `ARRAY<STRING>`, `STRUCT<a INT64, b ARRAY<STRING>>`. */
export function nativeTypeName(field: TableField): string {
  const type = standardName(field.type);
  let name: string;
  if (type === 'STRUCT') {
    name = `STRUCT<${(field.fields ?? []).map((f) => `${f.name ?? ''} ${nativeTypeName(f)}`).join(', ')}>`;
  } else if (type === 'RANGE' && field.rangeElementType?.type) {
    name = `RANGE<${standardName(field.rangeElementType.type)}>`;
  } else if ((type === 'STRING' || type === 'BYTES') && field.maxLength) {
    name = `${type}(${field.maxLength})`;
  } else if ((type === 'NUMERIC' || type === 'BIGNUMERIC') && field.precision) {
    name = `${type}(${field.precision}${field.scale ? `, ${field.scale}` : ''})`;
  } else {
    name = type;
  }
  return field.mode === 'REPEATED' ? `ARRAY<${name}>` : name;
}

export function columnFromField(field: TableField): WarehouseColumn {
  const compatibleTypes = attributeTypesForBigQuery(field);
  return {
    name: field.name ?? '',
    nativeType: nativeTypeName(field),
    attributeType: compatibleTypes[0] ?? null,
    compatibleTypes,
    // NULLABLE is the default mode; a REPEATED field is an array, empty rather than NULL.
    nullable: field.mode === undefined || field.mode === 'NULLABLE',
  };
}

export function primaryKeyOf(metadata: TableMetadata): string[] {
  return metadata.tableConstraints?.primaryKey?.columns ?? [];
}

/** Foreign keys declared in tables.get's `tableConstraints` (unenforced in BigQuery, but declared). */
export function foreignKeysOf(metadata: TableMetadata, defaultDataset: string): WarehouseForeignKey[] {
  return (metadata.tableConstraints?.foreignKeys ?? []).map((fk) => ({
    columns: (fk.columnReferences ?? []).map((c) => c.referencingColumn ?? ''),
    referencedSchema: fk.referencedTable?.datasetId ?? defaultDataset,
    referencedTable: fk.referencedTable?.tableId ?? '',
    referencedColumns: (fk.columnReferences ?? []).map((c) => c.referencedColumn ?? ''),
  }));
}

export function tableKind(type: string | undefined): 'table' | 'view' {
  return type === 'VIEW' || type === 'MATERIALIZED_VIEW' ? 'view' : 'table';
}
