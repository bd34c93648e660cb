import type { Knex } from 'knex';
import { recordChangeWithin, type AuditedWrite } from '../audit/audit-log';
import { AppError, invalidRequest, notFound } from '../errors';
import { decodeCursor, isUuid, pageSize, toPage, type Page } from '../store/cursor';
import { grants, SCOPES, type Scope } from './scopes';
import { displayPrefix, EXTERNAL_TOKEN, hashToken, newTokenText } from './token-text';

interface TokenRow {
  id: string; name: string; token_hash: Buffer; prefix: string; scopes: string[]; created_by: string;
  created_at: Date; expires_at: Date | null; last_used_at: Date | null; revoked_at: Date | null;
}

export interface TokenResource {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Who is calling: what the auth hook puts on the request. */
export interface Principal {
  tokenId: string;
  name: string;
  scopes: Scope[];
}

const toResource = (row: TokenRow): TokenResource => ({
  id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes as Scope[], createdBy: row.created_by,
  createdAt: row.created_at.toISOString(), expiresAt: row.expires_at?.toISOString() ?? null,
  lastUsedAt: row.last_used_at?.toISOString() ?? null, revokedAt: row.revoked_at?.toISOString() ?? null,
});

export const unauthorized = (detail: string) => new AppError(401, 'Unauthorized', detail);

interface CacheEntry { principal: Principal | null; expiresAtMs: number; tokenExpiresAtMs: number | null }

export interface TokensServiceOptions {
  db: Knex;
  /**
   * How long a verified token is trusted without asking the database again. A revocation made
   * by this process takes effect at once; one made by another process within this time.
   */
  cacheTtlMs?: number;
  /** Entries per cache (valid tokens, unknown ones) before it starts over. */
  cacheMaxEntries?: number;
  now?: () => number;
}

/** API tokens: created once and shown once, stored as SHA-256, revoked rather than deleted (the audit log refers to them). */
export class TokensService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly unknown = new Map<string, CacheEntry>();
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly deps: TokensServiceOptions) {
    this.ttlMs = deps.cacheTtlMs ?? 5_000;
    this.now = deps.now ?? Date.now;
  }

  async create(input: { name: string; scopes: Scope[]; expiresAt?: Date | null; createdBy: string; tokenText?: string }, options: AuditedWrite = {}): Promise<TokenResource & { token: string }> {
    const scopes = [...new Set(input.scopes)].sort((a, b) => SCOPES.indexOf(a) - SCOPES.indexOf(b));
    if (!scopes.length) throw invalidRequest('A token needs at least one scope.', [{ pointer: '/scopes', message: `must hold at least one of ${SCOPES.join(', ')}` }]);
    if (input.expiresAt && input.expiresAt.getTime() <= this.now()) {
      throw invalidRequest('The token would already be expired.', [{ pointer: '/expiresAt', message: 'must be in the future' }]);
    }
    const token = input.tokenText ?? newTokenText();
    const resource = await this.deps.db.transaction(async (trx) => {
      const [row] = await trx<TokenRow>('api_tokens').insert({
        name: input.name, token_hash: hashToken(token), prefix: displayPrefix(token), scopes, created_by: input.createdBy,
        expires_at: input.expiresAt ?? null,
      }).returning('*');
      const created = toResource(row as TokenRow);
      await recordChangeWithin(trx, options.audit, { action: 'token.create', resourceType: 'token', before: null, after: created });
      return created;
    });
    // A token chosen by the operator may have been tried before it existed.
    this.unknown.delete(token);
    return { ...resource, token };
  }

  /**
   * AUDIENCES_BOOTSTRAP_TOKEN: an admin token chosen by the operator (or a deployment's secret
   * store). Registered once; an existing one is left alone, a revoked one stays revoked.
   */
  async ensureBootstrap(tokenText: string, options: AuditedWrite = {}): Promise<{ created: boolean }> {
    if (!EXTERNAL_TOKEN.test(tokenText)) throw new AppError(500, 'Configuration error', 'AUDIENCES_BOOTSTRAP_TOKEN must be 32 to 256 characters of A-Z a-z 0-9 _ -.');
    const existing = await this.deps.db<TokenRow>('api_tokens').where({ token_hash: hashToken(tokenText) }).first();
    if (existing) return { created: false };
    await this.create({ name: 'bootstrap', scopes: ['admin'], createdBy: 'bootstrap', tokenText }, options);
    return { created: true };
  }

  async activeCount(): Promise<number> {
    const [row] = await this.deps.db('api_tokens').whereNull('revoked_at').count<{ count: string }[]>({ count: '*' });
    return Number(row?.count ?? 0);
  }

  async list(options: { limit?: number; cursor?: string; includeRevoked?: boolean }): Promise<Page<TokenResource>> {
    const after = decodeCursor(options.cursor);
    const rows = await this.deps.db<TokenRow>('api_tokens')
      .modify((q) => {
        if (after !== undefined) q.where('id', '>', after);
        if (!options.includeRevoked) q.whereNull('revoked_at');
      })
      .orderBy('id').limit(pageSize(options) + 1);
    return toPage(rows.map(toResource), pageSize(options), (t) => t.id);
  }

  async get(id: string): Promise<TokenResource> {
    const row = isUuid(id) ? await this.deps.db<TokenRow>('api_tokens').where({ id }).first() : undefined;
    if (!row) throw notFound(`Token "${id}" does not exist.`);
    return toResource(row);
  }

  /** Idempotent: revoking a revoked token keeps the first revocation time. */
  async revoke(id: string, options: AuditedWrite = {}): Promise<TokenResource> {
    await this.get(id);
    await this.deps.db.transaction(async (trx) => {
      const before = await trx<TokenRow>('api_tokens').where({ id }).forUpdate().first();
      const [row] = await trx<TokenRow>('api_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() as never }).returning('*');
      // Revoking a revoked token changes nothing, and records nothing.
      if (row) await recordChangeWithin(trx, options.audit, { action: 'token.revoke', resourceType: 'token', before: toResource(before!), after: toResource(row as TokenRow) });
    });
    for (const [hash, entry] of this.cache) if (entry.principal?.tokenId === id) this.cache.delete(hash);
    return this.get(id);
  }

  /** The principal a bearer token stands for, or a 401 saying why not (without echoing the token). */
  async authenticate(tokenText: string): Promise<Principal> {
    const now = this.now();
    let entry = this.cached(tokenText, now);
    if (!entry) {
      entry = await this.lookup(hashToken(tokenText), now);
      // Unknown tokens have a map of their own: a flood of made-up ones clears that map, never the valid tokens'.
      const [cache, other] = entry.principal ? [this.cache, this.unknown] : [this.unknown, this.cache];
      if (cache.size >= (this.deps.cacheMaxEntries ?? 10_000)) cache.clear();
      cache.set(tokenText, entry);
      other.delete(tokenText);
    }
    if (!entry.principal) throw unauthorized('The bearer token is not valid (unknown, revoked or expired).');
    if (entry.tokenExpiresAtMs !== null && entry.tokenExpiresAtMs <= now) throw unauthorized('The bearer token has expired.');
    this.touch(entry.principal.tokenId, now);
    return entry.principal;
  }

  /**
   * Whether authenticating this token would ask the database about a token this process has no
   * reason to believe in: not known as valid here (however long ago it was checked), and not
   * recently found unknown either.
   */
  isUnfamiliar(tokenText: string): boolean {
    return !this.cache.has(tokenText) && !this.cached(tokenText, this.now());
  }

  // Keyed by the token itself (this process's memory only): hashing every request cost ~5% of a cached GET.
  private cached(tokenText: string, now: number): CacheEntry | undefined {
    for (const cache of [this.cache, this.unknown]) {
      const entry = cache.get(tokenText);
      if (entry && entry.expiresAtMs > now) return entry;
    }
    return undefined;
  }

  private async lookup(hash: Buffer, now: number): Promise<CacheEntry> {
    const row = await this.deps.db<TokenRow>('api_tokens').where({ token_hash: hash }).first();
    const valid = row && !row.revoked_at && (!row.expires_at || row.expires_at.getTime() > now);
    return {
      principal: valid ? { tokenId: row.id, name: row.name, scopes: row.scopes as Scope[] } : null,
      // Unknown tokens are remembered briefly too, so a client retrying a bad token does not cost a query each time.
      expiresAtMs: now + this.ttlMs,
      tokenExpiresAtMs: row?.expires_at?.getTime() ?? null,
    };
  }

  /** last_used_at at minute precision: one write per token per minute, off the request path. */
  private touch(tokenId: string, now: number): void {
    const last = this.lastUsedWritten.get(tokenId) ?? 0;
    if (now - last < 60_000) return;
    this.lastUsedWritten.set(tokenId, now);
    this.deps.db('api_tokens').where({ id: tokenId }).update({ last_used_at: new Date(now) }).catch(() => {
      this.lastUsedWritten.delete(tokenId);
    });
  }
}

export { grants };
