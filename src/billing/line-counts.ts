import { sql, type Transaction } from 'kysely';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import { Decimal } from '../decimal.ts';
import { LOCK, lockExclusive, lockShared, withSessionLock } from '../db/locks.ts';
import { monthNumberOf } from '../periods.ts';
import { loadVersions, versionsInForce, type PlanVersion } from './plans.repository.ts';
import { quantityReaching } from './tiers.ts';
import { isJsonObject } from '../json.ts';

/**
 * A month's bill lines counted as usage arrives (migration 20261208090000), so that the first
 * `GET /bill` of a month many projects stay inside a free tier of is answered in O(page): the fix
 * reads the count instead of pricing every small project (docs/deferred-bills.md "Line counts kept
 * as usage arrives").
 *
 * Without a fee, a project's amount never falls as its quantity grows, so it is a line iff its
 * quantity reaches its version's threshold (`quantityReaching` of half of the last decimal). Each
 * rollup row carries the threshold of its customer's plan (`line_at`), and triggers count the rows
 * at or past it. What has to stay true, and who keeps it:
 *
 * - a row inserted into a kept month gets the threshold of its customer's plan (the insert
 *   trigger), read under the month's lock shared (ingestion's);
 * - a customer's plan change is applied to its projects' rows by `reconcilePlans`, which takes the
 *   month's lock and the plan-change lock exclusive (no ingestion or plan change in flight) and
 *   applies every change stamped after `plans_seen_at`, then moves it on: a row read with a plan
 *   that changed later is reassigned by the next reconciliation, the fix's at the latest;
 * - a price change that moves a threshold of a kept month raises its `generation`
 *   (`refreshThresholds`, under the plans lock); `passMonth` reassigns every row (after waiting for
 *   the ingestions in flight, which may have read the old thresholds), then marks the generation
 *   passed;
 * - a month's counts serve a fix only when kept for the fix's own settings, passed at the current
 *   generation, with thresholds equal to what the fix computes and no row unassigned
 *   (`keptLineCount`); else the fix counts as before.
 */
export const lineCountSettings = {
  /** false: no month is kept (the fix counts as before). */
  enabled: true,
  /**
   * Rows a pass reassigns per transaction: a few ms each, so a fix of the month (which waits for
   * the chunk in flight) or, on the embedded database, any request (one session) waits little.
   */
  passChunk: 2_000,
  /** Below this many rows a month's statistics are not looked at (`freshenStatistics`). */
  statisticsFloor: 10_000,
  /** How often an instance keeps the counts (`startLineCounts`); 0: never on its own. */
  intervalMs: 30_000,
};

/** The job's key under LOCK.SCHEDULER (the numbers of src/notifications/scheduler.ts go 1–4). */
const JOB_KEY = 5;

type Settings = Pick<Config, 'defaultPlanId' | 'billDecimals'>;

/**
 * The threshold of rollup row `r` from the plan its project's customer is on now: probes by key,
 * `usage_line_at` inlined (with plain columns for arguments; 10 µs a row where a function around
 * it, called per row, cost 50).
 */
const ROW_LINE_AT = sql`(select usage_line_at(r.month, c.plan_id) from projects p join customers c on c.customer_id = p.customer_id where p.project_id = r.project_id)`;

/**
 * The threshold of each plan with a version in force (`''`: the default plan's version; a plan
 * without a version is priced by it): the least quantity that costs at least half of the last
 * decimal, or `Infinity` when none does (a free version, or no default version).
 */
export function lineThresholds(inForce: Map<string, PlanVersion>, defaultPlanId: string, decimals: number): Map<string, string> {
  const bound = new Decimal(5).times(new Decimal(10).pow(-(decimals + 1)));
  const out = new Map<string, string>();
  for (const [planId, v] of inForce) out.set(planId, quantityReaching(v.tiers, bound)?.toFixed() ?? 'Infinity');
  out.set('', out.get(defaultPlanId) ?? 'Infinity');
  return out;
}

interface KeptMonth {
  decimals: number;
  defaultPlanId: string;
  generation: number;
  passed: number;
}

async function keptMonth(db: Db, month: string): Promise<KeptMonth | null> {
  const r = await db.selectFrom('bill_line_months').select(['decimals', 'default_plan_id', 'generation', 'passed']).where('month', '=', month).executeTakeFirst();
  return r ? { decimals: r.decimals, defaultPlanId: r.default_plan_id, generation: r.generation, passed: r.passed } : null;
}

