import type { Knex } from 'knex';
import { invalidRequest } from '../errors';
import { pageSize, type Page } from '../store/cursor';
import { encodeCursor, decodeCursor } from '../store/cursor';
import { redactSecrets } from './redact';

export interface AuditActor {
  tokenId: string | null;
  /** Token name, or `cli` / `cli:apply` for commands run on the server. */
  name: string;
}

export interface AuditEventInput {
  actor: AuditActor;
  /** `<resource>.<verb>`: `segment.update`, `sync.run`, `token.revoke`, … */
  action: string;
  resourceType: string;
  resourceId: string | null;
  resourceSlug?: string | null;
  requestId?: string | null;
  before?: unknown;
  after?: unknown;
}

export interface AuditEvent {
  id: string;
  at: string;
  actor: { tokenId: string | null; name: string };
  action: string;
  resource: { type: string; id: string | null; slug: string | null };
  requestId: string | null;
  before: unknown;
  after: unknown;
}

interface AuditRow {
  id: string; at: Date; actor_token_id: string | null; actor: string; action: string; resource_type: string;
  resource_id: string | null; resource_slug: string | null; request_id: string | null; before: unknown; after: unknown;
}

export interface AuditFilters {
  actorTokenId?: string;
  action?: string;
  resourceType?: string;
  /** Matches the resource's id or its slug. */
  resource?: string;
  since?: Date;
  until?: Date;
}

const toEvent = (row: AuditRow): AuditEvent => ({
  id: String(row.id), at: row.at.toISOString(), actor: { tokenId: row.actor_token_id, name: row.actor }, action: row.action,
  resource: { type: row.resource_type, id: row.resource_id, slug: row.resource_slug }, requestId: row.request_id,
  before: row.before ?? null, after: row.after ?? null,
});

/** Who is making a change, carried into the service call so its audit event commits with it. */
export interface AuditContext {
  actor: AuditActor;
  requestId?: string | null;
}

/** One change as a service sees it: the public representations around it (deletes: nothing after). */
export interface AuditedChange {
  action: string;
  resourceType: string;
  before: unknown;
  after: unknown;
  /** For resources without an id/slug of their own in `after` (runs name their parent). */
  resourceId?: string | null;
  resourceSlug?: string | null;
}

type Executor = Knex | Knex.Transaction;

const stringField = (value: unknown, key: string): string | null => {
  const v = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : null;
};

/** Inserts one event; with a transaction, the event commits or rolls back with the change it records. */
export async function insertAuditEvent(db: Executor, event: AuditEventInput): Promise<void> {
  await db('audit_events').insert({
    actor_token_id: event.actor.tokenId, actor: event.actor.name, action: event.action,
    resource_type: event.resourceType, resource_id: event.resourceId, resource_slug: event.resourceSlug ?? null,
    request_id: event.requestId ?? null,
    before: event.before === undefined || event.before === null ? null : JSON.stringify(redactSecrets(event.before)),
    after: event.after === undefined || event.after === null ? null : JSON.stringify(redactSecrets(event.after)),
  });
}

/**
 * Records a change inside the transaction that makes it, so a change and its record are never
 * apart: if the event cannot be written the change rolls back. Without a context (internal
 * callers, tests of the service alone) nothing is recorded.
 */
export async function recordChangeWithin(db: Executor, context: AuditContext | undefined, change: AuditedChange): Promise<void> {
  if (!context) return;
  await insertAuditEvent(db, {
    actor: context.actor, requestId: context.requestId ?? null, action: change.action, resourceType: change.resourceType,
    resourceId: change.resourceId ?? stringField(change.after, 'id') ?? stringField(change.before, 'id'),
    resourceSlug: change.resourceSlug ?? stringField(change.after, 'slug') ?? stringField(change.before, 'slug') ?? stringField(change.after, 'name') ?? stringField(change.before, 'name'),
    before: change.before, after: change.after,
  });
}

/** Who changed what, when, from what to what: one row per mutation, secrets redacted before they are stored. */
export class AuditLog {
  constructor(private readonly deps: { db: Knex }) {}

  async record(event: AuditEventInput, options: { db?: Executor } = {}): Promise<void> {
    await insertAuditEvent(options.db ?? this.deps.db, event);
  }

  /** Newest first; the cursor is the last id seen, so pages stay stable while events are added. */
  async list(filters: AuditFilters, options: { limit?: number; cursor?: string }): Promise<Page<AuditEvent>> {
    const after = decodeCursor(options.cursor);
    if (after !== undefined && !/^\d{1,19}$/.test(after)) throw invalidRequest('The cursor is not one this API returned.', [{ parameter: 'cursor', message: 'invalid cursor' }]);
    const limit = pageSize(options);
    const rows: AuditRow[] = await this.deps.db<AuditRow>('audit_events')
      .modify((q) => {
        if (after !== undefined) q.where('id', '<', after);
        if (filters.actorTokenId) q.where('actor_token_id', filters.actorTokenId);
        if (filters.action) q.where('action', filters.action);
        if (filters.resourceType) q.where('resource_type', filters.resourceType);
        if (filters.resource) q.where((w) => w.where('resource_id', filters.resource!).orWhere('resource_slug', filters.resource!));
        if (filters.since) q.where('at', '>=', filters.since);
        if (filters.until) q.where('at', '<', filters.until);
      })
      .orderBy('id', 'desc').limit(limit + 1);
    const data = rows.slice(0, limit).map(toEvent);
    return { data, nextCursor: rows.length > limit ? encodeCursor(data[data.length - 1]!.id) : null };
  }
}

/** Options of every service write the API and `audiences apply` make. */
export interface AuditedWrite {
  audit?: AuditContext;
}
