import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../../audit/audit-log';

/** Who is asking, as the audit log names them: the token behind the request, and the request's id. */
export function auditContextOf(request: FastifyRequest): AuditContext {
  return {
    actor: { tokenId: request.principal?.tokenId ?? null, name: request.principal?.name ?? 'anonymous' },
    requestId: String(request.id),
  };
}

/**
 * Options for a service write made by a request: its audit context (the service records the event
 * in the transaction that makes the change) and its If-Match precondition, when it has one.
 */
export function writeOptionsOf(request: FastifyRequest): { audit: AuditContext; ifMatch?: string } {
  const ifMatch = request.headers['if-match'];
  return { audit: auditContextOf(request), ...(typeof ifMatch === 'string' ? { ifMatch } : {}) };
}
