import { describe, expect, it } from 'vitest';
import { DAY, dayStart, provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Services read the time from `AppDeps.clock`, never from the machine directly: with the clock fixed,
 * what "now" means for polls, ingestion and provisioning is the same on any day the suite runs.
 */

const ctx = setupTestApp();
const NOW = '2026-03-10T12:00:00Z';
const nowS = Date.parse(NOW) / 1000;

describe('the app clock', () => {
  it('decides which usage windows have ended', async () => {
    ctx.t.setNow(NOW);
    const today = dayStart('2026-03-10');
    const ended = await ctx.t.agoraGet('/usage', { fromTs: today - DAY, toTs: today - 1, pageNum: 1 });
    expect(ended.status).toBe(200);
    const open = await ctx.t.agoraGet('/usage', { fromTs: today, toTs: today + DAY - 1, pageNum: 1 });
    expect(open.status).toBe(400);
    expect(((await open.json()) as { code: string }).code).toBe('invalid_window');
  });

  it('decides which months a bill may name', async () => {
    ctx.t.setNow(NOW);
    const april = await ctx.t.agoraGet('/bill', { fromTs: dayStart('2026-04-01'), toTs: dayStart('2026-04-02') - 1, pageNum: 1 });
    expect(april.status).toBe(400);
    const february = await ctx.t.agoraGet('/bill', { fromTs: dayStart('2026-02-01'), toTs: dayStart('2026-03-01') - 1, pageNum: 1 });
    expect(february.status).toBe(200);
  });

  it('dates deactivations, and judges events from the future by it', async () => {
    ctx.t.setNow(NOW);
    await provision(ctx.t, 'c1', [1]);
    expect((await ctx.t.agoraSend('PUT', '/customers/c1/deactivate', {})).status).toBe(200);
    const c = await ctx.tdb.db.selectFrom('customers').select('deactivated_at').where('customer_id', '=', 'c1').executeTakeFirstOrThrow();
    expect(c.deactivated_at).toEqual(new Date(NOW));
    const periods = await ctx.tdb.db.selectFrom('deactivations').select('deactivated_at').execute();
    expect(periods.map((p) => p.deactivated_at)).toEqual([new Date(NOW), new Date(NOW)]);

    await ctx.t.agoraSend('POST', '/customers/new', { customerId: 'c1', planId: 'basic' });
    await ctx.t.agoraSend('POST', '/customers/c1/projects/new', { projectId: 2 });
    ctx.t.setNow('2026-03-10T12:30:00Z');
    const r = await ctx.t.admin('POST', '/v1/usage-events', {
      events: [
        { id: 'in-time', projectId: 2, quantity: '1', occurredAt: nowS + 60 },
        { id: 'too-late', projectId: 2, quantity: '1', occurredAt: nowS + 3600 },
      ],
    });
    const body = (await r.json()) as { results: { status: string }[] };
    expect(body.results.map((x) => x.status)).toEqual(['accepted', 'rejected']);
  });
});
