import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Knex } from 'knex';
import { recordChangeWithin, type AuditedWrite } from '../audit/audit-log';
import { validationDetails } from '../api/problem';
import { AppError, conflict, invalidRequest, notFound, type ProblemDetail } from '../errors';
import { uniqueViolation } from '../models/models-service';
import { decodeCursor, isUuid, pageSize, toPage, type Page } from '../store/cursor';
import { checkIfMatch } from '../store/etag';
import { DestinationError, type ConnectionCheck, type Destination, type DestinationKind } from './destination';
import type { DestinationDefinition, DestinationResource } from './destination-schema';
import type { DestinationRegistry } from './registry';
import { envelopeKeyId, SecretKeyError, type SecretBox } from './secret-box';

interface DestinationRow {
  id: string; slug: string; name: string; kind: string; config: Record<string, unknown>; credentials: string | null;
  credential_fields: string[]; version: number; created_at: Date; updated_at: Date;
}

const toResource = (row: DestinationRow, registry: DestinationRegistry): DestinationResource => ({
  id: row.id, slug: row.slug, name: row.name, kind: row.kind as DestinationResource['kind'],
  platform: (registry.get(row.kind)?.platform ?? 'file'),
  config: row.config, credentialsSet: row.credentials !== null, credentialFields: row.credential_fields,
  version: row.version, createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(),
});

/** Problems an operator must fix before credentials can be stored or read. */
export const encryptionKeyMissing = () => new AppError(503, 'Service unavailable',
  'Destination credentials cannot be encrypted or decrypted: AUDIENCES_ENCRYPTION_KEY is not set on this server.');

/** Every string inside a value, for scrubbing messages. */
function secretStrings(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string' && value.length >= 4) into.push(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) secretStrings(v, into);
  return into;
}

/** JSON with object keys sorted at every level: equal values, equal text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

export function scrub(message: string, secrets: string[]): string {
  let out = message;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/**
 * Destinations: a kind, its non-secret configuration and its credentials, encrypted at rest
 * and write-only. Builds live `Destination`s for connection tests and syncs.
 */
export class DestinationsService {
  private readonly ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  private readonly validators = new Map<unknown, ValidateFunction>();

  constructor(private readonly deps: { db: Knex; registry: DestinationRegistry; secrets: SecretBox | null }) {
    addFormats.default(this.ajv);
  }

  /** Startup: stored credentials must be readable with the configured key. */
  async checkSecrets(): Promise<void> {
    const rows = await this.deps.db<DestinationRow>('destinations').whereNotNull('credentials').select('slug', 'credentials');
    if (!rows.length) return;
    if (!this.deps.secrets) {
      throw new SecretKeyError(`destinations ${rows.slice(0, 5).map((r) => `"${r.slug}"`).join(', ')} have stored credentials, but AUDIENCES_ENCRYPTION_KEY is not set: set it to the key they were stored with`);
    }
    const wrong = rows.filter((r) => envelopeKeyId(r.credentials!) !== this.deps.secrets!.keyId);
    if (wrong.length) throw new SecretKeyError(`destinations ${wrong.slice(0, 5).map((r) => `"${r.slug}"`).join(', ')} were stored with encryption key ${envelopeKeyId(wrong[0]!.credentials!)}, but AUDIENCES_ENCRYPTION_KEY is key ${this.deps.secrets.keyId}`);
  }

