import Ajv, { type AnySchema } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

/**
 * Two validators: bodies are validated strictly (no type coercion, unknown properties are
 * errors, every error reported), while query strings, path parameters and headers coerce
 * strings to the declared types, as they only ever arrive as strings.
 */
export function registerValidators(app: FastifyInstance, sharedSchemas: AnySchema[]): void {
  const make = (coerceTypes: boolean | 'array') => {
    const ajv = new Ajv({ allErrors: true, coerceTypes, useDefaults: true, removeAdditional: false, strict: false });
    addFormats.default(ajv);
    for (const schema of sharedSchemas) ajv.addSchema(schema);
    return ajv;
  };
  const bodyAjv = make(false);
  const paramsAjv = make('array');
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : paramsAjv).compile(schema));
}
