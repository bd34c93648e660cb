import type { TSchema } from '@sinclair/typebox';
import { SHARED_SCHEMAS } from '../api/app';
import { ModelDefinitionSchema } from '../models/model-schema';
import { SegmentDefinitionSchema } from '../segments/segment-schema';
import { SyncDefinitionSchema } from '../syncs/sync-schema';
import { DestinationFileSchema } from './env-references';
import type { DefinitionKind } from './load-definitions';

/**
 * Self-contained JSON Schemas (draft 2020-12) for the files in `segments/`, written from the
 * same TypeBox schemas the API validates with, so editors flag what the API would refuse.
 */
export function fileSchema(root: TSchema, id: string, title: string): Record<string, unknown> {
  const byId = new Map(SHARED_SCHEMAS.map((s) => [s.$id as string, s as TSchema]));
  const defs: Record<string, unknown> = {};
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === '$id') continue;
      if (key === '$ref' && typeof value === 'string') {
        const name = value.replace(/#$/, '');
        if (!(name in defs)) {
          defs[name] = {};
          defs[name] = rewrite(byId.get(name));
        }
        out.$ref = `#/$defs/${name}`;
      } else out[key] = rewrite(value);
    }
    return out;
  };
  // The file's own title, not the API schema's.
  const { title: _title, ...body } = rewrite(root) as { properties: Record<string, unknown>; title?: string };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: id,
    title,
    ...body,
    properties: { $schema: { type: 'string', description: 'Path or URL of this JSON Schema, for editors.' }, ...body.properties },
    $defs: defs,
  };
}

const ROOTS: Record<DefinitionKind, TSchema> = {
  model: ModelDefinitionSchema, segment: SegmentDefinitionSchema, destination: DestinationFileSchema, sync: SyncDefinitionSchema,
};

/** The file schema of one kind, as `segments/schema/<kind>.schema.json` holds it. */
export function definitionFileSchema(kind: DefinitionKind): Record<string, unknown> {
  return fileSchema(ROOTS[kind], `https://audiences.dev/schemas/${kind}.schema.json`, `audiences ${kind}`);
}

export function segmentFileSchemas(): Record<string, Record<string, unknown>> {
  return Object.fromEntries((Object.keys(ROOTS) as DefinitionKind[]).map((kind) => [`${kind}.schema.json`, definitionFileSchema(kind)]));
}

interface JsonSchema {
  $ref?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  $defs?: Record<string, JsonSchema>;
}

/**
 * A value with its object keys in the order the file schema declares them (undeclared keys, as in
 * records, sorted): files written by `export` read like hand-written ones and never reorder.
 */
export function orderKeys(value: unknown, schema: Record<string, unknown>): unknown {
  const defs = (schema as JsonSchema).$defs ?? {};
  const resolve = (s: JsonSchema | undefined): JsonSchema | undefined => (s?.$ref ? resolve(defs[s.$ref.replace('#/$defs/', '')]) : s);
  const objectSchema = (v: Record<string, unknown>, s: JsonSchema | undefined): JsonSchema | undefined => {
    const r = resolve(s);
    for (const branch of r?.anyOf ?? []) {
      const found = objectSchema(v, branch);
      if (found?.properties && Object.keys(v).every((k) => k in found.properties!)) return found;
    }
    return r;
  };
  const order = (v: unknown, s: JsonSchema | undefined): unknown => {
    if (Array.isArray(v)) return v.map((item) => order(item, resolve(s)?.items));
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const r = objectSchema(o, s);
    const declared = Object.keys(r?.properties ?? {}).filter((k) => k in o);
    const keys = [...declared, ...Object.keys(o).filter((k) => !declared.includes(k)).sort()];
    const child = (k: string) => r?.properties?.[k]
      ?? (typeof r?.additionalProperties === 'object' ? r.additionalProperties : Object.values(r?.patternProperties ?? {})[0]);
    return Object.fromEntries(keys.map((k) => [k, order(o[k], child(k))]));
  };
  return order(value, schema as JsonSchema);
}
