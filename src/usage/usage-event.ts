import { z } from '@hono/zod-openapi';
import { parseDecimalInput } from '../decimal.ts';
import { unstorableText } from '../http/input.ts';
import { projectIdSchema } from '../ids.ts';
import { isJsonObject } from '../json.ts';

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
/**
 * The earliest moment an event may have: 2001-09-10T00:00:00Z. Agora polls with 10-digit Unix
 * seconds (from 1,000,000,000 = 2001-09-09T01:46:40Z), within one UTC day, and reads a whole day's
 * usage with a whole-day window; 2001-09-10 is the first UTC day whose start has 10 digits, so it
 * is the first day every window of which can be polled. Earlier usage could never be reported.
 */
export const EARLIEST_MS = Date.UTC(2001, 8, 10);
/** How far ahead of this server's clock an event may be dated (the sender's clock may be ahead). */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** ISO-8601 with a zone, or Unix seconds (number or digits). Milliseconds are refused, not guessed. */
export function parseOccurredAt(value: unknown, nowMs: number): { at: Date } | { error: string } {
  let ms: number;
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isSafeInteger(n) || n < 0) return { error: 'occurredAt must be whole Unix seconds or an ISO-8601 time' };
    if (n >= 1e11) return { error: `occurredAt ${n} looks like milliseconds; send Unix seconds` };
    ms = n * 1000;
  } else if (typeof value === 'string') {
    const m = ISO.exec(value);
    if (!m) return { error: 'occurredAt must be ISO-8601 with a time zone (e.g. 2026-11-23T10:15:00Z) or Unix seconds' };
    const [y, mo, d, h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? '0')] as const;
    if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
      return { error: `occurredAt ${value} is not a valid date and time` };
    }
    ms = Date.parse(value);
    if (Number.isNaN(ms)) return { error: `occurredAt ${value} is not a valid date and time` };
  } else {
    return { error: 'occurredAt is required' };
  }
  if (ms < EARLIEST_MS) return { error: 'occurredAt is before 2001-09-10T00:00:00Z, the first day Agora can poll' };
  if (ms > nowMs + FUTURE_TOLERANCE_MS) return { error: 'occurredAt is in the future' };
  return { at: new Date(ms) };
}

export interface UsageEventInput {
  id: string;
  projectId: string;
  /** Canonical decimal text. */
  quantity: string;
  occurredAt: Date;
  description: string | null;
}

const DIGITS_19 = /^\d{1,19}$/;
const BIGINT_MAX_TEXT = '9223372036854775807';

/**
 * A projectId in a form `projectIdSchema` accepts, as the same canonical text: a safe positive
 * integer, or 1 to 19 digits within bigint (leading zeros dropped). Null for anything else,
 * which the schema then judges (and words the error of).
 */
function projectIdFast(v: unknown): string | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 1 ? String(v) : null;
  if (typeof v !== 'string' || !DIGITS_19.test(v)) return null;
  let i = 0;
  while (i < v.length - 1 && v.charCodeAt(i) === 48) i++;
  const s = i === 0 ? v : v.slice(i);
  if (s === '0' || (s.length === 19 && s > BIGINT_MAX_TEXT)) return null;
  return s;
}

const DECIMAL_PARTS = /^(\d{1,20})(?:\.(\d{1,18}))?$/;

/**
 * A quantity sent as plain decimal text (`parseDecimalInput`'s form, without surrounding space) as
 * the canonical text decimal.js would write (`toFixed()`: no leading zeros, no trailing fraction
 * zeros; '0' for zero). Null for any other input, which takes the general path.
 */
function quantityFast(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const m = DECIMAL_PARTS.exec(v);
  if (!m) return null;
  let int = m[1]!;
  let i = 0;
  while (i < int.length - 1 && int.charCodeAt(i) === 48) i++;
  if (i > 0) int = int.slice(i);
  let frac = m[2];
  if (frac === undefined) return int;
  let j = frac.length;
  while (j > 0 && frac.charCodeAt(j - 1) === 48) j--;
  if (j === 0) return int;
  if (j < frac.length) frac = frac.slice(0, j);
  return `${int}.${frac}`;
}

const YEAR_10000_MS = Date.UTC(10000, 0, 1);
let isoDay = Number.NaN;
let isoDayPrefix = '';
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/**
 * `new Date(ms).toISOString()` for a moment from EARLIEST_MS on, without a Date per call: the
 * events of a batch mostly share a day, whose `YYYY-MM-DDT` is kept.
 */
