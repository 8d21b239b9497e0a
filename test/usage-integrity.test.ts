import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, DAY, dayStart, provision } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { setupTestApp } from './helpers/setup.ts';
import * as repo from '../src/usage/usage.repository.ts';
import { csvField } from '../src/csv.ts';
import { licenseWorld, TRIAL_PID } from './helpers/license.ts';

const ctx = setupTestApp();
beforeEach(async () => {
  await provision(ctx.t, 'c1', [1, 2]);
});

const D = dayStart('2025-06-20');

async function post(events: unknown[]) {
  const r = await ctx.t.admin('POST', '/v1/usage-events', { events });
  expect(r.status).toBe(200);
  return (await r.json()) as any;
}

const count = async (table: 'statements' | 'statement_blocks' | 'usage_events') =>
  Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(ctx.tdb.db)).rows[0]!.n);

describe('answers come from what the database stored', () => {
  it('an event the database stores differently from what was sent is answered and rolled up as stored', async () => {
    // Bypasses the input checks on purpose: the driver writes a lone surrogate as U+FFFD, so the
    // stored id is not the JavaScript string sent. The insert must still say it stored the event,
    // and the rollup must hold it, or reconciliation and the polls disagree with the events.
    const row = { id: 'x\ud800', projectId: '1', quantity: '7', occurredAt: new Date(D * 1000 + 5000), description: null, late: false, billLate: false };
    const inserted = await ctx.tdb.db.transaction().execute((trx) => repo.insertNewEvents(trx, [row]));
    expect([...inserted]).toEqual([0]);
    const rollup = await ctx.tdb.db.selectFrom('usage_day_rollup').select(['project_id', 'quantity']).execute();
    expect(rollup).toEqual([{ project_id: '1', quantity: '7' }]);
    const month = await ctx.tdb.db.selectFrom('usage_month_rollup').select(['project_id', 'quantity']).execute();
    expect(month).toEqual([{ project_id: '1', quantity: '7' }]);
  });

  it('refuses an id with a lone surrogate, so an event is never stored under another id', async () => {
    const r = await post([{ id: '\ud800x', projectId: 1, quantity: 7, occurredAt: D }]);
    expect(r.results[0]).toMatchObject({ status: 'rejected', code: 'invalid_parameter' });
    expect(await count('usage_events')).toBe(0);
  });
});

describe('no statement line is negative or zero', () => {
  it('a usage statement whose computed line is negative is not fixed nor sent; after repair it is', async () => {
    await post([{ id: 'e1', projectId: 1, quantity: 5, occurredAt: D + 60 }, { id: 'e2', projectId: 2, quantity: 3, occurredAt: D + 60 }]);
    // Corrupt the rollup so the whole-day line of project 1 would be negative.
    await sql`update usage_day_rollup set quantity = -7 where project_id = 1`.execute(ctx.tdb.db);
    const bad = await ctx.t.agoraGet('/usage', { fromTs: D, toTs: D + DAY - 1, pageNum: 1 });
    expect(bad.status).toBe(500);
    expect(await bad.json()).toMatchObject({ code: 'internal' });
    expect(await count('statements')).toBe(0);
    expect(await count('statement_blocks')).toBe(0);

    await sql`update usage_day_rollup set quantity = 5 where project_id = 1`.execute(ctx.tdb.db);
    const good = await ctx.t.agoraGet('/usage', { fromTs: D, toTs: D + DAY - 1, pageNum: 1 });
    expect(good.status).toBe(200);
    const body = (await good.json()) as any;
    expect(body.data.data.map((l: any) => [l.projectId, l.amount])).toEqual([['1', 5], ['2', 3]]);
  });

  it('a bill whose computed line is negative is not fixed nor sent; after repair it is', async () => {
    const plan = { planId: 'basic', currency: 'USD', usageUnit: 'Minute', effectiveFrom: '2025-01', tiers: [{ upTo: null, unitPrice: '2' }] };
    expect((await ctx.t.admin('POST', '/v1/plans', plan)).status).toBe(201);
    await post([{ id: 'e1', projectId: 1, quantity: 5, occurredAt: D + 60 }]);
    // Corrupt the price (past its own check) so the computed line of project 1 would be -10.
    await sql`alter table plan_tiers drop constraint plan_tiers_unit_price_check`.execute(ctx.tdb.db);
    await sql`update plan_tiers set unit_price = -2`.execute(ctx.tdb.db);
    const window = { fromTs: dayStart('2025-06-01'), toTs: dayStart('2025-07-01') - 1, pageNum: 1 };
    const bad = await ctx.t.agoraGet('/bill', window);
    expect(bad.status).toBe(500);
    expect(await count('statements')).toBe(0);
    expect(await count('statement_blocks')).toBe(0);

    await sql`update plan_tiers set unit_price = 2`.execute(ctx.tdb.db);
    await sql`alter table plan_tiers add constraint plan_tiers_unit_price_check check (unit_price >= 0)`.execute(ctx.tdb.db);
    const good = await ctx.t.agoraGet('/bill', window);
    expect(good.status).toBe(200);
    expect(((await good.json()) as any).data.data.map((l: any) => [l.projectId, l.amount])).toEqual([['1', 10]]);
  });
});

