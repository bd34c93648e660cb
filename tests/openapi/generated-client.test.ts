import type { AddressInfo } from 'node:net';
import createClient from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components, paths } from '../client/openapi';
import { startTestService, type TestService } from '../support/test-service';
import { readCommittedSpec, responseSchema, schemaValidator } from './openapi-document';

type Problem = components['schemas']['Problem'];

/**
 * A client generated from the committed spec (openapi-typescript types + openapi-fetch) drives the
 * service over real HTTP: if the spec and the server disagree, this either fails to type-check or fails here.
 */
let service: TestService;
let client: ReturnType<typeof createClient<paths>>;

const spec = readCommittedSpec();
const validate = schemaValidator(spec);
/** The body conforms to the schema the spec gives for that response. */
function expectConforms(method: string, route: string, status: number, body: unknown, mediaType = 'application/json') {
  expect(validate(responseSchema(spec, method, route, status, mediaType), body), `${method.toUpperCase()} ${route} ${status} does not match the spec`).toEqual([]);
}

beforeAll(async () => {
  service = await startTestService();
  await service.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = service.app.server.address() as AddressInfo;
  client = createClient<paths>({ baseUrl: `http://127.0.0.1:${port}`, headers: { authorization: `Bearer ${service.adminToken}` } });
});
afterAll(async () => { await service?.close(); });

const people: components['schemas']['ModelDefinition'] = {
  slug: 'people',
  name: 'People',
  description: 'The demo customers again, with fewer attributes.',
  schema: 'demo',
  table: 'customers',
  primaryKey: 'customer_id',
  attributes: [
    { name: 'customer_id', type: 'integer' },
    { name: 'email', type: 'string' },
    { name: 'country', type: 'string' },
    { name: 'ltv', type: 'number' },
  ],
  identifiers: { email: 'email', country: 'country' },
};

