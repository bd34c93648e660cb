/**
 * Request and response examples for the OpenAPI document, keyed by operationId. @fastify/swagger
 * drops `examples` placed next to a `$ref`, so they are attached to the finished document instead.
 */
export interface OperationExamples {
  request?: unknown;
  responses?: Record<number, unknown>;
}

const registry = new Map<string, OperationExamples>();
const problemExamples = new Map<number, unknown>();

export function documentExamples(operationId: string, examples: OperationExamples): void {
  registry.set(operationId, examples);
}

export function documentProblemExample(status: number, example: unknown): void {
  problemExamples.set(status, example);
}

type Media = { example?: unknown };
type Operation = { operationId?: string; requestBody?: { content?: Record<string, Media> }; responses?: Record<string, { content?: Record<string, Media> }> };

export function addExamples<T extends { paths?: Record<string, Record<string, unknown>> }>(document: T): T {
  for (const methods of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(methods) as Operation[]) {
      const examples = operation.operationId ? registry.get(operation.operationId) : undefined;
      const json = operation.requestBody?.content?.['application/json'];
      if (json && examples?.request !== undefined) json.example = examples.request;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const ok = response.content?.['application/json'];
        if (ok && examples?.responses?.[Number(status)] !== undefined) ok.example = examples.responses[Number(status)];
        const problem = response.content?.['application/problem+json'];
        if (problem && problemExamples.has(Number(status))) problem.example = problemExamples.get(Number(status));
      }
    }
  }
  return document;
}
