import fs from 'node:fs/promises';
import { CompileError, compileRule, type CompiledRule } from '../compiler/compile';
import { compilerModelOf } from '../compiler/compiler-model';
import type { DialectName } from '../compiler/dialects/dialect';
import type { ModelDefinition } from '../models/model-schema';
import { DefinitionFileError, validateDefinition } from './load-definitions';

async function readJson(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DefinitionFileError(file, [{ pointer: '', message: `not valid JSON: ${(error as Error).message}` }]);
  }
}

/**
 * `audiences compile`: a model file and a rule file (a bare JsonLogic rule, or a segment file
 * whose `rule` is used) to SQL, without any database. in_segment cannot be resolved offline.
 */
export async function compileFiles(options: { modelFile: string; ruleFile: string; dialect: DialectName; asOf: Date }): Promise<CompiledRule> {
  const { $schema: _s, ...modelJson } = (await readJson(options.modelFile)) as Record<string, unknown>;
  const model = validateDefinition('model', options.modelFile, modelJson) as ModelDefinition;
  const ruleJson = await readJson(options.ruleFile);
  const isSegmentFile = ruleJson !== null && typeof ruleJson === 'object' && !Array.isArray(ruleJson) && 'rule' in ruleJson && 'slug' in ruleJson;
  const rule = isSegmentFile ? (ruleJson as { rule: unknown }).rule : ruleJson;
  try {
    return compileRule({ rule, model: compilerModelOf(model), dialect: options.dialect, asOf: options.asOf, basePointer: isSegmentFile ? '/rule' : '' });
  } catch (error) {
    if (error instanceof CompileError) throw new DefinitionFileError(options.ruleFile, error.problems);
    throw error;
  }
}
