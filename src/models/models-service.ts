import type { Knex } from 'knex';
import { recordChangeWithin, type AuditedWrite } from '../audit/audit-log';
import { CompileError, compileRule } from '../compiler/compile';
import { compilerModelOf } from '../compiler/compiler-model';
import { joinPointer } from '../compiler/json-pointer';
import { conflict, invalidRequest, notFound, unprocessable } from '../errors';
import { decodeCursor, isUuid, pageSize, toPage, type Page } from '../store/cursor';
import { checkIfMatch } from '../store/etag';
import type { DefinitionCache } from '../store/definition-cache';
import type { Warehouse } from '../warehouse/warehouse';
import { checkModelAgainstWarehouse, checkModelDefinition } from './model-check';
import type { Model, ModelDefinition } from './model-schema';
import { draftModel } from './draft-model';

interface ModelRow {
  id: string;
  slug: string;
  name: string;
  description: string;
  definition: ModelDefinition;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export function toModel(row: ModelRow): Model {
  const d = row.definition;
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    description: row.description,
    schema: d.schema ?? 'public',
    table: d.table,
    primaryKey: d.primaryKey,
    attributes: d.attributes,
    identifiers: d.identifiers ?? {},
    consent: d.consent ?? {},
    relationships: d.relationships ?? [],
    ...(d.suppression !== undefined ? { suppression: d.suppression } : {}),
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The definition as stored and compared: defaults filled in, so equal models compare equal. */
export function normalizeModelDefinition(def: ModelDefinition, defaultSchema: string): ModelDefinition {
  return {
    slug: def.slug,
    name: def.name,
    description: def.description ?? '',
    schema: def.schema ?? defaultSchema,
    table: def.table,
    primaryKey: def.primaryKey,
    attributes: def.attributes,
    identifiers: def.identifiers ?? {},
    consent: def.consent ?? {},
    relationships: def.relationships ?? [],
    ...(def.suppression !== undefined ? { suppression: def.suppression } : {}),
  };
}

export class ModelsService {
  /** `cache`: the segments' definition cache; segment reads show their model's slug, so model writes clear it. */
  constructor(private readonly deps: { db: Knex; warehouse: Warehouse; cache?: DefinitionCache }) {}

  async list(options: { limit?: number; cursor?: string }): Promise<Page<Model>> {
    const after = decodeCursor(options.cursor);
    const rows = await this.deps.db<ModelRow>('models')
      .modify((q) => { if (after !== undefined) q.where('slug', '>', after); })
      .orderBy('slug')
      .limit(pageSize(options) + 1);
    return toPage(rows.map(toModel), pageSize(options), (m) => m.slug);
  }

  async findRow(idOrSlug: string, db: Knex = this.deps.db): Promise<ModelRow | undefined> {
    return db<ModelRow>('models').where(isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug }).first();
  }

  async get(idOrSlug: string): Promise<Model> {
    const row = await this.findRow(idOrSlug);
    if (!row) throw notFound(`Model "${idOrSlug}" does not exist.`);
    return toModel(row);
  }

  /** Everything that makes a definition unacceptable: shape (400) first, then the live warehouse (422). */
  async validate(def: ModelDefinition, options: { basePointer?: string } = {}): Promise<void> {
    const base = options.basePointer ?? '';
    const internal = checkModelDefinition(def, base);
    if (internal.length) throw invalidRequest('The model is inconsistent.', internal);
    if (def.suppression !== undefined) {
      // Type-check the suppression rule the way every segment will use it.
      try {
        compileRule({ rule: true, model: compilerModelOf(def), dialect: this.deps.warehouse.dialect, asOf: new Date() });
      } catch (error) {
        if (error instanceof CompileError) throw invalidRequest('The suppression rule is invalid.', error.problems.map((p) => ({ ...p, pointer: joinPointer(base) + p.pointer })));
        throw error;
      }
    }
    const live = await checkModelAgainstWarehouse(def, this.deps.warehouse, base);
    if (live.length) throw unprocessable('The model does not match the warehouse.', live);
  }

  async create(input: ModelDefinition, options: AuditedWrite = {}): Promise<Model> {
    const def = normalizeModelDefinition(input, this.deps.warehouse.defaultSchema);
    await this.validate(def);
    return this.deps.db.transaction(async (trx) => {
      let model: Model;
      try {
        const [row] = await trx<ModelRow>('models')
          .insert({ slug: def.slug, name: def.name, description: def.description ?? '', definition: def as never })
          .returning('*');
        model = toModel(row!);
      } catch (error) {
        throw uniqueViolation(error, `A model with slug "${def.slug}" already exists.`);
      }
      await recordChangeWithin(trx, options.audit, { action: 'model.create', resourceType: 'model', before: null, after: model });
      return model;
    });
  }

  async replace(idOrSlug: string, input: ModelDefinition, options: { ifMatch?: string } & AuditedWrite = {}): Promise<Model> {
    const def = normalizeModelDefinition(input, this.deps.warehouse.defaultSchema);
    await this.validate(def);
    return this.deps.db.transaction(async (trx) => {
      const current = await trx<ModelRow>('models').where(isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug }).forUpdate().first();
      if (!current) throw notFound(`Model "${idOrSlug}" does not exist.`);
      checkIfMatch(options.ifMatch, current.version);
      // Segments written against the old model must still make sense against the new one.
      const segments = await trx('segments').where({ model_id: current.id }).select<{ slug: string; rule: unknown }[]>('slug', 'rule');
      const rules = new Map(segments.map((s) => [s.slug, s.rule]));
      const broken = segments.flatMap((s) => {
        try {
          compileRule({ rule: s.rule, model: compilerModelOf(def), dialect: this.deps.warehouse.dialect, asOf: new Date(), resolveSegment: (slug) => rules.get(slug) });
          return [];
        } catch (error) {
          if (!(error instanceof CompileError)) throw error;
          return error.problems.map((p) => ({ pointer: '/attributes', message: `segment "${s.slug}" at ${p.pointer || '/'}: ${p.message}` }));
        }
      });
      if (broken.length) throw conflict('The change would break segments of this model.', broken);
      let model: Model;
      try {
        const [row] = await trx<ModelRow>('models')
          .where({ id: current.id })
          .update({ slug: def.slug, name: def.name, description: def.description ?? '', definition: def as never, version: current.version + 1, updated_at: trx.fn.now() as never })
          .returning('*');
        model = toModel(row!);
      } catch (error) {
        throw uniqueViolation(error, `A model with slug "${def.slug}" already exists.`);
      }
      await recordChangeWithin(trx, options.audit, { action: 'model.replace', resourceType: 'model', before: toModel(current), after: model });
      return model;
    }).finally(() => this.deps.cache?.invalidate());
  }

