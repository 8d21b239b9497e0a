import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../src/decimal.ts';
import type { Db } from '../src/db/database.ts';
import { ADMIN, DAY, provision } from './helpers/app.ts';
import { JUNE, MAY, usageSender, windowPoller, withGoldPlan } from './helpers/reconciliation.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Reconciliation in keyset pages (src/billing/reconciliation.repository.ts): the pages, read one
 * after the other, answer what one scan of every raw event of the month answers (the query the
 * paged one replaced, kept here as the reference), and the month's totals, read from what
 * ingestion and fixing keep, are the sums of the projects' figures.
 */
const ctx = setupTestApp();
withGoldPlan(ctx);

const FIGURES = [
  'ingested', 'dailyReported', 'dailyPending', 'dailyDifference', 'billedQuantity', 'billPending', 'billDifference', 'billedAmount',
  'correctionsInQuantity', 'correctionsInAmount', 'correctionsOutQuantity', 'correctionsOutAmount',
] as const;

/** The figures as the whole-month scan computed them, per project (the reference). */
async function reference(db: Db, month: string) {
  const m = /^(\d{4})-(\d{2})$/.exec(month)!;
  const start = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)).toISOString();
  const end = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1)).toISOString();
  const a = { month: `${month}-01` };
  const bills = await sql<{ id: string }>`select id::text from statements where kind = 'bill' and window_start = ${start}::timestamptz and window_end = ${end}::timestamptz`.execute(db);
  const billed = bills.rows.length > 0;
  const bill = bills.rows[0]?.id ?? '0';
    const r = await sql<Record<string, string>>`
    with ev as (
      select project_id, quantity, occurred_at, late, statement_id, bill_late, bill_statement_id
      from usage_events where occurred_at >= ${start}::timestamptz and occurred_at < ${end}::timestamptz
    ), fixed as (
      select window_start, window_end from statements
      where kind = 'usage' and window_start >= ${start}::timestamptz and window_end <= ${end}::timestamptz
    ), q as (
      select project_id, quantity as ingested, 0::numeric as daily_reported, 0::numeric as daily_pending,
             0::numeric as billed_quantity, 0::numeric as bill_pending, 0::numeric as billed_amount,
             0::numeric as cin_q, 0::numeric as cin_a, 0::numeric as cout_q, 0::numeric as cout_a
        from ev
      union all
      select u.project_id, 0, u.amount - u.correction, 0, 0, 0, 0, 0, 0, 0, 0
        from statements st
        join statement_blocks b on b.statement_id = st.id
        cross join lateral unnest(b.project_ids, b.amounts, b.corrections) as u(project_id, amount, correction)
        where st.kind = 'usage' and st.window_start >= ${start}::timestamptz and st.window_end <= ${end}::timestamptz
      union all
      select project_id, 0, quantity, 0, 0, 0, 0, 0, 0, 0, 0 from ev where late and statement_id is not null
      union all
      select project_id, 0, 0, quantity, 0, 0, 0, 0, 0, 0, 0 from ev where late and statement_id is null
      union all
      select project_id, 0, 0, quantity, 0, 0, 0, 0, 0, 0, 0 from ev
        where not late and not exists (select 1 from fixed f where ev.occurred_at >= f.window_start and ev.occurred_at < f.window_end)
      union all
      select project_id, 0, 0, 0, case when ${billed}::boolean then quantity else 0 end,
             case when ${billed}::boolean then 0 else quantity end, 0, 0, 0, 0, 0
        from usage_month_rollup where month = ${a.month}::date
      union all
      select project_id, 0, 0, 0, case when bill_statement_id is not null then quantity else 0 end,
             case when bill_statement_id is null then quantity else 0 end, 0, 0, 0, 0, 0
        from ev where bill_late
      union all
      select u.project_id, 0, 0, 0, 0, 0, u.amount, 0, 0, 0, 0
        from statement_blocks b
        cross join lateral unnest(b.project_ids, b.amounts) as u(project_id, amount)
        where b.statement_id = ${bill}::bigint
      union all
      select project_id, 0, 0, 0, 0, 0, 0, quantity, amount, 0, 0 from bill_corrections where bill_statement_id = ${bill}::bigint
      union all
      select project_id, 0, 0, 0, 0, 0, 0, 0, 0, quantity, amount from bill_corrections where month = ${a.month}::date
    ), sums as (
      select project_id, sum(ingested) as ingested, sum(daily_reported) as daily_reported, sum(daily_pending) as daily_pending,
             sum(billed_quantity) as billed_quantity, sum(bill_pending) as bill_pending, sum(billed_amount) as billed_amount,
             sum(cin_q) as cin_q, sum(cin_a) as cin_a, sum(cout_q) as cout_q, sum(cout_a) as cout_a
      from q group by project_id
    )
    select s.project_id::text, p.customer_id, cu.plan_id, (pl.plan_id is not null) as plan_known,
           s.ingested::text, s.daily_reported::text, s.daily_pending::text, s.billed_quantity::text,
           s.bill_pending::text, s.billed_amount::text, s.cin_q::text as corrections_in_quantity,
           s.cin_a::text as corrections_in_amount, s.cout_q::text as corrections_out_quantity,
           s.cout_a::text as corrections_out_amount
    from sums s
    left join projects p on p.project_id = s.project_id
    left join customers cu on cu.customer_id = p.customer_id
    left join plans pl on pl.plan_id = cu.plan_id
    order by s.project_id`.execute(db);

  return r.rows.map((x) => {
    const d = (k: string) => new Decimal(x[k]!);
    return {
      projectId: x.project_id,
      ingested: d('ingested'),
      dailyReported: d('daily_reported'),
      dailyPending: d('daily_pending'),
      dailyDifference: d('ingested').minus(x.daily_reported!).minus(x.daily_pending!),
      billedQuantity: d('billed_quantity'),
      billPending: d('bill_pending'),
      billDifference: d('ingested').minus(x.billed_quantity!).minus(x.bill_pending!),
      billedAmount: d('billed_amount'),
      correctionsInQuantity: d('corrections_in_quantity'),
      correctionsInAmount: d('corrections_in_amount'),
      correctionsOutQuantity: d('corrections_out_quantity'),
      correctionsOutAmount: d('corrections_out_amount'),
    };
  });
}

