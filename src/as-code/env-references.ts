import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { joinPointer } from '../compiler/json-pointer';
import { DestinationDefinitionSchema } from '../destinations/destination-schema';
import type { ProblemDetail } from '../errors';

/**
 * Destination files never hold secrets: every credential field names the environment variable
 * that holds it, `{"env": "META_ACCESS_TOKEN"}`, and apply reads it from there.
 */
export const EnvReferenceSchema = Type.Object({
  env: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 200, description: 'Name of the environment variable holding the secret.' }),
}, { additionalProperties: false, description: 'A secret, by the environment variable that holds it.', examples: [{ env: 'META_ACCESS_TOKEN' }] });
export type EnvReference = Static<typeof EnvReferenceSchema>;

const { credentials: _credentials, ...destinationFields } = DestinationDefinitionSchema.properties;

/** A `*.destination.json` file: the API's create body, with credentials as environment references. */
export const DestinationFileSchema = Type.Object({
  ...destinationFields,
  credentials: Type.Optional(Type.Record(Type.String(), EnvReferenceSchema, {
    description: 'Each credential field as `{"env": "NAME"}`: apply reads the secret from that environment variable. '
      + 'Secrets are never written in files. Omit to keep the stored credentials.',
  })),
}, { $id: 'DestinationFile', additionalProperties: false, description: 'A destination: where syncs send audiences. Credentials are environment references, never values.' });
export type DestinationFile = Static<typeof DestinationFileSchema>;

/** The variable `export` names for a credential field: `AUDIENCES_DEST_<SLUG>_<FIELD>`, upper snake case. */
export function envVarName(destinationSlug: string, field: string): string {
  const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '').toUpperCase();
  return `AUDIENCES_DEST_${snake(destinationSlug)}_${snake(field)}`;
}

/** How envVarNames keys its result. */
export const envVarKey = (destination: string, field: string) => `${destination}\u0000${field}`;

/**
 * Names for many credential fields at once, never one name for two secrets: `meta-ads` and
 * `meta_ads` (or slug `a-b` field `c` and slug `a` field `bC`) snake to the same name, so each
 * name shared by different fields gets a suffix from a hash of its destination and field, which
 * stays the same from one export to the next.
 */
export function envVarNames(fields: ReadonlyArray<{ destination: string; field: string }>): Map<string, string> {
  const key = (f: { destination: string; field: string }) => envVarKey(f.destination, f.field);
  const users = new Map<string, Set<string>>();
  for (const f of fields) {
    const name = envVarName(f.destination, f.field);
    users.set(name, (users.get(name) ?? new Set()).add(key(f)));
  }
  return new Map(fields.map((f) => {
    const name = envVarName(f.destination, f.field);
    const shared = users.get(name)!.size > 1;
    return [key(f), shared ? `${name}_${createHash('sha256').update(key(f)).digest('hex').slice(0, 6).toUpperCase()}` : name];
  }));
}


const isEnvReference = (value: unknown): value is EnvReference =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
  && Object.keys(value).length === 1 && typeof (value as { env?: unknown }).env === 'string';

/**
 * Credential fields that are not environment references: most likely a secret pasted into the
 * file. The problem names the field and the fix, never the value.
 */
export function literalSecretProblems(credentials: unknown, destinationSlug: string): ProblemDetail[] {
  if (credentials === null || typeof credentials !== 'object' || Array.isArray(credentials)) return [];
  return Object.entries(credentials)
    .filter(([, value]) => !isEnvReference(value))
    .map(([field]) => ({
      pointer: joinPointer('/credentials', field),
      message: `must be an environment reference like {"env": "${envVarName(destinationSlug, field)}"}: secrets are never written in definition files`,
    }));
}

/** Reads each referenced variable; a missing or empty one is a problem naming the variable. */
export function resolveCredentials(
  references: Record<string, EnvReference>, env: Record<string, string | undefined>,
): { credentials: Record<string, string>; problems: ProblemDetail[] } {
  const credentials: Record<string, string> = {};
  const problems: ProblemDetail[] = [];
  for (const [field, { env: name }] of Object.entries(references)) {
    const value = env[name];
    if (value === undefined || value === '') problems.push({ pointer: joinPointer('/credentials', field, 'env'), message: `environment variable ${name} is not set` });
    else credentials[field] = value;
  }
  return { credentials, problems };
}
