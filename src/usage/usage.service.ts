import type { Db } from '../db/database.ts';
import { Decimal } from '../decimal.ts';
import type { ErrorCode } from '../errors.ts';
import type { Statement } from '../db/schema.ts';
import { LOCK } from '../db/locks.ts';
import type { DayWindow } from '../statements/windows.ts';
import { DAY_MS } from '../periods.ts';
import * as store from '../statements/store.ts';
import * as repo from './usage.repository.ts';
import { parseUsageEvent, type UsageEventInput } from './usage-event.ts';


export type EventResult =
  | { index: number; id: string | null; status: 'accepted' | 'duplicate' }
  | { index: number; id: string | null; status: 'rejected'; code: ErrorCode; message: string };

export interface IngestSummary {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: EventResult[];
}

/** Two events of one batch with the same id: the same content (compared as the database would). */
function sameContent(a: UsageEventInput, b: UsageEventInput): boolean {
  return (
    a.projectId === b.projectId &&
    new Decimal(a.quantity).eq(b.quantity) &&
    a.occurredAt.getTime() === b.occurredAt.getTime() &&
    a.description === b.description
  );
}

/**
 * Stores a batch of usage events. Each event is accepted, a duplicate (same id, same content:
 * nothing changes) or rejected with a code; valid events are kept whatever happens to the others,
 * so re-sending a whole batch is always safe. The duplicate check, the insert and the rollup are
 * one transaction, taken under the shared lock of each day the events fall in so that no window
 * of those days is being reported meanwhile (see `usageStatement`). Every answer comes from
 * what the database stored (see `repo.ingestBatch`).
 *
 * An id repeated inside the batch is answered after its first use: `duplicate` only when the first
 * was stored (or was itself a duplicate) and the content is the same; the rejection of the first
 * when the first was rejected (the same content fails the same way); `conflict` when the content
 * differs.
 */
export async function ingestUsageEvents(db: Db, rawEvents: unknown[], nowMs = Date.now()): Promise<IngestSummary> {
  const results: EventResult[] = new Array(rawEvents.length);
  const reject = (index: number, id: string | null, code: ErrorCode, message: string) => {
    results[index] = { index, id, status: 'rejected', code, message };
  };

  // 1. Each event on its own; a repeated id inside the batch waits for the outcome of its first use.
  const firstById = new Map<string, { index: number; event: UsageEventInput }>();
  const candidates: { index: number; event: UsageEventInput }[] = [];
  const repeats: { index: number; first: { index: number; event: UsageEventInput }; event: UsageEventInput }[] = [];
  rawEvents.forEach((raw, index) => {
    const parsed = parseUsageEvent(raw, nowMs);
    if (!parsed.ok) return reject(index, parsed.id, 'invalid_parameter', parsed.message);
    const first = firstById.get(parsed.event.id);
    if (first) {
      repeats.push({ index, first, event: parsed.event });
      return;
    }
    firstById.set(parsed.event.id, { index, event: parsed.event });
    candidates.push({ index, event: parsed.event });
  });

  // 2. Known projects only; usage dated while a project was deactivated is refused, usage from
  // before (or after it came back) is kept. The rest is stored under the shared locks of its days
  // and months, an event whose moment lies in a window already reported being late (carried into
  // the next statement as a correction) and one whose month was already billed late for billing;
  // an existing id is a duplicate when the stored event has the same content. One round trip:
  // `repo.ingestBatch`.
  if (candidates.length > 0) {
    const verdicts = await repo.ingestBatch(db, candidates.map((c) => c.event));
    candidates.forEach(({ index, event }, i) => {
      const v = verdicts[i]!;
      switch (v.verdict) {
        case 'accepted':
          results[index] = { index, id: event.id, status: 'accepted' };
          break;
        case 'same':
          results[index] = { index, id: event.id, status: 'duplicate' };
          break;
        case 'different':
          reject(index, event.id, 'conflict', `id ${event.id} was already used for a different event`);
          break;
        case 'missing':
          reject(index, event.id, 'conflict', `id ${event.id} could not be stored; send it again`);
          break;
        case 'unknown_project':
          reject(index, event.id, 'unknown_project', `project ${event.projectId} is not provisioned`);
          break;
        case 'project_deactivated':
          reject(index, event.id, 'project_deactivated', `project ${event.projectId} was deactivated at ${v.from.toISOString()}${v.until ? ` until ${v.until.toISOString()}` : ''}`);
          break;
      }
    });
  }

  // 3. Repeats inside the batch, now that their first use has its answer.
  for (const { index, first, event } of repeats) {
    const outcome = results[first.index]!;
    if (!sameContent(event, first.event)) {
      reject(index, event.id, 'conflict', `id ${event.id} is used twice in this batch with different content`);
    } else if (outcome.status === 'rejected') {
      reject(index, event.id, outcome.code, `${outcome.message} (as event ${first.index} of this batch, which has the same id)`);
    } else {
      results[index] = { index, id: event.id, status: 'duplicate' };
    }
  }

  const summary: IngestSummary = { accepted: 0, duplicates: 0, rejected: 0, results };
  for (const r of results) {
    if (r.status === 'accepted') summary.accepted++;
    else if (r.status === 'duplicate') summary.duplicates++;
    else summary.rejected++;
  }
  return summary;
}

