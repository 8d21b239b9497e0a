import type { Db } from '../db/database.ts';
import { Decimal } from '../decimal.ts';
import type { ErrorCode } from '../errors.ts';
import type { Statement } from '../db/schema.ts';
import type { DayWindow } from '../agora/window.ts';
import { DAY_MS, dayNumberOf, dayText, monthNumberOf, monthStart, monthText } from '../periods.ts';
import * as statements from '../statements/statements.repository.ts';
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

/** Exact sums of quantities per (period, project). */
class RollupSums {
  private readonly sums = new Map<string, { period: string; projectId: string; quantity: Decimal }>();
  add(period: string, projectId: string, quantity: string): void {
    const key = `${period}|${projectId}`;
    const s = this.sums.get(key);
    if (s) s.quantity = s.quantity.plus(quantity);
    else this.sums.set(key, { period, projectId, quantity: new Decimal(quantity) });
  }
  rows() {
    return [...this.sums.values()].map((s) => ({ period: s.period, projectId: s.projectId, quantity: s.quantity.toFixed() }));
  }
}

function sameContent(a: UsageEventInput, b: { project_id: string; quantity: string; occurred_at: Date; description: string | null }): boolean {
  return (
    a.projectId === b.project_id &&
    new Decimal(a.quantity).eq(b.quantity) &&
    a.occurredAt.getTime() === b.occurred_at.getTime() &&
    a.description === b.description
  );
}

/**
 * Stores a batch of usage events. Each event is accepted, a duplicate (same id, same content:
 * nothing changes) or rejected with a code; valid events are kept whatever happens to the others,
 * so re-sending a whole batch is always safe. The duplicate check, the insert and the rollup are
 * one transaction, taken under the shared lock of each day the events fall in so that no window
 * of those days is being reported meanwhile (see `fixUsageStatement`).
 */
