/**
 * The regular expressions `matches` accepts: a subset every engine agrees on (JS with the `su`
 * flags, Postgres AREs, RE2 in DuckDB and BigQuery). A pattern is parsed into a small tree and
 * re-emitted per engine, so `.`, `\d`, `\w`, `\s` and every literal mean exactly the same thing
 * everywhere: `.` is any character including newlines, `\d` is [0-9], `\w` is [A-Za-z0-9_],
 * `\s` is [\t\n\v\f\r ]; `^`/`$` anchor the whole string. No flags, backreferences, lookaround
 * or possessive quantifiers; repetition counts up to 255 (the Postgres limit).
 */
export class RegexSubsetError extends Error {}

type Node =
  | { t: 'alt'; options: Node[] }
  | { t: 'seq'; items: Node[] }
  | { t: 'group'; body: Node }
  | { t: 'repeat'; body: Node; min: number; max: number | null }
  | { t: 'char'; cp: number }
  | { t: 'any' }
  | { t: 'start' }
  | { t: 'end' }
  | { t: 'class'; negated: boolean; ranges: Array<[number, number]> };

const MAX_REPEAT = 255;
const MAX_PATTERN = 1000;
const DIGIT: Array<[number, number]> = [[0x30, 0x39]];
const WORD: Array<[number, number]> = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE: Array<[number, number]> = [[0x09, 0x0d], [0x20, 0x20]];

function parse(source: string): Node {
  if (source.length > MAX_PATTERN) throw new RegexSubsetError(`pattern longer than ${MAX_PATTERN} characters`);
  if (!source.isWellFormed()) throw new RegexSubsetError('pattern is not well-formed Unicode');
  const chars = Array.from(source);
  let i = 0;
  const peek = () => chars[i];
  const fail = (message: string): never => { throw new RegexSubsetError(`${message} at position ${i}`); };

  const classEscape = (c: string): Array<[number, number]> | null => {
    if (c === 'd') return DIGIT;
    if (c === 'w') return WORD;
    if (c === 's') return SPACE;
    return null;
  };
  const literalEscape = (c: string): number => {
    const simple: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, v: 0x0b };
    if (c in simple) return simple[c]!;
    if (/[\\^$.|?*+()[\]{}\/-]/.test(c)) return c.codePointAt(0)!;
    return fail(`unsupported escape \\${c}`);
  };

  let depth = 0;
  const parseAlt = (): Node => {
    const options = [parseSeq()];
    while (peek() === '|') { i++; options.push(parseSeq()); }
    return options.length === 1 ? options[0]! : { t: 'alt', options };
  };
  const parseSeq = (): Node => {
    const items: Node[] = [];
    while (i < chars.length && peek() !== '|' && peek() !== ')') {
      let atom = parseAtom();
      // Anchors only where they can match: ^ first, $ last, in a top-level alternative.
      // (An unsatisfiable `$1` is also mis-evaluated by DuckDB on columns.)
      if (atom.t === 'start' && (depth > 0 || items.length > 0)) fail('^ is only allowed at the start of the pattern or of a top-level alternative');
      if (atom.t === 'end' && (depth > 0 || (i < chars.length && peek() !== '|'))) fail('$ is only allowed at the end of the pattern or of a top-level alternative');
      const q = peek();
      if (q === '*' || q === '+' || q === '?' || q === '{') {
        if (atom.t === 'start' || atom.t === 'end') fail('quantifier after an anchor');
        let min = 0; let max: number | null = null;
        if (q === '*') { i++; }
        else if (q === '+') { i++; min = 1; }
        else if (q === '?') { i++; max = 1; }
        else {
          const match = /^\{(\d{1,3})(,(\d{0,3}))?\}/.exec(chars.slice(i, i + 9).join(''));
          if (!match) fail('malformed {n,m} quantifier');
          i += match![0].length;
          min = Number(match![1]);
          max = match![2] === undefined ? min : match![3] === '' ? null : Number(match![3]);
          if (min > MAX_REPEAT || (max !== null && (max > MAX_REPEAT || max < min))) fail(`repetition counts must be ordered and at most ${MAX_REPEAT}`);
        }
        if (peek() === '?') i++; // lazy: same match or no match as greedy
        if (peek() === '*' || peek() === '+' || peek() === '?' || peek() === '{') fail('nested quantifier');
        atom = { t: 'repeat', body: atom, min, max };
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0]! : { t: 'seq', items };
  };
  const parseAtom = (): Node => {
    const c = chars[i++]!;
    switch (c) {
      case '.': return { t: 'any' };
      case '^': return { t: 'start' };
      case '$': return { t: 'end' };
      case '(': {
        if (peek() === '?') {
          if (chars[i + 1] !== ':') fail('only (?: ) groups are supported (no lookaround, named groups or flags)');
          i += 2;
        }
        depth++;
        const body = parseAlt();
        depth--;
        if (peek() !== ')') fail('unclosed group');
        i++;
        return { t: 'group', body };
      }
      case ')': return fail('unmatched )');
      case '[': return parseClass();
      case '*': case '+': case '?': case '{': return fail(`nothing to repeat before ${c}`);
      case '\\': {
        const e = chars[i++];
        if (e === undefined) return fail('trailing backslash');
        const cls = classEscape(e);
        if (cls) return { t: 'class', negated: false, ranges: cls };
        const upper = classEscape(e.toLowerCase());
        if (upper && e !== e.toLowerCase()) return { t: 'class', negated: true, ranges: upper };
        return { t: 'char', cp: literalEscape(e) };
      }
      default: return { t: 'char', cp: c.codePointAt(0)! };
    }
  };
  const parseClass = (): Node => {
    const negated = peek() === '^';
    if (negated) i++;
    const ranges: Array<[number, number]> = [];
    let first = true;
    const single = (): number | Array<[number, number]> => {
      const c = chars[i++];
      if (c === undefined) return fail('unclosed [');
      if (c === '\\') {
        const e = chars[i++];
        if (e === undefined) return fail('trailing backslash');
        const cls = classEscape(e);
        if (cls) return cls;
        return literalEscape(e);
      }
      if (c === '[') return fail('nested [ in a class must be escaped');
      return c.codePointAt(0)!;
    };
    while (peek() !== ']' || first) {
      if (peek() === undefined) fail('unclosed [');
      if (peek() === ']' && first) fail('empty class');
      first = false;
      const lo = single();
      if (Array.isArray(lo)) { ranges.push(...lo); continue; }
      if (peek() === '-' && chars[i + 1] !== ']' && chars[i + 1] !== undefined) {
        i++;
        const hi = single();
        if (Array.isArray(hi) || hi < lo) fail('bad range in class');
        ranges.push([lo, hi as number]);
      } else ranges.push([lo, lo]);
    }
    i++;
    return { t: 'class', negated, ranges };
  };

  const tree = parseAlt();
  if (i < chars.length) fail('unmatched )');
  return tree;
}

