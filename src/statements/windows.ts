import { AppError } from '../errors.ts';

const DAY_S = 86_400;

export interface DayWindow {
  /** Inclusive start. */
  start: Date;
  /** Exclusive end: Agora's toTs is inclusive to the second. */
  end: Date;
  /** `YYYY-MM-DD`, the UTC day the window lies in. */
  day: string;
  /** Days since 1970-01-01: the key of the day's lock. */
  dayNumber: number;
  /** The window is the whole UTC day. */
  wholeDay: boolean;
}

import { dayText } from '../periods.ts';

/**
 * How far past this server's clock a window may end. Agora polls a day after it ends; a small
 * allowance keeps a poller whose clock runs ahead from being refused, and what happens in those
 * last seconds is carried into the next statement as a correction.
 */
export const CLOCK_SKEW_S = 300;

/** A usage window: inside one UTC day, start not after end, ended (give or take clock skew). */
export function usageWindow(fromTs: number, toTs: number, nowMs = Date.now()): DayWindow {
  if (fromTs > toTs) throw new AppError('invalid_window', `fromTs (${fromTs}) is after toTs (${toTs})`);
  const dayNumber = Math.floor(fromTs / DAY_S);
  if (Math.floor(toTs / DAY_S) !== dayNumber) {
    throw new AppError('invalid_window', 'A usage window must lie inside one UTC day (00:00:00 to 23:59:59)');
  }
  if (toTs * 1000 > nowMs + CLOCK_SKEW_S * 1000) {
    throw new AppError('invalid_window', 'The window has not ended yet; a window is reported once it is over');
  }
  return {
    start: new Date(fromTs * 1000),
    end: new Date((toTs + 1) * 1000),
    day: dayText(dayNumber),
    dayNumber,
    wholeDay: fromTs === dayNumber * DAY_S && toTs === (dayNumber + 1) * DAY_S - 1,
  };
}
