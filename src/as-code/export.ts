import fs from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { DestinationResource } from '../destinations/destination-schema';
import { conflict } from '../errors';
import type { Model } from '../models/model-schema';
import type { Segment } from '../segments/segment-schema';
import type { SyncResource } from '../syncs/sync-schema';
import { destinationContent, modelContent, segmentFileContent, syncContent, type Content } from './content';
import { envVarKey, envVarNames } from './env-references';
import { definitionFileSchema, orderKeys, segmentFileSchemas } from './file-schemas';
import { DEFINITION_KINDS, type DefinitionKind } from './load-definitions';
import { readServiceState, type DefinitionServices } from './service-state';

/**
 * `audiences export DIR`: the service's definitions as files, one per object, that `apply DIR`
 * reads back as unchanged — credentials as environment references, never values.
 */

export interface ExportOptions {
  dir: string;
  services: DefinitionServices;
  /** The warehouse schema models default to. */
  defaultSchema: string;
  /** Replace the definition files DIR already holds (removing those of objects the service lacks). */
  force?: boolean;
}

/** A variable `apply` will read a destination's credential from. */
export interface RequiredEnvVar {
  name: string;
  destination: string;
  field: string;
}

export interface ExportResult {
  files: string[];
  envVars: RequiredEnvVar[];
}

interface ExportedFile {
  kind: DefinitionKind;
  slug: string;
  content: Content;
}

/** Fields at their default are left out, as a person would write the file (apply fills them in again). */
function withoutDefaults(content: Content, defaults: Content): Content {
  return Object.fromEntries(Object.entries(content).filter(([k, v]) => !(k in defaults && isDeepStrictEqual(v, defaults[k]))));
}

const modelFile = (m: Model, defaultSchema: string): ExportedFile => ({
  kind: 'model', slug: m.slug,
  content: withoutDefaults(modelContent(m, defaultSchema), { description: '', identifiers: {}, consent: {}, relationships: [], suppression: null }),
});

const segmentFile = (s: Segment): ExportedFile => ({ kind: 'segment', slug: s.slug, content: withoutDefaults(segmentFileContent(s), { description: '', tags: [] }) });

function destinationFile(d: DestinationResource, names: Map<string, string>): ExportedFile {
  const credentials = Object.fromEntries(d.credentialFields.map((field) => [field, { env: names.get(envVarKey(d.slug, field))! }]));
  return { kind: 'destination', slug: d.slug, content: { ...destinationContent(d), ...(d.credentialFields.length ? { credentials } : {}) } };
}

// The remote audience is not pinned: applying the export elsewhere creates audiences of its own
// rather than feeding (and pruning) this service's.
const syncFile = (y: SyncResource): ExportedFile => ({ kind: 'sync', slug: y.slug, content: withoutDefaults(syncContent(y), { schedule: null }) });

/** Pretty JSON with a trailing newline, keys in schema order, `$schema` first. */
export function renderFile(file: ExportedFile): string {
  const schema = definitionFileSchema(file.kind);
  return `${JSON.stringify(orderKeys({ $schema: `./schema/${file.kind}.schema.json`, ...file.content }, schema), null, 2)}\n`;
}

const fileName = (f: { kind: DefinitionKind; slug: string }) => `${f.slug}.${f.kind}.json`;
const isDefinitionFile = (name: string) => DEFINITION_KINDS.some((kind) => name.endsWith(`.${kind}.json`));

export async function exportDirectory(options: ExportOptions): Promise<ExportResult> {
  const state = await readServiceState(options.services);
  const credentialFields = [...state.destinations.values()].flatMap((d) => d.credentialFields.map((field) => ({ destination: d.slug, field })));
  const names = envVarNames(credentialFields);
  const files: ExportedFile[] = [
    ...[...state.models.values()].map((m) => modelFile(m, options.defaultSchema)),
    ...[...state.segments.values()].map(segmentFile),
    ...[...state.destinations.values()].map((d) => destinationFile(d, names)),
    ...[...state.syncs.values()].map(syncFile),
  ];
  await fs.mkdir(options.dir, { recursive: true });
  await clearDirectory(options.dir, { force: options.force ?? false, keep: new Set(files.map(fileName)) });
  for (const file of files) await fs.writeFile(path.join(options.dir, fileName(file)), renderFile(file));
  await writeSchemas(path.join(options.dir, 'schema'));
  return {
    files: files.map((f) => path.join(options.dir, fileName(f))),
    envVars: credentialFields.map((f) => ({ name: names.get(envVarKey(f.destination, f.field))!, ...f })),
  };
}

/**
 * DIR's existing definition files: an export never mixes with them silently. Without `force` it
 * refuses; with it, files of objects the service lacks are removed (apply would otherwise
 * re-create them).
 */
async function clearDirectory(dir: string, options: { force: boolean; keep: Set<string> }): Promise<void> {
  const existing = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && isDefinitionFile(e.name)).map((e) => e.name).sort();
  if (!existing.length) return;
  if (!options.force) {
    throw conflict(`${path.relative(process.cwd(), dir) || '.'} already holds definition files (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}): export into an empty directory, or pass --force to replace them.`);
  }
  for (const name of existing) if (!options.keep.has(name)) await fs.rm(path.join(dir, name));
}

/** The JSON Schemas the files' `$schema` point at, so editors check them. */
async function writeSchemas(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const [name, schema] of Object.entries(segmentFileSchemas())) await fs.writeFile(path.join(dir, name), `${JSON.stringify(schema, null, 2)}\n`);
}
