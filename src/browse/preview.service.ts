import { sql, type RawBuilder } from 'kysely';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { Statement } from '../db/schema.ts';
import { billDescriptions, billPricing } from '../billing/bill.service.ts';
import * as billRepo from '../billing/bill.repository.ts';
import { DAY_MS, monthLabel, monthStart } from '../periods.ts';
import * as store from '../statements/store.ts';
import type { StatementLine } from '../statements/store.ts';
import * as usageRepo from '../usage/usage.repository.ts';
import { usageDescription } from '../usage/usage.service.ts';

/**
 * What Agora would be told now for a day's usage or a month's bill, without fixing anything: the
 * fixed statement's lines when there is one, else the lines the fix would write if it ran now,
 * computed by the fix's own SQL (usage.repository, bill.repository) with the corrections it would
 * take read instead of taken. No period lock is taken, so a preview never holds ingestion back; it
 * reads one snapshot (repeatable read), so its lines and totals agree with each other.
 */
export interface Preview {
  period: string;
  fixed: boolean;
  totalSize: number;
  total: string;
  lines: { lineNo: number; projectId: string; planId: string; amount: string; correction: string; description: string }[];
}

type Line = { n: string; project_id: string; plan_id: string; amount: string; correction: string };
type Totals = { line_count: string; total: string };

function snapshot<T>(db: Db, read: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    // As the fixes do: sorting and hashing 100,000 lines fits in memory rather than spilling to disk.
    await sql`set local work_mem = '64MB'`.execute(trx);
    return read(trx);
  });
}

async function fixedPreview(db: Db, st: Statement, period: string, offset: number, limit: number, describe: (lines: StatementLine[]) => Promise<string[]> | string[]): Promise<Preview> {
  const lines = await store.linesPage(db, st, offset, limit);
  const descriptions = await describe(lines);
  return {
    period,
    fixed: true,
    totalSize: st.line_count,
    total: st.total_amount,
    lines: lines.map((l, i) => ({ lineNo: l.lineNo, projectId: l.projectId, planId: l.planId, amount: l.amount, correction: l.correction, description: descriptions[i]! })),
  };
}

const asLine = (r: Line) => ({ lineNo: Number(r.n) + 1, projectId: r.project_id, planId: r.plan_id, amount: r.amount, correction: r.correction });

/** The usage Agora would be told for the whole UTC day `day` (`YYYY-MM-DD`), lines `offset + 1`… */
export async function previewUsageDay(db: Db, day: string, unit: string, offset: number, limit: number): Promise<Preview> {
  const start = new Date(`${day}T00:00:00Z`);
  const end = new Date(start.getTime() + DAY_MS);
  const fixed = await store.findStatement(db, 'usage', start, end);
  if (fixed) return fixedPreview(db, fixed, day, offset, limit, (lines) => lines.map((l) => usageDescription(l, fixed.unit)));
  const { totals, rows } = await snapshot(db, async (trx) => {
    const earlier = (await usageRepo.reportedWindows(trx, start, end)).filter((w) => w.kind === 'usage' && w.window_start >= start && w.window_end <= end);
    if (earlier.length === 0) {
      // As the deferred fix: totals from the day counters, lines from the rollup by key.
      const pending = sql`select project_id, sum(quantity) as quantity from (${usageRepo.pendingCorrectionEvents()}) e group by project_id`;
      const totals = (await sql<Totals>`with corr as (${pending}), ${usageRepo.dayTotals(day)}`.execute(trx)).rows[0]!;
      const lines = usageRepo.dayLines({
        day,
        corrections: (from, upTo) => sql`select * from (${pending}) p where project_id > ${from} order by project_id limit ${upTo}::int`,
        planAsOf: sql`now()`,
        after: null,
        base: offset,
        skip: offset,
        count: limit,
      });
      const rows = (await sql<Line>`select n::text, project_id::text, plan_id, amount::text, correction::text from (${lines}) l order by l.n`.execute(trx)).rows;
      return { totals, rows };
    }
    // Shorter windows of the day were reported: the whole day is written whole, less what they held.
    const ctes = usageRepo.usageLinesCtes(
      {
        statementId: '0',
        day,
        start,
        end,
        wholeDay: true,
        earlier: earlier.map((w) => ({ start: w.window_start, end: w.window_end, wholeDay: false })),
      },
      usageRepo.pendingCorrectionEvents(),
    );
    return pageOfNumbered(trx, ctes, offset, limit);
  });
  return {
    period: day,
    fixed: false,
    totalSize: Number(totals.line_count),
    total: totals.total,
    lines: rows.map((r) => {
      const l = asLine(r);
      return { ...l, description: usageDescription(l, unit) };
    }),
  };
}

/** Totals and one page of the CTE `numbered` that `ctes` ends with, in one statement. */
async function pageOfNumbered(trx: Db, ctes: RawBuilder<unknown>, offset: number, limit: number) {
  const r = await sql<Line & Totals>`
    with ${ctes}
    select t.line_count, t.total, p.n::text, p.project_id::text, p.plan_id, p.amount::text, p.correction::text
    from (select count(*)::text as line_count, coalesce(sum(amount), 0)::text as total from numbered) t
    left join lateral (select * from numbered order by n offset ${offset}::int limit ${limit}::int) p on true
    order by p.n`.execute(trx);
  const first = r.rows[0]!;
  return { totals: { line_count: first.line_count, total: first.total }, rows: r.rows.filter((x) => x.n !== null) };
}

