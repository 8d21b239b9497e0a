import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { deferredBillSettings } from '../src/billing/bill.service.ts';
import { freshenStatistics, keepLineCounts, lineCountSettings, passMonth, startLineCounts } from '../src/billing/line-counts.ts';
import { waitFor } from './helpers/receiver.ts';
import { buildApp, provision } from './helpers/app.ts';
import {
  adminOk,
  allBillPages,
  BILL_ENV,
  billPage,
  billRow as billRowOf,
  billWorld,
  deferredBillHooks,
  FREE,
  GOLD,
  SILVER,
  usageBatches,
  wholeFixOfSameData as wholeFixOf,
} from './helpers/bills.ts';
import { resetTestApp, setupTestApp } from './helpers/setup.ts';

/**
 * Bill lines counted as usage arrives (src/billing/line-counts.ts, migration 20261208090000): a
 * month with more projects inside a free tier than the fix can price one by one (`exactLimit`) is
 * still fixed deferred, from the kept count, and its pages equal the whole fix's byte for byte;
 * plan changes, price changes, other settings and rows written around the triggers keep the count
 * exact or keep it from serving.
 */
const ENV = BILL_ENV;
const SETTINGS = { defaultPlanId: 'gold', billDecimals: 2 };
const ctx = setupTestApp({ env: ENV });
deferredBillHooks(ctx, { noReports: true });
const admin = adminOk(ctx);
const send = usageBatches(ctx, 'l');
const billRow = (ym: string) => billRowOf(ctx.tdb.db, ym);
const wholeFixOfSameData = (ym: string, limit = 100, env: Record<string, string> = ENV) => wholeFixOf(ctx.tdb.db, ym, limit, env);

/** How the bill of `ym` was fixed: from the kept count or another deferred count ('deferred'), or whole. */
const pathOf = async (ym: string) => ((await billRow(ym)).bill_pricing ? 'deferred' : 'whole');

/**
 * The invariant the triggers and the app keep, read the slow way: every row of `month` carries the
 * threshold of its customer's plan now, and the kept count is the rows at or past it.
 */
async function checkInvariant(month: string) {
  const r = await sql<{ wrong: string; lines: string; kept: string; unknown: string }>`
    select (select count(*) from usage_month_rollup r join projects p using (project_id) join customers c using (customer_id)
            where r.month = ${month}::date and r.line_at is distinct from usage_line_at(r.month, c.plan_id))::text as wrong,
           (select count(*) from usage_month_rollup r where r.month = ${month}::date and r.quantity >= r.line_at)::text as lines,
           (select coalesce(sum(lines), 0) from usage_month_lines where month = ${month}::date)::text as kept,
           (select coalesce(sum(unknown), 0) from usage_month_lines where month = ${month}::date)::text as unknown`.execute(ctx.tdb.db);
  const row = r.rows[0]!;
  expect(row).toEqual({ wrong: '0', lines: row.kept, kept: row.kept, unknown: '0' });
  return Number(row.kept);
}

/** Usage of March 2025 for projects 1..n: most inside the free plan's first 100 units. */
const march = (n: number, quantity: (p: number) => string, day = 10) =>
  Array.from({ length: n }, (_, i) => ({ projectId: i + 1, quantity: quantity(i + 1), at: `2025-03-${String(day).padStart(2, '0')}T01:00:00Z` }));

