import type { Knex } from 'knex';
import { recordChangeWithin, type AuditedWrite } from '../audit/audit-log';
import { isDeepStrictEqual } from 'node:util';
import { CompileError, compileRule } from '../compiler/compile';
import { compilerModelOf } from '../compiler/compiler-model';
import { checkRuleStructure } from '../compiler/rule-structure';
import { conflict, invalidRequest, notFound, type ProblemDetail } from '../errors';
import { ruleModelOf } from '../models/model-check';
import type { ModelDefinition } from '../models/model-schema';
import { uniqueViolation } from '../models/models-service';
import { decodeCursor, isUuid, pageSize, toPage, type Page } from '../store/cursor';
import { checkIfMatch } from '../store/etag';
import { DefinitionCache } from '../store/definition-cache';
import type { Segment, SegmentDefinition, SegmentPatch, SegmentVersion } from './segment-schema';

interface SegmentRow {
  id: string;
  slug: string;
  name: string;
  description: string;
  model_id: string;
  model_slug: string;
  rule: unknown;
  tags: string[];
  version: number;
  created_at: Date;
  updated_at: Date;
}

const toSegment = (row: SegmentRow): Segment => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  description: row.description,
  model: row.model_slug,
  rule: row.rule,
  tags: row.tags,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/** The comparable content of a segment: what `apply` diffs and what a version records. */
export function segmentContent(s: SegmentDefinition | Segment): Required<SegmentDefinition> {
  return { slug: s.slug, name: s.name, description: s.description ?? '', model: s.model, rule: s.rule, tags: [...(s.tags ?? [])].sort() };
}

export const sameSegmentContent = (a: SegmentDefinition | Segment, b: SegmentDefinition | Segment): boolean =>
  isDeepStrictEqual(segmentContent(a), segmentContent(b));

/** Compiles the rule (dialect-independent): type errors become a 400 with pointers. */
function typeCheck(rule: unknown, model: ModelDefinition, resolveSegment: (slug: string) => unknown): void {
  try {
    compileRule({ rule, model: compilerModelOf(model), dialect: 'postgres', asOf: new Date(), basePointer: '/rule', resolveSegment });
  } catch (error) {
    if (error instanceof CompileError) throw invalidRequest('The segment rule does not type-check against its model.', error.problems);
    throw error;
  }
}

export interface ListSegmentsOptions {
  limit?: number;
  cursor?: string;
  model?: string;
  tag?: string;
}

export class SegmentsService {
  private readonly cache: DefinitionCache;

  /** `cache`: shared with the models service; off (a pass-through) unless a change listener runs. */
  constructor(private readonly deps: { db: Knex; cache?: DefinitionCache }) {
    this.cache = deps.cache ?? new DefinitionCache();
  }

