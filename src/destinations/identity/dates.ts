import { reject, type Rejection } from './reasons';

export interface DateParts {
  year: string;
  month: string;
  day: string;
}

// YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or YYYYMMDD, optionally followed by a time (ISO timestamps).
// Day-first and month-first forms (01/02/1990) are ambiguous, so they are refused, not guessed.
const DATE = /^(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})(?:[T\s].*)?$/;

/**
 * A real calendar date between 1900 and `today` (Meta: years from 1900 to the current year), so
 * 2023-02-30 and 1899-12-31 are refused rather than hashed into a value that matches no one.
 */
export function parseDateOfBirth(raw: string, today: Date = new Date()): DateParts | Rejection {
  const value = raw.trim();
  if (value.length === 0) return reject('empty');
  const match = DATE.exec(value);
  if (!match) return reject('invalid_date');
  // Without separators the digits must be exactly YYYYMMDD.
  if (!/[-/.]/.test(value.slice(0, 10)) && !/^\d{8}(?:$|[T\s])/.test(value)) return reject('invalid_date');
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return reject('invalid_date');
  if (year < 1900) return reject('invalid_date');
  const utcToday = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  if (Date.UTC(year, month - 1, day) > utcToday) return reject('invalid_date');
  return { year: match[1]!, month: pad2(month), day: pad2(day) };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** DOBY: a 4-digit year, 1900 to this year. */
export function birthYear(raw: string, today: Date = new Date()): string | Rejection {
  const value = raw.trim();
  if (value.length === 0) return reject('empty');
  if (!/^\d{4}$/.test(value)) return reject('invalid_date');
  const year = Number(value);
  return year >= 1900 && year <= today.getUTCFullYear() ? value : reject('invalid_date');
}

/** DOBM (01–12) / DOBD (01–31): one or two digits, zero-padded. */
export function birthMonthOrDay(raw: string, max: 12 | 31): string | Rejection {
  const value = raw.trim();
  if (value.length === 0) return reject('empty');
  if (!/^\d{1,2}$/.test(value)) return reject('invalid_date');
  const n = Number(value);
  return n >= 1 && n <= max ? pad2(n) : reject('invalid_date');
}
