import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
// The app first: it extends zod (openapi) before the provisioning modules' schemas are made.
import { provision } from './helpers/app.ts';
import { BillPreviewTotals, settlePreviewTotals } from '../src/browse/preview.service.ts';
import { deactivateProject, provisionProject } from '../src/provisioning/provisioning.service.ts';
import { adminOk, BILL_ENV, billPage, billWorld, FREE, billRow as billRowOf, deferredBillHooks, GOLD, SILVER, usageBatches, wholeFixOfSameData as wholeFixOf } from './helpers/bills.ts';
import { resetTestApp, setupTestApp } from './helpers/setup.ts';

/**
 * The bill preview (`GET /v1/preview/bill`, browse/preview.service.ts) of a month not fixed yet,
 * counted and paged as the deferred fix counts and numbers it: every page equals, byte for byte,
 * the lines the real fix of the same data answers; the total, computed after the first answer,
 * equals the real bill's; nothing is fixed or written.
 */
const ENV = BILL_ENV;
const ctx = setupTestApp({ env: ENV });
deferredBillHooks(ctx, { noReports: true });
const admin = adminOk(ctx);
const send = usageBatches(ctx, 'pv');
const billRow = (ym: string) => billRowOf(ctx.tdb.db, ym);

const GOLD_FEE = { ...GOLD, monthlyFee: '5' };
const SILVER_FEE = { ...SILVER, monthlyFee: '0.5' };

/** One page of the preview: its status, exact text and parsed body. */
async function previewPage(ym: string, page: number, limit = 100) {
  const r = await ctx.t.admin('GET', `/v1/preview/bill?month=${ym}&page=${page}&limit=${limit}`);
  const text = await r.text();
  return { status: r.status, text, body: JSON.parse(text) as any };
}

/** Every page of the preview, `limit` lines a page, each answer's totalSize the same. */
async function previewWalk(ym: string, limit: number) {
  const lines: unknown[] = [];
  const first = await previewPage(ym, 1, limit);
  for (let page = 1; ; page++) {
    const p = page === 1 ? first : await previewPage(ym, page, limit);
    expect(p.status, p.text).toBe(200);
    expect(p.body.totalSize).toBe(first.body.totalSize);
    lines.push(...p.body.lines);
    if (p.body.lines.length < limit) return { first: first.body, lines, totalSize: first.body.totalSize as number };
  }
}

/** What a preview must leave as it was: statements, their lines, and the corrections waiting for the next bill. */
async function writes() {
  const r = await sql<{ statements: string; blocks: string; corrections: string; pending: string }>`
    select (select count(*) from statements)::text as statements,
           (select count(*) from statement_blocks)::text as blocks,
           (select count(*) from bill_corrections)::text as corrections,
           (select count(*) from usage_events where bill_late and bill_statement_id is null)::text as pending`.execute(ctx.tdb.db);
  return r.rows[0]!;
}

/** The preview's total once computed (the first answer began it). */
async function settledTotal(ym: string) {
  await settlePreviewTotals(ctx.tdb.db);
  const p = await previewPage(ym, 1, 1);
  expect(p.body.total.status, p.text).toBe('ready');
  return p.body.total as { status: 'ready'; amount: string; lineCount: number; asOf: string };
}

/**
 * The preview of `ym`, then the real bill fixed through Agora's poll (deferred, `path`): the first
 * page and every page of the preview equal the fixed bill's lines byte for byte, its total the
 * bill's, and the whole fix of the same data agrees with both.
 */
async function previewEqualsTheFix(ym: string, path: 'usage' | 'fee', limits: { first: number; walk: number }) {
  const before = await writes();
  const first = await previewPage(ym, 1, limits.first);
  expect(first.status, first.text).toBe(200);
  expect(first.body.fixed).toBe(false);
  // Counted as the deferred fix counts: the total is not known yet.
  expect(first.body.total).toEqual({ status: 'pending' });
  const walk = await previewWalk(ym, limits.walk);
  expect(walk.lines.length).toBe(walk.totalSize);
  const total = await settledTotal(ym);
  expect(total.lineCount).toBe(walk.totalSize);
  expect(await writes()).toEqual(before);

  // The real fix, as Agora asks for it.
  const agora = await billPage(ctx.t, ym, 1);
  expect(agora.status, agora.text).toBe(200);
  const st = await billRow(ym);
  expect(st.bill_pricing === null ? 'whole' : st.bill_pricing.byProject ? 'fee' : 'usage').toBe(path);
  expect(st.line_count).toBe(walk.totalSize);
  const fixedFirst = await previewPage(ym, 1, limits.first);
  expect(fixedFirst.body.fixed).toBe(true);
  expect(JSON.stringify(fixedFirst.body.lines)).toBe(JSON.stringify(first.body.lines));
  const fixedWalk = await previewWalk(ym, limits.walk);
  expect(JSON.stringify(fixedWalk.lines)).toBe(JSON.stringify(walk.lines));
  const built = await billRow(ym);
  expect(built.building).toBe(false);
  expect(total.amount).toBe(built.total_amount);
  expect((await previewPage(ym, 1, 1)).body.total).toMatchObject({ status: 'ready', amount: built.total_amount, lineCount: built.line_count });

  // And the bill fixed whole, as before the deferred designs, says the same.
  const whole = await wholeFixOf(ctx.tdb.db, ym, 1000, ENV);
  expect([whole.row.line_count, whole.row.total_amount]).toEqual([walk.totalSize, total.amount]);
  expect(whole.entries.map((e: any) => [e.projectId, e.description])).toEqual(walk.lines.map((l: any) => [l.projectId, l.description]));
  return { walk, total };
}

