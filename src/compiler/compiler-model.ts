import type { AttributeType, ModelDefinition } from '../models/model-schema';

export interface CompilerAttribute {
  readonly name: string;
  readonly column: string;
  readonly type: AttributeType;
}

export interface CompilerRelationship {
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  readonly foreignKey: string;
  readonly timeColumn: string | undefined;
  readonly attributes: ReadonlyMap<string, CompilerAttribute>;
}

/** What the compiler knows of a model: names, columns and types. Pure data, no I/O. */
export interface CompilerModel {
  readonly schema: string;
  readonly table: string;
  readonly primaryKey: string;
  readonly attributes: ReadonlyMap<string, CompilerAttribute>;
  readonly relationships: ReadonlyMap<string, CompilerRelationship>;
  /** Rows for which this rule is truthy are excluded from every segment of the model. */
  readonly suppression: unknown;
}

const attributesOf = (list: Array<{ name: string; column?: string; type: AttributeType }>) =>
  new Map(list.map((a) => [a.name, { name: a.name, column: a.column ?? a.name, type: a.type }]));

export function compilerModelOf(model: ModelDefinition, options: { defaultSchema?: string } = {}): CompilerModel {
  const schema = model.schema ?? options.defaultSchema ?? 'public';
  return {
    schema,
    table: model.table,
    primaryKey: model.primaryKey,
    attributes: attributesOf(model.attributes),
    relationships: new Map(
      (model.relationships ?? []).map((r) => [
        r.name,
        { name: r.name, schema: r.schema ?? schema, table: r.table, foreignKey: r.foreignKey, timeColumn: r.timeColumn, attributes: attributesOf(r.attributes) },
      ]),
    ),
    suppression: model.suppression,
  };
}
