import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateOpenApi, openApiJson, openApiYaml } from '../../src/api/generate-openapi';
import { segmentFileSchemas } from '../../src/as-code/file-schemas';
import {
  CLIENT_TYPES, FILE_SCHEMAS_DIR, REGENERATE, REPO_ROOT, SPEC_JSON, SPEC_YAML,
  isJsonMediaType, operationsOf, readCommittedSpec, schemaValidator, type OpenApiDocument,
} from './openapi-document';

let generated: Record<string, unknown>;
let committed: OpenApiDocument;
beforeAll(async () => {
  generated = await generateOpenApi();
  committed = readCommittedSpec();
});

const read = (file: string) => fs.readFileSync(file, 'utf8');

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
    const child = spawn(command, args, { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('committed artifacts are up to date', () => {
  it('openapi/openapi.json is the generated document', () => {
    expect(committed, `openapi/openapi.json is stale: ${REGENERATE}`).toEqual(JSON.parse(JSON.stringify(generated)));
    expect(read(SPEC_JSON) === openApiJson(generated), `openapi/openapi.json is not formatted as generated: ${REGENERATE}`).toBe(true);
  });

  it('openapi/openapi.yaml is the generated document, byte for byte', () => {
    const yaml = read(SPEC_YAML);
    expect(yaml, `openapi/openapi.yaml is stale: ${REGENERATE}`).toBe(openApiYaml(generated));
  });

  it('segments/schema/*.json are the generated definition-file schemas', () => {
    const expected = segmentFileSchemas();
    const onDisk = fs.readdirSync(FILE_SCHEMAS_DIR).filter((name) => name.endsWith('.json')).sort();
    expect(onDisk, `segments/schema/ holds other files than the generated ones: ${REGENERATE}`).toEqual(Object.keys(expected).sort());
    for (const [name, schema] of Object.entries(expected)) {
      const text = read(path.join(FILE_SCHEMAS_DIR, name));
      expect(JSON.parse(text), `segments/schema/${name} is stale: ${REGENERATE}`).toEqual(JSON.parse(JSON.stringify(schema)));
      expect(text === `${JSON.stringify(schema, null, 2)}\n`, `segments/schema/${name} is not formatted as generated: ${REGENERATE}`).toBe(true);
    }
  });

  it('tests/client/openapi.d.ts is what openapi-typescript generates from the committed spec', async () => {
    // The CLI writes COMMENT_HEADER + astToString(openapiTS(file URL)) with every option at its default
    // (no redocly.yaml here; the Redocly config only drives validation, not the output).
    const ast = await openapiTS(pathToFileURL(SPEC_JSON), { silent: true });
    const expected = `${COMMENT_HEADER}${astToString(ast)}`;
    expect(read(CLIENT_TYPES), `tests/client/openapi.d.ts is stale: ${REGENERATE}`).toBe(expected);
  });
});

describe('the document is valid OpenAPI', () => {
  it('validates with swagger-parser', async () => {
    // validate() dereferences in place, hence the clone; its OpenAPI.Document type is not ours to import.
    await expect(SwaggerParser.validate(structuredClone(committed) as never)).resolves.toBeTruthy();
  });

  it('has no errors or warnings in redocly lint', async () => {
    const pkgDir = path.join(REPO_ROOT, 'node_modules', '@redocly', 'cli');
    const { bin } = JSON.parse(read(path.join(pkgDir, 'package.json'))) as { bin: Record<string, string> };
    const cli = path.join(pkgDir, bin.redocly ?? 'bin/cli.js');
    const { code, stdout, stderr } = await run(process.execPath, [cli, 'lint', 'openapi/openapi.json', '--format=json']);
    // Redocly may print banners (the Node 20 deprecation notice) around the report: take the JSON object.
    const start = stdout.search(/^\{/m);
    const end = stdout.lastIndexOf('}');
    expect(start >= 0 && end > start, `no JSON report from redocly lint (exit ${code}):\n${stdout}\n${stderr}`).toBe(true);
    const report = JSON.parse(stdout.slice(start, end + 1)) as {
      totals: { errors: number; warnings: number };
      problems: Array<{ ruleId: string; severity: string; message: string; location?: Array<{ pointer?: string }> }>;
    };
    expect(Array.isArray(report.problems)).toBe(true);
    const errors = report.problems
      .filter((p) => p.severity === 'error')
      .map((p) => `${p.ruleId}: ${p.message} at ${p.location?.map((l) => l.pointer).join(', ') ?? '?'}`);
    expect(errors, `redocly lint reports errors:\n${errors.join('\n')}`).toEqual([]);
    expect(report.totals.errors).toBe(0);
    // Warnings too: the few accepted ones are listed, with reasons, in .redocly.lint-ignore.yaml.
    const warnings = report.problems.filter((p) => p.severity === 'warn').map((p) => `${p.ruleId}: ${p.message} at ${p.location?.map((l) => l.pointer).join(', ') ?? '?'}`);
    expect(warnings).toEqual([]);
    expect(code, stderr).toBe(0);
  }, 60_000);
});

describe('house rules', () => {
  it('is OpenAPI 3.1', () => {
    expect(committed.openapi).toMatch(/^3\.1\.\d+$/);
  });

  it('names every operation with a unique camelCase operationId', () => {
    const ids = operationsOf(committed).map(({ operation, label }) => {
      expect(operation.operationId, label).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      return operation.operationId;
    });
    expect(ids.length).toBeGreaterThan(0);
    const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(duplicates, 'duplicate operationIds').toEqual([]);
  });

  it('tags, summarises and describes every operation', () => {
    const declared = new Set((committed.tags ?? []).map((t) => t.name));
    expect(declared.size).toBeGreaterThan(0);
    for (const { operation, label } of operationsOf(committed)) {
      expect(operation.tags?.length ?? 0, `${label} has no tag`).toBeGreaterThan(0);
      for (const tag of operation.tags ?? []) expect(declared.has(tag), `${label}: tag "${tag}" is not declared in top-level tags`).toBe(true);
      expect(operation.summary?.trim(), `${label} has no summary`).toBeTruthy();
      expect(operation.description?.trim(), `${label} has no description`).toBeTruthy();
    }
  });

  it('answers every error with an application/problem+json Problem, and documents 500 everywhere', () => {
    for (const { operation, label } of operationsOf(committed)) {
      const responses = operation.responses ?? {};
      expect(Object.keys(responses), `${label} does not document 500`).toContain('500');
      for (const [status, response] of Object.entries(responses)) {
        if (!/^[45]/.test(status)) continue;
        expect(Object.keys(response.content ?? {}), `${label} ${status}: error content types`).toEqual(['application/problem+json']);
        expect(response.content?.['application/problem+json']?.schema, `${label} ${status}: error schema`).toEqual({ $ref: '#/components/schemas/Problem' });
      }
    }
  });

  it('names every component schema (no def-N)', () => {
    const names = Object.keys(committed.components?.schemas ?? {});
    expect(names).toContain('Problem');
    expect(names.filter((name) => /^def-\d+$/.test(name))).toEqual([]);
  });

  it('declares bearer authentication and requires it', () => {
    const scheme = committed.components?.securitySchemes?.bearerAuth;
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(committed.security).toEqual(expect.arrayContaining([expect.objectContaining({ bearerAuth: [] })]));
  });

  it('gives every JSON request body and every 2xx JSON response an example', () => {
    const missing: string[] = [];
    for (const { operation, label } of operationsOf(committed)) {
      for (const [mediaType, media] of Object.entries(operation.requestBody?.content ?? {})) {
        if (isJsonMediaType(mediaType) && media.example === undefined && media.examples === undefined) missing.push(`${label} request ${mediaType}`);
      }
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (!/^2/.test(status)) continue;
        for (const [mediaType, media] of Object.entries(response.content ?? {})) {
          if (isJsonMediaType(mediaType) && media.example === undefined && media.examples === undefined) missing.push(`${label} ${status} ${mediaType}`);
        }
      }
    }
    expect(missing, `examples missing:\n${missing.join('\n')}`).toEqual([]);
  });

  it('has examples that are valid against their schemas', () => {
    const validate = schemaValidator(committed);
    const invalid: string[] = [];
    let checked = 0;
    const check = (where: string, schema: unknown, value: unknown) => {
      checked += 1;
      const errors = validate(schema, value);
      if (errors.length) invalid.push(`${where}:\n  ${errors.join('\n  ')}`);
    };
    const checkMedia = (where: string, content: Record<string, { schema?: unknown; example?: unknown; examples?: Record<string, { value?: unknown }> }> | undefined) => {
      for (const [mediaType, media] of Object.entries(content ?? {})) {
        if (media.schema === undefined) continue;
        if (media.example !== undefined) check(`${where} ${mediaType} example`, media.schema, media.example);
        for (const [name, example] of Object.entries(media.examples ?? {})) {
          if (example.value !== undefined) check(`${where} ${mediaType} examples.${name}`, media.schema, example.value);
        }
      }
    };
    for (const { operation, label } of operationsOf(committed)) {
      checkMedia(`${label} request`, operation.requestBody?.content);
      for (const [status, response] of Object.entries(operation.responses ?? {})) checkMedia(`${label} ${status}`, response.content);
      for (const parameter of operation.parameters ?? []) {
        if (parameter.example !== undefined && parameter.schema) check(`${label} parameter ${parameter.name}`, parameter.schema, parameter.example);
      }
    }
    expect(invalid, `invalid examples:\n${invalid.join('\n')}`).toEqual([]);
    // Every operation has at least one example; a run that checked none would prove nothing.
    expect(checked).toBeGreaterThanOrEqual(operationsOf(committed).length);
  });

  it('marks a parameter with a default as optional', () => {
    // A server-side default only applies when the client may omit the parameter; a required
    // parameter with a default forces every generated client to send it.
    const contradictions: string[] = [];
    for (const { operation, label } of operationsOf(committed)) {
      for (const parameter of operation.parameters ?? []) {
        if (parameter.required && parameter.schema?.default !== undefined) contradictions.push(`${label}: ${parameter.in} parameter "${parameter.name}" is required but has default ${JSON.stringify(parameter.schema.default)}`);
      }
    }
    expect(contradictions, contradictions.join('\n')).toEqual([]);
  });
});
