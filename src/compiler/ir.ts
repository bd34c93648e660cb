/**
 * The compiler's intermediate representation: a small, frozen SQL expression tree that every
 * dialect renders. Lowering guarantees that a `Pred` is never NULL (three-valued logic never
 * reaches the WHERE clause); a value may be NULL. Literals from rules only ever appear as
 * `param` nodes; `const` holds compiler-owned constants (0, 1, TRUE, '').
 */
export type ParamType = 'float' | 'integer' | 'string' | 'boolean' | 'timestamp' | 'string_array' | 'float_array';

export interface Param {
  /** `p1`, `p2`, …: the placeholder number (BigQuery names parameters by it). */
  readonly name: string;
  readonly type: ParamType;
  readonly value: unknown;
}

/** Where a column lives: the model's table, a related table in a subquery, or an array element. */
export type Scope = 'entity' | 'related' | 'element';

export interface RelationFrom {
  readonly kind: 'relation';
  readonly schema: string;
  readonly table: string;
  readonly foreignKey: string;
}

export interface ArrayFrom {
  readonly kind: 'array';
  readonly array: Sql;
}

export type Sql =
  | { readonly k: 'column'; readonly scope: Scope; readonly column: string; readonly as: 'float' | 'integer' | 'raw' }
  | { readonly k: 'param'; readonly param: Param }
  | { readonly k: 'const'; readonly value: boolean | 0 | 1 | '' | 'null' | 'true' | 'false' | 'NaN' | null; readonly type: ParamType }
  | { readonly k: 'binary'; readonly op: BinaryOp; readonly left: Sql; readonly right: Sql }
  | { readonly k: 'logical'; readonly op: 'and' | 'or'; readonly items: readonly Sql[] }
  | { readonly k: 'not'; readonly item: Sql }
  | { readonly k: 'is_null'; readonly item: Sql; readonly negated: boolean }
  | { readonly k: 'coalesce'; readonly items: readonly Sql[] }
  | { readonly k: 'case'; readonly whens: ReadonlyArray<readonly [Sql, Sql]>; readonly otherwise: Sql }
  | { readonly k: 'fn'; readonly fn: DialectFunction; readonly args: readonly Sql[] }
  | { readonly k: 'regex'; readonly value: Sql; readonly pattern: Param }
  | { readonly k: 'exists'; readonly from: RelationFrom | ArrayFrom; readonly where: Sql }
  /** The entity key is among the related rows' keys that have at least `minCount` rows matching `where`. */
  | { readonly k: 'key_in_counted'; readonly from: RelationFrom; readonly where: Sql; readonly minCount: Param }
  | { readonly k: 'aggregate'; readonly fn: 'count' | 'sum' | 'avg' | 'min' | 'max'; readonly value: Sql | null; readonly from: RelationFrom; readonly where: Sql;
      /** MIN/MAX skip NaN in SQL (it sorts above everything); Math.min/max return NaN if any value is NaN. */
      readonly nanPropagates?: boolean };

export type BinaryOp = '=' | '<>' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '||' | 'string<' | 'string<=' | 'string>' | 'string>=';

/** Functions whose spelling differs per dialect. */
export type DialectFunction =
  | 'strpos' // 1-based position of arg1 in arg0, 0 if absent
  | 'starts_with'
  | 'ends_with'
  | 'lower_ascii' // A-Z → a-z only, as JS does for our icontains
  | 'least'
  | 'greatest'
  | 'mod' // integer remainder with the sign of the dividend
  | 'array_length'
  | 'array_contains' // arg1 (non-null) is an element of arg0
  | 'negate'
  | 'date_to_timestamp'
  | 'to_float'
  | 'is_nan';

export const sql = {
  column: (scope: Scope, column: string, as: 'float' | 'integer' | 'raw' = 'raw'): Sql => Object.freeze({ k: 'column', scope, column, as }),
  param: (param: Param): Sql => Object.freeze({ k: 'param', param }),
  bool: (value: boolean): Sql => Object.freeze({ k: 'const', value, type: 'boolean' }),
  zero: Object.freeze({ k: 'const', value: 0, type: 'float' }) as Sql,
  integerZero: Object.freeze({ k: 'const', value: 0, type: 'integer' }) as Sql,
  one: Object.freeze({ k: 'const', value: 1, type: 'float' }) as Sql,
  emptyString: Object.freeze({ k: 'const', value: '', type: 'string' }) as Sql,
  nullOf: (type: ParamType): Sql => Object.freeze({ k: 'const', value: null, type }),
  text: (value: 'null' | 'true' | 'false'): Sql => Object.freeze({ k: 'const', value, type: 'string' }),
  binary: (op: BinaryOp, left: Sql, right: Sql): Sql => Object.freeze({ k: 'binary', op, left, right }),
  and: (items: Sql[]): Sql => logical('and', items),
  or: (items: Sql[]): Sql => logical('or', items),
  not: (item: Sql): Sql => {
    if (item.k === 'const' && typeof item.value === 'boolean') return sql.bool(!item.value);
    if (item.k === 'not') return item.item;
    return Object.freeze({ k: 'not', item });
  },
  isNull: (item: Sql, negated = false): Sql => Object.freeze({ k: 'is_null', item, negated }),
  coalesce: (...items: Sql[]): Sql => Object.freeze({ k: 'coalesce', items }),
  case: (whens: Array<readonly [Sql, Sql]>, otherwise: Sql): Sql => Object.freeze({ k: 'case', whens, otherwise }),
  fn: (fn: DialectFunction, ...args: Sql[]): Sql => Object.freeze({ k: 'fn', fn, args }),
};

/** AND / OR with constant folding, so rules like `{"and": [true, x]}` render as just `x`. */
function logical(op: 'and' | 'or', items: Sql[]): Sql {
  const absorbing = op === 'or';
  const kept: Sql[] = [];
  for (const item of items) {
    if (item.k === 'const' && typeof item.value === 'boolean') {
      if (item.value === absorbing) return sql.bool(absorbing);
      continue; // the neutral element
    }
    if (item.k === 'logical' && item.op === op) kept.push(...item.items);
    else kept.push(item);
  }
  if (kept.length === 0) return sql.bool(!absorbing);
  if (kept.length === 1) return kept[0]!;
  return Object.freeze({ k: 'logical', op, items: kept });
}

export const isConst = (node: Sql, value: boolean): boolean => node.k === 'const' && node.value === value;