async function storedThresholds(db: Db, month: string): Promise<Map<string, string>> {
  const rows = await db.selectFrom('bill_line_thresholds').select(['plan_key', 'line_at']).where('month', '=', month).execute();
  return new Map(rows.map((r) => [r.plan_key, r.line_at]));
}

function sameThresholds(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || !new Decimal(v).eq(new Decimal(w))) return false;
  }
  return true;
}

async function writeThresholds(trx: Transaction<DB>, month: string, thresholds: Map<string, string>): Promise<void> {
  await trx.deleteFrom('bill_line_thresholds').where('month', '=', month).execute();
  await trx
    .insertInto('bill_line_thresholds')
    .values([...thresholds].map(([plan_key, line_at]) => ({ month, plan_key, line_at })))
    .execute();
}

async function unknownRows(db: Db, month: string): Promise<number> {
  const r = await sql<{ n: string }>`select coalesce(sum(unknown), 0)::text as n from usage_month_lines where month = ${month}::date`.execute(db);
  return Number(r.rows[0]!.n);
}

async function billed(db: Db, month: string): Promise<boolean> {
  const r = await sql<{ found: boolean }>`
    select exists (select 1 from statements where kind = 'bill' and window_start = (${month}::date)::timestamp at time zone 'UTC') as found`.execute(db);
  return r.rows[0]!.found;
}

/**
 * Starts keeping month `month` (`YYYY-MM-01`) for `settings`, unless it is kept already or billed.
 * Under the fix's locks, in its order (plans shared, the month and plan changes exclusive): no
 * ingestion of the month and no plan change is in flight, so every row inserted afterwards gets
 * its threshold and every plan change afterwards is stamped after `plans_seen_at`. The rows the
 * month already has are assigned by `passMonth`.
 */
export async function keepMonth(db: Db, month: string, settings: Settings): Promise<void> {
  // Looked at first without the locks: a month kept already is the usual case, every round.
  if (await keptMonth(db, month)) return;
  await db.transaction().execute(async (trx) => {
    await lockShared(trx, LOCK.PLAN, [0]);
    await lockExclusive(trx, LOCK.MONTH, monthNumberOf(new Date(`${month}T00:00:00Z`)));
    await lockExclusive(trx, LOCK.PLAN_CHANGE, 0);
    if ((await keptMonth(trx, month)) || (await billed(trx, month))) return;
    const thresholds = lineThresholds(versionsInForce(await loadVersions(trx), month), settings.defaultPlanId, settings.billDecimals);
    const unknown = await unknownRows(trx, month);
    await sql`
      insert into bill_line_months (month, decimals, default_plan_id, generation, passed, plans_seen_at)
      values (${month}::date, ${settings.billDecimals}::int, ${settings.defaultPlanId}, 1, ${unknown === 0 ? 1 : 0}::int, clock_timestamp())`.execute(trx);
    await writeThresholds(trx, month, thresholds);
  });
}

/**
 * After a price change (in its transaction, under the plans lock exclusive): the thresholds of
 * every kept month from `fromMonth` on computed again, and the generation of each month whose
 * thresholds moved raised, so its counts serve no fix until `passMonth` has reassigned its rows.
 */
export async function refreshThresholds(trx: Transaction<DB>, fromMonth: string): Promise<void> {
  const months = await trx.selectFrom('bill_line_months').select(['month', 'decimals', 'default_plan_id']).where('month', '>=', fromMonth).execute();
  if (months.length === 0) return;
  const versions = await loadVersions(trx);
  for (const m of months) {
    const thresholds = lineThresholds(versionsInForce(versions, m.month), m.default_plan_id, m.decimals);
    if (sameThresholds(thresholds, await storedThresholds(trx, m.month))) continue;
    await writeThresholds(trx, m.month, thresholds);
    await trx.updateTable('bill_line_months').set((eb) => ({ generation: eb('generation', '+', 1) })).where('month', '=', m.month).execute();
  }
}

/**
 * The planner's estimate of the rows of `month` in the rollup, from EXPLAIN (null if unreadable).
 */
async function estimatedRows(db: Db, month: string): Promise<number | null> {
  const r = await sql<Record<string, unknown>>`explain (format json) select 1 from usage_month_rollup where month = ${month}::date`.execute(db);
  const plan: unknown = Object.values(r.rows[0] ?? {})[0];
  const list: unknown = typeof plan === 'string' ? JSON.parse(plan) : plan;
  const top: unknown = Array.isArray(list) ? list[0] : undefined;
  const node: unknown = isJsonObject(top) ? top['Plan'] : undefined;
  const rows: unknown = isJsonObject(node) ? node['Plan Rows'] : undefined;
  return typeof rows === 'number' ? rows : null;
}