describe('bill lines counted as usage arrives', () => {
  it('fixes a month with many projects inside a free tier deferred, from the kept count, with the lines of the whole fix', async () => {
    deferredBillSettings.exactLimit = 5;
    await billWorld(ctx, { plans: [GOLD, SILVER, FREE], customers: ['free', 'gold', 'silver', 'free', 'unknown'], lastProject: 400 });
    // February billed; late February usage becomes corrections of March's bill (project 401 has no March usage).
    await sql`insert into projects (project_id, customer_id, app_key, app_secret) values (401, 'c1', 'k401', 's401')`.execute(ctx.tdb.db);
    await send([{ projectId: 2, quantity: '1', at: '2025-02-03T00:00:00Z' }]);
    expect((await billPage(ctx.t, '2025-02', 1)).status).toBe(200);
    // Some March usage before the month is kept (rows the pass assigns), the rest after (rows the trigger assigns).
    await send(march(150, (p) => String(p % 7 === 0 ? 150 : p / 2)));
    expect(await keepLineCounts(ctx.tdb.db, SETTINGS)).toBeGreaterThan(0);
    await checkInvariant('2025-03-01');
    await send(march(400, (p) => (p % 5 === 0 ? '60' : '0.5'), 20));
    await send([
      { projectId: 4, quantity: '30', at: '2025-02-20T00:00:00Z' },
      { projectId: 401, quantity: '2', at: '2025-02-21T00:00:00Z' },
      { projectId: 6, quantity: '0.1', at: '2025-02-22T00:00:00Z' },
    ]);
    // A customer moves from the free plan to gold, another from gold to free: applied at the fix.
    await provision(ctx.t, 'c1', [], 'gold');
    await provision(ctx.t, 'c2', [], 'free');
    const first = await billPage(ctx.t, '2025-03', 1);
    expect(first.status, first.text).toBe(200);
    expect(await pathOf('2025-03')).toBe('deferred');
    await checkInvariant('2025-03-01');
    const deferred = await allBillPages(ctx.t, '2025-03');
    expect(deferred.texts[0]).toBe(first.text);
    expect(deferred.entries.length).toBe(deferred.totalSize);
    const fixed = await billRow('2025-03');
    const whole = await wholeFixOfSameData('2025-03');
    expect(deferred.texts).toEqual(whole.texts);
    expect([fixed.line_count, fixed.total_amount, fixed.correction_amount]).toEqual([whole.row.line_count, whole.row.total_amount, whole.row.correction_amount]);
    // Without the kept count this month would have been fixed whole: more small rows than exactLimit.
    expect(Number(fixed.bill_skips)).toBeGreaterThan(deferredBillSettings.exactLimit);
  });

  it('a price change of a kept month keeps its count from serving until every row is passed again', async () => {
    deferredBillSettings.exactLimit = 5;
    await billWorld(ctx, { plans: [GOLD, SILVER, FREE], customers: ['free', 'gold', 'silver'], lastProject: 120 });
    await send(march(120, (p) => String(p)));
    await keepLineCounts(ctx.tdb.db, SETTINGS);
    const before = await checkInvariant('2025-03-01');
    // From March on, the free plan's first 20 units are free instead of 100.
    const { planId: _, ...version } = FREE;
    await admin('POST', '/v1/plans/free/versions', { ...version, effectiveFrom: '2025-03', tiers: [{ upTo: '20', unitPrice: '0' }, { upTo: null, unitPrice: '0.001' }] });
    const month = await ctx.tdb.db.selectFrom('bill_line_months').selectAll().where('month', '=', '2025-03-01').executeTakeFirstOrThrow();
    expect(month.generation).toBe(month.passed + 1);
    // Not passed yet: the fix counts as before (whole here), and the bill is right.
    const whole = await allBillPages(ctx.t, '2025-03');
    expect(await pathOf('2025-03')).toBe('whole');
    const reference = await wholeFixOfSameData('2025-03');
    expect(whole.texts).toEqual(reference.texts);
    // Passed: the count serves, and moved with the new threshold.
    await forgetBill('2025-03');
    expect(await passMonth(ctx.tdb.db, '2025-03-01')).toBeGreaterThan(0);
    expect(await checkInvariant('2025-03-01')).toBeGreaterThan(before);
    const deferred = await allBillPages(ctx.t, '2025-03');
    expect(await pathOf('2025-03')).toBe('deferred');
    expect(deferred.texts).toEqual(reference.texts);
  });

  it('serves no fix configured otherwise, nor a month with rows written around the triggers, until they are assigned', async () => {
    deferredBillSettings.exactLimit = 5;
    await billWorld(ctx, { plans: [GOLD, SILVER, FREE], customers: ['free', 'gold'], lastProject: 60 });
    await send(march(50, (p) => String(p * 3)));
    // Kept for 3 decimals: a fix in cents does not use it.
    await keepLineCounts(ctx.tdb.db, { ...SETTINGS, billDecimals: 3 });
    const other = await allBillPages(ctx.t, '2025-03');
    expect(await pathOf('2025-03')).toBe('whole');
    expect(other.texts).toEqual((await wholeFixOfSameData('2025-03')).texts);

    await resetTestApp(ctx, ENV);
    deferredBillSettings.exactLimit = 5;
    await billWorld(ctx, { plans: [GOLD, SILVER, FREE], customers: ['free', 'gold'], lastProject: 60 });
    await send(march(50, (p) => String(p * 3)));
    await keepLineCounts(ctx.tdb.db, SETTINGS);
    // A row written by hand without a threshold (a restore, a script): counted as unknown.
    await sql`alter table usage_month_rollup disable trigger usage_month_rollup_zz_assigned`.execute(ctx.tdb.db);
    await sql`insert into usage_month_rollup (month, project_id, quantity) values ('2025-03-01', 55, 500)`.execute(ctx.tdb.db);
    await sql`alter table usage_month_rollup enable trigger usage_month_rollup_zz_assigned`.execute(ctx.tdb.db);
    const unknown = await sql<{ n: string }>`select sum(unknown)::text as n from usage_month_lines where month = '2025-03-01'`.execute(ctx.tdb.db);
    expect(unknown.rows[0]!.n).toBe('1');
    await allBillPages(ctx.t, '2025-03');
    expect(await pathOf('2025-03')).toBe('whole');
    const reference = await wholeFixOfSameData('2025-03');
    await forgetBill('2025-03');
    // The next round assigns it; the count then serves.
    await keepLineCounts(ctx.tdb.db, SETTINGS);
    await checkInvariant('2025-03-01');
    const deferred = await allBillPages(ctx.t, '2025-03');
    expect(await pathOf('2025-03')).toBe('deferred');
    expect(deferred.texts).toEqual(reference.texts);
  });

  it('stays exact while usage from two senders and plan changes arrive at once (property)', async () => {
    const decimal = fc.integer({ min: 1, max: 300000 }).map((n) => (n / 1000).toFixed(3));
    const plans = ['free', 'gold', 'silver', 'nothing'];
    let deferredRuns = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batches: fc.array(fc.array(fc.tuple(fc.integer({ min: 1, max: 80 }), decimal), { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 6 }),
          changes: fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom(...plans)), { maxLength: 6 }),
          // Plan changes after the last usage, the month kept: applied by the fix.
          lateChanges: fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom(...plans)), { minLength: 1, maxLength: 3 }),
          // The round that first keeps the month comes after some usage (a month without rows is not kept).
          keptAfter: fc.integer({ min: 1, max: 6 }),
          decimals: fc.integer({ min: 0, max: 3 }),
          freeTop: fc.constantFrom('100', '5', '0.002'),
          limit: fc.constantFrom(7, 100),
        }),
        async (r) => {
          const env = { ...ENV, BILL_DECIMALS: String(r.decimals) };
          await resetTestApp(ctx, env);
          deferredBillSettings.exactLimit = 3;
          const free = { ...FREE, tiers: [{ upTo: r.freeTop, unitPrice: '0' }, { upTo: null, unitPrice: '0.001' }] };
          // 'nothing' has no version: its customers are priced by the default (gold).
          await billWorld(ctx, { plans: [GOLD, SILVER, free], customers: ['free', 'gold', 'silver', 'nothing'], lastProject: 80 });
          const settings = { defaultPlanId: 'gold', billDecimals: r.decimals };
          const second = usageBatches({ ...ctx, t: ctx.t }, `l2-${deferredRuns}`);
          for (const [i, batch] of r.batches.entries()) {
            if (i === r.keptAfter) await keepLineCounts(ctx.tdb.db, settings);
            const events = batch.map(([p, q]) => ({ projectId: p, quantity: q, at: '2025-03-11T00:00:00Z' }));
            const half = Math.ceil(events.length / 2);
            // Two senders and the plan changes of this step at once (on PostgreSQL, truly at once).
            const change = r.changes[i];
            await Promise.all([
              send(events.slice(0, half)),
              second(events.slice(half)),
              change ? provision(ctx.t, `c${change[0]}`, [], change[1]) : Promise.resolve(),
            ]);
          }
          if (r.keptAfter >= r.batches.length) await keepLineCounts(ctx.tdb.db, settings);
          for (const change of [...r.changes.slice(r.batches.length), ...r.lateChanges]) await provision(ctx.t, `c${change[0]}`, [], change[1]);
          const deferred = await allBillPages(ctx.t, '2025-03', r.limit);
          const fixed = await billRow('2025-03');
          if (fixed.bill_pricing) deferredRuns++;
          else if (process.env.SHOW_PATHS) process.stderr.write(`${JSON.stringify({ r, months: await ctx.tdb.db.selectFrom('bill_line_months').selectAll().execute(), lines: await ctx.tdb.db.selectFrom('usage_month_lines').selectAll().execute(), th: await ctx.tdb.db.selectFrom('bill_line_thresholds').selectAll().execute() })}\n`);
          expect(deferred.entries.length).toBe(deferred.totalSize);
          const whole = await wholeFixOfSameData('2025-03', r.limit, env);
          expect(deferred.texts).toEqual(whole.texts);
          expect([fixed.line_count, fixed.total_amount]).toEqual([whole.row.line_count, whole.row.total_amount]);
        },
      ),
      { numRuns: 15 },
    );
    // The kept count serves (the month is always kept before the fix), whatever exactLimit.
    expect(deferredRuns).toBe(15);
  }, 240_000);

  it('runs on its own beside the server: months kept and passed, plan changes applied, and it stops after its round', async () => {
    await billWorld(ctx, { plans: [GOLD, SILVER, FREE], customers: ['free', 'gold'], lastProject: 40 });
    await send(march(20, (p) => String(p * 7)));
    const interval = lineCountSettings.intervalMs;
    lineCountSettings.intervalMs = 50;
    const errors: unknown[] = [];
    const stop = startLineCounts(ctx.tdb.db, SETTINGS, (e) => void errors.push(e), { embedded: ctx.tdb.kind === 'embedded' });
    const passed = async () => {
      const m = await ctx.tdb.db.selectFrom('bill_line_months').selectAll().where('month', '=', '2025-03-01').executeTakeFirst();
      return m !== undefined && m.passed === m.generation;
    };
    try {
      await waitFor(passed, 60_000, 'March kept and passed');
      await send(march(40, (p) => String(p * 3), 21));
      await provision(ctx.t, 'c1', [], 'gold');
      // Applied by a later round: plans_seen_at moves past the change.
      await waitFor(async () => {
        const r = await sql<{ pending: boolean }>`select exists (select 1 from customer_plan_changes ch, bill_line_months b where ch.changed_at > b.plans_seen_at) as pending`.execute(ctx.tdb.db);
        return !r.rows[0]!.pending;
      }, 60_000, 'the plan change applied');
    } finally {
      await stop();
      lineCountSettings.intervalMs = interval;
    }
    expect(errors).toEqual([]);
    await checkInvariant('2025-03-01');
  });

  it('analyzes the rollup when the planner does not know a month has rows, and not again once it does', async () => {
    await billWorld(ctx, { plans: [GOLD], customers: ['gold'], lastProject: 2 });
    await sql`insert into usage_month_rollup (month, project_id, quantity) select '2025-02-01', g, 1 from generate_series(1, 3000) g`.execute(ctx.tdb.db);
    await sql`analyze usage_month_rollup`.execute(ctx.tdb.db);
    // A month the statistics have never seen.
    await sql`insert into usage_month_rollup (month, project_id, quantity) select '2025-03-01', g, 1 from generate_series(1, 3000) g`.execute(ctx.tdb.db);
    const floor = lineCountSettings.statisticsFloor;
    lineCountSettings.statisticsFloor = 1000;
    try {
      expect(await freshenStatistics(ctx.tdb.db, '2025-03-01')).toBe(true);
      expect(await freshenStatistics(ctx.tdb.db, '2025-03-01')).toBe(false);
      expect(await freshenStatistics(ctx.tdb.db, '2025-02-01')).toBe(false);
      // Below the floor nothing is looked at.
      lineCountSettings.statisticsFloor = 5000;
      await sql`insert into usage_month_rollup (month, project_id, quantity) select '2025-04-01', g, 1 from generate_series(1, 3000) g`.execute(ctx.tdb.db);
      expect(await freshenStatistics(ctx.tdb.db, '2025-04-01')).toBe(false);
    } finally {
      lineCountSettings.statisticsFloor = floor;
    }
  });

  it('keeps nothing when turned off', async () => {
    lineCountSettings.enabled = false;
    try {
      await billWorld(ctx, { plans: [GOLD], customers: ['gold'], lastProject: 5 });
      await send(march(5, () => '1'));
      expect(await keepLineCounts(ctx.tdb.db, SETTINGS)).toBe(0);
      expect(await ctx.tdb.db.selectFrom('bill_line_months').selectAll().execute()).toEqual([]);
    } finally {
      lineCountSettings.enabled = true;
    }
  });
});

/**
 * Forgets bill `ym` as if it had never been asked for (its blocks, corrections and marks), with a
 * new app on the same data (an app keeps the fixed statements it answered in memory).
 */
async function forgetBill(ym: string) {
  const st = await billRow(ym);
  const db = ctx.tdb.db;
  await sql`delete from statement_blocks where statement_id = ${st.id}::bigint`.execute(db);
  await sql`delete from bill_corrections where bill_statement_id = ${st.id}::bigint`.execute(db);
  await sql`update usage_events set bill_statement_id = null where bill_statement_id = ${st.id}::bigint`.execute(db);
  await sql`delete from statements where id = ${st.id}::bigint`.execute(db);
  ctx.t = buildApp(db, ENV);
}
