import type { TSchema } from '@sinclair/typebox';
import { SHARED_SCHEMAS } from '../api/app';
import { ModelDefinitionSchema } from '../models/model-schema';
import { SegmentDefinitionSchema } from '../segments/segment-schema';

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
  const body = rewrite(root) as { properties: Record<string, unknown> };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: id,
    title,
    ...body,
    properties: { $schema: { type: 'string', description: 'Path or URL of this JSON Schema, for editors.' }, ...body.properties },
    $defs: defs,
  };
}

export function segmentFileSchemas(): Record<string, Record<string, unknown>> {
  return {
    'model.schema.json': fileSchema(ModelDefinitionSchema, 'https://audiences.dev/schemas/model.schema.json', 'audiences model'),
    'segment.schema.json': fileSchema(SegmentDefinitionSchema, 'https://audiences.dev/schemas/segment.schema.json', 'audiences segment'),
  };
}