/**
 * Analyzes the rollup when the planner believes `month` holds a tenth of its rows or fewer (the
 * statistics of a month that began since the last analyze, or of rows restored in bulk): every
 * statement on a month's rows chooses its index by that estimate, and at one row a scan of the
 * whole month looks as cheap as a probe by key (a pass chunk of 2,000 rows took 740 ms instead of
 * a few ms). Answers whether it analyzed.
 */
export async function freshenStatistics(db: Db, month: string): Promise<boolean> {
  const counted = await sql<{ n: string }>`select coalesce(sum(projects), 0)::text as n from usage_month_counts where month = ${month}::date`.execute(db);
  const rows = Number(counted.rows[0]!.n);
  if (rows < lineCountSettings.statisticsFloor) return false;
  const estimate = await estimatedRows(db, month);
  if (estimate === null || estimate * 10 >= rows) return false;
  await sql`analyze usage_month_rollup`.execute(db);
  return true;
}

/**
 * Reassigns every row of kept month `month` to its threshold, a chunk per transaction (each under
 * the month's lock shared, as ingestion: a reconciliation does not run meanwhile), then marks the
 * generation it began with passed, unless a price change raised it meanwhile. Answers the rows
 * whose threshold moved.
 */
export async function passMonth(db: Db, month: string): Promise<number> {
  const m = await keptMonth(db, month);
  if (!m) return 0;
  const key = monthNumberOf(new Date(`${month}T00:00:00Z`));
  await freshenStatistics(db, month);
  // Ingestions in flight may have read the thresholds before they changed: wait for them.
  await db.transaction().execute((trx) => lockExclusive(trx, LOCK.MONTH, key));
  let after: string | null = null;
  let moved = 0;
  for (;;) {
    const chunk: { last: string | null; n: number; moved: number } = await db.transaction().execute(async (trx) => {
      await lockShared(trx, LOCK.MONTH, [key]);
      // The chunk's bounds first, then its rows updated by range, each row's threshold probed by
      // key: no join a month's stale statistics could plan as a scan of the whole month.
      const bounds = await sql<{ last: string | null; n: string }>`
        select max(project_id)::text as last, count(*)::text as n
        from (select project_id from usage_month_rollup
              where month = ${month}::date and project_id > coalesce(${after}::bigint, -9223372036854775808)
              order by project_id limit ${lineCountSettings.passChunk}::int) c`.execute(trx);
      const { last, n } = bounds.rows[0]!;
      if (last === null) return { last, n: 0, moved: 0 };
      const r = await sql<{ moved: string }>`
        with moved as (
          update usage_month_rollup r set line_at = ${ROW_LINE_AT}
          where r.month = ${month}::date and r.project_id > coalesce(${after}::bigint, -9223372036854775808) and r.project_id <= ${last}::bigint
            and r.line_at is distinct from ${ROW_LINE_AT}
          returning 1
        )
        select count(*)::text as moved from moved`.execute(trx);
      return { last, n: Number(n), moved: Number(r.rows[0]!.moved) };
    });
    moved += chunk.moved;
    if (chunk.n < lineCountSettings.passChunk || chunk.last === null) break;
    after = chunk.last;
  }
  await db.updateTable('bill_line_months').set({ passed: m.generation }).where('month', '=', month).where('generation', '=', m.generation).execute();
  return moved;
}

/**
 * Applies to kept month `month`'s rows every plan change stamped after its `plans_seen_at`, and
 * moves that on. The caller holds the month's lock and the plan-change lock exclusive (a fix, or
 * `reconcileMonth`): every change stamped before now is committed, every later one will be stamped
 * later. Answers the rows whose threshold moved.
 */
export async function reconcilePlans(trx: Transaction<DB>, month: string): Promise<number> {
  // The projects of the customers that changed plan, then their rows updated by key.
  const r = await sql<{ moved: string }>`
    with moved as (
      update usage_month_rollup r set line_at = ${ROW_LINE_AT}
      where r.month = ${month}::date
        and r.project_id = any (array(
          select p.project_id from projects p
          where p.customer_id in (select ch.customer_id from customer_plan_changes ch, bill_line_months b
                                  where b.month = ${month}::date and ch.changed_at > b.plans_seen_at)))
        and r.line_at is distinct from ${ROW_LINE_AT}
      returning 1
    ), stamped as (
      update bill_line_months set plans_seen_at = clock_timestamp() where month = ${month}::date returning 1
    )
    select (select count(*) from moved)::text as moved, (select count(*) from stamped) as stamped`.execute(trx);
  return Number(r.rows[0]!.moved);
}