/** A bill's lines as computed now, kept a moment so the pages of one walk are read from it. */
interface BillSnapshot {
  takenAt: number;
  totals: Totals;
  rows: BillRow[];
  carried: { project_id: string; month: string; quantity: string; amount: string }[];
}
type BillRow = Line & { quantity: string; version_id: string | null; fee: string };

/**
 * Pricing every project is the whole cost of a bill preview (about a second at 100,000 projects on
 * a busy 2-core machine): its lines are kept `snapshotMs` per month and database handle, so the
 * other pages of a walk, and the same page asked again, are read from memory. At most `maxLines`
 * lines are kept per month (bigger bills are computed per page), and a few months.
 */
export const billPreviewSettings = { snapshotMs: 30_000, maxLines: 200_000, maxMonths: 3 };
const billSnapshots = new WeakMap<Db, Map<number, Promise<BillSnapshot>>>();

async function billSnapshot(db: Db, month: number, config: Pick<Config, 'defaultPlanId' | 'billDecimals'>): Promise<BillSnapshot> {
  let byMonth = billSnapshots.get(db);
  if (!byMonth) billSnapshots.set(db, (byMonth = new Map()));
  const cached = byMonth.get(month);
  if (cached) {
    const snapshot = await cached.catch(() => null);
    if (snapshot && performance.now() - snapshot.takenAt < billPreviewSettings.snapshotMs) return snapshot;
  }
  const taking = snapshot(db, async (trx) => {
    const pricing = await billPricing(trx, month, config);
    const priced = await pricing.priceCorrections(await billRepo.peekPendingBillCorrections(trx));
    const corrections = sql`
      select project_id, sum(amount) as amount
      from unnest(${priced.map((c) => c.projectId)}::bigint[], ${priced.map((c) => c.amount)}::numeric[]) as c(project_id, amount)
      group by project_id`;
    const page = await pageOfBill(trx, billRepo.billLinesCtes(pricing.linesArgs('0'), corrections), 0, billPreviewSettings.maxLines);
    const carried = priced.map((c) => ({ project_id: c.projectId, month: c.month, quantity: c.quantity, amount: c.amount }));
    return { takenAt: performance.now(), totals: page.totals, rows: page.rows, carried };
  });
  byMonth.delete(month);
  byMonth.set(month, taking);
  while (byMonth.size > billPreviewSettings.maxMonths) byMonth.delete(byMonth.keys().next().value!);
  const taken = await taking.catch((err: unknown) => {
    byMonth.delete(month);
    throw err;
  });
  if (taken.rows.length < Number(taken.totals.line_count)) byMonth.delete(month); // too big to keep
  return taken;
}

/** The bill Agora would be told for `month` (a month number, see periods.ts), lines `offset + 1`… */
export async function previewBillMonth(db: Db, month: number, config: Pick<Config, 'defaultPlanId' | 'billDecimals'>, offset: number, limit: number): Promise<Preview> {
  const period = monthLabel(month);
  const fixed = await store.findStatement(db, 'bill', monthStart(month), monthStart(month + 1));
  if (fixed) return fixedPreview(db, fixed, period, offset, limit, (lines) => billDescriptions(db, fixed.id, lines));
  const taken = await billSnapshot(db, month, config);
  let rows = taken.rows.slice(offset, offset + limit);
  if (offset + limit > taken.rows.length && taken.rows.length < Number(taken.totals.line_count)) {
    // A bill too big to keep: this page computed on its own.
    rows = await snapshot(db, async (trx) => {
      const pricing = await billPricing(trx, month, config);
      const corrections = sql`
        select project_id, sum(amount) as amount
        from unnest(${taken.carried.map((c) => c.project_id)}::bigint[], ${taken.carried.map((c) => c.amount)}::numeric[]) as c(project_id, amount)
        group by project_id`;
      return (await pageOfBill(trx, billRepo.billLinesCtes(pricing.linesArgs('0'), corrections), offset, limit)).rows;
    });
  }
  const lines = rows.map((r) => ({ ...asLine(r), quantity: r.quantity, versionId: r.version_id, fee: r.fee }));
  const descriptions = await billDescriptions(db, '0', lines, taken.carried);
  return {
    period,
    fixed: false,
    totalSize: Number(taken.totals.line_count),
    total: taken.totals.total,
    lines: lines.map((l, i) => ({ lineNo: l.lineNo, projectId: l.projectId, planId: l.planId, amount: l.amount, correction: l.correction, description: descriptions[i]! })),
  };
}

async function pageOfBill(trx: Db, ctes: RawBuilder<unknown>, offset: number, limit: number) {
  const r = await sql<BillRow & Totals>`
    with ${ctes}
    select t.line_count, t.total, p.n::text, p.project_id::text, p.plan_id, p.amount::text, p.correction::text,
           p.quantity::text, p.version_id::text, p.fee::text
    from (select count(*)::text as line_count, coalesce(sum(amount), 0)::text as total from numbered) t
    left join lateral (select * from numbered order by n offset ${offset}::int limit ${limit}::int) p on true
    order by p.n`.execute(trx);
  const first = r.rows[0]!;
  return { totals: { line_count: first.line_count, total: first.total }, rows: r.rows.filter((x) => x.n !== null) };
}
