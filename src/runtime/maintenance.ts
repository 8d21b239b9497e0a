import type { Db } from '../db/database.ts';
import { Decimal } from '../decimal.ts';
import type { Logger } from '../http/context.ts';
import { ingestUsageEvents } from '../usage/usage.service.ts';
import { endSilentSessions } from './sessions.repository.ts';
import { minutesOf } from './rules.ts';

/** Sessions ended and overage rows billed per batch: a few milliseconds each, whatever the totals. */
const BATCH = 500;

/**
 * Writes the overage of licenses whose PID bills it (minutes past the SKU's monthly cap) as usage
 * events of the license's project, through the usage ingestion, so Agora's usage poll and the bill
 * carry them. Exactly once: the amount to bill is fixed first (`pending_seconds`), the event's id
 * is derived from what was billed before it, and only then is `billed_seconds` moved up. A crash
 * in between re-sends the same event (a duplicate: nothing changes) and completes. Each event's
 * quantity is the difference of the rounded cumulative minutes, so the events add up to exactly
 * the rounded overage of the month. Answers the events written.
 */
export async function billOverage(db: Db, now: Date, limit = BATCH): Promise<number> {
  const rows = await db
    .selectFrom('ext_license_minutes as m')
    .innerJoin('licenses as l', 'l.id', 'm.license_id')
    .select(['m.license_id', 'm.month', 'l.project_id', 'l.license'])
    .where((eb) => eb.or([eb('m.over_seconds', '>', eb.ref('m.billed_seconds')), eb('m.pending_seconds', 'is not', null)]))
    .orderBy('m.license_id')
    .orderBy('m.month')
    .limit(limit)
    .execute();
  let written = 0;
  for (const r of rows) {
    const fixed = await db
      .updateTable('ext_license_minutes')
      .set((eb) => ({ pending_seconds: eb.fn.coalesce('pending_seconds', 'over_seconds') }))
      .where('license_id', '=', r.license_id)
      .where('month', '=', r.month)
      .returning(['pending_seconds', 'billed_seconds'])
      .executeTakeFirst();
    if (!fixed || fixed.pending_seconds === null) continue;
    const quantity = new Decimal(minutesOf(fixed.pending_seconds)).minus(minutesOf(fixed.billed_seconds));
    if (quantity.gt(0)) {
      const result = await ingestUsageEvents(
        db,
        [
          {
            id: `ext-overage:${r.license_id}:${r.month.slice(0, 7)}:${fixed.billed_seconds}`,
            projectId: r.project_id,
            quantity: quantity.toFixed(),
            occurredAt: new Date(Math.floor(now.getTime() / 1000) * 1000).toISOString(),
            description: `Overage past the SKU's minute cap: license ${r.license}, ${r.month.slice(0, 7)}`.slice(0, 256),
          },
        ],
        now.getTime(),
      );
      // A rejected event (a deactivated project, say) stays pending and is tried again next time.
      if (result.rejected > 0) continue;
      if (result.accepted > 0) written++;
    }
    await db
      .updateTable('ext_license_minutes')
      .set({ billed_seconds: fixed.pending_seconds, pending_seconds: null })
      .where('license_id', '=', r.license_id)
      .where('month', '=', r.month)
      .where('pending_seconds', '=', fixed.pending_seconds)
      .execute();
  }
  return written;
}

/** How long one run may go on sweeping while it finds full batches (the rest waits for the next run). */
const SWEEP_BUDGET_MS = 2000;

/**
 * The periodic work of the extension API, one small function so that it can move onto a
 * scheduler: end silent sessions (a batch at a time, from the oldest), then bill overage. Every
 * instance may run it; rows another instance holds are skipped. The sweep goes on while batches
 * come back full, for up to `budgetMs`, handing the event loop back between batches: each live
 * session is met once per one to two heartbeat intervals, so 100,000 sessions beating every 30 s
 * bring ~1,700 rows a second, more than a fixed number of batches per 5 s run kept up with.
 */
export async function runtimeMaintenance(db: Db, now: Date, budgetMs = SWEEP_BUDGET_MS): Promise<{ ended: number; overageEvents: number }> {
  const nowS = Math.floor(now.getTime() / 1000);
  const until = performance.now() + budgetMs;
  let ended = 0;
  for (;;) {
    const n = await endSilentSessions(db, nowS, { limit: BATCH });
    ended += n.ended;
    if (n.visited < BATCH || performance.now() >= until) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { ended, overageEvents: await billOverage(db, now) };
}

/** Runs `runtimeMaintenance` every `intervalMs` (never two at once); answers a stop function. */
export function startRuntimeMaintenance(db: Db, intervalMs: number, clock: () => Date, log: Logger): () => void {
  if (intervalMs <= 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runtimeMaintenance(db, clock())
      .catch((err: unknown) => log({ at: new Date().toISOString(), level: 'error', event: 'runtime_maintenance_failed', error: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