describe('repeated ids inside one batch', () => {
  it('a repeat of a rejected event is rejected the same way, never answered duplicate', async () => {
    await post([{ id: 'taken', projectId: 1, quantity: 1, occurredAt: D }]);
    const r = await post([
      { id: 'noproj', projectId: 999, quantity: 1, occurredAt: D },
      { id: 'noproj', projectId: 999, quantity: 1, occurredAt: D },
      { id: 'taken', projectId: 2, quantity: 1, occurredAt: D },
      { id: 'taken', projectId: 2, quantity: 1, occurredAt: D },
      { id: 'new', projectId: 1, quantity: 2, occurredAt: D },
      { id: 'new', projectId: 1, quantity: '2.0', occurredAt: D },
      { id: 'new', projectId: 1, quantity: 3, occurredAt: D },
    ]);
    expect(r.results.map((x: any) => [x.status, x.code ?? null])).toEqual([
      ['rejected', 'unknown_project'],
      ['rejected', 'unknown_project'],
      ['rejected', 'conflict'],
      ['rejected', 'conflict'],
      ['accepted', null],
      ['duplicate', null],
      ['rejected', 'conflict'],
    ]);
    expect(r).toMatchObject({ accepted: 1, duplicates: 1, rejected: 5 });
    expect(r.results[1].message).toMatch(/as event 0 of this batch/);
  });

  it('a repeat of an event refused for its content is judged on its own', async () => {
    const r = await post([
      { id: 'a', projectId: 1, quantity: -1, occurredAt: D },
      { id: 'a', projectId: 1, quantity: 1, occurredAt: D },
    ]);
    expect(r.results.map((x: any) => x.status)).toEqual(['rejected', 'accepted']);
  });
});

describe('the earliest moment an event may have', () => {
  it('is 2001-09-10T00:00:00Z, the first UTC day every window of which Agora can poll with 10-digit seconds', async () => {
    const first = Date.UTC(2001, 8, 10) / 1000;
    expect(first - DAY).toBeLessThan(1e9); // the day before starts at 999,993,600 s: 9 digits
    expect(first).toBeGreaterThanOrEqual(1e9);
    const r = await post([
      { id: 'y2000', projectId: 1, quantity: 1, occurredAt: '2000-06-01T00:00:00Z' },
      { id: 'last-9-digit', projectId: 1, quantity: 1, occurredAt: 999_999_999 },
      { id: 'day-before', projectId: 1, quantity: 1, occurredAt: '2001-09-09T23:59:59Z' },
      { id: 'first', projectId: 1, quantity: 1, occurredAt: '2001-09-10T00:00:00Z' },
      { id: 'first-s', projectId: 1, quantity: 1, occurredAt: first + 1 },
    ]);
    expect(r.results.map((x: any) => x.status)).toEqual(['rejected', 'rejected', 'rejected', 'accepted', 'accepted']);
    expect(r.results[0].message).toMatch(/2001-09-10/);
    // And that day can be polled whole.
    const poll = await ctx.t.agoraGet('/usage', { fromTs: first, toTs: first + DAY - 1, pageNum: 1 });
    expect(((await poll.json()) as any).data.data).toEqual([{ projectId: '1', amount: 2, description: '2 Minute × basic' }]);
  });
});

describe('months and times outside the supported range', () => {
  it('answers 400, not 500', async () => {
    const get = async (path: string) => {
      const r = await ctx.t.app.request(path, { headers: { authorization: `Bearer ${ADMIN}` } });
      return { status: r.status, body: (await r.json()) as any };
    };
    for (const month of ['9999-12', '0001-01', '0099-12', '1969-12']) {
      const r = await get(`/v1/reconciliation?month=${month}`);
      expect(r.status, month).toBe(400);
      expect(r.body.error.code).toBe('invalid_parameter');
      expect(r.body.error.message).toMatch(/1970-01 to 9999-11/);
    }
    expect((await get('/v1/reconciliation?month=9999-11')).status).toBe(200);
    const plan = { planId: 'p', currency: 'USD', usageUnit: 'Minute', effectiveFrom: '9999-12', tiers: [{ upTo: null, unitPrice: '1' }] };
    expect((await ctx.t.admin('POST', '/v1/plans', plan)).status).toBe(400);
    expect((await ctx.t.admin('POST', '/v1/plans', { ...plan, effectiveFrom: '9999-11' })).status).toBe(201);
    expect((await get('/v1/statements?from=9999-12-31T23:00:00-05:00')).status).toBe(400);
    expect((await get('/v1/statements?to=0000-01-01')).status).toBe(400);
    expect((await get('/v1/statements?from=2025-01-01')).status).toBe(200);
  });
});

