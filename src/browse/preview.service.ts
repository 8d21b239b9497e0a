import { sql, type RawBuilder } from 'kysely';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { Statement } from '../db/schema.ts';
import { billDescriptions, billPricing, countDeferredBill, deferredBillCount } from '../billing/bill.service.ts';
import * as billRepo from '../billing/bill.repository.ts';
import { requestScope } from '../db/pool-gate.ts';
import { Decimal } from '../decimal.ts';
import { DAY_MS, monthLabel, monthStart, monthText } from '../periods.ts';
import * as store from '../statements/store.ts';
import type { StatementLine } from '../statements/store.ts';
import * as usageRepo from '../usage/usage.repository.ts';
import { usageDescription } from '../usage/usage.service.ts';

/**
 * What Agora would be told now for a day's usage or a month's bill, without fixing anything: the
 * fixed statement's lines when there is one, else the lines the fix would write if it ran now,
 * computed by the fix's own SQL (usage.repository, bill.repository) with the corrections it would
 * take read instead of taken. No period lock is taken, so a preview never holds ingestion back; each
 * answer reads one snapshot (repeatable read), so its lines and its line count agree.
 */
export interface Preview {
  period: string;
  fixed: boolean;
  totalSize: number;
  total: PreviewTotal;
  lines: { lineNo: number; projectId: string; planId: string; amount: string; correction: string; description: string }[];
}

/**
 * The sum of the amounts of every line: `ready` with the `lineCount` lines it sums as they were at
 * `asOf` (a bill preview's total is computed off the request, in a snapshot of its own, so the lines
 * of a later answer may have moved on), or `pending` while it is being computed (ask again).
 */
export type PreviewTotal = { status: 'pending' } | { status: 'ready'; amount: string; lineCount: number; asOf: Date };

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
    // A deferred bill's totals are the sums of the lines numbered so far: exact once it is built.
    total: st.kind === 'bill' && st.building ? { status: 'pending' } : { status: 'ready', amount: st.total_amount, lineCount: st.line_count, asOf: st.fixed_at },
    lines: lines.map((l, i) => ({ lineNo: l.lineNo, projectId: l.projectId, planId: l.planId, amount: l.amount, correction: l.correction, description: descriptions[i]! })),
  };
}

const asLine = (r: Line) => ({ lineNo: Number(r.n) + 1, projectId: r.project_id, planId: r.plan_id, amount: r.amount, correction: r.correction });

