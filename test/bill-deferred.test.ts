import fc from 'fast-check';
import { CompiledQuery, sql } from 'kysely';
import { billLines } from '../src/billing/bill.repository.ts';
import { describe, expect, it } from 'vitest';
import { deferredBillSettings, quantityReaching } from '../src/billing/bill.service.ts';
import { buildTiers } from '../src/billing/tiers.ts';
import { Decimal } from '../src/decimal.ts';
import { buildSettings, settleBuilds } from '../src/statements/store.ts';
import { buildApp, DAY, dayStart, provision } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { waitFor } from './helpers/receiver.ts';
import { LOCK } from '../src/db/locks.ts';
import { adminOk, allBillPages, BILL_ENV, billWorld, GOLD, SILVER, billPage, billRow as billRowOf, blockCount as blockCountOf, deferredBillHooks, usageBatches, wholeFixOfSameData as wholeFixOf } from './helpers/bills.ts';
import { resetTestApp, setupTestApp } from './helpers/setup.ts';

/**
 * Bills fixed in O(page) (billing/bill.service.ts `freezeBill`): the exact line count from the
 * month counts and the few small quantities, the first block in the fix, the rest numbered after;
 * compared line for line, byte for byte, with the whole fix of the same data.
 */
const ENV = BILL_ENV;
const ctx = setupTestApp({ env: ENV });

deferredBillHooks(ctx);
const admin = adminOk(ctx);
const send = usageBatches(ctx, 'd');

const page = billPage;
const allPages = allBillPages;
const billRow = (ym: string) => billRowOf(ctx.tdb.db, ym);
const blockCount = (id: string) => blockCountOf(ctx.tdb.db, id);
const wholeFixOfSameData = (ym: string, limit = 100, env: Record<string, string> = ENV) => wholeFixOf(ctx.tdb.db, ym, limit, env);

/**
 * 260 projects of two customers (gold and silver) with March usage: some too small to cost a cent
 * (not lines), some just enough; projects 251–260 have none. February was billed first and late
 * February usage arrives for projects 3, 7 and 300 (300 has no March usage: a correction-only line).
 */
async function seedMonth() {
  await admin('POST', '/v1/plans', GOLD);
  await admin('POST', '/v1/plans', SILVER);
  await provision(ctx.t, 'c1', [1], 'gold');
  await provision(ctx.t, 'c2', [2], 'silver');
  await sql`insert into projects (project_id, customer_id, app_key, app_secret)
    select g, case when g % 3 = 0 then 'c2' else 'c1' end, md5('k' || g), md5('s' || g) from generate_series(3, 300) g`.execute(ctx.tdb.db);
  await send([{ projectId: 3, quantity: '10', at: '2025-02-10T00:00:00Z' }]);
  expect((await page(ctx.t, '2025-02', 1)).status).toBe(200);
  const march = [];
  for (let p = 1; p <= 250; p++) {
    const quantity = p % 10 === 0 ? '2' : p % 10 === 5 ? '2.5' : String(p / 4);
    march.push({ projectId: p, quantity, at: `2025-03-${String(1 + (p % 28)).padStart(2, '0')}T01:00:00Z` });
  }
  await send(march);
  await send([
    { projectId: 3, quantity: '500', at: '2025-02-20T00:00:00Z' },
    { projectId: 7, quantity: '0.5', at: '2025-02-21T00:00:00Z' },
    { projectId: 300, quantity: '3', at: '2025-02-22T00:00:00Z' },
  ]);
}