describe('CSV cells a spreadsheet would run as formulas', () => {
  it('are neutralized with a leading quote; numbers, negative ones too, are left as numbers', () => {
    expect(csvField('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('-cmd')).toBe("'-cmd");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('\tx')).toBe("'\tx");
    expect(csvField('\rx')).toBe(`"'\rx"`);
    expect(csvField('-')).toBe("'-");
    expect(csvField('-7')).toBe('-7');
    expect(csvField('-0.125')).toBe('-0.125');
    expect(csvField('12.5')).toBe('12.5');
    expect(csvField('a=b')).toBe('a=b');
  });

  it('in the reconciliation and statement CSVs', async () => {
    await provision(ctx.t, '=HYPERLINK("evil")', [7], '@plan');
    await post([{ id: 'e', projectId: 7, quantity: 1, occurredAt: D }]);
    const csv = async (path: string) =>
      (await ctx.t.app.request(path, { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } })).text();
    const rec = await csv('/v1/reconciliation?month=2025-06');
    expect(rec).toContain(`7,"'=HYPERLINK(""evil"")",'@plan,`);
    expect((await ctx.t.agoraGet('/usage', { fromTs: D, toTs: D + DAY - 1, pageNum: 1 })).status).toBe(200);
    const list = (await (await ctx.t.admin('GET', '/v1/statements')).json()) as any;
    const st = await csv(`/v1/statements/${list.data[0].id}/lines`);
    expect(st).toContain(`,7,"'=HYPERLINK(""evil"")",'@plan,1,0,`);
  });
});

describe('CSV of licenses', () => {
  it('writes a licenseKey =HYPERLINK(…) as text', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1 });
    expect((await w.p101.activate('101', TRIAL_PID, '=HYPERLINK("evil")')).status).toBe(200);
    const r = await ctx.t.app.request('/v1/licenses?customerId=c1', { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } });
    expect(await r.text()).toMatch(new RegExp(`^[0-9A-F]{32},"'=HYPERLINK\\(""evil""\\)",${TRIAL_PID},101,c1,`, 'm'));
  });
});

describe.skipIf(!onPostgres)('concurrent batches of the same new ids (Postgres)', () => {
  // Ten rounds: before events were inserted in id order, most runs met a deadlock within them.
  const ROUNDS = 10;
  it('never deadlock, whatever their order, and store each event exactly once', async () => {
    const other = await ctx.tdb.openAnother();
    try {
      const { buildApp } = await import('./helpers/app.ts');
      const second = buildApp(other.db);
      for (let round = 0; round < ROUNDS; round++) {
        const events = Array.from({ length: 1000 }, (_, i) => ({
          id: `r${round}-${String(i).padStart(4, '0')}`,
          projectId: 1 + (i % 2),
          quantity: '0.5',
          occurredAt: D + (i % 86_400),
        }));
        const orders = [events, [...events].reverse(), events, [...events].reverse(), [...events].sort(() => Math.random() - 0.5), [...events].reverse()];
        const answers = await Promise.all(
          orders.map(async (batch, k) => {
            const r = await (k % 2 === 0 ? ctx.t : second).admin('POST', '/v1/usage-events', { events: batch });
            return { status: r.status, body: (await r.json()) as any };
          }),
        );
        expect(answers.map((a) => a.status), JSON.stringify(answers.find((a) => a.status !== 200)?.body)).toEqual(orders.map(() => 200));
        expect(answers.reduce((s, a) => s + a.body.accepted, 0)).toBe(1000);
        expect(answers.reduce((s, a) => s + a.body.duplicates, 0)).toBe(5000);
      }
      expect(await count('usage_events')).toBe(ROUNDS * 1000);
      const sums = await ctx.tdb.db.selectFrom('usage_day_rollup').select(['project_id', 'quantity']).orderBy('project_id').execute();
      expect(sums).toEqual([{ project_id: '1', quantity: String(ROUNDS * 250) }, { project_id: '2', quantity: String(ROUNDS * 250) }]);
    } finally {
      await other.close();
    }
  });
});
