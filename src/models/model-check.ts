import { checkRuleStructure, type RuleModel } from '../compiler/rule-structure';
import { joinPointer } from '../compiler/json-pointer';
import type { Warehouse, WarehouseTable } from '../warehouse/warehouse';
import type { Attribute, AttributeType, IdentifierKind, ModelDefinition } from './model-schema';

export interface ModelProblem {
  pointer: string;
  message: string;
}

const IDENTIFIER_TYPES: Record<IdentifierKind, AttributeType[]> = {
  email: ['string'], phone: ['string'], first_name: ['string'], last_name: ['string'], city: ['string'],
  state: ['string'], zip: ['string'], country: ['string'], date_of_birth: ['date', 'string'], gender: ['string'],
  mobile_ad_id: ['string'], external_id: ['string', 'integer'],
};

export const columnOf = (attribute: Attribute): string => attribute.column ?? attribute.name;

/** Internal consistency of a model definition, without the warehouse. */
export function checkModelDefinition(model: ModelDefinition, basePointer = ''): ModelProblem[] {
  const problems: ModelProblem[] = [];
  const at = (...segments: Array<string | number>) => joinPointer(basePointer, ...segments);
  const attributes = new Map<string, Attribute>();

  const checkAttributes = (list: Attribute[], pointer: Array<string | number>, into: Map<string, Attribute>) => {
    const columns = new Set<string>();
    list.forEach((attribute, i) => {
      if (into.has(attribute.name)) {
        problems.push({ pointer: at(...pointer, i, 'name'), message: `duplicate attribute name "${attribute.name}"` });
        return; // one problem per attribute: its column clash would only repeat this one
      }
      into.set(attribute.name, attribute);
      const column = columnOf(attribute);
      if (columns.has(column)) problems.push({ pointer: at(...pointer, i, 'column'), message: `column "${column}" is mapped by two attributes` });
      columns.add(column);
    });
  };
  checkAttributes(model.attributes, ['attributes'], attributes);

  for (const [kind, name] of Object.entries(model.identifiers ?? {})) {
    if (name === undefined) continue;
    const attribute = attributes.get(name);
    const expected = IDENTIFIER_TYPES[kind as IdentifierKind];
    if (!attribute) problems.push({ pointer: at('identifiers', kind), message: `identifier ${kind} names "${name}", which is not an attribute of the model` });
    else if (expected && !expected.includes(attribute.type)) {
      problems.push({ pointer: at('identifiers', kind), message: `identifier ${kind} needs a ${expected.join(' or ')} attribute; "${name}" is ${attribute.type}` });
    }
  }
  for (const [signal, name] of Object.entries(model.consent ?? {})) {
    if (name === undefined) continue;
    const attribute = attributes.get(name);
    if (!attribute) problems.push({ pointer: at('consent', signal), message: `consent ${signal} names "${name}", which is not an attribute of the model` });
    else if (attribute.type !== 'boolean') problems.push({ pointer: at('consent', signal), message: `consent ${signal} needs a boolean attribute; "${name}" is ${attribute.type}` });
  }

  const relationshipNames = new Set<string>();
  (model.relationships ?? []).forEach((relationship, r) => {
    if (attributes.has(relationship.name)) problems.push({ pointer: at('relationships', r, 'name'), message: `relationship "${relationship.name}" has the name of an attribute` });
    if (relationshipNames.has(relationship.name)) problems.push({ pointer: at('relationships', r, 'name'), message: `duplicate relationship name "${relationship.name}"` });
    relationshipNames.add(relationship.name);
    checkAttributes(relationship.attributes, ['relationships', r, 'attributes'], new Map());
  });
  if (model.suppression !== undefined) {
    problems.push(...checkRuleStructure(model.suppression, ruleModelOf(model), { basePointer: at('suppression') }).problems);
  }
  return problems;
}

