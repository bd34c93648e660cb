import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../../audit/audit-log';
import { AppError } from '../../errors';
import { isUuid } from '../../store/cursor';

type ResourceType = 'model' | 'segment' | 'destination' | 'sync' | 'refresh_run' | 'sync_run' | 'lookalike' | 'token';

interface AuditedOperation {
  action: string;
  resource: ResourceType;
  /**
   * `service`: the service records the event in the transaction that makes the change (routes
   * pass writeOptionsOf(request)), so a change is never without its record. `hook`: operations
   * that start work (runs, lookalikes) are recorded here once the response is ready; their run
   * records carry the request id too.
   */
  recordedBy: 'service' | 'hook';
  /** Path parameter naming the resource changed (updates, deletes) or its parent (runs). */
  param?: string;
  /** Load the resource before the handler runs, to record what it was. */
  before?: boolean;
  /** Deletes leave nothing after. */
  deletes?: boolean;
}

/** Every operation that changes something, by operationId. Tests check that no mutating route is missing. */
export const AUDITED_OPERATIONS: Record<string, AuditedOperation> = {
  createModel: { recordedBy: 'service', action: 'model.create', resource: 'model' },
  replaceModel: { recordedBy: 'service', action: 'model.replace', resource: 'model' },
  deleteModel: { recordedBy: 'service', action: 'model.delete', resource: 'model' },
  createSegment: { recordedBy: 'service', action: 'segment.create', resource: 'segment' },
  updateSegment: { recordedBy: 'service', action: 'segment.update', resource: 'segment' },
  deleteSegment: { recordedBy: 'service', action: 'segment.delete', resource: 'segment' },
  refreshSegment: { recordedBy: 'hook', action: 'segment.refresh', resource: 'refresh_run', param: 'segment' },
  createDestination: { recordedBy: 'service', action: 'destination.create', resource: 'destination' },
  replaceDestination: { recordedBy: 'service', action: 'destination.replace', resource: 'destination' },
  deleteDestination: { recordedBy: 'service', action: 'destination.delete', resource: 'destination' },
  createSync: { recordedBy: 'service', action: 'sync.create', resource: 'sync' },
  replaceSync: { recordedBy: 'service', action: 'sync.replace', resource: 'sync' },
  deleteSync: { recordedBy: 'service', action: 'sync.delete', resource: 'sync' },
  startSyncRun: { recordedBy: 'hook', action: 'sync.run', resource: 'sync_run', param: 'sync' },
  approveSyncRun: { recordedBy: 'hook', action: 'sync_run.approve', resource: 'sync_run', param: 'run', before: true },
  createLookalike: { recordedBy: 'hook', action: 'lookalike.create', resource: 'lookalike', param: 'sync' },
  createToken: { recordedBy: 'service', action: 'token.create', resource: 'token' },
  revokeToken: { recordedBy: 'service', action: 'token.revoke', resource: 'token' },
};

/** How to read each kind of resource as the API shows it (never with secrets). */
export type ResourceLoaders = Partial<Record<ResourceType, (id: string) => Promise<unknown>>>;

const hookRecorded = (operationId: string | undefined) => {
  const operation = operationId ? AUDITED_OPERATIONS[operationId] : undefined;
  return operation?.recordedBy === 'hook' ? operation : undefined;
};

const operationOf = (request: FastifyRequest) => hookRecorded((request.routeOptions.schema as { operationId?: string } | undefined)?.operationId);

const field = (value: unknown, key: string): string | null => {
  const v = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : null;
};

/**
 * Writes an audit event for each successful operation that starts work (recordedBy: 'hook'), before
 * the response leaves: the actor (token), the action, the resource before (loaded ahead of the
 * handler) and after (the response body), and the request id. Secrets are redacted by the audit log.
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

  // On those routes only: reads and service-recorded writes pay nothing here.
  app.addHook('onRoute', (route) => {
    if (!hookRecorded((route.schema as { operationId?: string } | undefined)?.operationId)) return;
    route.preHandler = [...hooksOf(route.preHandler), loadBefore];
    route.onSend = [...hooksOf(route.onSend), recordChange];
  });
}

function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  return Array.isArray(hooks) ? hooks : hooks ? [hooks] : [];
}
