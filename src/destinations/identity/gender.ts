import { reject, type Normalized } from './reasons';

// A Map, not an object literal: `constructor` is not a gender.
const GENDERS = new Map<string, 'm' | 'f'>([['m', 'm'], ['male', 'm'], ['man', 'm'], ['f', 'f'], ['female', 'f'], ['woman', 'f']]);

/** Meta GEN: `m` or `f`, the only values Meta takes. Anything else is refused, never guessed. */
export function gender(raw: string): Normalized {
  const value = raw.trim().toLowerCase();
  if (value.length === 0) return reject('empty');
  return GENDERS.get(value) ?? GENDERS.get(value.replace(/[^a-z]/g, '')) ?? reject('invalid_gender');
}