function checkColumns(
  table: WarehouseTable,
  attributes: Attribute[],
  pointer: (i: number) => string,
  problems: ModelProblem[],
): void {
  const columns = new Map(table.columns.map((c) => [c.name, c]));
  attributes.forEach((attribute, i) => {
    const column = columns.get(columnOf(attribute));
    if (!column) {
      problems.push({ pointer: pointer(i), message: `column "${columnOf(attribute)}" does not exist in ${table.schema}.${table.name}` });
    } else if (!column.compatibleTypes.includes(attribute.type)) {
      const fits = column.compatibleTypes.length ? `; it can back ${column.compatibleTypes.join(' or ')}` : '; no attribute type fits it';
      problems.push({ pointer: joinPointer(pointer(i), 'type'), message: `column "${column.name}" is ${column.nativeType}, which cannot back a ${attribute.type} attribute${fits}` });
    }
  });
}

/** Checks that every table and column the model names exists in the warehouse with a compatible type. */
export async function checkModelAgainstWarehouse(model: ModelDefinition, warehouse: Warehouse, basePointer = ''): Promise<ModelProblem[]> {
  const problems: ModelProblem[] = [];
  const at = (...segments: Array<string | number>) => joinPointer(basePointer, ...segments);
  const schema = model.schema ?? warehouse.defaultSchema;
  const table = await warehouse.describeTable({ schema, table: model.table });
  if (!table) return [{ pointer: at('table'), message: `table ${schema}.${model.table} does not exist in the warehouse` }];

  checkColumns(table, model.attributes, (i) => at('attributes', i), problems);
  const primaryKey = table.columns.find((c) => c.name === model.primaryKey);
  if (!primaryKey) problems.push({ pointer: at('primaryKey'), message: `column "${model.primaryKey}" does not exist in ${schema}.${model.table}` });
  else if (!primaryKey.compatibleTypes.some((t) => t === 'string' || t === 'integer')) {
    problems.push({ pointer: at('primaryKey'), message: `primary key "${model.primaryKey}" is ${primaryKey.nativeType}; it must be a text or integer column` });
  }

  for (const [r, relationship] of (model.relationships ?? []).entries()) {
    const relSchema = relationship.schema ?? schema;
    const related = await warehouse.describeTable({ schema: relSchema, table: relationship.table });
    if (!related) {
      problems.push({ pointer: at('relationships', r, 'table'), message: `table ${relSchema}.${relationship.table} does not exist in the warehouse` });
      continue;
    }
    checkColumns(related, relationship.attributes, (i) => at('relationships', r, 'attributes', i), problems);
    const foreignKey = related.columns.find((c) => c.name === relationship.foreignKey);
    if (!foreignKey) problems.push({ pointer: at('relationships', r, 'foreignKey'), message: `column "${relationship.foreignKey}" does not exist in ${relSchema}.${relationship.table}` });
    else if (primaryKey && !foreignKey.compatibleTypes.some((t) => primaryKey.compatibleTypes.includes(t))) {
      problems.push({ pointer: at('relationships', r, 'foreignKey'), message: `foreign key "${foreignKey.name}" is ${foreignKey.nativeType} but the primary key "${primaryKey.name}" is ${primaryKey.nativeType}` });
    }
    if (relationship.timeColumn !== undefined) {
      const time = related.columns.find((c) => c.name === relationship.timeColumn);
      if (!time) problems.push({ pointer: at('relationships', r, 'timeColumn'), message: `column "${relationship.timeColumn}" does not exist in ${relSchema}.${relationship.table}` });
      else if (!time.compatibleTypes.some((t) => t === 'timestamp' || t === 'date')) {
        problems.push({ pointer: at('relationships', r, 'timeColumn'), message: `time column "${time.name}" is ${time.nativeType}; it must be a date or timestamp` });
      }
    }
  }
  return problems;
}

/** The names and types a rule over this model may use. */
export function ruleModelOf(model: ModelDefinition): RuleModel {
  return {
    attributes: new Map(model.attributes.map((a) => [a.name, a.type])),
    relationships: new Map(
      (model.relationships ?? []).map((r) => [
        r.name,
        { attributes: new Map(r.attributes.map((a) => [a.name, a.type])), hasTimeColumn: r.timeColumn !== undefined },
      ]),
    ),
  };
}