  async delete(idOrSlug: string, options: { ifMatch?: string } & AuditedWrite = {}): Promise<void> {
    await this.deps.db.transaction(async (trx) => {
      const current = await trx<ModelRow>('models').where(isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug }).forUpdate().first();
      if (!current) throw notFound(`Model "${idOrSlug}" does not exist.`);
      checkIfMatch(options.ifMatch, current.version);
      const used = await trx('segments').where({ model_id: current.id }).orderBy('slug').limit(20).pluck<string[]>('slug');
      if (used.length) throw conflict(`Model "${current.slug}" is used by segments: ${used.join(', ')}. Delete or move them first.`);
      await trx('models').where({ id: current.id }).delete();
      await recordChangeWithin(trx, options.audit, { action: 'model.delete', resourceType: 'model', before: toModel(current), after: null });
    });
  }

  async draftFromTable(ref: { schema: string; table: string }): Promise<{ model: ModelDefinition; notes: string[] }> {
    const table = await this.deps.warehouse.describeTable(ref);
    if (!table) throw notFound(`Table ${ref.schema}.${ref.table} does not exist in the warehouse.`);
    const related = [];
    for (const reference of table.referencedBy) {
      const described = await this.deps.warehouse.describeTable({ schema: reference.schema, table: reference.table });
      if (described) related.push(described);
    }
    return draftModel(table, related);
  }
}

/** Turns a Postgres unique violation into a 409; rethrows anything else. */
export function uniqueViolation(error: unknown, message: string): unknown {
  if (typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505') return conflict(message);
  return error;
}