describe('generated TypeScript client', () => {
  it('creates a model and a segment, updates with If-Match, lists versions, deletes', async () => {
    const createdModel = await client.POST('/v1/models', { body: people });
    expect(createdModel.error).toBeUndefined();
    expect(createdModel.response.status).toBe(201);
    expect(createdModel.response.headers.get('etag')).toBe('"1"');
    expect(createdModel.response.headers.get('location')).toBe('/v1/models/people');
    expect(createdModel.data).toMatchObject({ slug: 'people', version: 1, schema: 'demo', table: 'customers', primaryKey: 'customer_id' });
    expectConforms('post', '/v1/models', 201, createdModel.data);

    const model = await client.GET('/v1/models/{model}', { params: { path: { model: 'people' } } });
    expect(model.response.status).toBe(200);
    expect(model.data?.attributes.map((a) => [a.name, a.type])).toEqual([['customer_id', 'integer'], ['email', 'string'], ['country', 'string'], ['ltv', 'number']]);
    expect(model.data?.id).toBe(createdModel.data?.id);
    expectConforms('get', '/v1/models/{model}', 200, model.data);

    const rule = { and: [{ '==': [{ var: 'country' }, 'FR'] }, { '>': [{ var: 'ltv' }, 100] }] };
    const createdSegment = await client.POST('/v1/segments', {
      body: { slug: 'people-fr-valuable', name: 'Valuable French people', model: 'people', rule, tags: ['client-test'] },
    });
    expect(createdSegment.error).toBeUndefined();
    expect(createdSegment.response.status).toBe(201);
    expect(createdSegment.response.headers.get('etag')).toBe('"1"');
    expect(createdSegment.data).toMatchObject({ slug: 'people-fr-valuable', model: 'people', version: 1, description: '', tags: ['client-test'], rule });
    expectConforms('post', '/v1/segments', 201, createdSegment.data);
    const segmentId = createdSegment.data?.id;
    expect(segmentId).toMatch(/^[0-9a-f-]{36}$/);

    // `limit` is passed because the spec marks it required (see spec.test.ts: a parameter with a default should be optional).
    const listed = await client.GET('/v1/segments', { params: { query: { limit: 200, model: 'people' } } });
    expect(listed.response.status).toBe(200);
    expect(listed.data?.data.map((s) => s.slug)).toEqual(['people-fr-valuable']);
    expect(listed.data?.nextCursor).toBeNull();
    expectConforms('get', '/v1/segments', 200, listed.data);

    const fetched = await client.GET('/v1/segments/{segment}', { params: { path: { segment: 'people-fr-valuable' } } });
    expect(fetched.response.status).toBe(200);
    expect(fetched.data?.id).toBe(segmentId);
    const etag = fetched.response.headers.get('etag');
    expect(etag).toBe('"1"');
    expectConforms('get', '/v1/segments/{segment}', 200, fetched.data);

    const updated = await client.PATCH('/v1/segments/{segment}', {
      params: { path: { segment: 'people-fr-valuable' }, header: { 'if-match': etag ?? '' } },
      body: { name: 'Very valuable French people', rule: { and: [{ '==': [{ var: 'country' }, 'FR'] }, { '>': [{ var: 'ltv' }, 1000] }] } },
    });
    expect(updated.error).toBeUndefined();
    expect(updated.response.status).toBe(200);
    expect(updated.response.headers.get('etag')).toBe('"2"');
    expect(updated.data).toMatchObject({ name: 'Very valuable French people', version: 2 });
    expectConforms('patch', '/v1/segments/{segment}', 200, updated.data);

    const stale = await client.PATCH('/v1/segments/{segment}', {
      params: { path: { segment: 'people-fr-valuable' }, header: { 'if-match': '"1"' } },
      body: { name: 'Lost update' },
    });
    expect(stale.data).toBeUndefined();
    expect(stale.response.status).toBe(412);
    expect(stale.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // The client types the error body as the spec's Problem.
    const problem: Problem | undefined = stale.error;
    expect(problem).toMatchObject({ status: 412, title: 'Precondition failed', instance: '/v1/segments/people-fr-valuable' });
    expect(problem?.requestId).toBe(stale.response.headers.get('x-request-id'));
    expectConforms('patch', '/v1/segments/{segment}', 412, problem, 'application/problem+json');

    const versions = await client.GET('/v1/segments/{segment}/versions', { params: { path: { segment: segmentId ?? '' }, query: { limit: 50 } } });
    expect(versions.response.status).toBe(200);
    expect(versions.data?.data.map((v) => [v.version, v.name])).toEqual([[2, 'Very valuable French people'], [1, 'Valuable French people']]);
    expect(versions.data?.data[1]?.rule).toEqual(rule);
    expectConforms('get', '/v1/segments/{segment}/versions', 200, versions.data);

    const deleted = await client.DELETE('/v1/segments/{segment}', { params: { path: { segment: 'people-fr-valuable' }, header: { 'if-match': '"2"' } } });
    expect(deleted.error).toBeUndefined();
    expect(deleted.response.status).toBe(204);

    const gone = await client.GET('/v1/segments/{segment}', { params: { path: { segment: 'people-fr-valuable' } } });
    expect(gone.response.status).toBe(404);
    expect(gone.error?.status).toBe(404);
    expectConforms('get', '/v1/segments/{segment}', 404, gone.error, 'application/problem+json');

    const modelDeleted = await client.DELETE('/v1/models/{model}', { params: { path: { model: 'people' } } });
    expect(modelDeleted.error).toBeUndefined();
    expect(modelDeleted.response.status).toBe(204);
    const modelGone = await client.GET('/v1/models/{model}', { params: { path: { model: 'people' } } });
    expect(modelGone.response.status).toBe(404);
    expect(modelGone.error?.title).toBe('Not found');
  });

  it('gets a 400 problem pointing at an unknown attribute', async () => {
    const res = await client.POST('/v1/segments', {
      body: { slug: 'bad-attribute', name: 'Bad attribute', model: 'customers', rule: { and: [{ '==': [{ var: 'country' }, 'US'] }, { '>': [{ var: 'ltvv' }, 10] }] } },
    });
    expect(res.data).toBeUndefined();
    expect(res.response.status).toBe(400);
    expect(res.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem: Problem | undefined = res.error;
    expect(problem?.status).toBe(400);
    expect(problem?.errors?.[0]?.pointer).toBe('/rule/and/1/>/0/var');
    expect(problem?.errors?.[0]?.message).toContain('ltvv');
    expectConforms('post', '/v1/segments', 400, problem, 'application/problem+json');
    const notCreated = await client.GET('/v1/segments/{segment}', { params: { path: { segment: 'bad-attribute' } } });
    expect(notCreated.response.status).toBe(404);
  });
});