/** `reconcilePlans` in a transaction of its own, when some plan change is stamped after `plans_seen_at`. */
async function reconcileMonth(db: Db, month: string): Promise<number> {
  const pending = await sql<{ found: boolean }>`
    select exists (select 1 from customer_plan_changes ch, bill_line_months b
                   where b.month = ${month}::date and ch.changed_at > b.plans_seen_at) as found`.execute(db);
  if (!pending.rows[0]!.found) return 0;
  return db.transaction().execute(async (trx) => {
    await lockExclusive(trx, LOCK.MONTH, monthNumberOf(new Date(`${month}T00:00:00Z`)));
    await lockExclusive(trx, LOCK.PLAN_CHANGE, 0);
    return reconcilePlans(trx, month);
  });
}

/**
 * The line count kept for month `month` (`YYYY-MM-01`), for the fix that holds its locks (the
 * plans lock shared, the month's and the plan-change lock exclusive): the rows at or past their
 * threshold, after the plan changes not applied yet are. Null when the month's counts cannot serve
 * this fix: not kept, kept for other settings, a price change not passed yet, thresholds that
 * differ from those `inForce` gives, or rows without a threshold.
 */
export async function keptLineCount(trx: Transaction<DB>, month: string, settings: Settings, inForce: Map<string, PlanVersion>): Promise<number | null> {
  if (!lineCountSettings.enabled) return null;
  const m = await keptMonth(trx, month);
  if (!m || m.decimals !== settings.billDecimals || m.defaultPlanId !== settings.defaultPlanId || m.passed !== m.generation) return null;
  if (!sameThresholds(lineThresholds(inForce, settings.defaultPlanId, settings.billDecimals), await storedThresholds(trx, month))) return null;
  await reconcilePlans(trx, month);
  const r = await sql<{ lines: string; unknown: string }>`
    select coalesce(sum(lines), 0)::text as lines, coalesce(sum(unknown), 0)::text as unknown
    from usage_month_lines where month = ${month}::date`.execute(trx);
  const row = r.rows[0]!;
  return row.unknown === '0' ? Number(row.lines) : null;
}

/**
 * One round of upkeep: every month with usage and no bill yet is kept for `settings`, its rows
 * passed when a price change or rows without a threshold call for it, and the plan changes since
 * the last round applied (so a fix has few left to apply). Answers the rows whose threshold moved.
 */
export async function keepLineCounts(db: Db, settings: Settings): Promise<number> {
  if (!lineCountSettings.enabled) return 0;
  const months = await sql<{ month: string }>`
    select distinct to_char(month, 'YYYY-MM-DD') as month from usage_month_counts order by 1`.execute(db);
  let moved = 0;
  for (const { month } of months.rows) {
    if (await billed(db, month)) continue;
    await keepMonth(db, month, settings);
    const m = await keptMonth(db, month);
    if (!m) continue;
    // The month's statistics followed as it grows (its rows' statements choose their index by them).
    await freshenStatistics(db, month);
    if (m.passed !== m.generation || (await unknownRows(db, month)) > 0) moved += await passMonth(db, month);
    moved += await reconcileMonth(db, month);
  }
  return moved;
}

/**
 * Keeps the counts on this instance every `intervalMs` (on PostgreSQL one instance at a time: a
 * session lock on one pinned connection, as the work runs its own transactions); the first round
 * at once. Answers
 * a function that stops it, after the round in progress.
 */
export function startLineCounts(db: Db, settings: Settings, report: (err: unknown) => void, opts: { embedded: boolean }): () => Promise<void> {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let running: Promise<void> | null = null;
  // The embedded database is one session that one process holds (DATA_DIR's lock): no other
  // instance to keep out, and a pinned session would hold every request back for the whole round.
  const once = () => (opts.embedded ? keepLineCounts(db, settings) : withSessionLock(db, LOCK.SCHEDULER, JOB_KEY, (conn) => keepLineCounts(conn, settings)));
  const round = () => {
    running = once()
      .then(() => {}, report)
      .finally(() => {
        running = null;
        if (!stopped && lineCountSettings.intervalMs > 0) timer = setTimeout(round, lineCountSettings.intervalMs);
      });
  };
  if (lineCountSettings.intervalMs > 0) timer = setTimeout(round, 0);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}
