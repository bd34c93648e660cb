import { invalidRequest } from '../errors';

/** Opaque keyset cursors: base64url JSON of the last key a page returned. */
export function encodeCursor(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through to the error below
  }
  throw invalidRequest('The cursor is not one this API returned.', [{ parameter: 'cursor', message: 'invalid cursor' }]);
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** Cuts a `limit + 1` query result into a page and the cursor of the next one. */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => string): Page<T> {
  const data = rows.slice(0, limit);
  return { data, nextCursor: rows.length > limit ? encodeCursor(keyOf(data[data.length - 1]!)) : null };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);

/** The page size asked for, or the default (validation has already bounded it). */
export const pageSize = (options: { limit?: number }): number => options.limit ?? 50;