export type RegexTarget = 'js' | 'postgres' | 're2';

function escapeCodePoint(cp: number, target: RegexTarget): string {
  const ch = String.fromCodePoint(cp);
  if (/[A-Za-z0-9_ ]/.test(ch)) return ch;
  const hex = cp.toString(16).toUpperCase();
  if (target === 'js') return `\\u{${hex}}`;
  if (target === 're2') return `\\x{${hex}}`;
  return cp > 0xffff ? `\\U${hex.padStart(8, '0')}` : `\\u${hex.padStart(4, '0')}`;
}

function emit(node: Node, target: RegexTarget): string {
  switch (node.t) {
    case 'alt': return node.options.map((o) => emit(o, target)).join('|');
    case 'seq': return node.items.map((n) => emit(n, target)).join('');
    case 'group': return `(?:${emit(node.body, target)})`;
    case 'repeat': {
      const body = node.body.t === 'seq' || node.body.t === 'alt' ? `(?:${emit(node.body, target)})` : emit(node.body, target);
      return `${body}{${node.min},${node.max ?? ''}}`;
    }
    case 'char': return escapeCodePoint(node.cp, target);
    case 'any': return '.';
    // RE2 engines get \A and \z: same meaning, and DuckDB mis-optimises a pattern starting with `$`.
    case 'start': return target === 're2' ? '\\A' : '^';
    case 'end': return target === 're2' ? '\\z' : '$';
    case 'class': {
      const items = node.ranges.map(([lo, hi]) => (lo === hi ? escapeCodePoint(lo, target) : `${escapeCodePoint(lo, target)}-${escapeCodePoint(hi, target)}`));
      return `[${node.negated ? '^' : ''}${items.join('')}]`;
    }
  }
}

/** Throws RegexSubsetError when the pattern is outside the subset. */
export function validateRegex(pattern: string): void {
  parse(pattern);
}

/** The pattern in an engine's syntax. RE2 needs (?s) for `.` to match newlines; Postgres AREs do by default. */
export function regexFor(target: RegexTarget, pattern: string): string {
  const body = emit(parse(pattern), target);
  return target === 're2' ? `(?s)${body}` : body;
}

/** A JS RegExp with the same semantics as the SQL engines. */
export function jsRegex(pattern: string): RegExp {
  return new RegExp(regexFor('js', pattern), 'su');
}