const send = usageSender(ctx);
const pollAll = windowPoller(ctx);
async function get(path: string) {
  const r = await ctx.t.admin('GET', path);
  const body = (await r.json()) as any;
  expect(r.status, JSON.stringify(body)).toBe(200);
  return body;
}
/** Every page, `limit` projects at a time. */
async function allPages(month: string, limit: number, flagged = false) {
  const pages: any[] = [];
  let after: string | null = null;
  do {
    const body = await get(`/v1/reconciliation?month=${month}&limit=${limit}${after ? `&after=${after}` : ''}${flagged ? '&flagged=true' : ''}`);
    pages.push(body);
    after = body.next;
  } while (after !== null);
  return pages;
}

async function checkMonth(month: string) {
  const ref = await reference(ctx.tdb.db, month);
  const whole = await get(`/v1/reconciliation?month=${month}&limit=1000`);
  expect(whole.next).toBe(null);
  expect(whole.projects.map((p: any) => p.projectId)).toEqual(ref.map((p) => p.projectId));
  for (const [i, p] of whole.projects.entries()) {
    for (const k of FIGURES) expect(new Decimal(p[k]).eq(ref[i]![k]), `${month} project ${p.projectId} ${k}: ${p[k]} against ${ref[i]![k]}`).toBe(true);
  }
  // Pages of 2 and 3, read one after the other, are the whole page cut in pieces; totals the same on each.
  for (const limit of [2, 3]) {
    const pages = await allPages(month, limit);
    expect(pages.flatMap((b) => b.projects)).toEqual(whole.projects);
    for (const b of pages) expect(b.totals).toEqual(whole.totals);
    expect(pages.slice(0, -1).every((b) => b.projects.length === limit)).toBe(true);
  }
  // The totals are the projects' sums.
  for (const k of Object.keys(whole.totals)) {
    const sum = whole.projects.reduce((a: Decimal, p: any) => a.plus(p[k]), new Decimal(0));
    expect(new Decimal(whole.totals[k]).eq(sum), `${month} total ${k}: ${whole.totals[k]} against ${sum}`).toBe(true);
  }
  // The CSV has every project, as the pages.
  const csv = await ctx.t.app.request(`/v1/reconciliation?month=${month}`, { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } });
  const lines = (await csv.text()).trim().split('\r\n');
  expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(whole.projects.map((p: any) => p.projectId));
  return whole;
}

