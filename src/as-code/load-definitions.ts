import fs from 'node:fs/promises';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { SHARED_SCHEMAS } from '../api/app';
import { validationDetails } from '../api/problem';
import { AppError, type ProblemDetail } from '../errors';
import { ModelDefinitionSchema, type ModelDefinition } from '../models/model-schema';
import { SegmentDefinitionSchema, type SegmentDefinition } from '../segments/segment-schema';
import { SyncDefinitionSchema, type SyncDefinition } from '../syncs/sync-schema';
import { DestinationFileSchema, literalSecretProblems, type DestinationFile } from './env-references';

export interface LoadedFile<T> {
  file: string;
  definition: T;
}

/** The kinds of definition files, in the order apply writes them (deletes go in reverse). */
export const DEFINITION_KINDS = ['model', 'segment', 'destination', 'sync'] as const;
export type DefinitionKind = (typeof DEFINITION_KINDS)[number];

export interface Definitions {
  models: LoadedFile<ModelDefinition>[];
  segments: LoadedFile<SegmentDefinition>[];
  destinations: LoadedFile<DestinationFile>[];
  syncs: LoadedFile<SyncDefinition>[];
}

/** A file that cannot be applied, with every problem in it. */
export class DefinitionFileError extends AppError {
  constructor(file: string, problems: ProblemDetail[]) {
    file = path.isAbsolute(file) ? path.relative(process.cwd(), file) || file : file;
    super(400, 'Invalid definition file', `${file}: ${problems.map((p) => `${p.pointer ?? ''} ${p.message}`.trim()).join('; ')}`, problems);
    this.file = file;
  }

  readonly file: string;
}

const SCHEMAS: Record<DefinitionKind, TSchema> = {
  model: ModelDefinitionSchema, segment: SegmentDefinitionSchema, destination: DestinationFileSchema, sync: SyncDefinitionSchema,
};

let validators: Record<DefinitionKind, ValidateFunction> | undefined;
function getValidators(): Record<DefinitionKind, ValidateFunction> {
  if (!validators) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats.default(ajv);
    for (const schema of SHARED_SCHEMAS) ajv.addSchema(schema);
    ajv.addSchema(DestinationFileSchema);
    validators = Object.fromEntries(DEFINITION_KINDS.map((kind) => [kind, ajv.getSchema(SCHEMAS[kind].$id!)!])) as Record<DefinitionKind, ValidateFunction>;
  }
  return validators;
}

/** Validates a parsed definition against the API's schema; throws with every problem. */
export function validateDefinition(kind: 'model' | 'segment', file: string, definition: unknown): ModelDefinition | SegmentDefinition {
  return checkFile(kind, file, definition as Record<string, unknown>) as ModelDefinition | SegmentDefinition;
}

/** Schema problems of one file; for destinations, credentials that are not environment references first. */
function checkFile(kind: DefinitionKind, file: string, definition: Record<string, unknown>): unknown {
  const validate = getValidators()[kind];
  const secrets = kind === 'destination' ? literalSecretProblems(definition.credentials, typeof definition.slug === 'string' ? definition.slug : 'slug') : [];
  const flagged = (pointer: string | undefined) => secrets.some((p) => pointer === p.pointer || pointer?.startsWith(`${p.pointer}/`));
  const problems = validate(definition) ? [] : validationDetails(validate.errors ?? [], 'body').filter((p) => !flagged(p.pointer));
  if (secrets.length || problems.length) throw new DefinitionFileError(file, [...secrets, ...problems]);
  return definition;
}

const kindOfFile = (name: string): DefinitionKind | undefined => DEFINITION_KINDS.find((kind) => name.endsWith(`.${kind}.json`));

async function readJson(file: string): Promise<Record<string, unknown>> {
  const text = await fs.readFile(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DefinitionFileError(file, [{ pointer: '', message: `not valid JSON: ${(error as Error).message}` }]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DefinitionFileError(file, [{ pointer: '', message: 'must be a JSON object' }]);
  // `$schema` is for editors only.
  const { $schema: _schema, ...definition } = parsed as Record<string, unknown>;
  return definition;
}

/**
 * Reads the `*.model.json`, `*.segment.json`, `*.destination.json` and `*.sync.json` files of a
 * directory (not recursive; `schema/` is skipped) and validates each against its file schema.
 * `kinds` limits which files are read.
 */
export async function loadDefinitions(dir: string, options: { kinds?: readonly DefinitionKind[] } = {}): Promise<Definitions> {
  const kinds = new Set(options.kinds ?? DEFINITION_KINDS);
  const entries = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  const result: Definitions = { models: [], segments: [], destinations: [], syncs: [] };
  const seen = new Map<string, string>();
  for (const name of entries) {
    const kind = kindOfFile(name);
    if (!kind || !kinds.has(kind)) continue;
    const file = path.join(dir, name);
    const definition = checkFile(kind, file, await readJson(file)) as { slug: string };
    const key = `${kind} ${definition.slug}`;
    if (seen.has(key)) throw new DefinitionFileError(file, [{ pointer: '/slug', message: `${key} is also defined in ${seen.get(key)}` }]);
    seen.set(key, path.relative(process.cwd(), file) || file);
    (result[`${kind}s`] as LoadedFile<unknown>[]).push({ file, definition });
  }
  return result;
}
