import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../src/decimal.ts';
import { buildTiers, tieredPrice } from '../src/billing/tiers.ts';
import { buildApp, provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';
import { clearTables } from './helpers/db.ts';

const ctx = setupTestApp();

const ts = (iso: string) => Date.parse(iso) / 1000;
/** The whole of a month, as Agora asks for it. */
const monthWindow = (ym: string) => {
  const [y, m] = ym.split('-').map(Number) as [number, number];
  return { fromTs: Date.UTC(y, m - 1, 1) / 1000, toTs: Date.UTC(y, m, 1) / 1000 - 1 };
};

const GOLD = {
  planId: 'gold',
  currency: 'USD',
  usageUnit: 'Minute',
  effectiveFrom: '2025-01',
  tiers: [
    { upTo: '1000', unitPrice: '0.002' },
    { upTo: null, unitPrice: '0.0015' },
  ],
};

async function createPlan(body: Record<string, unknown>) {
  const r = await ctx.t.admin('POST', '/v1/plans', body);
  return { status: r.status, body: (await r.json()) as any };
}

let seq = 0;
async function send(events: { projectId: number | string; quantity: string; at: string }[]) {
  const r = await ctx.t.admin('POST', '/v1/usage-events', {
    events: events.map((e) => ({ id: `b-${++seq}`, projectId: e.projectId, quantity: e.quantity, occurredAt: e.at })),
  });
  const body = (await r.json()) as any;
  expect(body.rejected, JSON.stringify(body.results)).toBe(0);
}

async function bill(ym: string, limit = 1000) {
  const r = await ctx.t.agoraGet('/bill', { ...monthWindow(ym), pageNum: 1, limit });
  const text = await r.text();
  expect(r.status, text).toBe(200);
  return { text, body: JSON.parse(text) as any };
}

describe('plans', () => {
  it('are created, listed and read back with exact decimals', async () => {
    const r = await createPlan({ ...GOLD, name: 'Gold', monthlyFee: '10.50' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      planId: 'gold',
      name: 'Gold',
      versions: [
        {
          id: expect.any(String),
          effectiveFrom: '2025-01',
          currency: 'USD',
          usageUnit: 'Minute',
          monthlyFee: 10.5,
          tiers: [
            { upTo: 1000, unitPrice: 0.002 },
            { upTo: null, unitPrice: 0.0015 },
          ],
        },
      ],
    });
    expect(((await (await ctx.t.admin('GET', '/v1/plans')).json()) as any).data).toHaveLength(1);
    expect((await ctx.t.admin('GET', '/v1/plans/gold')).status).toBe(200);
    expect((await ctx.t.admin('GET', '/v1/plans/none')).status).toBe(404);
    expect((await createPlan(GOLD)).body.error.code).toBe('plan_exists');
  });

  it.each([
    ['unordered tiers', { tiers: [{ upTo: '100', unitPrice: '1' }, { upTo: '50', unitPrice: '1' }, { upTo: null, unitPrice: '1' }] }, 'invalid_tiers'],
    ['overlapping tiers', { tiers: [{ upTo: '100', unitPrice: '1' }, { upTo: '100', unitPrice: '1' }, { upTo: null, unitPrice: '1' }] }, 'invalid_tiers'],
    ['an open tier in the middle', { tiers: [{ upTo: null, unitPrice: '1' }, { upTo: '100', unitPrice: '1' }] }, 'invalid_tiers'],
    ['a closed last tier', { tiers: [{ upTo: '100', unitPrice: '1' }] }, 'invalid_tiers'],
    ['no tiers', { tiers: [] }, 'invalid_parameter'],
    ['a negative price', { tiers: [{ upTo: null, unitPrice: '-1' }] }, 'invalid_parameter'],
    ['a non-numeric price', { tiers: [{ upTo: null, unitPrice: 'cheap' }] }, 'invalid_parameter'],
    ['a price in exponent notation', { tiers: [{ upTo: null, unitPrice: '1e-3' }] }, 'invalid_parameter'],
    ['a negative fee', { monthlyFee: '-5' }, 'invalid_parameter'],
    ['a planId over 16 characters', { planId: 'p'.repeat(17) }, 'invalid_parameter'],
    ['a bad month', { effectiveFrom: '2025-13' }, 'invalid_parameter'],
    ['no currency', { currency: undefined }, 'missing_parameter'],
  ])('refuse %s with a stable code and store nothing', async (_label, change, code) => {
    const r = await createPlan({ ...GOLD, ...change });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect(await ctx.tdb.db.selectFrom('plans').selectAll().execute()).toEqual([]);
  });

  it('take new versions from an unbilled month on, and never reprice a billed month', async () => {
    await createPlan(GOLD);
    await provision(ctx.t, 'c1', [1], 'gold');
    await send([{ projectId: 1, quantity: '10', at: '2025-02-10T00:00:00Z' }]);
    const billed = await bill('2025-02');
    const past = await ctx.t.admin('POST', '/v1/plans/gold/versions', { ...GOLD, effectiveFrom: '2025-02', tiers: [{ upTo: null, unitPrice: '5' }] });
    expect(past.status).toBe(409);
    expect(((await past.json()) as any).error.code).toBe('month_already_billed');
    expect((await bill('2025-02')).text).toBe(billed.text);
    expect((await createPlan({ ...GOLD, planId: 'silver', effectiveFrom: '2025-01' })).body.error.code).toBe('month_already_billed');
    const next = await ctx.t.admin('POST', '/v1/plans/gold/versions', { ...GOLD, effectiveFrom: '2025-03', tiers: [{ upTo: null, unitPrice: '1' }] });
    expect(next.status).toBe(201);
    // Again for the same unbilled month: the version is replaced, not added.
    const again = await ctx.t.admin('POST', '/v1/plans/gold/versions', { ...GOLD, effectiveFrom: '2025-03', tiers: [{ upTo: null, unitPrice: '2' }] });
    const versions = ((await again.json()) as any).versions;
    expect(versions.map((v: any) => [v.effectiveFrom, v.tiers[v.tiers.length - 1].unitPrice])).toEqual([
      ['2025-01', 0.0015],
      ['2025-03', 2],
    ]);
    expect((await ctx.t.admin('POST', '/v1/plans/none/versions', GOLD)).status).toBe(404);
  });
});

describe('GET /bill', () => {
  it('prices each project with graduated tiers and shows the arithmetic', async () => {
    await createPlan(GOLD);
    await provision(ctx.t, 'c1', [1, 2], 'gold');
    await send([
      { projectId: 1, quantity: '700', at: '2025-03-01T00:00:00Z' },
      { projectId: 1, quantity: '500', at: '2025-03-31T23:59:59Z' },
      { projectId: 2, quantity: '0.5', at: '2025-03-15T12:00:00Z' },
      { projectId: 2, quantity: '99', at: '2025-04-01T00:00:00Z' }, // April: not in March's bill
    ]);
    const { body, text } = await bill('2025-03');
    expect(body.status).toBe(0);
    expect(body.data).toMatchObject({ totalSize: 2, pageNum: 1, hasNext: false });
    expect(body.data.data).toEqual([
      { projectId: '1', amount: 2.3, description: '1,200 Minute × gold: 1,000 × 0.002 + 200 × 0.0015 = 2.3 USD' },
      { projectId: '2', amount: 0.001, description: '0.5 Minute × gold: 0.5 × 0.002 = 0.001 USD' },
    ]);
    expect(text).toContain('"amount":2.3,');
  });

  it('prices a month with the version in force for that month', async () => {
    await createPlan({ ...GOLD, tiers: [{ upTo: null, unitPrice: '1' }] });
    await ctx.t.admin('POST', '/v1/plans/gold/versions', { ...GOLD, effectiveFrom: '2025-03', tiers: [{ upTo: null, unitPrice: '2' }] });
    await provision(ctx.t, 'c1', [1], 'gold');
    await send([
      { projectId: 1, quantity: '10', at: '2025-02-10T00:00:00Z' },
      { projectId: 1, quantity: '10', at: '2025-03-10T00:00:00Z' },
      { projectId: 1, quantity: '10', at: '2025-04-10T00:00:00Z' },
    ]);
    expect((await bill('2025-02')).body.data.data[0].amount).toBe(10);
    expect((await bill('2025-03')).body.data.data[0].amount).toBe(20);
    expect((await bill('2025-04')).body.data.data[0].amount).toBe(20);
  });

  it('prices a customer whose plan is unknown with the default plan, and says so', async () => {
    await createPlan({ ...GOLD, planId: 'default', tiers: [{ upTo: null, unitPrice: '0.01' }] });
    await provision(ctx.t, 'c1', [1], 'mystery');
    await send([{ projectId: 1, quantity: '100', at: '2025-03-10T00:00:00Z' }]);
    const line = (await bill('2025-03')).body.data.data[0];
    expect(line.amount).toBe(1);
    expect(line.description).toBe('100 Minute × mystery: 100 × 0.01 = 1 USD (plan mystery has no prices here: priced with plan default)');
  });

  it('charges the monthly fee to each project enabled during the month', async () => {
    await createPlan({ ...GOLD, monthlyFee: '5' });
    await provision(ctx.t, 'c1', [1, 2, 3, 4], 'gold');
    // Projects 1-3 were enabled in February; 4 only now, after March.
    await sql`update projects set created_at = '2025-02-01T00:00:00Z' where project_id in (1, 2, 3)`.execute(ctx.tdb.db);
    // Project 3 was off for all of March; project 2 for part of it.
    await ctx.tdb.db
      .insertInto('deactivations')
      .values([
        { customer_id: 'c1', project_id: '3', deactivated_at: new Date('2025-02-20T00:00:00Z'), reactivated_at: new Date('2025-04-02T00:00:00Z') },
        { customer_id: 'c1', project_id: '2', deactivated_at: new Date('2025-03-05T00:00:00Z'), reactivated_at: new Date('2025-03-09T00:00:00Z') },
      ])
      .execute();
    await send([{ projectId: 1, quantity: '1000', at: '2025-03-10T00:00:00Z' }]);
    const lines = (await bill('2025-03')).body.data.data;
    expect(lines).toEqual([
      { projectId: '1', amount: 7, description: '1,000 Minute × gold: 1,000 × 0.002 + monthly fee 5 = 7 USD' },
      { projectId: '2', amount: 5, description: 'monthly fee 5 = 5 USD' },
    ]);
  });

  it('rounds each amount half-up to the configured decimals, and the total is the sum of the entries', async () => {
    const t2 = buildApp(ctx.tdb.db, { BILL_DECIMALS: '2' });
    await createPlan({ ...GOLD, tiers: [{ upTo: null, unitPrice: '0.001' }] });
    await provision(t2, 'c1', [1, 2, 3], 'gold');
    await send([
      { projectId: 1, quantity: '5', at: '2025-03-10T00:00:00Z' }, // 0.005 → 0.01
      { projectId: 2, quantity: '4', at: '2025-03-10T00:00:00Z' }, // 0.004 → 0
      { projectId: 3, quantity: '15', at: '2025-03-10T00:00:00Z' }, // 0.015 → 0.02
    ]);
    const r = await t2.agoraGet('/bill', { ...monthWindow('2025-03'), pageNum: 1 });
    const body = (await r.json()) as any;
    expect(body.data.data.map((e: any) => [e.projectId, e.amount])).toEqual([['1', 0.01], ['3', 0.02]]);
    const list = (await (await ctx.t.admin('GET', '/v1/statements?kind=bill')).json()) as any;
    expect(list.data[0].totalAmount).toBe(0.03);
  });

  it('is fixed by the first request; late usage is billed once, in the next bill, at its own month’s price', async () => {
    await createPlan(GOLD);
    await ctx.t.admin('POST', '/v1/plans/gold/versions', { ...GOLD, effectiveFrom: '2025-04', tiers: [{ upTo: null, unitPrice: '9' }] });
    await provision(ctx.t, 'c1', [1], 'gold');
    await send([{ projectId: 1, quantity: '900', at: '2025-03-10T00:00:00Z' }]);
    const first = await bill('2025-03');
    expect(first.body.data.data[0].amount).toBe(1.8);
    // 300 more minutes of March arrive late: 100 at 0.002 and 200 at 0.0015 (March's tiers).
    await send([{ projectId: 1, quantity: '300', at: '2025-03-20T00:00:00Z' }]);
    expect((await bill('2025-03')).text).toBe(first.text);
    await send([{ projectId: 1, quantity: '1', at: '2025-04-02T00:00:00Z' }]);
    const april = await bill('2025-04');
    expect(april.body.data.data).toEqual([
      {
        projectId: '1',
        amount: 9.5,
        description: '1 Minute × gold: 1 × 9 + correction 0.5 for 300 Minute of 2025-03 that arrived after it was billed = 9.5 USD',
      },
    ]);
    // Carried once: May has nothing.
    expect((await bill('2025-05')).body.data.data).toEqual([]);
  });

  it.each([
    ['a window across two months', { fromTs: ts('2025-03-31T00:00:00Z'), toTs: ts('2025-04-01T00:00:00Z') }, 'invalid_window'],
    ['an end before the start', { fromTs: ts('2025-03-10T00:00:00Z'), toTs: ts('2025-03-09T00:00:00Z') }, 'invalid_window'],
    ['a month not begun', { fromTs: ts('2099-01-01T00:00:00Z'), toTs: ts('2099-01-31T23:59:59Z') }, 'invalid_window'],
    ['milliseconds', { fromTs: ts('2025-03-01T00:00:00Z') * 1000, toTs: ts('2025-03-31T00:00:00Z') * 1000 }, 'invalid_parameter'],
  ])('refuses %s', async (_label, window, code) => {
    const r = await ctx.t.agoraGet('/bill', { ...window, pageNum: 1 });
    expect(r.status).toBe(400);
    const body = (await r.json()) as any;
    expect(body.code).toBe(code);
    expect(typeof body.status).toBe('number');
    expect(await ctx.tdb.db.selectFrom('statements').selectAll().execute()).toEqual([]);
  });

  it('answers any window inside a month with that month’s bill', async () => {
    await createPlan(GOLD);
    await provision(ctx.t, 'c1', [1], 'gold');
    await send([{ projectId: 1, quantity: '10', at: '2025-03-10T00:00:00Z' }]);
    const whole = await bill('2025-03');
    const part = await ctx.t.agoraGet('/bill', { fromTs: ts('2025-03-05T00:00:00Z'), toTs: ts('2025-03-06T00:00:00Z'), pageNum: 1, limit: 1000 });
    expect(await part.text()).toBe(whole.text);
  });
});

describe('tier arithmetic', () => {
  const decimalText = (maxInt: number) =>
    fc.tuple(fc.integer({ min: 0, max: maxInt }), fc.integer({ min: 0, max: 9999 })).map(([i, f]) => `${i}.${String(f).padStart(4, '0')}`);

  it('in the database agrees with a straightforward reference (property)', async () => {
    let month = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { minLength: 0, maxLength: 4 }).map((a) => a.sort((x, y) => x - y)),
        fc.array(decimalText(3), { minLength: 5, maxLength: 5 }),
        fc.array(decimalText(8000), { minLength: 1, maxLength: 4 }),
        async (bounds, prices, quantities) => {
          await clearTables(ctx.tdb.db);
          month++;
          const ym = `2024-${String(month).padStart(2, '0')}`;
          const tiers = [...bounds.map((b, i) => ({ upTo: String(b), unitPrice: prices[i]! })), { upTo: null, unitPrice: prices[4]! }];
          expect((await createPlan({ ...GOLD, effectiveFrom: '2024-01', tiers })).status).toBe(201);
          await provision(ctx.t, 'c1', quantities.map((_, i) => i + 1), 'gold');
          await send(quantities.filter((q) => new Decimal(q).gt(0)).map((q, i) => ({ projectId: i + 1, quantity: q, at: `${ym}-15T00:00:00Z` })));
          const got = new Map<string, string>((await bill(ym)).body.data.data.map((e: any) => [e.projectId, String(e.amount)]));
          const reference = buildTiers(tiers.map((x) => ({ upTo: x.upTo === null ? null : new Decimal(x.upTo), unitPrice: new Decimal(x.unitPrice) })));
          if (typeof reference === 'string') throw new Error(reference);
          quantities.filter((q) => new Decimal(q).gt(0)).forEach((q, i) => {
            const want = tieredPrice(reference, new Decimal(q)).toDecimalPlaces(6, Decimal.ROUND_HALF_UP);
            const have = got.get(String(i + 1));
            if (want.isZero()) expect(have).toBeUndefined();
            else expect(new Decimal(have!).eq(want), `${q}: ${have} vs ${want.toFixed()}`).toBe(true);
          });
        },
      ),
      { numRuns: 12 },
    );
  });
});