/** The customer of project `p` in `seedMonth` (c1 gold, c2 silver, c3 unpriced, c4 free). */
const customerOf = (p: number) => (p <= 4 ? `c${p}` : `c${(p % 4) + 1}`);

/**
 * 240 projects created in January: c1 on gold, c2 on silver, c3 on a plan without prices (priced
 * with the default, gold). February billed, then late February usage waiting for March's bill (a
 * correction: for projects with and without March usage). March: usage of every size, tiny ones
 * that round to 0 among them, some projects without any.
 */
async function seedMonth(plans: { gold: object; silver: object }) {
  await billWorld(ctx, { plans: [plans.gold, plans.silver, FREE], customers: ['gold', 'silver', 'unpriced', 'free'], lastProject: 240, createdAt: '2025-01-05T00:00:00Z' });
  await send(Array.from({ length: 30 }, (_, i) => ({ projectId: 3 + i * 7, quantity: '40', at: '2025-02-10T00:00:00Z' })));
  expect((await billPage(ctx.t, '2025-02', 1)).status).toBe(200);
  await send([
    ...[3, 10, 17, 24, 31].map((p) => ({ projectId: p, quantity: '120.5', at: '2025-02-20T00:00:00Z' })),
    // 1 minute of gold: 0.002, rounds to 0.00 (a correction that is not a line by itself).
    { projectId: 38, quantity: '1', at: '2025-02-21T00:00:00Z' },
  ]);
  const sizes = ['0.5', '1', '2', '2.5', '3', '12.25', '999', '1000', '1500.125', '40000'];
  await send(
    Array.from({ length: 200 }, (_, i) => ({ projectId: 1 + ((i * 37) % 240), quantity: sizes[i % sizes.length]!, at: `2025-03-${String(1 + (i % 28)).padStart(2, '0')}T08:00:00Z` })),
  );
}

