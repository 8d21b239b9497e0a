import { Decimal } from '../decimal.ts';

/** The refusal reasons of a join (shared/spec/runtime.md): 1–5 are Agora SDK's own numbers. */
export const REASONS = {
  LICENSE_INVALID: 1,
  EXPIRE: 2,
  MINUTES_EXCEED: 3,
  LIMITED_PERIOD: 4,
  DIFF_DEVICES: 5,
  PCU_EXCEEDED: 6,
  MEDIA_NOT_LICENSED: 7,
  PLATFORM_NOT_LICENSED: 8,
} as const;
export type ReasonName = keyof typeof REASONS;

export const MEDIA = ['audio', 'video', 'audio+video'] as const;
export type Media = (typeof MEDIA)[number];
/** The platforms an extension may report, and an Agora grant may list. */
export const PLATFORMS = ['android', 'ios', 'windows', 'macos', 'linux', 'web'] as const;

/** The SKU's media type (1 audio, 2 video, 3 both) covers what the session sends. */
export function mediaCovered(mediaType: number, media: Media): boolean {
  if (mediaType === 3) return true;
  if (mediaType === 1) return media === 'audio';
  if (mediaType === 2) return media === 'video';
  return false;
}

/** Minutes as an exact decimal to six places: 90 s are 1.5; 100 s are 1.666667 (rounded half up). */
export function minutesOf(seconds: number | string | bigint): string {
  return new Decimal(String(seconds)).div(60).toDecimalPlaces(6, Decimal.ROUND_HALF_UP).toFixed();
}

const MONTH_S = (y: number, m: number) => Date.UTC(y, m, 1) / 1000;

/** The UTC month (`YYYY-MM-01`) of a Unix second. */
export function monthOf(s: number): string {
  return new Date(s * 1000).toISOString().slice(0, 7) + '-01';
}

/** Splits the seconds [from, to) at UTC month boundaries: a session crossing one counts in both months. */
export function splitByMonth(from: number, to: number): { month: string; seconds: number }[] {
  const out: { month: string; seconds: number }[] = [];
  let at = from;
  while (at < to) {
    const d = new Date(at * 1000);
    const next = MONTH_S(d.getUTCFullYear(), d.getUTCMonth() + 1);
    const end = Math.min(next, to);
    out.push({ month: monthOf(at), seconds: end - at });
    at = end;
  }
  return out;
}

export interface Period {
  /** Minute of the day the period starts, and the last minute it covers (inclusive). */
  start: number;
  end: number;
}

/** `HH:MM~HH:MM` (UTC). An end before the start runs past midnight. */
export function parsePeriod(text: string | null): Period | null {
  if (text === null) return null;
  const m = /^(\d{2}):(\d{2})~(\d{2}):(\d{2})$/.exec(text);
  if (!m) return null;
  // The pattern has four groups, each two digits.
  const [h1 = 0, m1 = 0, h2 = 0, m2 = 0] = [m[1], m[2], m[3], m[4]].map(Number);
  return { start: h1 * 60 + m1, end: h2 * 60 + m2 };
}

/** A period that covers every minute of the day never ends (`00:00~23:59`, `08:00~07:59`). */
const wholeDay = (p: Period) => (p.end + 1) % 1440 === p.start;

export function insidePeriod(p: Period | null, nowS: number): boolean {
  if (p === null || wholeDay(p)) return true;
  const minute = Math.floor((((nowS % 86_400) + 86_400) % 86_400) / 60);
  return p.start <= p.end ? minute >= p.start && minute <= p.end : minute >= p.start || minute <= p.end;
}

/** The Unix second the period (inside it now) next ends, or null when it never ends. */
export function periodEndsAt(p: Period | null, nowS: number): number | null {
  if (p === null || wholeDay(p)) return null;
  const dayStart = nowS - (((nowS % 86_400) + 86_400) % 86_400);
  const endToday = dayStart + (p.end + 1) * 60;
  return endToday > nowS ? endToday : endToday + 86_400;
}
