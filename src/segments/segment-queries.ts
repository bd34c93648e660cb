import type { Knex } from 'knex';
import { CompileError, compileRule, type CompiledRule } from '../compiler/compile';
import { compilerModelOf, type CompilerModel } from '../compiler/compiler-model';
import type { DialectName } from '../compiler/dialects/dialect';
import { isMember } from '../compiler/evaluate';
import { AppError, invalidRequest, notFound, type ProblemDetail } from '../errors';
import type { ModelDefinition } from '../models/model-schema';
import { isUuid } from '../store/cursor';
import type { Warehouse } from '../warehouse/warehouse';
import { maskIdentifier } from './mask';

export interface Loaded {
  model: CompilerModel;
  definition: ModelDefinition;
  rules: Map<string, unknown>;
}

export interface PreviewOptions {
  model: string;
  rule: unknown;
  asOf?: Date;
  sampleSize: number;
  reveal: boolean;
  /** Cancels the warehouse queries (the request timed out or its client left). */
  signal?: AbortSignal;
}

const signalOf = (options: { signal?: AbortSignal }) => (options.signal ? { signal: options.signal } : {});

export interface SampleMember {
  memberKey: string;
  identifiers: Record<string, string | null>;
}

const toProblems = (error: CompileError): ProblemDetail[] => error.problems.map((p) => ({ ...p }));

/**
 * A data exception raised by the warehouse while evaluating a rule (e.g. Postgres refusing a
 * double overflow that JavaScript would turn into Infinity) is the rule meeting the data, not a
 * server fault: 422 with the engine's message (which names no values).
 */
function dataException(error: unknown): AppError | null {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if ((typeof code === 'string' && code.startsWith('22')) || /^(Out of Range|Conversion|Invalid Input) Error/.test(message)) {
    return new AppError(422, 'Unprocessable entity', `The warehouse could not evaluate this rule on its data: ${message.split('\n')[0]}`, []);
  }
  return null;
}

async function run<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw dataException(error) ?? error;
  }
}

/**
 * Runs what segments compile to: SQL text for a dialect, counts and samples on the warehouse,
 * and single-record evaluation with the JS evaluator. Loads models and sibling segments
 * (for in_segment) from the metadata store; the compiler itself stays pure.
 */
export class SegmentQueries {
  constructor(private readonly deps: { db: Knex; warehouse: Warehouse }) {}

  private async loadModel(modelId: string): Promise<Loaded> {
    const row = (await this.deps.db('models').where('id', modelId).first()) as { definition: ModelDefinition } | undefined;
    if (!row) throw notFound('The model of this segment no longer exists.');
    const siblings = (await this.deps.db('segments').where('model_id', modelId).select('slug', 'rule')) as Array<{ slug: string; rule: unknown }>;
    return {
      model: compilerModelOf(row.definition, { defaultSchema: this.deps.warehouse.defaultSchema }),
      definition: row.definition,
      rules: new Map(siblings.map((s) => [s.slug, s.rule])),
    };
  }

