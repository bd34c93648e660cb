/** Compile-time benchmark: compileRule on generated rules of ~10, ~100 and ~1,000 nodes, per dialect. */
import { compileRule } from '../../src/compiler/compile';
import type { CompilerModel } from '../../src/compiler/compiler-model';
import { DIALECTS, type DialectName } from '../../src/compiler/dialects/dialect';
import { checkRuleStructure } from '../../src/compiler/rule-structure';
import { ruleModelOfCompilerModel } from '../../src/compiler/compile';
import { countNodes, generateRule, operatorHistogram } from './rule-gen';
import { log, median, now, nsToMs, percentile } from './stats';

export interface CompileResult {
  target: number;
  nodes: number;
  operators: number;
  subqueries: number;
  dialect: DialectName;
  iterations: number;
  medianMs: number;
  p95Ms: number;
  sqlChars: number;
  params: number;
}

export interface CompileBenchOptions {
  model: CompilerModel;
  asOf: Date;
  sizes: readonly number[];
  /** Time spent measuring each (size, dialect), after warm-up. */
  budgetMs: number;
}

export interface GeneratedRule {
  target: number;
  rule: unknown;
  nodes: number;
}

export function generateRules(model: CompilerModel, sizes: readonly number[]): GeneratedRule[] {
  return sizes.map((target, i) => {
    const rule = generateRule(target, 0xa0d1e ^ (i * 7919 + target));
    const nodes = countNodes(rule);
    const structure = checkRuleStructure(rule, ruleModelOfCompilerModel(model));
    if (structure.problems.length) throw new Error(`generated rule of ${target} nodes is invalid: ${JSON.stringify(structure.problems.slice(0, 3))}`);
    if (structure.nodeCount !== nodes) throw new Error(`node count disagrees with checkRuleStructure: ${nodes} vs ${structure.nodeCount}`);
    return { target, rule, nodes };
  });
}

export function runCompileBench(options: CompileBenchOptions): CompileResult[] {
  const results: CompileResult[] = [];
  for (const { target, rule, nodes } of generateRules(options.model, options.sizes)) {
    const histogram = operatorHistogram(rule);
    const operators = [...histogram.values()].reduce((a, b) => a + b, 0);
    for (const dialect of DIALECTS) {
      const compile = () => compileRule({ rule, model: options.model, dialect, asOf: options.asOf });
      const first = compile();
      const subqueries = (first.sql.match(/\(SELECT /g) ?? []).length + (first.sql.match(/EXISTS \(SELECT /g) ?? []).length;
      // Warm-up: at least 200 runs and 300 ms, so the JIT has settled.
      const warmUntil = now() + 300_000_000n;
      for (let i = 0; i < 200 || now() < warmUntil; i++) compile();
      // Measure: at least 200 samples, until the budget is spent (at most 50,000).
      const samples: number[] = [];
      const stopAt = now() + BigInt(Math.round(options.budgetMs * 1e6));
      while ((samples.length < 200 || now() < stopAt) && samples.length < 50_000) {
        const start = now();
        compile();
        samples.push(nsToMs(now() - start));
      }
      const result: CompileResult = {
        target, nodes, operators, subqueries, dialect, iterations: samples.length,
        medianMs: median(samples), p95Ms: percentile(samples, 95), sqlChars: first.sql.length, params: first.params.length,
      };
      log(`compile ${nodes} nodes ${dialect}: median ${result.medianMs.toFixed(4)} ms, p95 ${result.p95Ms.toFixed(4)} ms over ${samples.length} runs`);
      results.push(result);
    }
  }
  return results;
}
