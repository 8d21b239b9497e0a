import { describe, expect, it } from 'vitest';
import { Decimal } from '../src/decimal.ts';
import { DAY, provision } from './helpers/app.ts';
import { JUNE, MAY, usageSender, windowPoller, withGoldPlan } from './helpers/reconciliation.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();
withGoldPlan(ctx);


const send = usageSender(ctx);
const pollAll = windowPoller(ctx);
async function reconcile(month: string) {
  const r = await ctx.t.admin('GET', `/v1/reconciliation?month=${month}`);
  expect(r.status).toBe(200);
  return (await r.json()) as any;
}

describe('reconciliation', () => {
  it('shows no difference over a randomized month of events, duplicates, disorder and late arrivals', async () => {
    await provision(ctx.t, 'c1', [1, 2, 3], 'gold');
    await provision(ctx.t, 'c2', [4, 5], 'unpriced-plan');
    let rnd = 7;
    const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sent: { id: string; projectId: number; quantity: string; occurredAt: number }[] = [];
    const batch = () =>
      Array.from({ length: 20 }, () => {
        const e = {
          id: `r-${sent.length}-${Math.floor(random() * 1e9)}`,
          projectId: 1 + Math.floor(random() * 5),
          quantity: `${Math.floor(random() * 30)}.${Math.floor(random() * 100)}1`,
          occurredAt: MAY + Math.floor(random() * 31 * DAY),
        };
        sent.push(e);
        return e;
      });
    for (let step = 0; step < 40; step++) {
      const r = random();
      if (r < 0.55) {
        const events = batch();
        await send(events);
        if (random() < 0.3) await send([...events].reverse()); // the same batch again, in another order
      } else if (r < 0.9) {
        const day = MAY + Math.floor(random() * 31) * DAY;
        await pollAll('/usage', random() < 0.7 ? { fromTs: day, toTs: day + DAY - 1 } : { fromTs: day + 3600, toTs: day + 7199 });
      } else {
        await pollAll('/bill', { fromTs: MAY, toTs: JUNE - 1 });
      }
    }
    const mid = await reconcile('2025-05');
    const ingested = sent.reduce((a, e) => a.plus(e.quantity), new Decimal(0));
    expect(new Decimal(mid.totals.ingested).eq(ingested)).toBe(true);
    for (const p of mid.projects) {
      expect(p.dailyDifference, JSON.stringify(p)).toBe(0);
      expect(p.billDifference, JSON.stringify(p)).toBe(0);
    }
    expect(mid.projects.filter((p: any) => p.flags.includes('plan_unknown')).map((p: any) => p.projectId)).toEqual(['4', '5']);

    // Report every day and both bills; then nothing is pending, and June's bill carried May's late usage.
    for (let d = 0; d < 31; d++) await pollAll('/usage', { fromTs: MAY + d * DAY, toTs: MAY + (d + 1) * DAY - 1 });
    await pollAll('/bill', { fromTs: MAY, toTs: JUNE - 1 });
    await send(batch()); // late for May's bill and for May's days
    await pollAll('/usage', { fromTs: JUNE, toTs: JUNE + DAY - 1 });
    await pollAll('/bill', { fromTs: JUNE, toTs: JUNE + 10 });
    const end = await reconcile('2025-05');
    expect(end.billed).toBe(true);
    expect(new Decimal(end.totals.ingested).eq(sent.reduce((a, e) => a.plus(e.quantity), new Decimal(0)))).toBe(true);
    expect(end.totals.dailyPending).toBe(0);
    expect(end.totals.billPending).toBe(0);
    expect(new Decimal(end.totals.dailyReported).eq(end.totals.ingested)).toBe(true);
    expect(new Decimal(end.totals.billedQuantity).eq(end.totals.ingested)).toBe(true);
    for (const p of end.projects) expect([p.dailyDifference, p.billDifference]).toEqual([0, 0]);
    // What May's usage carried out is what June's bill carried in.
    const june = await reconcile('2025-06');
    expect(june.totals.correctionsInAmount).toBe(end.totals.correctionsOutAmount);
    expect(new Decimal(end.totals.correctionsOutAmount).gt(0)).toBe(true);
    // The bill's amounts agree with the bill statement.
    const bills = ((await (await ctx.t.admin('GET', '/v1/statements?kind=bill')).json()) as any).data;
    const may = bills.find((b: any) => b.id === end.billStatementId);
    expect(end.totals.billedAmount).toBe(may.totalAmount);
  });

  it('keeps usage ingested while a bill is being fixed: nothing lost, nothing billed twice', async () => {
    await provision(ctx.t, 'c1', [1, 2, 3], 'gold');
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: 25 }, (_, i) => ({ id: `cb-${b}-${i}`, projectId: 1 + ((b + i) % 3), quantity: '1.5', occurredAt: MAY + b * DAY + i })),
    );
    await Promise.all([...batches.map((events) => send(events)), pollAll('/bill', { fromTs: MAY, toTs: JUNE - 1 })]);
    await pollAll('/bill', { fromTs: JUNE, toTs: JUNE + DAY });
    const r = await reconcile('2025-05');
    expect(r.totals.ingested).toBe(300);
    expect(r.totals.billedQuantity).toBe(300);
    expect(r.totals.billPending).toBe(0);
  });

  it('exports as CSV', async () => {
    await provision(ctx.t, 'c,1', [1], 'gold');
    await send([{ id: 'x', projectId: 1, quantity: '60', occurredAt: MAY + 100 }]);
    await pollAll('/bill', { fromTs: MAY, toTs: JUNE - 1 });
    const r = await ctx.t.app.request('/v1/reconciliation?month=2025-05', { headers: { authorization: `Bearer test-admin-token-0123456789abcdef`, accept: 'text/csv' } });
    expect(r.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await r.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'projectId,customerId,planId,flags,ingested,dailyReported,dailyPending,dailyDifference,billedQuantity,billPending,billDifference,billedAmount,correctionsInQuantity,correctionsInAmount,correctionsOutQuantity,correctionsOutAmount',
    );
    expect(lines[1]).toBe('1,"c,1",gold,,60,0,60,0,60,0,0,0.55,0,0,0,0');

    const statements = ((await (await ctx.t.admin('GET', '/v1/statements?kind=bill')).json()) as any).data;
    const csv = await ctx.t.app.request(`/v1/statements/${statements[0].id}/lines`, {
      headers: { authorization: `Bearer test-admin-token-0123456789abcdef`, accept: 'text/csv' },
    });
    expect((await csv.text()).trim().split('\r\n')).toEqual([
      'lineNo,projectId,customerId,planId,amount,correctionAmount,description',
      '1,1,"c,1",gold,0.55,0,60 Minute × gold: 50 × 0.01 + 10 × 0.005 = 0.55 USD',
    ]);
  });

  it('refuses a month that is not one', async () => {
    for (const m of ['2025-13', '2025', 'may', '2025-05-02']) {
      const r = await ctx.t.admin('GET', `/v1/reconciliation?month=${m}`);
      expect(r.status).toBe(400);
      expect(((await r.json()) as any).error.code).toBe('invalid_parameter');
    }
  });
});
