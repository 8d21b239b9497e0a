/** UTC days and months as numbers (lock keys) and as `YYYY-MM-DD` text (date columns). */

export const DAY_MS = 86_400_000;

export const dayNumberOf = (at: Date) => Math.floor(at.getTime() / DAY_MS);
export const dayText = (dayNumber: number) => new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);

/** Months since 0000-01: year * 12 + month index. */
export const monthNumberOf = (at: Date) => at.getUTCFullYear() * 12 + at.getUTCMonth();
export const monthStart = (monthNumber: number) => new Date(Date.UTC(Math.floor(monthNumber / 12), monthNumber % 12, 1));
/** `YYYY-MM-01`. */
export const monthText = (monthNumber: number) => monthStart(monthNumber).toISOString().slice(0, 10);
/** `YYYY-MM`. */
export const monthLabel = (monthNumber: number) => monthText(monthNumber).slice(0, 7);

/**
 * The months a month parameter may name: from 1970-01 to 9999-11. A month's period ends at the
 * start of the next one, which must still be a 4-digit year (10000-01 is no date PostgreSQL or
 * `toISOString` writes plainly), and years below 100 would be read by `Date.UTC` as 19xx.
 */
export const FIRST_MONTH = 1970 * 12;
export const LAST_MONTH = 9999 * 12 + 10;
export const MONTH_RANGE_TEXT = 'a month YYYY-MM from 1970-01 to 9999-11';

/** `YYYY-MM` or `YYYY-MM-01` to a month number; null when it is not a month in the supported range. */
export function parseMonth(text: string): number | null {
  const m = /^(\d{4})-(\d{2})(?:-01)?$/.exec(text);
  if (!m) return null;
  const month = Number(m[2]);
  if (month < 1 || month > 12) return null;
  const n = Number(m[1]) * 12 + month - 1;
  return n < FIRST_MONTH || n > LAST_MONTH ? null : n;
}
