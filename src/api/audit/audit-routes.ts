import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuditLog } from '../../audit/audit-log';
import { pageOf, PaginationQuery } from '../common-schemas';
import { documentExamples } from '../openapi-examples';
import { problemResponses } from '../problem';
import { ref } from '../schema-helpers';

export const AuditEventSchema = Type.Object(
  {
    id: Type.String({ description: 'Increasing with time.' }),
    at: Type.String({ format: 'date-time' }),
    actor: Type.Object({
      tokenId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], { description: 'Null for commands run on the server (`audiences apply`, `audiences token create`).' }),
      name: Type.String({ description: 'The token\'s name at the time, or `cli` / `cli:apply`.' }),
    }, { additionalProperties: false }),
    action: Type.String({ description: '`<resource>.<verb>`, e.g. `segment.update`, `sync.run`, `token.revoke`.' }),
    resource: Type.Object({
      type: Type.String({ description: '`model`, `segment`, `destination`, `sync`, `refresh_run`, `sync_run`, `lookalike`, `token`.' }),
      id: Type.Union([Type.String(), Type.Null()]),
      slug: Type.Union([Type.String(), Type.Null()]),
    }, { additionalProperties: false }),
    requestId: Type.Union([Type.String(), Type.Null()], { description: 'The request\'s `x-request-id`, to find it in the logs.' }),
    before: Type.Unknown({ description: 'The resource before the change (null for creates and runs); secrets redacted.' }),
    after: Type.Unknown({ description: 'The resource after the change (null for deletes); secrets redacted.' }),
  },
  { $id: 'AuditEvent', additionalProperties: false, description: 'One change: who, what, when, from what to what.' },
);

export const AuditEventPageSchema = pageOf(ref(AuditEventSchema), 'AuditEventPage', 'Audit events, newest first.');

documentExamples('listAuditEvents', {
  responses: {
    200: {
      data: [{
        id: '1042', at: '2026-11-25T10:04:12.301Z', actor: { tokenId: '0b8e1c2d-3f4a-4b5c-9d6e-7f8a9b0c1d2e', name: 'ci-apply' },
        action: 'segment.update', resource: { type: 'segment', id: '5f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f', slug: 'us-high-value' },
        requestId: 'b7e0c6a4-1f52-4c1e-9a43-3f0d1c2e5a77',
        before: { slug: 'us-high-value', version: 2, rule: { '>': [{ var: 'ltv' }, 500] } },
        after: { slug: 'us-high-value', version: 3, rule: { '>': [{ var: 'ltv' }, 750] } },
      }],
      nextCursor: 'eyJhZnRlciI6IjEwNDIifQ',
    },
  },
});

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditLog }> = async (app, { audit }) => {
  app.get('/v1/audit-events', {
    schema: {
      operationId: 'listAuditEvents', tags: ['audit'], summary: 'List audit events',
      description: 'Every change made through the API or the CLI, newest first, with the resource before and after (secrets redacted). Filters combine with AND.',
      querystring: Type.Object({
        ...PaginationQuery.properties,
        actorTokenId: Type.Optional(Type.String({ format: 'uuid', description: 'Only changes made with this token.' })),
        action: Type.Optional(Type.String({ maxLength: 64, description: 'Only this action, e.g. `segment.update`.' })),
        resourceType: Type.Optional(Type.String({ maxLength: 32, description: 'Only this resource type, e.g. `sync`.' })),
        resource: Type.Optional(Type.String({ maxLength: 64, description: 'Only this resource, by id or slug.' })),
        since: Type.Optional(Type.String({ format: 'date-time', description: 'At or after this time.' })),
        until: Type.Optional(Type.String({ format: 'date-time', description: 'Before this time.' })),
      }, { additionalProperties: false }),
      response: { 200: { description: 'A page of events.', content: { 'application/json': { schema: ref(AuditEventPageSchema) } } }, ...problemResponses(400) },
    },
  }, async (request) => {
    const { limit, cursor, since, until, ...filters } = request.query;
    return audit.list(
      { ...filters, ...(since ? { since: new Date(since) } : {}), ...(until ? { until: new Date(until) } : {}) },
      { ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) },
    );
  });
};