describe('reconciliation in pages', () => {
  it('answers, page after page, what a scan of the whole month answers, with totals the sums of the lines', async () => {
    await provision(ctx.t, 'c1', [1, 2, 3, 10, 11], 'gold');
    await provision(ctx.t, 'c2', [4, 5], 'unpriced-plan');
    await provision(ctx.t, 'c3', [7, 8, 9], 'gold');
    let rnd = 11;
    const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const projects = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11];
    let sent = 0;
    const batch = (from: number) =>
      Array.from({ length: 15 }, () => ({
        id: `p-${sent++}`,
        projectId: projects[Math.floor(random() * projects.length)],
        quantity: `${Math.floor(random() * 40)}.${Math.floor(random() * 100)}3`,
        occurredAt: from + Math.floor(random() * 31 * DAY),
      }));
    for (let step = 0; step < 30; step++) {
      const r = random();
      if (r < 0.55) {
        const events = batch(MAY);
        await send(events);
        if (random() < 0.3) await send(events);
      } else if (r < 0.9) {
        const day = MAY + Math.floor(random() * 31) * DAY;
        await pollAll('/usage', random() < 0.6 ? { fromTs: day, toTs: day + DAY - 1 } : { fromTs: day + 3600, toTs: day + 7199 });
      } else {
        await pollAll('/bill', { fromTs: MAY, toTs: JUNE - 1 });
      }
    }
    const mid = await checkMonth('2025-05');
    expect(new Decimal(mid.totals.dailyDifference).isZero()).toBe(true);
    // Only the flagged: the projects of an unknown plan, found across pages.
    const flagged = (await allPages('2025-05', 3, true)).flatMap((b) => b.projects.map((p: any) => p.projectId));
    expect(flagged).toEqual(mid.projects.filter((p: any) => p.flags.length > 0).map((p: any) => p.projectId));
    expect(flagged).toEqual(['4', '5']);

    // May billed and reported, then late usage of May and usage of June, carried into June's statements.
    for (let d = 0; d < 31; d++) await pollAll('/usage', { fromTs: MAY + d * DAY, toTs: MAY + (d + 1) * DAY - 1 });
    await pollAll('/bill', { fromTs: MAY, toTs: JUNE - 1 });
    await send(batch(MAY));
    await send(batch(JUNE).map((e) => ({ ...e, occurredAt: JUNE + (e.occurredAt - JUNE) / 31 })));
    await checkMonth('2025-05');
    await checkMonth('2025-06');
    await pollAll('/usage', { fromTs: JUNE, toTs: JUNE + DAY - 1 });
    await pollAll('/bill', { fromTs: JUNE, toTs: JUNE + DAY });
    const may = await checkMonth('2025-05');
    const june = await checkMonth('2025-06');
    expect(new Decimal(may.totals.correctionsOutAmount).gt(0)).toBe(true);
    expect(june.totals.correctionsInAmount).toBe(may.totals.correctionsOutAmount);
    // A month with nothing: no project, zero totals.
    const empty = await get('/v1/reconciliation?month=2025-08');
    expect(empty.projects).toEqual([]);
    expect(empty.next).toBe(null);
    expect(Object.values(empty.totals).every((v) => v === 0)).toBe(true);
  });

  it('shows a difference when a kept figure disagrees with the events', async () => {
    await provision(ctx.t, 'c1', [1, 2], 'gold');
    await send([
      { id: 'a', projectId: 1, quantity: '5', occurredAt: MAY + 100 },
      { id: 'b', projectId: 2, quantity: '7', occurredAt: MAY + 200 },
    ]);
    const clean = await get('/v1/reconciliation?month=2025-05');
    expect([clean.totals.dailyDifference, clean.totals.billDifference]).toEqual([0, 0]);
    // As if ingestion had lost 2 of project 2's usage from the day counters: the month's totals show it.
    await sql`update usage_day_counts set quantity = quantity - 2`.execute(ctx.tdb.db);
    const days = await get('/v1/reconciliation?month=2025-05');
    expect([days.totals.dailyDifference, days.totals.billDifference]).toEqual([2, 0]);
    // And from the month's rollup: the project's line shows it.
    await sql`update usage_month_rollup set quantity = quantity - 2 where project_id = 2`.execute(ctx.tdb.db);
    const month = await get('/v1/reconciliation?month=2025-05&flagged=true');
    expect(month.projects.map((p: any) => [p.projectId, p.billDifference, p.flags])).toEqual([['2', 2, ['difference']]]);
  });

  it('refuses a cursor or a limit that is not one', async () => {
    for (const q of ['after=0', 'after=x', 'limit=0', 'limit=1001', 'flagged=yes']) {
      const r = await ctx.t.admin('GET', `/v1/reconciliation?month=2025-05&${q}`);
      expect(r.status, q).toBe(400);
      expect(((await r.json()) as any).error.code).toBe('invalid_parameter');
    }
  });
});