/**
 * The usage statement of a window, fixed the first time the window is asked for and never changed
 * after (see statements/store.ts). Fixing takes the day's exclusive lock, so it waits for
 * ingestions of that day in flight and holds new ones back until the statement is written: an
 * event is either in this statement or, arriving later, late (a correction in the next one). A
 * whole day no shorter window of which was reported is fixed from the day's rollup without copying
 * its lines (`repo.freezeUsageDay`, numbered later by `repo.usageDayLines`); other windows write
 * their lines whole (`repo.writeUsageLines`).
 */
export function usageStatement(db: Db, w: DayWindow, unit: string): Promise<Statement> {
  const dayStart = new Date(w.dayNumber * DAY_MS);
  const dayEnd = new Date(dayStart.getTime() + DAY_MS);
  const earlierWindows = async (trx: Db) =>
    (await repo.reportedWindows(trx, dayStart, dayEnd))
      .filter((e) => e.kind === 'usage' && e.window_start >= dayStart && e.window_end <= dayEnd)
      .filter((e) => e.window_start.getTime() !== w.start.getTime() || e.window_end.getTime() !== w.end.getTime())
      .map((e) => ({
        start: e.window_start,
        end: e.window_end,
        wholeDay: e.window_start.getTime() === dayStart.getTime() && e.window_end.getTime() === dayEnd.getTime(),
      }));
  return store.fixedStatement(db, {
    kind: 'usage',
    start: w.start,
    end: w.end,
    unit,
    locks: [{ lockClass: LOCK.DAY, key: w.dayNumber }],
    // Shorter windows are always written whole, so a whole day after them reads all their lines.
    writeAll: async (trx, statementId) =>
      repo.writeUsageLines(trx, { statementId, day: w.day, start: w.start, end: w.end, wholeDay: w.wholeDay, earlier: await earlierWindows(trx) }),
    freeze: async (trx, statementId) =>
      w.wholeDay && (await earlierWindows(trx)).length === 0 ? repo.freezeUsageDay(trx, statementId, w.day) : null,
  });
}

store.defineDeferredLines('usage', repo.usageDayLines);

/**
 * What a usage line says, e.g. `12.5 Minute × gold`; a line that carries late usage names the
 * correction. Made from the fixed line and the statement's unit, so it never changes either.
 */
export function usageDescription(line: { amount: string; correction: string; planId: string }, unit: string): string {
  const amount = new Decimal(line.amount).toFixed();
  const base = `${amount} ${unit} × ${line.planId}`;
  const correction = new Decimal(line.correction);
  return correction.isZero() ? base : `${base} (includes a correction of ${correction.toFixed()} ${unit} that arrived after its window was reported)`;
}
