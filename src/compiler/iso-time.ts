/**
 * Strict ISO-8601 parsing shared by the compiler (literals) and the JS evaluator (data), so both
 * read a date the same way: `YYYY-MM-DD` is UTC midnight; date-times need seconds precision at most
 * milliseconds and an explicit zone (`Z` or ±HH:MM). Anything else is not a time (NaN).
 */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?(Z|[+-]\d{2}:?\d{2}))?$/;

export function parseIsoTime(value: unknown): number {
  if (typeof value !== 'string') return Number.NaN;
  const m = ISO.exec(value);
  if (!m) return Number.NaN;
  const [, y, mo, d, h, mi, s, ms, zone] = m;
  if (h !== undefined && zone === undefined) return Number.NaN;
  const month = Number(mo), day = Number(d), hour = Number(h ?? 0), minute = Number(mi ?? 0), second = Number(s ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  // Not Date.UTC: it reads years 0–99 as 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(Number(y), month - 1, day);
  if (date.getUTCDate() !== day) return Number.NaN; // 2026-02-30
  date.setUTCHours(hour, minute, second, Number((ms ?? '0').padEnd(3, '0')));
  let t = date.getTime();
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return t;
}

export const UNIT_MS = { minutes: 60_000, hours: 3_600_000, days: 86_400_000, weeks: 604_800_000 } as const;
export type TimeUnit = keyof typeof UNIT_MS;
