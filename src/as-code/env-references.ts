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
