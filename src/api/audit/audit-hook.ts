import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../../audit/audit-log';
import { AppError } from '../../errors';
import { isUuid } from '../../store/cursor';

type ResourceType = 'model' | 'segment' | 'destination' | 'sync' | 'refresh_run' | 'sync_run' | 'lookalike' | 'token';

interface AuditedOperation {
  action: string;
  resource: ResourceType;
  /** Path parameter naming the resource changed (updates, deletes) or its parent (runs). */
  param?: string;
  /** Load the resource before the handler runs, to record what it was. */
  before?: boolean;
  /** Deletes leave nothing after. */
  deletes?: boolean;
}

/** Every operation that changes something, by operationId. Tests check that no mutating route is missing. */
export const AUDITED_OPERATIONS: Record<string, AuditedOperation> = {
  createModel: { action: 'model.create', resource: 'model' },
  replaceModel: { action: 'model.replace', resource: 'model', param: 'model', before: true },
  deleteModel: { action: 'model.delete', resource: 'model', param: 'model', before: true, deletes: true },
  createSegment: { action: 'segment.create', resource: 'segment' },
  updateSegment: { action: 'segment.update', resource: 'segment', param: 'segment', before: true },
  deleteSegment: { action: 'segment.delete', resource: 'segment', param: 'segment', before: true, deletes: true },
  refreshSegment: { action: 'segment.refresh', resource: 'refresh_run', param: 'segment' },
  createDestination: { action: 'destination.create', resource: 'destination' },
  replaceDestination: { action: 'destination.replace', resource: 'destination', param: 'destination', before: true },
  deleteDestination: { action: 'destination.delete', resource: 'destination', param: 'destination', before: true, deletes: true },
  createSync: { action: 'sync.create', resource: 'sync' },
  replaceSync: { action: 'sync.replace', resource: 'sync', param: 'sync', before: true },
  deleteSync: { action: 'sync.delete', resource: 'sync', param: 'sync', before: true, deletes: true },
  startSyncRun: { action: 'sync.run', resource: 'sync_run', param: 'sync' },
  approveSyncRun: { action: 'sync_run.approve', resource: 'sync_run', param: 'run', before: true },
  createLookalike: { action: 'lookalike.create', resource: 'lookalike', param: 'sync' },
  createToken: { action: 'token.create', resource: 'token' },
  revokeToken: { action: 'token.revoke', resource: 'token', param: 'token', before: true },
};

/** How to read each kind of resource as the API shows it (never with secrets). */
export type ResourceLoaders = Partial<Record<ResourceType, (id: string) => Promise<unknown>>>;

const operationOf = (request: FastifyRequest) => {
  const id = (request.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
  return id ? AUDITED_OPERATIONS[id] : undefined;
};

const field = (value: unknown, key: string): string | null => {
  const v = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : null;
};

/**
 * Writes an audit event for every successful mutation, before the response leaves: the actor
 * (token), the action, the resource before (loaded ahead of the handler) and after (the response
 * body), and the request id. Secrets are redacted by the audit log itself.
 */
export function registerAuditTrail(app: FastifyInstance, options: { audit: AuditLog; loaders: ResourceLoaders }): void {
  const before = new WeakMap<FastifyRequest, unknown>();

  const loadBefore = async (request: FastifyRequest) => {
    const operation = operationOf(request);
    if (!operation?.before || !operation.param) return;
    const id = (request.params as Record<string, string>)[operation.param];
    const load = options.loaders[operation.resource];
    if (!id || !load) return;
    try {
      before.set(request, await load(id));
    } catch (error) {
      // The handler reports a missing resource itself.
      if (!(error instanceof AppError && error.status === 404)) throw error;
    }
  };

  const recordChange = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const operation = operationOf(request);
    if (!operation || reply.statusCode >= 400) return payload;
    // A replayed Idempotency-Key changed nothing.
    if (reply.getHeader('idempotent-replayed') === 'true') return payload;
    let after: unknown = null;
    if (!operation.deletes && typeof payload === 'string' && payload.length) {
      try { after = JSON.parse(payload); } catch { after = null; }
    }
    const body = request.body as { credentials?: unknown } | undefined;
    // Which credential fields were set (values redacted), since responses never carry them.
    if (after && body && typeof body === 'object' && body.credentials !== undefined) after = { ...(after as object), credentials: body.credentials };
    const was = before.get(request) ?? null;
    const param = operation.param ? (request.params as Record<string, string>)[operation.param] ?? null : null;
    const ownParam = operation.before ? param : null;
    const resourceId = field(after, 'id') ?? field(was, 'id') ?? (ownParam && isUuid(ownParam) ? ownParam : null);
    const resourceSlug = field(after, 'slug') ?? field(was, 'slug') ?? field(after, 'name')
      ?? (param && !isUuid(param) ? param : null);
    try {
      await options.audit.record({
        actor: { tokenId: request.principal?.tokenId ?? null, name: request.principal?.name ?? 'anonymous' },
        action: operation.action, resourceType: operation.resource, resourceId, resourceSlug,
        requestId: String(request.id), before: was, after,
      });
    } catch (error) {
      // The change is made; losing its record must at least be loud.
      request.log.error({ err: error, action: operation.action, resourceId }, 'audit event could not be written');
    }
    return payload;
  };

  // On the audited routes only: reads pay nothing for the audit trail.
  app.addHook('onRoute', (route) => {
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (!operationId || !AUDITED_OPERATIONS[operationId]) return;
    route.preHandler = [...hooksOf(route.preHandler), loadBefore];
    route.onSend = [...hooksOf(route.onSend), recordChange];
  });
}

function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  return Array.isArray(hooks) ? hooks : hooks ? [hooks] : [];
}
