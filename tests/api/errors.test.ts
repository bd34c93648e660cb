import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service';

let service: TestService;
beforeAll(async () => { service = await startTestService({ applySegments: false }); });
afterAll(async () => { await service?.close(); });

const expectProblem = (res: { statusCode: number; headers: Record<string, unknown>; json(): any }, status: number) => {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^https:\/\//), title: expect.any(String), detail: expect.any(String), requestId: expect.any(String) });
  expect(res.headers['x-request-id']).toBe(body.requestId);
  return body;
};

describe('problem responses', () => {
  it('404 for unknown routes and resources', async () => {
    expectProblem(await service.app.inject({ url: '/v1/nope' }), 404);
    const body = expectProblem(await service.app.inject({ url: '/v1/segments/missing' }), 404);
    expect(body.instance).toBe('/v1/segments/missing');
  });

  it('415 for bodies that are not JSON', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      expectProblem(await service.app.inject({ method: 'POST', url: '/v1/segments', headers: { 'content-type': type }, payload: 'slug=x' }), 415);
    }
  });

  it('400 with a pointer for malformed JSON, a missing body, wrong types and unknown fields', async () => {
    const malformed = expectProblem(await service.app.inject({ method: 'POST', url: '/v1/segments', headers: { 'content-type': 'application/json' }, payload: '{"slug": ' }), 400);
    expect(malformed.errors[0].pointer).toBe('');
    expectProblem(await service.app.inject({ method: 'POST', url: '/v1/segments', headers: { 'content-type': 'application/json' }, payload: '' }), 400);
    const typed = expectProblem(await service.app.inject({
      method: 'POST', url: '/v1/segments', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ slug: 'ok', name: 7, model: 'customers', rule: true, tags: ['a', 'a'], colour: 'red' }),
    }), 400);
    expect(typed.errors).toEqual(expect.arrayContaining([
      { pointer: '/name', message: 'must be string' },
      { pointer: '/colour', message: 'is not a known property' },
      expect.objectContaining({ pointer: '/tags' }),
    ]));
    const missing = expectProblem(await service.app.inject({ method: 'POST', url: '/v1/segments', headers: { 'content-type': 'application/json' }, payload: '{}' }), 400);
    expect(missing.errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(['/model', '/name', '/rule', '/slug']);
  });

  it('does not coerce body types', async () => {
    const res = await service.app.inject({ method: 'POST', url: '/v1/models', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ slug: 'm', name: 'M', table: 'customers', primaryKey: 'customer_id', attributes: [{ name: 'x', type: 'string' }], relationships: 'none' }) });
    expect(expectProblem(res, 400).errors).toEqual([{ pointer: '/relationships', message: 'must be array' }]);
  });

  it('400 naming the parameter for bad query strings', async () => {
    const body = expectProblem(await service.app.inject({ url: '/v1/segments?limit=500' }), 400);
    expect(body.errors).toEqual([{ parameter: 'limit', message: 'must be <= 200' }]);
  });

  it('413 for bodies over the limit, and nothing is written', async () => {
    const payload = JSON.stringify({ slug: 'huge', name: 'x'.repeat(2 * 1024 * 1024), model: 'customers', rule: true });
    expectProblem(await service.app.inject({ method: 'POST', url: '/v1/segments', headers: { 'content-type': 'application/json' }, payload }), 413);
    expect((await service.app.inject({ url: '/v1/segments/huge' })).statusCode).toBe(404);
  });

  it('500 without stack traces or internals, and the request id to quote', async () => {
    // Take the metadata store away underneath the running app: a genuine internal failure.
    await service.runtime.db.raw('alter table segments rename to segments_gone');
    try {
      const res = await service.app.inject({ url: '/v1/segments', headers: { 'x-request-id': 'trace-me-42' } });
      const body = expectProblem(res, 500);
      expect(body.requestId).toBe('trace-me-42');
      expect(Object.keys(body).sort()).toEqual(['detail', 'instance', 'requestId', 'status', 'title', 'type']);
      expect(res.body).not.toMatch(/segments_gone|relation|stack|at \w+ \(|\.ts:/);
    } finally {
      await service.runtime.db.raw('alter table segments_gone rename to segments');
    }
  });
});
