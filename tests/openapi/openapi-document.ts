import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/** Helpers shared by the OpenAPI conformance tests: the committed document, its operations, and a validator for its schemas. */

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SPEC_JSON = path.join(REPO_ROOT, 'openapi', 'openapi.json');
export const SPEC_YAML = path.join(REPO_ROOT, 'openapi', 'openapi.yaml');
export const FILE_SCHEMAS_DIR = path.join(REPO_ROOT, 'segments', 'schema');
export const CLIENT_TYPES = path.join(REPO_ROOT, 'tests', 'client', 'openapi.d.ts');

export const REGENERATE = 'run `npm run openapi` and commit the result';

export interface MediaType {
  schema?: unknown;
  example?: unknown;
  examples?: Record<string, { value?: unknown }>;
}

export interface ResponseObject {
  description?: string;
  headers?: Record<string, unknown>;
  content?: Record<string, MediaType>;
}

export interface ParameterObject {
  name: string;
  in: string;
  required?: boolean;
  schema?: { default?: unknown; [key: string]: unknown };
  example?: unknown;
}

export interface OperationObject {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: ParameterObject[];
  requestBody?: { required?: boolean; content?: Record<string, MediaType> };
  responses?: Record<string, ResponseObject>;
  security?: Array<Record<string, string[]>>;
}

export interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  paths: Record<string, Record<string, unknown>>;
  components?: {
    schemas?: Record<string, unknown>;
    securitySchemes?: Record<string, Record<string, unknown>>;
  };
  tags?: Array<{ name: string; description?: string }>;
  security?: Array<Record<string, string[]>>;
  [key: string]: unknown;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export function readCommittedSpec(): OpenApiDocument {
  return JSON.parse(fs.readFileSync(SPEC_JSON, 'utf8')) as OpenApiDocument;
}

export interface LocatedOperation {
  method: string;
  path: string;
  operation: OperationObject;
  /** `GET /v1/segments (listSegments)`, for assertion messages. */
  label: string;
}

/** Every operation of the document, in document order. */
export function operationsOf(document: OpenApiDocument): LocatedOperation[] {
  const found: LocatedOperation[] = [];
  for (const [route, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as OperationObject | undefined;
      if (!operation) continue;
      found.push({ method, path: route, operation, label: `${method.toUpperCase()} ${route} (${operation.operationId ?? 'no operationId'})` });
    }
  }
  return found;
}

export const isJsonMediaType = (mediaType: string): boolean => /^application\/(?:[\w.-]+\+)?json$/.test(mediaType);

/**
 * Validates values against schemas of the document with Ajv (JSON Schema 2020-12, the dialect of
 * OpenAPI 3.1). The component schemas become the `$defs` of one registered schema, and every
 * `#/components/schemas/X` ref (in the schema checked and in the components) is rewritten to it.
 */
export function schemaValidator(document: OpenApiDocument): (schema: unknown, value: unknown) => string[] {
  const id = 'https://audiences.test/openapi-components.json';
  const prefix = '#/components/schemas/';
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.entries(node).map(([key, value]) => {
      if (key !== '$ref' || typeof value !== 'string') return [key, rewrite(value)];
      if (!value.startsWith(prefix)) throw new Error(`unexpected $ref ${value}: only ${prefix}… refs are supported`);
      return [key, `${id}#/$defs/${value.slice(prefix.length)}`];
    }));
  };
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictTuples: false });
  addFormats.default(ajv);
  // Keywords of the OpenAPI 3.1 schema vocabulary: annotations, not assertions.
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  ajv.addSchema({ $id: id, $defs: rewrite(document.components?.schemas ?? {}) });
  const cache = new Map<string, ReturnType<typeof ajv.compile>>();
  return (schema, value) => {
    const key = JSON.stringify(schema);
    let validate = cache.get(key);
    if (!validate) {
      validate = ajv.compile(rewrite(schema) as object);
      cache.set(key, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'} ${JSON.stringify(e.params)}`);
  };
}

/** The JSON schema the document gives for a response of an operation. */
export function responseSchema(document: OpenApiDocument, method: string, route: string, status: number, mediaType = 'application/json'): unknown {
  const operation = document.paths[route]?.[method] as OperationObject | undefined;
  const schema = operation?.responses?.[String(status)]?.content?.[mediaType]?.schema;
  if (schema === undefined) throw new Error(`the spec documents no ${mediaType} ${status} response for ${method.toUpperCase()} ${route}`);
  return schema;
}
