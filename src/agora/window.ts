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

export const dayString = (dayNumber: number) => new Date(dayNumber * DAY_S * 1000).toISOString().slice(0, 10);

/** A usage window: inside one UTC day, start not after end, not starting in the future. */
export function usageWindow(fromTs: number, toTs: number, nowMs = Date.now()): DayWindow {
  if (fromTs > toTs) throw new AppError('invalid_window', `fromTs (${fromTs}) is after toTs (${toTs})`);
  const dayNumber = Math.floor(fromTs / DAY_S);
  if (Math.floor(toTs / DAY_S) !== dayNumber) {
    throw new AppError('invalid_window', 'A usage window must lie inside one UTC day (00:00:00 to 23:59:59)');
  }
  if (fromTs * 1000 > nowMs) throw new AppError('invalid_window', 'The window starts in the future');
  return {
    start: new Date(fromTs * 1000),
    end: new Date((toTs + 1) * 1000),
    day: dayString(dayNumber),
    dayNumber,
    wholeDay: fromTs === dayNumber * DAY_S && toTs === (dayNumber + 1) * DAY_S - 1,
  };
}