export function isoText(ms: number): string {
  // Years past 9999 are written with a sign and six digits: not worth a fast path.
  if (ms >= YEAR_10000_MS) return new Date(ms).toISOString();
  const day = Math.floor(ms / 86_400_000);
  if (day !== isoDay) {
    isoDayPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    isoDay = day;
  }
  let r = ms - day * 86_400_000;
  const h = Math.floor(r / 3_600_000);
  r -= h * 3_600_000;
  const mi = Math.floor(r / 60_000);
  r -= mi * 60_000;
  const s = Math.floor(r / 1000);
  const milli = r - s * 1000;
  return `${isoDayPrefix}${pad2(h)}:${pad2(mi)}:${pad2(s)}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

export type ParsedEvent = { ok: true; event: UsageEventInput } | { ok: false; id: string | null; message: string };

const ID_REQUIRED = 'id is required: a string of 1 to 128 characters';
const QUANTITY = 'quantity must be a decimal number (string or number) with at most 20 integer and 18 fraction digits';

/** A check of text the database would not store as sent (PostgreSQL would hold U+FFFD). */
const storable = (what: string, suffix = '') => (s: string, ctx: z.RefinementCtx) => {
  const why = unstorableText(s);
  if (why) ctx.addIssue({ code: 'custom', message: `${what} ${why}${suffix}` });
};

/**
 * One usage event: what `POST /v1/usage-events` documents (`UsageEventInput`) and what
 * `parseUsageEvent` checks each event with, so the two cannot drift. Its fields are checked in
 * order and the first problem is the answer. A factory of the clock: an event may not be dated
 * ahead of it (the document does not depend on it).
 */
export function usageEventSchema(nowMs: number) {
  return z.object(
    {
      id: z
        .string({ error: ID_REQUIRED })
        .min(1, ID_REQUIRED)
        .max(128, 'id is longer than 128 characters')
        .regex(/^[^\u0000-\u001f\u007f]*$/, 'id must not contain control characters')
        // Not stored as sent, it could never be found again by its id.
        .superRefine(storable('id'))
        .openapi({ description: "the caller's idempotency key", example: 'evt-2026-11-23-0001' }),
      projectId: projectIdSchema.openapi({ example: '430892' }),
      quantity: z
        .union([z.string(), z.number()], { error: QUANTITY })
        .transform((v, ctx) => {
          const q = parseDecimalInput(v);
          if (!q) ctx.addIssue({ code: 'custom', message: QUANTITY });
          else if (!q.gt(0)) ctx.addIssue({ code: 'custom', message: 'quantity must be greater than 0' });
          else return q.toFixed();
          return z.NEVER;
        })
        .openapi({ description: 'decimal > 0 in the usage unit', example: '12.5' }),
      occurredAt: z
        .union([z.string(), z.number()], { error: 'occurredAt is required' })
        .transform((v, ctx) => {
          const at = parseOccurredAt(v, nowMs);
          if ('at' in at) return at.at;
          ctx.addIssue({ code: 'custom', message: at.error });
          return z.NEVER;
        })
        .openapi({ description: 'ISO-8601 with zone, or Unix seconds; from 2001-09-10T00:00:00Z, the first day Agora can poll', example: '2026-11-23T10:15:00Z' }),
      description: z
        .string({ error: 'description must be a string' })
        .max(256, 'description is longer than 256 characters')
        // Checked here, not for the whole body (see `itemsCheckedByRoute`): one bad event is rejected alone.
        .superRefine(storable('description', ', which cannot be stored as text'))
        .nullish()
        .openapi({ description: 'text without U+0000 or lone surrogates (else this event alone is rejected)' }),
    },
    { error: 'an event must be a JSON object' },
  );
}

/** The event's schema in the OpenAPI document. */
export const usageEventDoc = usageEventSchema(0).openapi('UsageEventInput');

/** The schema of the last clock reading asked for: a batch's events share one. */
let current: { nowMs: number; schema: ReturnType<typeof usageEventSchema> } | null = null;

const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The event when every field is in its common form and passes `usageEventSchema(nowMs)`'s checks,
 * read by hand: a batch is up to 1,000 events, and zod and decimal.js per event cost more than the
 * rest of the request. Null for anything else, which the schema then judges (and words the error
 * of). It never accepts what the schema refuses, and gives the same event (test/usage-event.test.ts
 * checks both on random events).
 */
export function fastUsageEvent(raw: unknown, nowMs: number): UsageEventInput | null {
  if (!isJsonObject(raw)) return null;
  const o = raw;
  const id = o.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 128 || CONTROL.test(id) || unstorableText(id)) return null;
  const projectId = projectIdFast(o.projectId);
  if (projectId === null) return null;
  const quantity = quantityFast(o.quantity);
  if (quantity === null || quantity === '0') return null;
  const at = parseOccurredAt(o.occurredAt, nowMs);
  if (!('at' in at)) return null;
  const d = o.description;
  if (d !== undefined && d !== null && (typeof d !== 'string' || d.length > 256 || unstorableText(d))) return null;
  return { id, projectId, quantity, occurredAt: at.at, description: d ?? null };
}

/** Checks one event against `usageEventSchema(nowMs)`: the event, or the first problem. */
export function parseUsageEvent(raw: unknown, nowMs: number): ParsedEvent {
  const fast = fastUsageEvent(raw, nowMs);
  if (fast) return { ok: true, event: fast };
  if (current?.nowMs !== nowMs) current = { nowMs, schema: usageEventSchema(nowMs) };
  const parsed = current.schema.safeParse(raw);
  if (parsed.success) {
    const e = parsed.data;
    return { ok: true, event: { id: e.id, projectId: e.projectId, quantity: e.quantity, occurredAt: e.occurredAt, description: e.description ?? null } };
  }
  const o: Record<string, unknown> = isJsonObject(raw) ? raw : {};
  // The event's id when it is one (a longer one is no id of any event: null).
  const id = typeof o.id === 'string' && o.id.length <= 128 ? o.id : null;
  const first = parsed.error.issues[0]!;
  // The shared projectId schema names the form it wants; an absent one is named as absent.
  const message = first.path[0] === 'projectId' && o.projectId === undefined ? 'projectId is required' : first.message;
  return { ok: false, id, message };
}
