import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import { LOCK, tryLockExclusive, withSessionLock } from '../db/locks.ts';
import type { Logger } from '../http/context.ts';
import { EXPIRED_CATCH_UP_DAYS, EXPIRY_SOURCES, sendDueReminders, type ExpirySource } from './reminders.ts';
import { emitSignatureFailures, type SignatureFailureCounter } from './signature-failures.ts';

export interface SchedulerOptions {
  clock: () => Date;
  log: Logger;
  intervalMs: number;
  reminderDays: number[];
  retentionDays: number;
  sources?: ExpirySource[];
  signatureFailures?: SignatureFailureCounter;
  /**
   * Periodic work on its own interval (EXT_MAINTENANCE_INTERVAL_MS keeps its meaning; 0: never):
   * ending silent extension sessions and writing overage (src/runtime/maintenance.ts). It runs its
   * own transactions, so it holds the job's session-level lock on one connection (withSessionLock).
   */
  maintenance?: { intervalMs: number; run: (db: Db, now: Date) => Promise<unknown> };
}

const REMINDER_BATCH = 1000;
const PRUNE_BATCH = 5000;
const DAY_MS = 86_400_000;

/** Job numbers: the key of each job's advisory lock (LOCK.SCHEDULER). Never reuse one. */
const JOB = { reminders: 1, signatureFailures: 2, prune: 3, runtimeMaintenance: 4 } as const;

/**
 * Work due by time. Every instance runs every job each interval; a job runs in a transaction that
 * first tries its advisory lock, so while one instance runs it the others skip it, and what a job
 * does is also idempotent by itself (reminders_sent's key, the deleted minute rows). Nothing is
 * remembered in memory: after downtime the first run catches up from the database.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private maintenanceRunning: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly opts: SchedulerOptions,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.runOnce()
        .then(() => {})
        .catch((err: unknown) => this.opts.log({ at: new Date().toISOString(), level: 'warn', event: 'scheduler_error', error: err instanceof Error ? err.message : String(err) }))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
    const m = this.opts.maintenance;
    if (m && m.intervalMs > 0) {
      const again = () => {
        this.maintenanceRunning = this.runMaintenance()
          .then(() => {})
          .catch((err: unknown) =>
            this.opts.log({ at: new Date().toISOString(), level: 'error', event: 'runtime_maintenance_failed', error: err instanceof Error ? err.message : String(err) }),
          )
          .finally(() => {
            this.maintenanceRunning = null;
            if (this.maintenanceTimer) this.maintenanceTimer = setTimeout(again, m.intervalMs);
          });
      };
      this.maintenanceTimer = setTimeout(again, m.intervalMs);
    }
  }

  /** One run of the maintenance job, if no other instance is running it; answers whether this one ran it. */
  async runMaintenance(): Promise<boolean> {
    const m = this.opts.maintenance;
    if (!m) return false;
    const now = this.opts.clock();
    return (await withSessionLock(this.db, LOCK.SCHEDULER, JOB.runtimeMaintenance, (conn) => m.run(conn, now).then(() => true))) ?? false;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.maintenanceTimer) clearTimeout(this.maintenanceTimer);
    this.maintenanceTimer = null;
    await Promise.all([this.running, this.maintenanceRunning]);
    await this.opts.signatureFailures?.flush(this.db).catch(() => {});
  }

  /** One run of every job; answers what each did. */
  async runOnce(): Promise<{ reminders: number; signatureEvents: number; pruned: number }> {
    const now = this.opts.clock();
    await this.opts.signatureFailures?.flush(this.db);
    const reminders = await this.job(JOB.reminders, async (trx) => {
      let sent = 0;
      for (const source of this.opts.sources ?? EXPIRY_SOURCES) {
        // A batch a statement; the lock is held until all are sent.
        for (;;) {
          const n = await sendDueReminders(trx, source, now, this.opts.reminderDays, REMINDER_BATCH);
          sent += n;
          if (n < REMINDER_BATCH) break;
        }
      }
      return sent;
    });
    const signatureEvents = await this.job(JOB.signatureFailures, (trx) => emitSignatureFailures(trx, now, Math.min(this.opts.intervalMs, 30_000)));
    const pruned = await this.job(JOB.prune, async (trx) => {
      // Delivered (every delivery delivered, or none wanted it) and older than the retention.
      const before = new Date(now.getTime() - this.opts.retentionDays * DAY_MS);
      const r = await sql<{ n: string }>`
        with gone as (
          delete from webhook_events e where e.seq in (
            -- By seq (the primary key): the old events are the first ones.
            select e2.seq from webhook_events e2
            where e2.created_at < ${before} and e2.dispatched
              and not exists (select 1 from webhook_deliveries d where d.event_seq = e2.seq and d.status <> 'delivered')
            order by e2.seq
            limit ${PRUNE_BATCH})
          returning 1)
        select count(*)::text as n from gone`.execute(trx);
      // Reminder records of expiries long past: never consulted again (the scan stops at EXPIRED_CATCH_UP_DAYS).
      const forgotten = new Date(now.getTime() - (EXPIRED_CATCH_UP_DAYS + 1) * DAY_MS);
      await sql`delete from reminders_sent where (kind, thing_id, expires_at, threshold) in (
        select kind, thing_id, expires_at, threshold from reminders_sent where expires_at < ${forgotten} limit ${PRUNE_BATCH})`.execute(trx);
      return Number(r.rows[0]!.n);
    });
    return { reminders, signatureEvents, pruned };
  }

  private async job(key: number, fn: (trx: Transaction<DB>) => Promise<number>): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await tryLockExclusive(trx, LOCK.SCHEDULER, key))) return 0;
      return fn(trx);
    });
  }
}
