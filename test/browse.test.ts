import { describe, expect, it } from 'vitest';
import { billPreviewSettings, settlePreviewTotals } from '../src/browse/preview.service.ts';
import { Decimal } from '../src/decimal.ts';
import { DAY, dayStart, provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();

let seq = 0;
async function send(events: { projectId: number | string; quantity: string; at: string | number; id?: string }[]) {
  const r = await ctx.t.admin('POST', '/v1/usage-events', {
    events: events.map((e) => ({ id: e.id ?? `br-${++seq}`, projectId: e.projectId, quantity: e.quantity, occurredAt: e.at })),
  });
  const body = (await r.json()) as any;
  expect(body.rejected, JSON.stringify(body.results)).toBe(0);
}

async function get(path: string) {
  const r = await ctx.t.admin('GET', path);
  const body = (await r.json()) as any;
  return { status: r.status, body };
}

async function statementCount() {
  const r = await ctx.tdb.db.selectFrom('statements').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Every page of a preview, `limit` lines a page. */
async function previewAll(path: string, limit: number) {
  const lines: any[] = [];
  let head: any;
  for (let page = 1; page < 100; page++) {
    const r = await get(`${path}&page=${page}&limit=${limit}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    head ??= r.body;
    expect(r.body.totalSize).toBe(head.totalSize);
    lines.push(...r.body.lines);
    if (r.body.lines.length < limit) break;
  }
  return { fixed: head.fixed as boolean, totalSize: head.totalSize as number, total: head.total as { status: string; amount?: string; lineCount?: number }, lines };
}

const GOLD = {
  planId: 'gold',
  name: 'Gold',
  currency: 'USD',
  usageUnit: 'Minute',
  effectiveFrom: '2025-01',
  monthlyFee: '2.5',
  tiers: [
    { upTo: '10', unitPrice: '0.5' },
    { upTo: null, unitPrice: '0.25' },
  ],
};

describe('customers and projects', () => {
  it('are listed in id order by keyset pages, with counts from counters and masked appKeys', async () => {
    await provision(ctx.t, 'c1', [11, 12, 13]);
    await provision(ctx.t, 'c2', [21]);
    await provision(ctx.t, 'c3', []);
    const off = await ctx.t.agoraSend('PUT', '/customers/c2/deactivate', {});
    expect(off.status).toBe(200);
    const offProject = await ctx.t.agoraSend('PUT', '/customers/c1/projects/12/deactivate', {});
    expect(offProject.status).toBe(200);

    const first = await get('/v1/customers?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.count).toBe(3);
    expect(first.body.countExact).toBe(true);
    expect(first.body.data.map((c: any) => c.customerId)).toEqual(['c1', 'c2']);
    expect(first.body.data[0]).toMatchObject({ customerName: 'Customer c1', customerEmail: null, planId: 'basic', active: true, deactivatedAt: null, projectCount: 3, activeProjectCount: 2 });
    expect(first.body.data[1]).toMatchObject({ active: false, projectCount: 1, activeProjectCount: 0 });
    expect(first.body.next).toBe('c2');
    const second = await get(`/v1/customers?limit=2&after=${first.body.next}`);
    expect(second.body.data.map((c: any) => c.customerId)).toEqual(['c3']);
    expect(second.body.next).toBeNull();

    const active = await get('/v1/customers?status=active');
    expect(active.body.data.map((c: any) => c.customerId)).toEqual(['c1', 'c3']);
    expect(active.body.count).toBe(2);
    const deactivated = await get('/v1/customers?status=deactivated');
    expect(deactivated.body.data.map((c: any) => c.customerId)).toEqual(['c2']);
    expect(deactivated.body.count).toBe(1);

    const projects = await get('/v1/projects?limit=3');
    expect(projects.body.count).toBe(4);
    expect(projects.body.data.map((p: any) => p.projectId)).toEqual(['11', '12', '13']);
    expect(projects.body.data[0].appKeyMasked).toMatch(/^.{4}…$/);
    expect(projects.body.next).toBe('13');
    expect((await get('/v1/projects?after=13')).body.data.map((p: any) => p.projectId)).toEqual(['21']);
    const ofC1 = await get('/v1/projects?customerId=c1&active=true');
    expect(ofC1.body.data.map((p: any) => p.projectId)).toEqual(['11', '13']);
    expect(ofC1.body.count).toBe(2);
    const inactive = await get('/v1/projects?active=false');
    expect(inactive.body.data.map((p: any) => p.projectId)).toEqual(['12', '21']);
    expect(inactive.body.count).toBe(2);

    // Reactivated: the counters follow the update.
    const back = await ctx.t.agoraSend('POST', '/customers/new', { customerId: 'c2', planId: 'basic' });
    expect(back.status).toBe(200);
    expect((await get('/v1/customers?status=active')).body.count).toBe(3);
  });

  it('answer one customer with its projects and deactivation history, 404 for an unknown one', async () => {
    await provision(ctx.t, 'c1', [11, 12]);
    ctx.t.setNow('2026-01-05T00:00:00Z');
    expect((await ctx.t.agoraSend('PUT', '/customers/c1/projects/12/deactivate', {})).status).toBe(200);
    const r = await get('/v1/customers/c1');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ customerId: 'c1', projectCount: 2, activeProjectCount: 1 });
    expect(r.body.projects.map((p: any) => [p.projectId, p.active])).toEqual([['11', true], ['12', false]]);
    expect(r.body.projects[0].appKeyMasked).toMatch(/^.{4}…$/);
    expect(r.body.deactivations).toEqual([{ projectId: '12', from: expect.any(String), to: null }]);
    const missing = await get('/v1/customers/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('unknown_customer');
    expect((await ctx.t.app.request('/v1/customers')).status).toBe(401);
  });
});

describe('usage events and daily totals', () => {
  it('page a project\'s events by time and find one by id', async () => {
    await provision(ctx.t, 'c1', [1, 2]);
    const base = dayStart('2025-06-18');
    await send([
      { id: 'e-3', projectId: 1, quantity: '3', at: base + 300 },
      { id: 'e-1', projectId: 1, quantity: '1.5', at: base + 100 },
      { id: 'e-2b', projectId: 1, quantity: '2', at: base + 200 },
      { id: 'e-2a', projectId: 1, quantity: '2', at: base + 200 },
      { id: 'other', projectId: 2, quantity: '9', at: base + 150 },
    ]);
    const from = '2025-06-18T00:00:00Z';
    const to = base + DAY;
    const p1 = await get(`/v1/usage-events?projectId=1&from=${from}&to=${to}&limit=2`);
    expect(p1.status, JSON.stringify(p1.body)).toBe(200);
    expect(p1.body.data.map((e: any) => e.id)).toEqual(['e-1', 'e-2a']);
    expect(p1.body.data[0]).toMatchObject({ projectId: '1', quantity: '1.5', occurredAt: '2025-06-18T00:01:40.000Z', late: false, carriedBy: { usageStatementId: null, billStatementId: null } });
    const p2 = await get(`/v1/usage-events?projectId=1&from=${from}&to=${to}&limit=2&after=${p1.body.next}`);
    expect(p2.body.data.map((e: any) => e.id)).toEqual(['e-2b', 'e-3']);
    const p3 = await get(`/v1/usage-events?projectId=1&from=${from}&to=${to}&limit=2&after=${p2.body.next}`);
    expect(p3.body).toEqual({ data: [], next: null });

    // Without from/to: the last 24 hours by the app's clock.
    ctx.t.setNow(new Date((base + 250) * 1000));
    expect((await get('/v1/usage-events?projectId=1')).body.data.map((e: any) => e.id)).toEqual(['e-1', 'e-2a', 'e-2b']);

    const one = await get('/v1/usage-events/e-3');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: 'e-3', quantity: '3', description: null });
    const none = await get('/v1/usage-events/nope');
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe('unknown_event');
    expect((await get('/v1/usage-events?from=2025-01-01')).body.error.code).toBe('missing_parameter');
  });

  it('total every day of a range from the rollups, zero days included', async () => {
    await provision(ctx.t, 'c1', [1, 2]);
    await provision(ctx.t, 'c2', [3]);
    await send([
      { projectId: 1, quantity: '1.25', at: '2025-06-18T01:00:00Z' },
      { projectId: 2, quantity: '2', at: '2025-06-18T02:00:00Z' },
      { projectId: 3, quantity: '4', at: '2025-06-18T03:00:00Z' },
      { projectId: 1, quantity: '0.75', at: '2025-06-20T01:00:00Z' },
    ]);
    const all = await get('/v1/usage/daily?from=2025-06-17&to=2025-06-20');
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(all.body.data.map((d: any) => [d.day, new Decimal(d.quantity).toFixed(), d.projects])).toEqual([
      ['2025-06-17', '0', 0],
      ['2025-06-18', '7.25', 3],
      ['2025-06-19', '0', 0],
      ['2025-06-20', '0.75', 1],
    ]);
    const c1 = await get('/v1/usage/daily?from=2025-06-18&to=2025-06-18&customerId=c1');
    expect(c1.body.data.map((d: any) => [new Decimal(d.quantity).toFixed(), d.projects])).toEqual([['3.25', 2]]);
    const p3 = await get('/v1/usage/daily?from=2025-06-18&to=2025-06-20&projectId=3');
    expect(p3.body.data.map((d: any) => new Decimal(d.quantity).toFixed())).toEqual(['4', '0', '0']);
    expect((await get('/v1/usage/daily?from=2025-01-01&to=2026-01-02')).body.error.code).toBe('invalid_parameter');
    expect((await get('/v1/usage/daily?from=2025-06-20&to=2025-06-18')).body.error.code).toBe('invalid_parameter');
    expect((await get('/v1/usage/daily?from=2025-02-30&to=2025-03-01')).body.error.code).toBe('invalid_parameter');
  });
});

describe('previews', () => {
  it('of a day equal the statement fixed right after, corrections included, without fixing anything', async () => {
    await provision(ctx.t, 'c1', [1, 2, 3, 4, 5]);
    await provision(ctx.t, 'c2', [6, 7]);
    const d1 = dayStart('2025-06-18');
    const d2 = dayStart('2025-06-19');
    await send([1, 2, 3, 4, 5, 6, 7].map((p) => ({ projectId: p, quantity: `${p}.5`, at: d1 + p * 60 })));
    // D1 reported, then late usage of D1 arrives: the next statement carries it.
    expect((await ctx.t.agoraGet('/usage', { fromTs: d1, toTs: d1 + DAY - 1, pageNum: 1 })).status).toBe(200);
    await send([{ projectId: 2, quantity: '0.25', at: d1 + 500 }, { projectId: 7, quantity: '1', at: d1 + 600 }]);
    await send([3, 5, 6].map((p) => ({ projectId: p, quantity: `${p}`, at: d2 + p * 60 })));

    const before = await statementCount();
    const preview = await previewAll('/v1/preview/usage?day=2025-06-19', 2);
    expect(preview.fixed).toBe(false);
    expect(await statementCount()).toBe(before);
    expect(preview.totalSize).toBe(5);
    expect(preview.lines.map((l: any) => [l.projectId, l.amount, l.correction])).toEqual([
      ['2', '0.25', '0.25'],
      ['3', '3', '0'],
      ['5', '5', '0'],
      ['6', '6', '0'],
      ['7', '1', '1'],
    ]);
    expect(preview.total.status).toBe('ready');
    expect(new Decimal(preview.total.amount!).toFixed()).toBe('15.25');

    expect((await ctx.t.agoraGet('/usage', { fromTs: d2, toTs: d2 + DAY - 1, pageNum: 1 })).status).toBe(200);
    const fixed = await previewAll('/v1/preview/usage?day=2025-06-19', 2);
    expect(fixed.fixed).toBe(true);
    expect(fixed.lines).toEqual(preview.lines);
    expect(fixed.totalSize).toBe(preview.totalSize);
    expect(new Decimal(fixed.total.amount!).eq(preview.total.amount!)).toBe(true);
  });

  it('of a day answer a page of more than 9 lines in line order (not in the text order of the numbers)', async () => {
    await provision(ctx.t, 'c1', Array.from({ length: 12 }, (_, i) => i + 1));
    const d = dayStart('2025-06-18');
    await send(Array.from({ length: 12 }, (_, i) => ({ projectId: i + 1, quantity: '1', at: d + 60 })));
    const page = (await get('/v1/preview/usage?day=2025-06-18&limit=100')).body;
    expect(page.lines.map((l: any) => l.lineNo)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(page.lines.map((l: any) => l.projectId)).toEqual(Array.from({ length: 12 }, (_, i) => String(i + 1)));
  });

  it('of a day some shorter windows of which were reported equal the whole day fixed after', async () => {
    await provision(ctx.t, 'c1', [1, 2, 3]);
    const d = dayStart('2025-06-18');
    await send([1, 2, 3].map((p) => ({ projectId: p, quantity: `${p}`, at: d + p * 3600 })));
    expect((await ctx.t.agoraGet('/usage', { fromTs: d, toTs: d + 2 * 3600 - 1, pageNum: 1 })).status).toBe(200);
    const preview = await previewAll('/v1/preview/usage?day=2025-06-18', 1);
    expect(preview.fixed).toBe(false);
    expect(preview.lines.map((l: any) => l.projectId)).toEqual(['2', '3']);
    expect((await ctx.t.agoraGet('/usage', { fromTs: d, toTs: d + DAY - 1, pageNum: 1 })).status).toBe(200);
    const fixed = await previewAll('/v1/preview/usage?day=2025-06-18', 1);
    expect(fixed.fixed).toBe(true);
    expect(fixed.lines).toEqual(preview.lines);
    expect(fixed.totalSize).toBe(preview.totalSize);
  });

  it('of a month equal the bill fixed right after, late usage of a billed month included', async () => {
    expect((await ctx.t.admin('POST', '/v1/plans', GOLD)).status).toBe(201);
    await provision(ctx.t, 'c1', [1, 2, 3], 'gold');
    await provision(ctx.t, 'c2', [4]);
    await send([
      { projectId: 1, quantity: '12', at: '2025-05-10T00:00:00Z' },
      { projectId: 2, quantity: '3', at: '2025-05-11T00:00:00Z' },
    ]);
    const may = { fromTs: Date.UTC(2025, 4, 1) / 1000, toTs: Date.UTC(2025, 5, 1) / 1000 - 1 };
    expect((await ctx.t.agoraGet('/bill', { ...may, pageNum: 1 })).status).toBe(200);
    // Late for May's bill: carried into June's.
    await send([{ projectId: 1, quantity: '4', at: '2025-05-20T00:00:00Z' }]);
    await send([
      { projectId: 1, quantity: '5', at: '2025-06-02T00:00:00Z' },
      { projectId: 3, quantity: '20', at: '2025-06-03T00:00:00Z' },
      { projectId: 4, quantity: '7', at: '2025-06-04T00:00:00Z' },
    ]);
    const before = await statementCount();
    const preview = await previewAll('/v1/preview/bill?month=2025-06', 2);
    expect(preview.fixed).toBe(false);
    expect(await statementCount()).toBe(before);
    expect(preview.lines.length).toBe(preview.totalSize);
    expect(preview.lines.find((l: any) => l.projectId === '1').description).toContain('correction 1 for 4 Minute of 2025-05');
    // c2 is on basic, which has no prices, and there is no default version: the fix would be whole,
    // and so is the preview, its total with its lines (test/bill-preview.test.ts: the others).
    expect(preview.total.status).toBe('ready');
    const total = (await get('/v1/preview/bill?month=2025-06')).body.total;
    expect(total).toMatchObject({ status: 'ready', lineCount: preview.totalSize });
    expect(await statementCount()).toBe(before);

    const june = { fromTs: Date.UTC(2025, 5, 1) / 1000, toTs: Date.UTC(2025, 6, 1) / 1000 - 1 };
    expect((await ctx.t.agoraGet('/bill', { ...june, pageNum: 1 })).status).toBe(200);
    const fixed = await previewAll('/v1/preview/bill?month=2025-06', 2);
    expect(fixed.fixed).toBe(true);
    expect(fixed.lines).toEqual(preview.lines);
    expect(fixed.totalSize).toBe(preview.totalSize);
    expect(fixed.total.status).toBe('ready');
    expect(new Decimal(fixed.total.amount!).eq(total.amount)).toBe(true);
  });

  it("of a month: lines read at each answer, the total computed after the first and kept a moment, as of when it was read", async () => {
    expect((await ctx.t.admin('POST', '/v1/plans', GOLD)).status).toBe(201);
    await provision(ctx.t, 'c1', [1, 2], 'gold');
    await send([{ projectId: 1, quantity: '12', at: '2025-08-10T00:00:00Z' }]);
    ctx.t.setNow('2025-08-20T10:00:00Z');
    const first = await get('/v1/preview/bill?month=2025-08');
    expect(first.body.totalSize).toBe(1);
    expect(first.body.total).toEqual({ status: 'pending' });
    // Asked again while it is computed: pending still, and one computation only.
    expect((await get('/v1/preview/bill?month=2025-08')).body).toEqual(first.body);
    await settlePreviewTotals(ctx.tdb.db);
    ctx.t.setNow('2025-08-20T10:00:05Z');
    const ready = { status: 'ready', amount: '5.500000', lineCount: 1, asOf: '2025-08-20T10:00:00.000Z' };
    expect((await get('/v1/preview/bill?month=2025-08')).body).toEqual({ ...first.body, total: ready });
    await send([{ projectId: 2, quantity: '1', at: '2025-08-11T00:00:00Z' }]);
    // The lines are read now; the total kept says which lines it sums, and when they were read.
    const moved = await get('/v1/preview/bill?month=2025-08');
    expect(moved.body.totalSize).toBe(2);
    expect(moved.body.lines.find((l: any) => l.projectId === '2').amount).toBe('0.500000');
    expect(moved.body.total).toEqual(ready);
    const kept = billPreviewSettings.snapshotMs;
    billPreviewSettings.snapshotMs = 0;
    try {
      expect((await get('/v1/preview/bill?month=2025-08')).body.total).toEqual({ status: 'pending' });
      await settlePreviewTotals(ctx.tdb.db);
      billPreviewSettings.snapshotMs = kept;
      expect((await get('/v1/preview/bill?month=2025-08')).body.total).toEqual({ status: 'ready', amount: '6.000000', lineCount: 2, asOf: '2025-08-20T10:00:05.000Z' });
    } finally {
      billPreviewSettings.snapshotMs = kept;
    }
  });

  it('refuse a bad day or month', async () => {
    expect((await get('/v1/preview/usage?day=2025-13-01')).body.error.code).toBe('invalid_parameter');
    expect((await get('/v1/preview/bill?month=2025-6')).body.error.code).toBe('invalid_parameter');
    expect((await get('/v1/preview/bill?month=2025-06&limit=1001')).body.error.code).toBe('invalid_parameter');
  });
});
