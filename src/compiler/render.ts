import type { Dialect } from './dialects/dialect';
import type { Param, Sql } from './ir';

export interface Rendered {
  sql: string;
  params: Param[];
}

const ALIAS = { entity: 't', related: 'r', element: 'e' } as const;

/**
 * Renders IR to SQL text in one dialect. Parameters are numbered in order of first appearance;
 * a parameter used twice is bound once. Nothing but dialect spellings, compiler-owned constants,
 * quoted model identifiers and placeholders is ever written into the text.
 */
export class Renderer {
  private readonly indexes = new Map<Param, number>();
  private readonly regexSources = new Map<Param, Param>();
  readonly params: Param[] = [];

  constructor(private readonly dialect: Dialect, private readonly entityKey: string) {}

  placeholder(param: Param): string {
    let index = this.indexes.get(param);
    if (index === undefined) {
      index = this.params.length + 1;
      this.indexes.set(param, index);
      this.params.push({ name: `p${index}`, type: param.type, value: param.value });
    }
    return this.dialect.placeholder(param, index);
  }

  column(scope: keyof typeof ALIAS, column: string): string {
    if (scope === 'element') return this.dialect.elementColumn;
    return `${this.dialect.quoteIdentifier(ALIAS[scope])}.${this.dialect.quoteIdentifier(column)}`;
  }

  /**
   * `where`: the node's truth value only matters as "is it TRUE" (a WHERE clause, and what is reached
   * from one through AND, OR and CASE conditions). There NULL and FALSE filter alike, so the
   * `COALESCE(p, FALSE)` that keeps predicates two-valued elsewhere (under NOT, in values) is
   * dropped: it hides EXISTS and comparisons from the planner (semi-joins, index conditions).
   */
  render(node: Sql, context: 'where' | 'value' = 'value'): string {
    const d = this.dialect;
    switch (node.k) {
      case 'column': {
        const column = this.column(node.scope, node.column);
        return node.as === 'raw' ? column : d.castColumn(column, node.as);
      }
      case 'param': return this.placeholder(node.param);
      case 'const': return d.constant(node.value, node.type);
      case 'binary': {
        const left = this.render(node.left);
        const right = this.render(node.right);
        if (node.op.startsWith('string')) return d.stringCompare(node.op.slice(6) as '<' | '<=' | '>' | '>=', left, right);
        return `(${left} ${node.op} ${right})`;
      }
      case 'logical': return `(${node.items.map((i) => this.render(i, context)).join(node.op === 'and' ? ' AND ' : ' OR ')})`;
      case 'not': return `(NOT ${this.render(node.item)})`;
      case 'is_null': return `(${this.render(node.item)} IS ${node.negated ? 'NOT ' : ''}NULL)`;
      case 'coalesce': {
        const last = node.items[node.items.length - 1]!;
        if (context === 'where' && node.items.length === 2 && last.k === 'const' && last.value === false) return this.render(node.items[0]!, 'where');
        return `COALESCE(${node.items.map((i) => this.render(i)).join(', ')})`;
      }
      case 'case': return `(CASE ${node.whens.map(([w, t]) => `WHEN ${this.render(w, 'where')} THEN ${this.render(t, context)}`).join(' ')} ELSE ${this.render(node.otherwise, context)} END)`;
      case 'fn': return d.fn(node.fn, node.args.map((a) => this.render(a)));
      case 'regex': {
        // The pattern is bound in this engine's syntax (see regex-subset.ts), once per rule pattern.
        let source = this.regexSources.get(node.pattern);
        if (!source) {
          source = { name: node.pattern.name, type: 'string', value: d.regexSource(node.pattern.value as string) };
          this.regexSources.set(node.pattern, source);
        }
        return d.regexMatch(this.render(node.value), this.placeholder(source));
      }
      case 'exists': {
        if (node.from.kind === 'array') return `EXISTS (SELECT 1 FROM ${d.arrayFrom(this.render(node.from.array))} WHERE ${this.render(node.where, 'where')})`;
        return `EXISTS (SELECT 1 ${this.relationFrom(node.from)} AND ${this.render(node.where, 'where')})`;
      }
      case 'key_in_counted': {
        // Uncorrelated: one grouped pass over the related table, then a hash semi-join.
        const fk = this.column('related', node.from.foreignKey);
        return `(${this.column('entity', this.entityKey)} IN (SELECT ${fk} FROM ${d.tableName(node.from.schema, node.from.table)} AS ${d.quoteIdentifier('r')} ` +
          `WHERE ${fk} IS NOT NULL AND ${this.render(node.where, 'where')} GROUP BY ${fk} HAVING COUNT(*) >= ${this.placeholder(node.minCount)}))`;
      }
      case 'aggregate': {
        const value = node.value === null ? '*' : this.render(node.value);
        let aggregate = `${node.fn.toUpperCase()}(${value})`;
        if (node.nanPropagates && node.value) {
          const isNaN = d.fn('is_nan', [value]);
          aggregate = `(CASE WHEN MAX(CASE WHEN ${isNaN} THEN 1 ELSE 0 END) = 1 THEN ${d.constant('NaN', 'float')} ELSE ${aggregate} END)`;
        }
        return `(SELECT ${aggregate} ${this.relationFrom(node.from)} AND ${this.render(node.where, 'where')})`;
      }
    }
  }

  private relationFrom(from: { schema: string; table: string; foreignKey: string }): string {
    const d = this.dialect;
    return `FROM ${d.tableName(from.schema, from.table)} AS ${d.quoteIdentifier('r')} WHERE ${this.column('related', from.foreignKey)} = ${this.column('entity', this.entityKey)}`;
  }
}