describe('a bill fixed without pricing every project', () => {
  it('answers the first page and the exact count from the fix, one block written, and the same lines as the whole fix', async () => {
    await seedMonth();
    const first = await page(ctx.t, '2025-03', 1);
    expect(first.status, first.text).toBe(200);
    const st = await billRow('2025-03');
    expect(st.building).toBe(true);
    expect(st.bill_pricing).toMatchObject({ decimals: 2, versions: expect.any(Array) });
    expect(await blockCount(st.id)).toBe(1);
    const deferred = await allPages(ctx.t, '2025-03');
    expect(deferred.texts[0]).toBe(first.text);
    expect(deferred.entries.length).toBe(deferred.totalSize);
    // Small quantities left out (p % 10 = 0 is 2 minutes = 0.004 USD on gold), a correction-only line in.
    expect(deferred.entries.find((e: any) => e.projectId === '10')).toBeUndefined();
    expect(deferred.entries.find((e: any) => e.projectId === '300')).toBeDefined();
    const done = await billRow('2025-03');
    expect(done.building).toBe(false);
    const whole = await wholeFixOfSameData('2025-03');
    expect(deferred.texts).toEqual(whole.texts);
    expect([done.line_count, done.total_amount, done.correction_amount]).toEqual([whole.row.line_count, whole.row.total_amount, whole.row.correction_amount]);
  });

  it('a numbering interrupted half-way is finished by the next request or another instance, with the same lines', async () => {
    await seedMonth();
    const first = await page(ctx.t, '2025-03', 1);
    expect(first.status).toBe(200);
    buildSettings.beforeChunk = (_id, fromLine) => {
      if (fromLine >= 100) throw new Error('numbering stopped');
    };
    expect((await page(ctx.t, '2025-03', 2)).status).toBe(500);
    const st = await billRow('2025-03');
    expect(await blockCount(st.id)).toBe(1);
    // The totals are those of the one block numbered: a chunk that dies adds nothing.
    const firstBlockTotal = (first.body.data.data as any[]).reduce((s, e) => s.plus(String(e.amount)), new Decimal(0));
    expect(new Decimal(st.total_amount).eq(firstBlockTotal)).toBe(true);
    buildSettings.beforeChunk = null;
    const other = buildApp(ctx.tdb.db, { ...ENV, BILL_DECIMALS: '6', DEFAULT_PLAN_ID: 'silver' });
    // Another instance, configured otherwise: the lines numbered later are priced as fixed.
    const last = await page(other, '2025-03', 3);
    expect(last.status, last.text).toBe(200);
    const all = await allPages(other, '2025-03');
    expect(all.texts[0]).toBe(first.text);
    const whole = await wholeFixOfSameData('2025-03');
    expect(all.texts).toEqual(whole.texts);
  });

  it('pages read while the background job numbers the lines agree with the final blocks; two instances agree', async () => {
    await seedMonth();
    buildSettings.background = true;
    buildSettings.backgroundDelayMs = 0;
    let chunks = 0;
    buildSettings.beforeChunk = async () => {
      chunks++;
      await new Promise((r) => setTimeout(r, 20));
    };
    const second = buildApp(ctx.tdb.db, ENV);
    const [a, b] = await Promise.all([page(ctx.t, '2025-03', 1, 7), page(second, '2025-03', 1, 7)]);
    expect(a.status).toBe(200);
    expect(b.text).toBe(a.text);
    const sizes = [7, 50, 33];
    const concurrent = await Promise.all(
      sizes.flatMap((limit) =>
        Array.from({ length: Math.ceil(a.body.data.totalSize / limit) }, (_, i) => page(i % 2 ? second : ctx.t, '2025-03', i + 1, limit).then((p) => ({ limit, n: i + 1, p }))),
      ),
    );
    await settleBuilds(ctx.tdb.db);
    expect(chunks).toBeGreaterThan(0);
    expect((await billRow('2025-03')).building).toBe(false);
    const final = await allPages(ctx.t, '2025-03', 1000);
    for (const { limit, n, p } of concurrent) {
      expect(p.status, p.text).toBe(200);
      expect(p.body.data.data).toEqual(final.entries.slice((n - 1) * limit, n * limit));
    }
    expect(final.entries.length).toBe(a.body.data.totalSize);
    const stmts = await ctx.tdb.db.selectFrom('statements').select('id').where('kind', '=', 'bill').execute();
    expect(stmts.length).toBe(2);
  });

  it('lines numbered after a plan change name and price the plan the customer had at the fix', async () => {
    await seedMonth();
    const first = await page(ctx.t, '2025-03', 1);
    expect(first.status).toBe(200);
    await sql`update customers set plan_id = 'silver' where customer_id = 'c1'`.execute(ctx.tdb.db);
    await sql`update customers set plan_id = 'gold' where customer_id = 'c2'`.execute(ctx.tdb.db);
    const deferred = await allPages(ctx.t, '2025-03');
    await sql`update customers set plan_id = 'gold' where customer_id = 'c1'`.execute(ctx.tdb.db);
    await sql`update customers set plan_id = 'silver' where customer_id = 'c2'`.execute(ctx.tdb.db);
    const whole = await wholeFixOfSameData('2025-03');
    expect(deferred.texts).toEqual(whole.texts);
  });

  it('usage and projects arriving while the bill is fixed: every event billed once, the count exact', async () => {
    await admin('POST', '/v1/plans', GOLD);
    await provision(ctx.t, 'c1', [1, 2, 3], 'gold');
    await send([{ projectId: 1, quantity: '100', at: '2025-03-01T00:00:00Z' }]);
    buildSettings.background = true;
    buildSettings.backgroundDelayMs = 0;
    const newProjects = Array.from({ length: 20 }, (_, i) => 10 + i);
    const sends = newProjects.map(async (p) => {
      const r = await ctx.t.agoraSend('POST', '/customers/c1/projects/new', { projectId: p });
      expect(r.status).toBe(200);
      await send([{ projectId: p, quantity: String(p), at: '2025-03-15T00:00:00Z' }]);
    });
    const [first] = await Promise.all([page(ctx.t, '2025-03', 1, 5), ...sends]);
    expect(first.status, first.text).toBe(200);
    await settleBuilds(ctx.tdb.db);
    const all = await allPages(ctx.t, '2025-03', 5);
    expect(all.entries.length).toBe(first.body.data.totalSize);
    expect(all.texts[0]).toBe(first.text);
    // What was late for March is carried by April's bill; nothing in both, nothing in neither.
    const billed = new Map<string, Decimal>();
    for (const e of all.entries) billed.set(e.projectId, new Decimal(String(e.amount)));
    const late = await sql<{ project_id: string }>`select project_id::text from usage_events where bill_late`.execute(ctx.tdb.db);
    for (const p of newProjects) {
      const isLate = late.rows.some((r) => r.project_id === String(p));
      expect(billed.has(String(p)) !== isLate, `project ${p}`).toBe(true);
    }
    const april = await allPages(ctx.t, '2025-04', 100);
    expect(april.entries.map((e: any) => e.projectId).sort()).toEqual(late.rows.map((r) => r.project_id).sort());
  });

  it('numbers a chunk reading rows only until it has its lines, however many of the month round to 0', async () => {
    // 3,000 projects, two in three with 1 minute (0.002 USD: 0.00 at two decimals): the fix prices
    // those 2,000 and defers, so a chunk may reach 2,000 rows past its lines (bill_skips).
    await admin('POST', '/v1/plans', GOLD);
    await provision(ctx.t, 'c1', [1], 'gold');
    await sql`insert into projects (project_id, customer_id, app_key, app_secret)
      select g, 'c1', md5('k' || g), md5('s' || g) from generate_series(10, 3009) g`.execute(ctx.tdb.db);
    const april = [];
    for (let p = 10; p <= 3009; p++) april.push({ projectId: p, quantity: p % 3 === 0 ? '100' : '1', at: '2025-04-10T00:00:00Z' });
    await send(april);
    await sql`analyze usage_month_rollup`.execute(ctx.tdb.db);
    const first = await page(ctx.t, '2025-04', 1);
    expect(first.status, first.text).toBe(200);
    const st = await billRow('2025-04');
    expect([st.building, st.line_count, st.bill_skips]).toEqual([true, 1000, 2000]);
    // The next chunk of 100 lines, as the numbering asks for it: the rows of the month it reads.
    const chunk = billLines(st, null, 0, 100).compile(ctx.tdb.db);
    const plan = await ctx.tdb.db.executeQuery<{ 'QUERY PLAN': unknown }>(CompiledQuery.raw(`explain (analyze, format json) ${chunk.sql}`, [...chunk.parameters]));
    const scans: { rows: number; loops: number }[] = [];
    const walk = (node: any) => {
      if (node['Relation Name'] === 'usage_month_rollup') scans.push({ rows: node['Actual Rows'], loops: node['Actual Loops'] });
      for (const child of node.Plans ?? []) walk(child);
    };
    const root: unknown = plan.rows[0]!['QUERY PLAN'];
    walk(typeof root === 'string' ? JSON.parse(root)[0].Plan : (root as any)[0].Plan);
    // The month's rows in order (one scan), read until 100 lines: about 300 rows, not the reach of 2,100.
    const stream = scans.filter((x) => x.loops === 1);
    expect(stream.length).toBe(1);
    expect(stream[0]!.rows).toBeGreaterThanOrEqual(300);
    expect(stream[0]!.rows).toBeLessThan(400);
    // And the lines are those of the whole fix, every page.
    const deferred = await allPages(ctx.t, '2025-04');
    expect(deferred.entries.length).toBe(1000);
    const whole = await wholeFixOfSameData('2025-04');
    expect(deferred.texts).toEqual(whole.texts);
  });

  it('falls back to the whole fix when a fee may be owed, a version never costs a cent, or small quantities are many', async () => {
    await admin('POST', '/v1/plans', { ...GOLD, monthlyFee: '5' });
    await provision(ctx.t, 'c1', [1, 2], 'gold');
    await send([{ projectId: 1, quantity: '10', at: '2025-03-01T00:00:00Z' }]);
    // Projects created now, after March: nobody owes March's fee, so March is deferred…
    expect((await page(ctx.t, '2025-03', 1)).status).toBe(200);
    expect((await billRow('2025-03')).bill_pricing).not.toBeNull();
    // …but a project created before April's end may owe April's: the whole fix.
    await sql`update projects set created_at = '2025-04-02T00:00:00Z' where project_id = 2`.execute(ctx.tdb.db);
    const april = await page(ctx.t, '2025-04', 1);
    expect(april.body.data.data).toEqual([{ projectId: '2', amount: 5, description: 'monthly fee 5 = 5 USD' }]);
    // A fee month is now deferred too (bill-fees.test.ts), with the same lines.
    expect((await billRow('2025-04')).bill_pricing).toMatchObject({ byProject: true });

    await resetTestApp(ctx, ENV);
    await admin('POST', '/v1/plans', { ...GOLD, tiers: [{ upTo: '10', unitPrice: '0.5' }, { upTo: null, unitPrice: '0' }] });
    await admin('POST', '/v1/plans', { ...GOLD, planId: 'free', tiers: [{ upTo: null, unitPrice: '0' }] });
    await provision(ctx.t, 'c1', [1, 2, 3], 'gold');
    await send([{ projectId: 1, quantity: '10', at: '2025-03-01T00:00:00Z' }]);
    // A version in force that never costs half a cent: the whole fix.
    expect((await page(ctx.t, '2025-03', 1)).status).toBe(200);
    expect((await billRow('2025-03')).bill_pricing).toBeNull();

    await resetTestApp(ctx, ENV);
    deferredBillSettings.exactLimit = 1;
    await admin('POST', '/v1/plans', GOLD);
    await provision(ctx.t, 'c1', [1, 2, 3, 4], 'gold');
    await send([1, 2, 3, 4].map((p) => ({ projectId: p, quantity: String(p), at: '2025-03-01T00:00:00Z' })));
    const small = await page(ctx.t, '2025-03', 1);
    expect(small.body.data.data.map((e: any) => e.projectId)).toEqual(['3', '4']);
    expect((await billRow('2025-03')).bill_pricing).toBeNull();
  });

  it.skipIf(!onPostgres)('a bill fixed whole holds no plan-change lock: a plan change and a day fixed meanwhile do not wait for it', async () => {
    // Many small quantities: the fix decides it cannot defer and writes every line. Its writes are
    // held back by a lock on the blocks' table, taken from another connection, so the whole fix is
    // caught half-way (at 1,000,000 projects it lasted 45 s).
    deferredBillSettings.exactLimit = 1;
    await admin('POST', '/v1/plans', GOLD);
    await admin('POST', '/v1/plans', SILVER);
    await provision(ctx.t, 'c1', [1, 2, 3, 4], 'gold');
    await send([1, 2, 3, 4].map((p) => ({ projectId: p, quantity: String(p), at: '2025-03-01T00:00:00Z' })));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const holder = ctx.tdb.db.transaction().execute(async (trx) => {
      await sql`lock table statement_blocks in exclusive mode`.execute(trx);
      holding();
      await gate;
    });
    try {
      await held;
      const bill = page(ctx.t, '2025-03', 1);
      const waiting = async () =>
        (await sql<{ n: number }>`select count(*)::int as n from pg_locks where not granted and relation = 'statement_blocks'::regclass`.execute(ctx.tdb.db)).rows[0]!.n;
      await waitFor(async () => (await waiting()) === 1, 60_000, 'the whole fix waiting on the blocks');
      // The fix's transaction holds its month's lock and the plans' lock, not the plan-change lock.
      const planChange = await sql<{ n: number }>`
        select count(*)::int as n from pg_locks where locktype = 'advisory' and classid = ${LOCK.PLAN_CHANGE} and objid = 0 and granted`.execute(ctx.tdb.db);
      expect(planChange.rows[0]!.n).toBe(0);
      const late = Symbol('waited for the bill');
      const inTime = <T,>(p: Promise<T>) => Promise.race([p, new Promise<typeof late>((r) => setTimeout(() => r(late), 30_000))]);
      // A customer's plan changes (its trigger takes the plan-change lock shared)…
      expect(await inTime(sql`update customers set plan_id = 'silver' where customer_id = 'c1'`.execute(ctx.tdb.db))).not.toBe(late);
      // …and a day of another month is fixed deferred (the plan-change lock exclusive), at once.
      const day = await inTime(ctx.t.agoraGet('/usage', { fromTs: dayStart('2025-04-02'), toTs: dayStart('2025-04-02') + DAY - 1, pageNum: 1 }));
      expect(day).not.toBe(late);
      if (day !== late) expect(day.status).toBe(200);
      expect(await waiting()).toBe(1);
      release();
      await holder;
      await bill;
    } finally {
      release();
      await holder;
    }
    // The whole fix reads the plans in the one statement that writes its lines, whose snapshot is
    // taken once its locks are granted: c1 is on silver by then (a cent a unit: every project a line).
    const march = await page(ctx.t, '2025-03', 1);
    expect(march.status).toBe(200);
    expect(march.body.data.data.map((e: any) => [e.projectId, e.amount])).toEqual([['1', 0.01], ['2', 0.02], ['3', 0.03], ['4', 0.04]]);
    expect((await billRow('2025-03')).bill_pricing).toBeNull();
  });

  it('without a default version: deferred when every customer is on a priced plan, whole when one is not', async () => {
    const env = { BILL_DECIMALS: '2' }; // DEFAULT_PLAN_ID 'default': no such plan
    ctx.t = buildApp(ctx.tdb.db, env);
    await admin('POST', '/v1/plans', GOLD);
    await admin('POST', '/v1/plans', SILVER);
    await provision(ctx.t, 'c1', [1, 2], 'gold');
    await provision(ctx.t, 'c2', [3], 'silver');
    await send([1, 2, 3].map((p) => ({ projectId: p, quantity: String(p * 100), at: '2025-03-05T00:00:00Z' })));
    const march = await allPages(ctx.t, '2025-03', 2);
    expect((await billRow('2025-03')).bill_pricing).toMatchObject({ defaultVersionId: null });
    expect((await wholeFixOfSameData('2025-03', 2, env)).texts).toEqual(march.texts);

    await provision(ctx.t, 'c3', [4], 'unknown');
    await send([1, 4].map((p) => ({ projectId: p, quantity: '500', at: '2025-04-05T00:00:00Z' })));
    const april = await page(ctx.t, '2025-04', 1);
    expect(april.body.data.data.map((e: any) => e.projectId)).toEqual(['1']);
    expect((await billRow('2025-04')).bill_pricing).toBeNull();
  });

  it('finds the least quantity that costs half of the last decimal', () => {
    const tiers = buildTiers([
      { upTo: new Decimal(100), unitPrice: new Decimal(0) },
      { upTo: new Decimal(200), unitPrice: new Decimal('0.001') },
      { upTo: null, unitPrice: new Decimal('0.0003') },
    ]);
    if (typeof tiers === 'string') throw new Error(tiers);
    expect(quantityReaching(tiers, new Decimal('0.005'))!.toFixed()).toBe('105');
    expect(quantityReaching(tiers, new Decimal('0.15'))!.toFixed()).toBe(new Decimal(200).plus(new Decimal('0.05').div('0.0003')).toDecimalPlaces(24, Decimal.ROUND_UP).toFixed());
    const free = buildTiers([{ upTo: null, unitPrice: new Decimal(0) }]);
    if (typeof free === 'string') throw new Error(free);
    expect(quantityReaching(free, new Decimal('0.005'))).toBeNull();
  });

  it('gives the lines of the whole fix on random months (property)', async () => {
    const decimal = fc.integer({ min: 1, max: 40000 }).map((n) => new Decimal(n).div(1000).toFixed());
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 400 }), decimal), { minLength: 0, maxLength: 120 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 400 }), decimal), { minLength: 0, maxLength: 8 }),
        fc.integer({ min: 0, max: 3 }),
        fc.subarray([7, 30, 100]),
        async (usage, late, decimals, limits) => {
          const env = { ...ENV, BILL_DECIMALS: String(decimals) };
          await resetTestApp(ctx, env);
          await billWorld(ctx, { plans: [GOLD, SILVER], customers: ['gold', 'silver', 'unknown'], lastProject: 400 });
          if (late.length > 0) {
            expect((await page(ctx.t, '2025-02', 1)).status).toBe(200);
            await send(late.map(([p, q]) => ({ projectId: p, quantity: q, at: '2025-02-11T00:00:00Z' })));
          }
          await send(usage.map(([p, q]) => ({ projectId: p, quantity: q, at: '2025-03-11T00:00:00Z' })));
          const limit = limits[0] ?? 100;
          const deferred = await allPages(ctx.t, '2025-03', limit);
          const fixed = await billRow('2025-03');
          const whole = await wholeFixOfSameData('2025-03', limit, env);
          expect(deferred.texts).toEqual(whole.texts);
          expect([fixed.line_count, fixed.total_amount, fixed.correction_amount]).toEqual([whole.row.line_count, whole.row.total_amount, whole.row.correction_amount]);
          expect(fixed.bill_pricing).not.toBeNull();
        },
      ),
      { numRuns: 10 },
    );
  });
});
