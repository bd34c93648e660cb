import fs from 'node:fs/promises';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { SHARED_SCHEMAS } from '../api/app';
import { validationDetails } from '../api/problem';
import { AppError, type ProblemDetail } from '../errors';
import { ModelDefinitionSchema, type ModelDefinition } from '../models/model-schema';
import { SegmentDefinitionSchema, type SegmentDefinition } from '../segments/segment-schema';

export interface LoadedFile<T> {
  file: string;
  definition: T;
}

export interface Definitions {
  models: LoadedFile<ModelDefinition>[];
  segments: LoadedFile<SegmentDefinition>[];
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

let validators: { model: ValidateFunction; segment: ValidateFunction } | undefined;
function getValidators() {
  if (!validators) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats.default(ajv);
    for (const schema of SHARED_SCHEMAS) ajv.addSchema(schema);
    validators = { model: ajv.getSchema(ModelDefinitionSchema.$id!)!, segment: ajv.getSchema(SegmentDefinitionSchema.$id!)! };
  }
  return validators;
}

/** Validates a parsed definition against the API's schema; throws with every problem. */
export function validateDefinition(kind: 'model' | 'segment', file: string, definition: unknown): ModelDefinition | SegmentDefinition {
  const validate = getValidators()[kind];
  if (!validate(definition)) throw new DefinitionFileError(file, validationDetails(validate.errors ?? [], 'body'));
  return definition as ModelDefinition | SegmentDefinition;
}

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
 * Reads `*.model.json` and `*.segment.json` files of a directory (not recursive; `schema/` is skipped)
 * and validates each against the API's schemas.
 */
export async function loadDefinitions(dir: string): Promise<Definitions> {
  const entries = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  const { model, segment } = getValidators();
  const result: Definitions = { models: [], segments: [] };
  for (const name of entries) {
    const file = path.join(dir, name);
    const kind = name.endsWith('.model.json') ? 'model' : name.endsWith('.segment.json') ? 'segment' : null;
    if (!kind) continue;
    const definition = await readJson(file);
    const validate = kind === 'model' ? model : segment;
    if (!validate(definition)) throw new DefinitionFileError(file, validationDetails(validate.errors ?? [], 'body'));
    if (kind === 'model') result.models.push({ file, definition: definition as ModelDefinition });
    else result.segments.push({ file, definition: definition as SegmentDefinition });
  }
  const seen = new Map<string, string>();
  const keyed = [
    ...result.models.map((m) => ({ file: m.file, key: `model ${m.definition.slug}` })),
    ...result.segments.map((s) => ({ file: s.file, key: `segment ${s.definition.slug}` })),
  ];
  for (const { file, key } of keyed) {
    if (seen.has(key)) throw new DefinitionFileError(file, [{ pointer: '/slug', message: `${key} is also defined in ${seen.get(key)}` }]);
    seen.set(key, file);
  }
  return result;
}