export async function ingestUsageEvents(db: Db, rawEvents: unknown[], nowMs = Date.now()): Promise<IngestSummary> {
  const results: EventResult[] = new Array(rawEvents.length);
  const reject = (index: number, id: string | null, code: ErrorCode, message: string) => {
    results[index] = { index, id, status: 'rejected', code, message };
  };

  // 1. Each event on its own; a repeated id inside the batch is compared with its first use.
  const firstById = new Map<string, { index: number; event: UsageEventInput }>();
  const candidates: { index: number; event: UsageEventInput }[] = [];
  rawEvents.forEach((raw, index) => {
    const parsed = parseUsageEvent(raw, nowMs);
    if (!parsed.ok) return reject(index, parsed.id, 'invalid_parameter', parsed.message);
    const first = firstById.get(parsed.event.id);
    if (first) {
      if (sameContent(parsed.event, { project_id: first.event.projectId, quantity: first.event.quantity, occurred_at: first.event.occurredAt, description: first.event.description })) {
        results[index] = { index, id: parsed.event.id, status: 'duplicate' };
      } else {
        reject(index, parsed.event.id, 'conflict', `id ${parsed.event.id} is used twice in this batch with different content`);
      }
      return;
    }
    firstById.set(parsed.event.id, { index, event: parsed.event });
    candidates.push({ index, event: parsed.event });
  });

  if (candidates.length > 0) {
    await db.transaction().execute(async (trx) => {
      // 2. Known projects only; usage dated while a project was deactivated is refused, usage
      // from before (or after it came back) is kept.
      const projectIds = [...new Set(candidates.map((c) => c.event.projectId))];
      const known = await repo.existingProjects(trx, projectIds);
      const periods = new Map<string, { deactivated_at: Date; reactivated_at: Date | null }[]>();
      for (const p of await repo.inactivePeriods(trx, projectIds)) {
        const projectId = p.project_id!; // selected by project id, so never null
        periods.set(projectId, [...(periods.get(projectId) ?? []), p]);
      }
      const valid = candidates.filter(({ index, event }) => {
        if (!known.has(event.projectId)) {
          reject(index, event.id, 'unknown_project', `project ${event.projectId} is not provisioned`);
          return false;
        }
        const off = periods.get(event.projectId)?.find(
          (p) => event.occurredAt >= p.deactivated_at && (p.reactivated_at === null || event.occurredAt < p.reactivated_at),
        );
        if (off) {
          reject(index, event.id, 'project_deactivated', `project ${event.projectId} was deactivated at ${off.deactivated_at.toISOString()}${off.reactivated_at ? ` until ${off.reactivated_at.toISOString()}` : ''}`);
          return false;
        }
        return true;
      });
      if (valid.length === 0) return;

      // 3. Hold the days and months steady, then classify: an event whose moment lies in a window
      // already reported is late and waits to be carried into the next statement as a correction;
      // one whose month was already billed is late for billing, and is carried into the next bill.
      const dayNumbers = valid.map((c) => dayNumberOf(c.event.occurredAt));
      const monthNumbers = valid.map((c) => monthNumberOf(c.event.occurredAt));
      await statements.lockShared(trx, statements.MONTH_LOCK_CLASS, monthNumbers);
      await statements.lockShared(trx, statements.DAY_LOCK_CLASS, dayNumbers);
      const firstMonth = Math.min(...monthNumbers);
      const lastMonth = Math.max(...monthNumbers);
      const reported = await repo.reportedWindows(trx, monthStart(firstMonth), monthStart(lastMonth + 1));
      const inside = (kind: 'usage' | 'bill', at: Date) =>
        reported.some((w) => w.kind === kind && w.window_start <= at && at < w.window_end);
      const rows = valid.map(({ event }) => ({ ...event, late: inside('usage', event.occurredAt), billLate: inside('bill', event.occurredAt) }));

      // 4. Insert the new ids; an existing id is a duplicate when its content is the same.
      const inserted = await repo.insertNewEvents(trx, rows);
      const existingIds = rows.filter((r) => !inserted.has(r.id)).map((r) => r.id);
      const existing = new Map(existingIds.length ? (await repo.eventsByIds(trx, existingIds)).map((e) => [e.id, e]) : []);
      for (const { index, event } of valid) {
        if (inserted.has(event.id)) {
          results[index] = { index, id: event.id, status: 'accepted' };
          continue;
        }
        const prior = existing.get(event.id);
        if (prior && sameContent(event, prior)) results[index] = { index, id: event.id, status: 'duplicate' };
        else reject(index, event.id, 'conflict', `id ${event.id} was already used for a different event`);
      }

      // 5. The rollups gain exactly the events inserted now that are on time for them.
      const days = new RollupSums();
      const months = new RollupSums();
      rows.forEach((r, i) => {
        if (!inserted.has(r.id)) return;
        if (!r.late) days.add(dayText(dayNumbers[i]!), r.projectId, r.quantity);
        if (!r.billLate) months.add(monthText(monthNumbers[i]!), r.projectId, r.quantity);
      });
      await repo.addToRollup(trx, 'usage_day_rollup', 'day', days.rows());
      await repo.addToRollup(trx, 'usage_month_rollup', 'month', months.rows());
    });
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
 * after. Fixing takes the day's exclusive lock, so it waits for ingestions of that day in flight
 * and holds new ones back until the statement is written: an event is either in this statement
 * or, arriving later, late (a correction in the next one). A second instance asking for the same
 * window waits for the lock and then finds the statement.
 */
export async function usageStatement(db: Db, w: DayWindow, unit: string): Promise<Statement> {
  const found = await statements.findStatement(db, 'usage', w.start, w.end);
  if (found) return found;
  return db.transaction().execute(async (trx) => {
    await statements.lockExclusive(trx, statements.DAY_LOCK_CLASS, w.dayNumber);
    const again = await statements.findStatement(trx, 'usage', w.start, w.end);
    if (again) return again;
    const dayStart = new Date(w.dayNumber * DAY_MS);
    const dayEnd = new Date(dayStart.getTime() + DAY_MS);
    const earlier = (await repo.reportedWindows(trx, dayStart, dayEnd))
      .filter((e) => e.kind === 'usage' && e.window_start >= dayStart && e.window_end <= dayEnd)
      .map((e) => ({
        start: e.window_start,
        end: e.window_end,
        wholeDay: e.window_start.getTime() === dayStart.getTime() && e.window_end.getTime() === dayEnd.getTime(),
      }));
    const id = await statements.insertStatement(trx, 'usage', w.start, w.end, unit);
    const totals = await repo.writeUsageLines(trx, {
      statementId: id,
      day: w.day,
      start: w.start,
      end: w.end,
      wholeDay: w.wholeDay,
      earlier,
    });
    return statements.setStatementTotals(trx, id, totals);
  });
}

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
