import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { checkRuleStructure } from '../compiler/rule-structure';
import { ruleModelOf } from '../models/model-check';
import type { ModelDefinition } from '../models/model-schema';
import { normalizeModelDefinition, type ModelsService } from '../models/models-service';
import type { SegmentDefinition } from '../segments/segment-schema';
import { sameSegmentContent, type SegmentsService } from '../segments/segments-service';
import { DefinitionFileError, loadDefinitions, type LoadedFile } from './load-definitions';

export type PlanAction = 'create' | 'update' | 'unchanged';

export interface PlanEntry {
  kind: 'model' | 'segment';
  slug: string;
  action: PlanAction;
  file: string;
}

export interface ApplyOptions {
  dir: string;
  dryRun: boolean;
  models: ModelsService;
  segments: SegmentsService;
  defaultSchema: string;
}

async function existing<T>(load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (error) {
    if ((error as { status?: number }).status === 404) return undefined;
    throw error;
  }
}

function modelContent(def: ModelDefinition, defaultSchema: string) {
  const { slug, name, description, schema, table, primaryKey, attributes, identifiers, consent, relationships, suppression } = normalizeModelDefinition(def, defaultSchema);
  // Drop undefined optional fields so stored and file definitions compare equal.
  return JSON.parse(JSON.stringify({ slug, name, description, schema, table, primaryKey, attributes, identifiers, consent, relationships, suppression })) as unknown;
}

/** Segments ordered so that every `in_segment` target comes before the segments that use it. */
function dependencyOrder(segments: LoadedFile<SegmentDefinition>[]): LoadedFile<SegmentDefinition>[] {
  const bySlug = new Map(segments.map((s) => [s.definition.slug, s]));
  const ordered: LoadedFile<SegmentDefinition>[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: LoadedFile<SegmentDefinition>) => {
    const mark = state.get(s.definition.slug);
    if (mark === 'done') return;
    if (mark === 'visiting') throw new DefinitionFileError(s.file, [{ pointer: '/rule', message: `in_segment cycle through "${s.definition.slug}"` }]);
    state.set(s.definition.slug, 'visiting');
    const refs = checkRuleStructure(s.definition.rule, { attributes: new Map(), relationships: new Map() }).segmentRefs;
    for (const ref of refs) {
      const target = bySlug.get(ref);
      if (target) visit(target);
    }
    state.set(s.definition.slug, 'done');
    ordered.push(s);
  };
  segments.forEach(visit);
  return ordered;
}

/**
 * Upserts the models and segments of a directory by slug. Everything is validated before anything
 * is written (models against the warehouse, rules against their models), so a bad file changes nothing.
 * Nothing is deleted: objects that exist only in the service are left alone.
 */
export async function applyDirectory(options: ApplyOptions): Promise<PlanEntry[]> {
  const definitions = await loadDefinitions(options.dir);
  const rel = (file: string) => path.relative(process.cwd(), file) || file;
  const plan: Array<PlanEntry & { run: () => Promise<unknown> }> = [];
  const modelsBySlug = new Map<string, ModelDefinition>();

  for (const { file, definition } of definitions.models) {
    const wrap = (error: unknown) => (error instanceof Error && 'errors' in error ? new DefinitionFileError(rel(file), (error as DefinitionFileError).errors ?? []) : error);
    await options.models.validate(normalizeModelDefinition(definition, options.defaultSchema)).catch((error) => { throw wrap(error); });
    modelsBySlug.set(definition.slug, definition);
    const current = await existing(() => options.models.get(definition.slug));
    const action: PlanAction = !current ? 'create' : isDeepStrictEqual(modelContent(current, options.defaultSchema), modelContent(definition, options.defaultSchema)) ? 'unchanged' : 'update';
    plan.push({
      kind: 'model', slug: definition.slug, action, file: rel(file),
      run: () => (action === 'create' ? options.models.create(definition) : options.models.replace(definition.slug, definition)),
    });
  }

  for (const { file, definition } of dependencyOrder(definitions.segments)) {
    let model = modelsBySlug.get(definition.model);
    if (!model) model = await existing(() => options.models.get(definition.model));
    if (!model) throw new DefinitionFileError(rel(file), [{ pointer: '/model', message: `model "${definition.model}" is neither in ${rel(options.dir)} nor in the service` }]);
    const problems = checkRuleStructure(definition.rule, ruleModelOf(model), { basePointer: '/rule' }).problems;
    if (problems.length) throw new DefinitionFileError(rel(file), problems);
    const current = await existing(() => options.segments.get(definition.slug));
    const action: PlanAction = !current ? 'create' : sameSegmentContent(current, definition) ? 'unchanged' : 'update';
    plan.push({
      kind: 'segment', slug: definition.slug, action, file: rel(file),
      run: () => (action === 'create' ? options.segments.create(definition) : options.segments.update(definition.slug, definition)),
    });
  }

  if (!options.dryRun) {
    for (const entry of plan) {
      if (entry.action === 'unchanged') continue;
      try {
        await entry.run();
      } catch (error) {
        if (error instanceof Error && 'errors' in error) throw new DefinitionFileError(entry.file, (error as DefinitionFileError).errors ?? [{ message: error.message }]);
        throw error;
      }
    }
  }
  return plan.map(({ run: _run, ...entry }) => entry);
}

export function formatPlan(plan: PlanEntry[], options: { dryRun: boolean }): string {
  const verb: Record<PlanAction, string> = options.dryRun
    ? { create: 'would create', update: 'would update', unchanged: 'unchanged' }
    : { create: 'created', update: 'updated', unchanged: 'unchanged' };
  const lines = plan.map((e) => `${verb[e.action].padEnd(12)} ${e.kind.padEnd(7)} ${e.slug}  (${e.file})`);
  const count = (a: PlanAction) => plan.filter((e) => e.action === a).length;
  lines.push(options.dryRun
    ? `plan: ${count('create')} to create, ${count('update')} to update, ${count('unchanged')} unchanged (dry run: nothing was changed)`
    : `applied: ${count('create')} created, ${count('update')} updated, ${count('unchanged')} unchanged`);
  return lines.join('\n');
}

