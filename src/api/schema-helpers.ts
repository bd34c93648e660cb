import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

/**
 * A `$ref` to a schema registered with `app.addSchema` that keeps its static type.
 * @fastify/swagger turns the ref into `#/components/schemas/<$id>`, so every shared
 * schema appears once, by name, in the OpenAPI document.
 */
export function ref<T extends TSchema>(schema: T): TUnsafe<Static<T>> {
  if (!schema.$id) throw new Error('ref() needs a schema with an $id');
  return Type.Unsafe<Static<T>>({ $ref: `${schema.$id}#` });
}

/** Slugs are lowercase, start with a letter, and never look like a UUID (ids and slugs share URLs). */
export const SLUG_PATTERN = '^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$';
export function slug(description?: string) {
  return Type.String({ pattern: SLUG_PATTERN, minLength: 1, maxLength: 64, ...(description ? { description } : {}) });
}
/** A SQL identifier as written in the warehouse (letters, digits, underscore). */
export function sqlIdentifier(description?: string) {
  return Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', minLength: 1, maxLength: 63, ...(description ? { description } : {}) });
}

/** A string enum as `{type: "string", enum: [...]}`: one clear validation error and a plain enum in the spec. */
export function stringEnum<const T extends readonly string[]>(values: T, options: { $id?: string; description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}