  /** A segment with its model and sibling rules: everything compiling it needs. */
  async loadSegment(idOrSlug: string): Promise<Loaded & { id: string; rule: unknown; slug: string; version: number }> {
    const segment = (await this.deps.db('segments').where(isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug }).first()) as
      | { id: string; slug: string; rule: unknown; model_id: string; version: number } | undefined;
    if (!segment) throw notFound(`Segment "${idOrSlug}" does not exist.`);
    return { ...(await this.loadModel(segment.model_id)), id: segment.id, rule: segment.rule, slug: segment.slug, version: segment.version };
  }

  /** The query a refresh materializes: key, identifiers as text and their fingerprint. */
  compileSnapshot(loaded: Loaded & { rule: unknown }, asOf: Date): { compiled: CompiledRule; identifierKinds: string[] } {
    const identifiers = Object.entries(loaded.definition.identifiers ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string');
    // Consent columns travel with the identifiers: syncs to Google send them per member.
    const consent = Object.entries(loaded.definition.consent ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string').map(([signal, name]) => [`consent_${signal}`, name] as [string, string]);
    const snapshotColumns = [...identifiers, ...consent];
    const columns = snapshotColumns.map(([kind, name]) => ({ column: loaded.model.attributes.get(name)!.column, as: kind }));
    const compiled = this.compile(loaded, loaded.rule, { dialect: this.deps.warehouse.dialect, asOf, select: { kind: 'snapshot', columns } });
    return { compiled, identifierKinds: snapshotColumns.map(([kind]) => kind) };
  }

  private compile(loaded: Loaded, rule: unknown, options: { dialect: DialectName; asOf: Date; basePointer?: string; select?: Parameters<typeof compileRule>[0]['select'] }): CompiledRule {
    try {
      return compileRule({
        rule, model: loaded.model, dialect: options.dialect, asOf: options.asOf,
        resolveSegment: (slug) => loaded.rules.get(slug),
        ...(options.basePointer !== undefined ? { basePointer: options.basePointer } : {}),
        ...(options.select ? { select: options.select } : {}),
      });
    } catch (error) {
      if (error instanceof CompileError) throw invalidRequest('The rule does not compile.', toProblems(error));
      throw error;
    }
  }

  async compileSegment(idOrSlug: string, options: { dialect?: DialectName; asOf?: Date }): Promise<CompiledRule & { asOf: string }> {
    const loaded = await this.loadSegment(idOrSlug);
    const asOf = options.asOf ?? new Date();
    return { ...this.compile(loaded, loaded.rule, { dialect: options.dialect ?? this.deps.warehouse.dialect, asOf }), asOf: asOf.toISOString() };
  }

  async countSegment(idOrSlug: string, options: { asOf?: Date; signal?: AbortSignal }): Promise<{ count: number; asOf: string }> {
    const loaded = await this.loadSegment(idOrSlug);
    const asOf = options.asOf ?? new Date();
    const compiled = this.compile(loaded, loaded.rule, { dialect: this.deps.warehouse.dialect, asOf, select: { kind: 'count' } });
    const [row] = await run(this.deps.warehouse.execute<{ count: number | string }>(compiled, signalOf(options)));
    return { count: Number(row?.count ?? 0), asOf: asOf.toISOString() };
  }

  /** Count and a sample of an unsaved rule, run on the warehouse. Identifiers are masked unless `reveal`. */
  async preview(options: PreviewOptions): Promise<{ count: number; sample: SampleMember[]; asOf: string; warnings: string[] }> {
    const modelRow = (await this.deps.db('models').where('slug', options.model).first()) as { id: string } | undefined;
    if (!modelRow) throw invalidRequest('The preview is invalid.', [{ pointer: '/model', message: `model "${options.model}" does not exist` }]);
    const loaded = await this.loadModel(modelRow.id);
    const asOf = options.asOf ?? new Date();
    const counted = this.compile(loaded, options.rule, { dialect: this.deps.warehouse.dialect, asOf, basePointer: '/rule', select: { kind: 'count' } });
    const identifiers = Object.entries(loaded.definition.identifiers ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string');
    const columns = identifiers.map(([kind, attributeName]) => {
      const attribute = loaded.model.attributes.get(attributeName)!;
      return { column: attribute.column, as: kind };
    });
    const sampled = this.compile(loaded, options.rule, { dialect: this.deps.warehouse.dialect, asOf, basePointer: '/rule', select: { kind: 'columns', columns, limit: options.sampleSize } });
    const [[countRow], rows] = await run(Promise.all([
      this.deps.warehouse.execute<{ count: number | string }>(counted, signalOf(options)),
      options.sampleSize > 0 ? this.deps.warehouse.execute<Record<string, unknown>>(sampled, signalOf(options)) : Promise.resolve([]),
    ]));
    const sample = rows.map((row) => ({
      memberKey: String(row.member_key),
      identifiers: Object.fromEntries(identifiers.map(([kind]) => {
        const value = row[kind];
        const text = value === null || value === undefined ? null : value instanceof Date ? value.toISOString() : String(value);
        return [kind, text === null || options.reveal ? text : maskIdentifier(kind, text)];
      })),
    }));
    return { count: Number(countRow?.count ?? 0), sample, asOf: asOf.toISOString(), warnings: counted.warnings };
  }

  /** Whether one record (attributes by name, related rows as arrays) is a member, via json-logic-js. */
  async evaluate(idOrSlug: string, record: Record<string, unknown>, options: { asOf?: Date }): Promise<{ member: boolean; asOf: string }> {
    const loaded = await this.loadSegment(idOrSlug);
    const problems: ProblemDetail[] = [];
    for (const key of Object.keys(record)) {
      if (!loaded.model.attributes.has(key) && !loaded.model.relationships.has(key)) {
        problems.push({ pointer: `/record/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, message: `"${key}" is not an attribute or relationship of model "${loaded.definition.slug}"` });
      }
    }
    if (problems.length) throw invalidRequest('The record does not fit the model.', problems);
    // Every attribute is present in a row: absent ones are null, absent relationships are empty.
    const full: Record<string, unknown> = {};
    for (const name of loaded.model.attributes.keys()) full[name] = record[name] ?? null;
    for (const name of loaded.model.relationships.keys()) full[name] = Array.isArray(record[name]) ? record[name] : [];
    const asOf = options.asOf ?? new Date();
    return {
      member: isMember(loaded.rule, full, { asOf, model: loaded.model, resolveSegment: (slug) => loaded.rules.get(slug) }),
      asOf: asOf.toISOString(),
    };
  }
}