  private validator(schema: unknown): ValidateFunction {
    let validate = this.validators.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema as object);
      this.validators.set(schema, validate);
    }
    return validate;
  }

  private kindOf(kind: string): DestinationKind {
    const found = this.deps.registry.get(kind);
    if (!found) throw invalidRequest(`Destination kind "${kind}" is not available on this server.`, [{ pointer: '/kind', message: `must be one of ${this.deps.registry.names().map((n) => JSON.stringify(n)).join(', ')}` }]);
    return found;
  }

  /** Validates config (defaults filled in) and credentials against the kind's schemas; 400 with pointers. */
  private checkDefinition(def: DestinationDefinition, options: { credentialsRequired: boolean }): { kind: DestinationKind; config: Record<string, unknown> } {
    const kind = this.kindOf(def.kind);
    const config = structuredClone(def.config);
    const problems: ProblemDetail[] = [];
    const validateConfig = this.validator(kind.configSchema);
    if (!validateConfig(config)) problems.push(...validationDetails(validateConfig.errors ?? [], 'body').map((p) => ({ ...p, pointer: `/config${p.pointer ?? ''}` })));
    const needsCredentials = ((kind.credentialsSchema as { required?: string[] }).required ?? []).length > 0;
    if (def.credentials !== undefined) {
      const validateCredentials = this.validator(kind.credentialsSchema);
      // Messages name fields, never values.
      if (!validateCredentials(structuredClone(def.credentials))) problems.push(...validationDetails(validateCredentials.errors ?? [], 'body').map((p) => ({ pointer: `/credentials${p.pointer ?? ''}`, message: p.message })));
    } else if (options.credentialsRequired && needsCredentials) {
      problems.push({ pointer: '/credentials', message: 'is required for this kind' });
    }
    if (problems.length) throw invalidRequest('The destination definition is invalid.', problems);
    return { kind, config };
  }

  /**
   * Checks a definition without storing it (audiences as code checks a whole directory before it
   * writes). Returns it with the config as it would be stored: defaults filled in.
   */
  validate(def: DestinationDefinition, options: { credentialsRequired: boolean }): DestinationDefinition {
    const { config } = this.checkDefinition(def, options);
    return { ...def, config };
  }

  /**
   * Whether the stored credentials are these. Compared here, by digest, so the stored secret never
   * leaves the service (it is write-only everywhere else).
   */
  async credentialsEqual(idOrSlug: string, credentials: Record<string, unknown>): Promise<boolean> {
    const row = await this.findRow(idOrSlug);
    if (!row) throw notFound(`Destination "${idOrSlug}" does not exist.`);
    const digest = (value: Record<string, unknown>) => createHash('sha256').update(canonicalJson(value)).digest();
    return timingSafeEqual(digest(this.openCredentials(row)), digest(credentials));
  }

  /**
   * A live destination for a definition that may not be stored yet, to check syncs against it;
   * the stored credentials when it omits them.
   */
  async build(def: DestinationDefinition): Promise<Destination> {
    const { kind, config } = this.checkDefinition(def, { credentialsRequired: false });
    const stored = def.credentials === undefined ? await this.findRow(def.slug) : undefined;
    const credentials = def.credentials ?? (stored ? this.openCredentials(stored) : {});
    return kind.create({ config, credentials, endpoints: this.deps.registry.endpoints });
  }

  private openCredentials(row: DestinationRow): Record<string, unknown> {
    if (row.credentials === null) return {};
    if (!this.deps.secrets) throw encryptionKeyMissing();
    return JSON.parse(this.deps.secrets.open(row.credentials, row.id)) as Record<string, unknown>;
  }

  private seal(id: string, credentials: Record<string, unknown> | undefined): string | null {
    if (credentials === undefined || Object.keys(credentials).length === 0) return null;
    if (!this.deps.secrets) throw encryptionKeyMissing();
    return this.deps.secrets.seal(JSON.stringify(credentials), id);
  }

  private async findRow(idOrSlug: string, db: Knex = this.deps.db): Promise<DestinationRow | undefined> {
    return db<DestinationRow>('destinations').where(isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug }).first();
  }

  async list(options: { limit?: number; cursor?: string }): Promise<Page<DestinationResource>> {
    const after = decodeCursor(options.cursor);
    const rows: DestinationRow[] = await this.deps.db<DestinationRow>('destinations')
      .modify((q) => { if (after !== undefined) q.where('slug', '>', after); })
      .orderBy('slug')
      .limit(pageSize(options) + 1);
    return toPage(rows.map((r: DestinationRow) => toResource(r, this.deps.registry)), pageSize(options), (d) => d.slug);
  }

  async get(idOrSlug: string): Promise<DestinationResource> {
    const row = await this.findRow(idOrSlug);
    if (!row) throw notFound(`Destination "${idOrSlug}" does not exist.`);
    return toResource(row, this.deps.registry);
  }

  async create(def: DestinationDefinition, options: AuditedWrite = {}): Promise<DestinationResource> {
    const { config } = this.checkDefinition(def, { credentialsRequired: true });
    const id = randomUUID();
    const credentials = this.seal(id, def.credentials);
    return this.deps.db.transaction(async (trx) => {
      let resource: DestinationResource;
      try {
        const [row] = await trx<DestinationRow>('destinations').insert({
          id, slug: def.slug, name: def.name, kind: def.kind, config: config as never, credentials,
          credential_fields: JSON.stringify(credentials ? Object.keys(def.credentials!).sort() : []) as never,
        }).returning('*');
        resource = toResource(row!, this.deps.registry);
      } catch (error) {
        throw uniqueViolation(error, `A destination with slug "${def.slug}" already exists.`);
      }
      await recordChangeWithin(trx, options.audit, { action: 'destination.create', resourceType: 'destination', before: null, after: withCredentialFields(resource, def) });
      return resource;
    });
  }

  /** Replaces the definition; credentials omitted → the stored ones are kept (they are write-only). */
  async replace(idOrSlug: string, def: DestinationDefinition, options: { ifMatch?: string } & AuditedWrite = {}): Promise<DestinationResource> {
    return this.deps.db.transaction(async (trx) => {
      const current = await trx<DestinationRow>('destinations').where(isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug }).forUpdate().first();
      if (!current) throw notFound(`Destination "${idOrSlug}" does not exist.`);
      checkIfMatch(options.ifMatch, current.version);
      if (def.kind !== current.kind) throw invalidRequest('The kind of a destination cannot change; create a new destination.', [{ pointer: '/kind', message: `must stay "${current.kind}"` }]);
      const { config } = this.checkDefinition(def, { credentialsRequired: current.credentials === null });
      const credentials = def.credentials === undefined ? current.credentials : this.seal(current.id, def.credentials);
      const fields = def.credentials === undefined ? current.credential_fields : (credentials ? Object.keys(def.credentials).sort() : []);
      let resource: DestinationResource;
      try {
        const [row] = await trx<DestinationRow>('destinations').where({ id: current.id }).update({
          slug: def.slug, name: def.name, config: config as never, credentials, credential_fields: JSON.stringify(fields) as never,
          version: current.version + 1, updated_at: trx.fn.now() as never,
        }).returning('*');
        resource = toResource(row!, this.deps.registry);
      } catch (error) {
        throw uniqueViolation(error, `A destination with slug "${def.slug}" already exists.`);
      }
      await recordChangeWithin(trx, options.audit, {
        action: 'destination.replace', resourceType: 'destination', before: toResource(current, this.deps.registry), after: withCredentialFields(resource, def),
      });
      return resource;
    });
  }

  async delete(idOrSlug: string, options: { ifMatch?: string } & AuditedWrite = {}): Promise<void> {
    await this.deps.db.transaction(async (trx) => {
      const row = await this.findRow(idOrSlug, trx);
      if (!row) throw notFound(`Destination "${idOrSlug}" does not exist.`);
      checkIfMatch(options.ifMatch, row.version);
      const used = await trx('syncs').where({ destination_id: row.id }).orderBy('slug').limit(20).pluck<string[]>('slug');
      if (used.length) throw conflict(`Destination "${row.slug}" is used by syncs: ${used.join(', ')}. Delete them first.`);
      await trx('destinations').where({ id: row.id }).delete();
      await recordChangeWithin(trx, options.audit, { action: 'destination.delete', resourceType: 'destination', before: toResource(row, this.deps.registry), after: null });
    });
  }

  /** A live destination, credentials decrypted (for syncs and connection tests); the secrets, for scrubbing. */
  async instantiate(idOrSlug: string): Promise<{ destination: Destination; resource: DestinationResource; secrets: string[] }> {
    const row = await this.findRow(idOrSlug);
    if (!row) throw notFound(`Destination "${idOrSlug}" does not exist.`);
    const kind = this.kindOf(row.kind);
    const credentials = this.openCredentials(row);
    const destination = await kind.create({ config: row.config, credentials, endpoints: this.deps.registry.endpoints });
    return { destination, resource: toResource(row, this.deps.registry), secrets: secretStrings(credentials) };
  }

  /** Checks the destination can be reached with its credentials; failures are answers, not errors. */
  async test(idOrSlug: string): Promise<ConnectionCheck & { failure?: DestinationError['failure'] }> {
    const { destination, secrets } = await this.instantiate(idOrSlug);
    try {
      const check = await destination.testConnection();
      return { ...check, detail: scrub(check.detail, secrets) };
    } catch (error) {
      if (error instanceof DestinationError) return { ok: false, failure: error.failure, detail: scrub(error.message, secrets) };
      if (error instanceof AppError) throw error;
      return { ok: false, failure: 'retryable', detail: scrub(`the check failed: ${error instanceof Error ? error.message : String(error)}`, secrets) };
    } finally {
      await destination.close?.().catch(() => {});
    }
  }
}

/**
 * What the audit log shows of a write: the resource, plus the credential fields the request set
 * (the log redacts their values), since resources never carry credentials.
 */
function withCredentialFields(resource: DestinationResource, def: DestinationDefinition): unknown {
  return def.credentials === undefined ? resource : { ...resource, credentials: def.credentials };
}