/** The usage Agora would be told for the whole UTC day `day` (`YYYY-MM-DD`), lines `offset + 1`… */
export async function previewUsageDay(db: Db, day: string, unit: string, offset: number, limit: number, now: () => Date): Promise<Preview> {
  const start = new Date(`${day}T00:00:00Z`);
  const end = new Date(start.getTime() + DAY_MS);
  const fixed = await store.findStatement(db, 'usage', start, end);
  if (fixed) return fixedPreview(db, fixed, day, offset, limit, (lines) => lines.map((l) => usageDescription(l, fixed.unit)));
  const asOf = now();
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
    total: { status: 'ready', amount: totals.total, lineCount: Number(totals.line_count), asOf },
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

type BillRow = Line & { quantity: string; version_id: string | null; fee: string };
type BillConfig = Pick<Config, 'defaultPlanId' | 'billDecimals'>;
type Carried = { project_id: string; month: string; quantity: string; amount: string };

/**
 * The corrections a bill fixed now would take (`peekPendingBillCorrections`, priced), as the SQL of
 * the fix's count and lines reads them: `rows` (`project_id, amount`, one a project) and `of`, one
 * project's amount by key. One JSON object (projectId → exact amount, summed with Decimal) passed
 * once: a read-only snapshot cannot write them into a table.
 */
function pendingCorrections(priced: { projectId: string; amount: string }[]) {
  const byProject = new Map<string, Decimal>();
  for (const c of priced) byProject.set(c.projectId, (byProject.get(c.projectId) ?? new Decimal(0)).plus(c.amount));
  const json = JSON.stringify(Object.fromEntries([...byProject].map(([p, a]) => [p, a.toFixed()])));
  const rows = sql`select key::bigint as project_id, value::numeric as amount from jsonb_each_text(${json}::jsonb)`;
  return {
    rows,
    after: (from: RawBuilder<unknown>, upTo: number) => sql`select project_id, amount from (${rows}) c where project_id > ${from} order by project_id limit ${upTo}::int`,
    of: (projectId: RawBuilder<unknown>) => sql`(${json}::jsonb ->> (${projectId})::text)::numeric`,
  };
}

/** A month's pricing and the corrections a fix would take now, priced, in the snapshot `trx`. */
async function billInputs(trx: Db, month: number, config: BillConfig) {
  const pricing = await billPricing(trx, month, config);
  const priced = await pricing.priceCorrections(await billRepo.peekPendingBillCorrections(trx));
  const carried: Carried[] = priced.map((c) => ({ project_id: c.projectId, month: c.month, quantity: c.quantity, amount: c.amount }));
  return { pricing, carried, corrections: pendingCorrections(priced) };
}

/**
 * The bill Agora would be told for `month` (a month number, see periods.ts), lines `offset + 1`…
 * As the deferred fix does it (`deferredBillCount`), in one snapshot: the lines are counted without
 * pricing every project (the corrections peeked, not taken; each customer's plan as it is now), and
 * the page is read by key with the fix's numbering SQL (`billLinesOf`), skipping `offset` lines:
 * O(offset + limit + the few candidates that round to 0), not O(projects). The total is not known
 * without pricing every project (a graduated price is not additive over the month's events): it
 * comes from `totals`, computed off the request, `pending` until then. A month the fix would fix
 * whole is previewed whole too: every page prices every project, its total with it.
 */
export async function previewBillMonth(
  db: Db,
  month: number,
  config: BillConfig,
  offset: number,
  limit: number,
  now: () => Date,
  totals: Pick<BillPreviewTotals, 'of'>,
): Promise<Preview> {
  const period = monthLabel(month);
  const fixed = await store.findStatement(db, 'bill', monthStart(month), monthStart(month + 1));
  if (fixed) return fixedPreview(db, fixed, period, offset, limit, (lines) => billDescriptions(db, fixed.id, lines));
  const asOf = now();
  const read = await snapshot(db, async (trx) => {
    const { pricing, carried, corrections } = await billInputs(trx, month, config);
    const plan = await deferredBillCount(trx, month, config, pricing);
    if (plan === null) {
      const page = await pageOfBill(trx, billRepo.billLinesCtes(pricing.linesArgs('0'), corrections.rows), offset, limit);
      const lineCount = Number(page.totals.line_count);
      const total: PreviewTotal = { status: 'ready', amount: page.totals.total, lineCount, asOf };
      return { lineCount, rows: page.rows, carried, total };
    }
    const counted = await countDeferredBill(trx, month, plan, corrections.rows);
    const source: billRepo.BillLinesSource = {
      month: monthText(month),
      start: monthStart(month),
      end: monthStart(month + 1),
      pricing: plan.pricing,
      skips: counted.skips,
      corrections: corrections.after,
      correctionOf: corrections.of,
      asOf: null,
    };
    const rows =
      offset >= counted.lineCount
        ? []
        : (
            await sql<BillRow>`
              select n::text, project_id::text, plan_id, amount::text, correction::text, quantity::text, version_id::text, fee::text
              from (${billRepo.billLinesOf(source, null, 0, offset, limit)}) l order by l.n`.execute(trx)
          ).rows;
    return { lineCount: counted.lineCount, rows, carried, total: null };
  });
  const lines = read.rows.map((r) => ({ ...asLine(r), quantity: r.quantity, versionId: r.version_id, fee: r.fee }));
  const descriptions = await billDescriptions(db, '0', lines, read.carried);
  return {
    period,
    fixed: false,
    totalSize: read.lineCount,
    total: read.total ?? totals.of(month),
    lines: lines.map((l, i) => ({ lineNo: l.lineNo, projectId: l.projectId, planId: l.planId, amount: l.amount, correction: l.correction, description: descriptions[i]! })),
  };
}

/** The total of a month's bill as the whole fix would write it now: one aggregate, no line leaves the database. */
async function billTotal(db: Db, month: number, config: BillConfig): Promise<{ amount: string; lineCount: number }> {
  return snapshot(db, async (trx) => {
    const { pricing, corrections } = await billInputs(trx, month, config);
    const r = await sql<Totals>`
      with ${billRepo.billLinesCtes(pricing.linesArgs('0'), corrections.rows)}
      select count(*)::text as line_count, coalesce(sum(amount), 0)::text as total from numbered`.execute(trx);
    return { amount: r.rows[0]!.total, lineCount: Number(r.rows[0]!.line_count) };
  });
}

/**
 * Knobs of the bill previews' totals: each is kept `snapshotMs` after it was computed (per app and
 * month, at most `maxMonths` months), begun `delayMs` after the answer that found none (so that
 * answer is written first), one at a time per app.
 */
export const billPreviewSettings = { snapshotMs: 30_000, maxMonths: 3, delayMs: 50 };

type KeptTotal = { total: PreviewTotal; takenAt: number };
/** The computations of totals not finished yet, per database (`settlePreviewTotals`). */
const inFlight = new WeakMap<Db, Set<Promise<void>>>();

/**
 * The totals of bill previews (one per app: nothing global, tests build many). A total prices
 * every project (the whole fix's SQL, summed in the database: no line comes to Node), so it is
 * computed after the answer that asked for it, off any request (no deadline: it waits for a
 * heavy-read turn, `turn`, and a connection like any heavy read, and is never refused), one at a
 * time, and kept `snapshotMs`, so the answers meanwhile say it at once.
 */
export class BillPreviewTotals {
  readonly #kept = new Map<number, KeptTotal>();
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      db: Db;
      config: BillConfig;
      clock: () => Date;
      /** A heavy-read turn, taken while a total is computed. */
      turn: () => Promise<() => void>;
      /** Where a total that failed is told (the next answer begins another). */
      report: (err: unknown, month: string) => void;
    },
  ) {}

  /** The total of `month`'s bill as kept, or pending (its computation begun when none is under way). */
  of(month: number): PreviewTotal {
    const kept = this.#kept.get(month);
    if (kept && (kept.total.status === 'pending' || performance.now() - kept.takenAt < billPreviewSettings.snapshotMs)) return kept.total;
    const entry: KeptTotal = { total: { status: 'pending' }, takenAt: performance.now() };
    this.#kept.delete(month);
    this.#kept.set(month, entry);
    while (this.#kept.size > billPreviewSettings.maxMonths) this.#kept.delete(this.#kept.keys().next().value!);
    // Off the request (its scope left behind, so its deadline does not stop this), after the totals before it.
    requestScope.exit(() => {
      const job = this.#queue
        .then(() => new Promise((resolve) => setTimeout(resolve, billPreviewSettings.delayMs)))
        .then(() => this.#compute(month, entry));
      this.#queue = job;
      let running = inFlight.get(this.deps.db);
      if (!running) inFlight.set(this.deps.db, (running = new Set()));
      const set = running;
      set.add(job);
      void job.finally(() => set.delete(job));
    });
    return entry.total;
  }

  /** Never rejects: the totals after it wait for it. */
  async #compute(month: number, entry: KeptTotal): Promise<void> {
    // Forgotten before its turn (more months asked for since): not computed.
    if (this.#kept.get(month) !== entry) return;
    let release = () => {};
    try {
      release = await this.deps.turn();
      const asOf = this.deps.clock();
      const t = await billTotal(this.deps.db, month, this.deps.config);
      entry.total = { status: 'ready', amount: t.amount, lineCount: t.lineCount, asOf };
      entry.takenAt = performance.now();
    } catch (err) {
      // The next answer begins another.
      if (this.#kept.get(month) === entry) this.#kept.delete(month);
      this.deps.report(err, monthLabel(month));
    } finally {
      release();
    }
  }
}

/** Waits for the bill previews' totals being computed on `db` (tests). */
export async function settlePreviewTotals(db: Db): Promise<void> {
  await Promise.all([...(inFlight.get(db) ?? [])]);
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