  /** Writes clear the cache when they end (committed or not), so this process reads its own writes at once. */
  private async writing<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } finally {
      this.cache.invalidate();
    }
  }

  private select(db: Knex) {
    return db<SegmentRow>('segments as s').join('models as m', 'm.id', 's.model_id').select('s.*', 'm.slug as model_slug');
  }

  private byKey(idOrSlug: string) {
    return isUuid(idOrSlug) ? { 's.id': idOrSlug } : { 's.slug': idOrSlug };
  }

  async list(options: ListSegmentsOptions): Promise<Page<Segment>> {
    return this.cache.read(`segments:list:${options.limit ?? ''}:${options.cursor ?? ''}:${options.model ?? ''}:${options.tag ?? ''}`, () => this.listUncached(options));
  }

  private async listUncached(options: ListSegmentsOptions): Promise<Page<Segment>> {
    const after = decodeCursor(options.cursor);
    const rows = await this.select(this.deps.db)
      .modify((q) => {
        if (after !== undefined) q.where('s.slug', '>', after);
        if (options.model !== undefined) q.where('m.slug', options.model);
        if (options.tag !== undefined) q.whereRaw('? = any(s.tags)', [options.tag]);
      })
      .orderBy('s.slug')
      .limit(pageSize(options) + 1);
    return toPage((rows as SegmentRow[]).map(toSegment), pageSize(options), (s) => s.slug);
  }

  async get(idOrSlug: string): Promise<Segment> {
    return this.cache.read(`segments:get:${idOrSlug}`, () => this.getUncached(idOrSlug));
  }

  private async getUncached(idOrSlug: string): Promise<Segment> {
    const row = (await this.select(this.deps.db).where(this.byKey(idOrSlug)).first()) as SegmentRow | undefined;
    if (!row) throw notFound(`Segment "${idOrSlug}" does not exist.`);
    return toSegment(row);
  }

  async versions(idOrSlug: string, options: { limit?: number; cursor?: string }): Promise<Page<SegmentVersion>> {
    const segment = await this.get(idOrSlug);
    const after = decodeCursor(options.cursor);
    const rows = await this.deps.db('segment_versions as v')
      .join('models as m', 'm.id', 'v.model_id')
      .where('v.segment_id', segment.id)
      .modify((q) => { if (after !== undefined) q.where('v.version', '<', Number(after)); })
      .orderBy('v.version', 'desc')
      .limit(pageSize(options) + 1)
      .select('v.*', 'm.slug as model_slug');
    const versions = (rows as Array<Omit<SegmentRow, 'model_id' | 'id'> & { model_slug: string }>).map((r): SegmentVersion => ({
      version: r.version, slug: r.slug, name: r.name, description: r.description, model: r.model_slug, rule: r.rule, tags: r.tags,
      createdAt: (r.created_at as Date).toISOString(),
    }));
    return toPage(versions, pageSize(options), (v) => String(v.version));
  }

  /**
   * Structural checks of a definition against its model and the other segments: the rule's shape
   * and names, and `in_segment` references (they must exist, use the same model, and form no cycle).
   */
  private async validate(trx: Knex, def: Required<SegmentDefinition>, selfId: string | null): Promise<{ modelId: string }> {
    const problems: ProblemDetail[] = [];
    if (isUuid(def.slug)) problems.push({ pointer: '/slug', message: 'a slug cannot look like a UUID (ids and slugs share URLs)' });
    const model = (await trx('models').where('slug', def.model).first()) as { id: string; definition: ModelDefinition } | undefined;
    if (!model) {
      problems.push({ pointer: '/model', message: `model "${def.model}" does not exist` });
      throw invalidRequest('The segment is invalid.', problems);
    }
    const structure = checkRuleStructure(def.rule, ruleModelOf(model.definition), { basePointer: '/rule' });
    problems.push(...structure.problems);
    if (structure.segmentRefs.length) problems.push(...(await this.checkSegmentRefs(trx, def, model.id, selfId, structure.segmentRefs)));
    if (problems.length) throw invalidRequest('The segment is invalid.', problems);
    // Type-check, with the other segments for in_segment.
    const others = (await trx('segments').where('model_id', model.id).select('id', 'slug', 'rule')) as Array<{ id: string; slug: string; rule: unknown }>;
    const rules = new Map(others.filter((o) => o.id !== selfId).map((o) => [o.slug, o.rule]));
    typeCheck(def.rule, model.definition, (slug) => rules.get(slug));
    return { modelId: model.id };
  }

  /**
   * A rule against a model: shape, names and types. Takes the model and the other segments' rules
   * as values, so audiences as code can check a segment before its model or the segments it uses
   * are stored (reference existence and cycles are the caller's to check).
   */
  checkRule(rule: unknown, model: ModelDefinition, resolveSegment: (slug: string) => unknown): void {
    const { problems } = checkRuleStructure(rule, ruleModelOf(model), { basePointer: '/rule' });
    if (problems.length) throw invalidRequest('The segment is invalid.', problems);
    typeCheck(rule, model, resolveSegment);
  }

  private async checkSegmentRefs(trx: Knex, def: Required<SegmentDefinition>, modelId: string, selfId: string | null, refs: string[]): Promise<ProblemDetail[]> {
    const problems: ProblemDetail[] = [];
    const all = await trx<{ id: string; slug: string; model_id: string; rule: unknown }>('segments').select('id', 'slug', 'model_id', 'rule');
    const bySlug = new Map(all.filter((s) => s.id !== selfId).map((s) => [s.slug, s]));
    for (const slug of new Set(refs)) {
      const target = bySlug.get(slug);
      if (slug === def.slug) problems.push({ pointer: '/rule', message: `in_segment "${slug}" refers to the segment itself` });
      else if (!target) problems.push({ pointer: '/rule', message: `in_segment "${slug}": no such segment` });
      else if (target.model_id !== modelId) problems.push({ pointer: '/rule', message: `in_segment "${slug}" is a segment of another model` });
    }
    if (problems.length) return problems;
    // Depth-first search from our references back to ourselves.
    const refsOf = (rule: unknown) => checkRuleStructure(rule, { attributes: new Map(), relationships: new Map() }).segmentRefs;
    const seen = new Set<string>();
    const stack = [...refs];
    while (stack.length) {
      const slug = stack.pop()!;
      if (slug === def.slug) return [{ pointer: '/rule', message: `in_segment creates a cycle through "${def.slug}"` }];
      if (seen.has(slug)) continue;
      seen.add(slug);
      const target = bySlug.get(slug);
      if (target) stack.push(...refsOf(target.rule));
    }
    return [];
  }

  async create(input: SegmentDefinition, options: AuditedWrite = {}): Promise<Segment> {
    const def = segmentContent(input);
    return this.writing(() => this.deps.db.transaction(async (trx) => {
      const { modelId } = await this.validate(trx, def, null);
      try {
        const [row] = await trx('segments')
          .insert({ slug: def.slug, name: def.name, description: def.description, model_id: modelId, rule: JSON.stringify(def.rule), tags: def.tags })
          .returning('*');
        await this.recordVersion(trx, row.id, 1, def, modelId);
      } catch (error) {
        throw uniqueViolation(error, `A segment with slug "${def.slug}" already exists.`);
      }
      const segment = toSegment((await this.select(trx).where('s.slug', def.slug).first()) as SegmentRow);
      await recordChangeWithin(trx, options.audit, { action: 'segment.create', resourceType: 'segment', before: null, after: segment });
      return segment;
    }));
  }

  async update(idOrSlug: string, patch: SegmentPatch, options: { ifMatch?: string } & AuditedWrite = {}): Promise<Segment> {
    return this.writing(() => this.deps.db.transaction(async (trx) => {
      const currentRow = (await this.select(trx).where(this.byKey(idOrSlug)).forUpdate('s').first()) as SegmentRow | undefined;
      if (!currentRow) throw notFound(`Segment "${idOrSlug}" does not exist.`);
      checkIfMatch(options.ifMatch, currentRow.version);
      const current = toSegment(currentRow);
      const def = segmentContent({ ...current, ...patch });
      if (sameSegmentContent(def, current)) return current; // a no-op update writes no version
      const { modelId } = await this.validate(trx, def, current.id);
      if (def.slug !== current.slug) await this.refuseIfReferenced(trx, current.slug, 'renamed');
      const version = current.version + 1;
      try {
        await trx('segments')
          .where({ id: current.id })
          .update({ slug: def.slug, name: def.name, description: def.description, model_id: modelId, rule: JSON.stringify(def.rule), tags: def.tags, version, updated_at: trx.fn.now() });
      } catch (error) {
        throw uniqueViolation(error, `A segment with slug "${def.slug}" already exists.`);
      }
      await this.recordVersion(trx, current.id, version, def, modelId);
      const segment = toSegment((await this.select(trx).where('s.id', current.id).first()) as SegmentRow);
      await recordChangeWithin(trx, options.audit, { action: 'segment.update', resourceType: 'segment', before: current, after: segment });
      return segment;
    }));
  }

  async delete(idOrSlug: string, options: { ifMatch?: string } & AuditedWrite = {}): Promise<void> {
    await this.writing(() => this.deps.db.transaction(async (trx) => {
      const current = (await this.select(trx).where(this.byKey(idOrSlug)).forUpdate('s').first()) as SegmentRow | undefined;
      if (!current) throw notFound(`Segment "${idOrSlug}" does not exist.`);
      checkIfMatch(options.ifMatch, current.version);
      await this.refuseIfReferenced(trx, current.slug, 'deleted');
      // A 409 naming them, rather than the foreign key's error.
      const syncs = await trx('syncs').where({ segment_id: current.id }).orderBy('slug').limit(20).pluck<string[]>('slug');
      if (syncs.length) throw conflict(`Segment "${current.slug}" is used by syncs: ${syncs.join(', ')}. Delete them first.`);
      await trx('segments').where({ id: current.id }).delete();
      await recordChangeWithin(trx, options.audit, { action: 'segment.delete', resourceType: 'segment', before: toSegment(current), after: null });
    }));
  }

  private async refuseIfReferenced(trx: Knex, slug: string, verb: string): Promise<void> {
    const candidates = await trx<{ slug: string; rule: unknown }>('segments').whereRaw(`rule::text like '%"in_segment"%'`).select('slug', 'rule');
    const dependents = candidates
      .filter((s) => checkRuleStructure(s.rule, { attributes: new Map(), relationships: new Map() }).segmentRefs.includes(slug))
      .map((s) => s.slug);
    if (dependents.length) throw conflict(`Segment "${slug}" cannot be ${verb}: ${dependents.join(', ')} use${dependents.length === 1 ? 's' : ''} it through in_segment.`);
  }

  private async recordVersion(trx: Knex, segmentId: string, version: number, def: Required<SegmentDefinition>, modelId: string): Promise<void> {
    await trx('segment_versions').insert({
      segment_id: segmentId, version, slug: def.slug, name: def.name, description: def.description, model_id: modelId, rule: JSON.stringify(def.rule), tags: def.tags,
    });
  }
}