describe('the preview of a bill not fixed yet', () => {
  it('without fees: its pages are the lines of the real fix, byte for byte, its total the bill\'s, nothing written', async () => {
    await seedMonth({ gold: GOLD, silver: SILVER });
    // Deactivated all of March, part of it: without fees a project's usage is its line either way.
    await deactivateProject(ctx.tdb.db, customerOf(6), '6', new Date('2025-02-10T00:00:00Z'));
    await deactivateProject(ctx.tdb.db, customerOf(8), '8', new Date('2025-03-10T00:00:00Z'));
    const { walk } = await previewEqualsTheFix('2025-03', 'usage', { first: 50, walk: 37 });
    const ids = walk.lines.map((l: any) => l.projectId);
    expect((walk.lines.find((l: any) => l.projectId === '17') as any).description).toMatch(/^correction /); // a correction only
    expect(ids).not.toContain('38'); // 1 minute in March and 1 late: 0.004, rounds to 0
    expect(walk.lines.every((l: any) => l.amount !== '0.00')).toBe(true);
    expect(walk.lines.map((l: any) => l.lineNo)).toEqual(walk.lines.map((_, i) => i + 1));
  });

  it('with fees and fee-free projects, deactivated projects and one created after the month: the same', async () => {
    await seedMonth({ gold: GOLD_FEE, silver: SILVER_FEE });
    // Off all of March (owes no fee: a line only if its usage costs), off part of it (owes the fee),
    // back during it (owes it), and a project created after March (owes nothing for it).
    for (const p of [5, 9, 11]) await deactivateProject(ctx.tdb.db, customerOf(p), String(p), new Date('2025-02-10T00:00:00Z'));
    await deactivateProject(ctx.tdb.db, customerOf(8), '8', new Date('2025-03-10T00:00:00Z'));
    await deactivateProject(ctx.tdb.db, customerOf(12), '12', new Date('2025-02-10T00:00:00Z'));
    await provisionProject(ctx.tdb.db, customerOf(12), '12', new Date('2025-03-20T00:00:00Z'));
    await sql`insert into projects (project_id, customer_id, app_key, app_secret, created_at) values (500, 'c2', 'k500', 's500', '2025-04-10T00:00:00Z')`.execute(ctx.tdb.db);
    const { walk } = await previewEqualsTheFix('2025-03', 'fee', { first: 100, walk: 64 });
    const line = (id: string) => walk.lines.find((l: any) => l.projectId === id) as any;
    expect(line('8').description).toContain('monthly fee'); // off part of March
    expect(line('12').description).toContain('monthly fee'); // back during March
    expect(line('9')?.description ?? '').not.toContain('monthly fee'); // off all of it
    expect(line('500')).toBeUndefined();
    // Fee-free projects (c4 on free) are lines only when their usage costs something.
    const free = walk.lines.filter((l: any) => l.planId === 'free');
    expect(free.length).toBeGreaterThan(0);
    expect(free.every((l: any) => !l.description.includes('monthly fee'))).toBe(true);
    expect(free.length).toBeLessThan(60);
  });

  it('of an empty month: no lines, total 0; and of a month without projects', async () => {
    await admin('POST', '/v1/plans', GOLD);
    const none = await previewPage('2025-05', 1);
    expect(none.body).toMatchObject({ fixed: false, totalSize: 0, lines: [], total: { status: 'pending' } });
    expect(await settledTotal('2025-05')).toMatchObject({ amount: '0', lineCount: 0 });
    await provision(ctx.t, 'c1', [1, 2], 'gold');
    ctx.t.setNow('2025-06-02T00:00:00Z');
    const empty = await previewPage('2025-06', 1);
    expect(empty.body).toMatchObject({ fixed: false, totalSize: 0, lines: [], total: { status: 'pending' } });
    expect(await settledTotal('2025-06')).toEqual({ status: 'ready', amount: '0', lineCount: 0, asOf: '2025-06-02T00:00:00.000Z' });
    expect((await billPage(ctx.t, '2025-06', 1)).body.data.totalSize).toBe(0);
    const fixed = await previewPage('2025-06', 1);
    expect(fixed.body).toMatchObject({ fixed: true, totalSize: 0, lines: [], total: { status: 'ready', lineCount: 0 } });
    expect(Number(fixed.body.total.amount)).toBe(0);
  });

  it('pages past the last line are empty; pages across the month concatenate to its lines for any page size', async () => {
    await seedMonth({ gold: GOLD, silver: SILVER });
    const all = await previewWalk('2025-03', 1000);
    expect(all.totalSize).toBeGreaterThan(150);
    for (const limit of [1, 13, 100]) {
      const walk = await previewWalk('2025-03', limit);
      expect(JSON.stringify(walk.lines)).toBe(JSON.stringify(all.lines));
    }
    const past = await previewPage('2025-03', 1000, 1000);
    expect(past.body).toMatchObject({ totalSize: all.totalSize, lines: [], page: 1000, limit: 1000 });
  });

  it('a month the fix would fix whole (a version that never reaches half a cent) is previewed whole, its total at once', async () => {
    await admin('POST', '/v1/plans', { ...GOLD, tiers: [{ upTo: null, unitPrice: '0' }] });
    await admin('POST', '/v1/plans', SILVER);
    await provision(ctx.t, 'c1', [1, 2, 3], 'gold');
    await provision(ctx.t, 'c2', [4, 5], 'silver');
    await send([1, 2, 4, 5].map((p) => ({ projectId: p, quantity: String(p * 10), at: '2025-03-03T00:00:00Z' })));
    const first = await previewPage('2025-03', 1, 1);
    expect(first.body.total).toMatchObject({ status: 'ready', amount: '0.90', lineCount: 2 });
    const walk = await previewWalk('2025-03', 1);
    expect(walk.lines.map((l: any) => [l.projectId, l.amount])).toEqual([
      ['4', '0.40'],
      ['5', '0.50'],
    ]);
    expect((await billPage(ctx.t, '2025-03', 1)).status).toBe(200);
    expect((await billRow('2025-03')).bill_pricing).toBeNull();
    expect(JSON.stringify((await previewWalk('2025-03', 1)).lines)).toBe(JSON.stringify(walk.lines));
  });

  it('a total that failed is told, and begun again by the next answer', async () => {
    const failures: string[] = [];
    let turns = 0;
    const totals = new BillPreviewTotals({
      db: ctx.tdb.db,
      config: ctx.t.config,
      clock: () => new Date('2025-04-02T00:00:00Z'),
      turn: async () => {
        if (++turns === 1) throw new Error('no turn');
        return () => {};
      },
      report: (err, month) => void failures.push(`${month}: ${String(err)}`),
    });
    const march = 2025 * 12 + 2;
    expect(totals.of(march)).toEqual({ status: 'pending' });
    await settlePreviewTotals(ctx.tdb.db);
    expect(failures).toEqual(['2025-03: Error: no turn']);
    expect(totals.of(march)).toEqual({ status: 'pending' });
    await settlePreviewTotals(ctx.tdb.db);
    expect(totals.of(march)).toEqual({ status: 'ready', amount: '0', lineCount: 0, asOf: new Date('2025-04-02T00:00:00Z') });
    expect(failures.length).toBe(1);
  });

  it('refuses bad page and limit parameters with 400 invalid_parameter, naming the parameter', async () => {
    const bad: [string, string][] = [
      ['page=0', 'page'],
      ['page=-1', 'page'],
      ['page=1.5', 'page'],
      ['page=abc', 'page'],
      ['page=', 'page'],
      ['page=1000001', 'page'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=ten', 'limit'],
      ['limit=1e3', 'limit'],
    ];
    for (const [query, name] of bad) {
      const r = await ctx.t.admin('GET', `/v1/preview/bill?month=2025-03&${query}`);
      const body = (await r.json()) as any;
      expect(r.status, query).toBe(400);
      expect(body.error.code, query).toBe('invalid_parameter');
      expect(body.error.message, query).toContain(name);
    }
    const noMonth = await ctx.t.admin('GET', '/v1/preview/bill?page=1');
    expect(noMonth.status).toBe(400);
    expect(((await noMonth.json()) as any).error.code).toBe('missing_parameter');
  });

  it('equals the real fix on random months with and without fees, deactivations and late usage (property)', async () => {
    const decimal = fc.integer({ min: 1, max: 40000 }).map((n) => (n / 1000).toFixed(3));
    const moments = ['2025-01-20T00:00:00Z', '2025-03-01T00:00:00Z', '2025-03-12T00:00:00Z', '2025-04-01T00:00:00Z'];
    const moment = fc.integer({ min: 0, max: moments.length - 1 });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          usage: fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), decimal), { maxLength: 40 }),
          late: fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), decimal), { maxLength: 5 }),
          periods: fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), moment, fc.option(moment)), { maxLength: 8 }),
          fees: fc.tuple(fc.constantFrom('5', '0'), fc.constantFrom('0.5', '0')),
          decimals: fc.integer({ min: 0, max: 3 }),
          limit: fc.constantFrom(3, 10, 100),
        }),
        async (r) => {
          const env = { ...ENV, BILL_DECIMALS: String(r.decimals) };
          await resetTestApp(ctx, env);
          const plans = [{ ...GOLD, monthlyFee: r.fees[0] }, { ...SILVER, monthlyFee: r.fees[1] }, FREE];
          await billWorld(ctx, { plans, customers: ['gold', 'silver', 'free'], lastProject: 40, createdAt: '2025-01-01T00:00:00Z' });
          if (r.late.length > 0) {
            expect((await billPage(ctx.t, '2025-02', 1)).status).toBe(200);
            await send(r.late.map(([p, q]) => ({ projectId: p, quantity: q, at: '2025-02-11T00:00:00Z' })));
          }
          await send(r.usage.map(([p, q]) => ({ projectId: p, quantity: q, at: '2025-03-11T00:00:00Z' })));
          for (const [p, off, on] of r.periods) {
            const project = await ctx.tdb.db.selectFrom('projects').select(['customer_id', 'deactivated_at']).where('project_id', '=', String(p)).executeTakeFirstOrThrow();
            if (project.deactivated_at) await provisionProject(ctx.tdb.db, project.customer_id, String(p), new Date(moments[off]!));
            await deactivateProject(ctx.tdb.db, project.customer_id, String(p), new Date(moments[off]!));
            if (on !== null && on > off) await provisionProject(ctx.tdb.db, project.customer_id, String(p), new Date(moments[on]!));
          }
          const preview = await previewWalk('2025-03', r.limit);
          await settlePreviewTotals(ctx.tdb.db);
          const total = (await previewPage('2025-03', 1, 1)).body.total;
          expect(total.status).toBe('ready');
          await billPage(ctx.t, '2025-03', 1);
          const fixed = await previewWalk('2025-03', r.limit);
          expect(fixed.first.fixed).toBe(true);
          expect(JSON.stringify(fixed.lines)).toBe(JSON.stringify(preview.lines));
          const st = await billRow('2025-03');
          expect([total.lineCount, total.amount]).toEqual([st.line_count, st.total_amount]);
        },
      ),
      { numRuns: 12 },
    );
  }, 240_000);
});
