import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

export interface ReconciliationRow {
  project_id: string;
  customer_id: string | null;
  plan_id: string | null;
  plan_known: boolean;
  ingested: string;
  daily_reported: string;
  daily_pending: string;
  billed_quantity: string;
  bill_pending: string;
  billed_amount: string;
  corrections_in_quantity: string;
  corrections_in_amount: string;
  corrections_out_quantity: string;
  corrections_out_amount: string;
}

export interface ReconciliationMonth {
  month: string;
  start: Date;
  end: Date;
  billStatementId: string | null;
}

/** Statement lines per block (migration 20261123000000): a page of n projects spans at most n / 100 + 1 blocks. */
const BLOCK_LINES = 100;

/**
 * Per project, for one month, a keyset page of `count` projects after `after` (in projectId
 * order): every figure from its own source, so that the differences the invariants keep at zero
 * are checked, not assumed.
 * - ingested: the raw events of the month;
 * - daily reported: what usage statements of the month reported on time, plus the month's late
 *   events already carried as corrections (wherever they were carried);
 * - daily pending: on-time events in no reported window yet, and late events not carried yet;
 * - billed: the month's on-time quantity if the month is billed, plus its late usage carried into
 *   later bills; bill pending: the month's quantity while it is not billed, plus late usage not
 *   carried yet;
 * - amounts: the month's bill line, the corrections it carried in from other months, and the
 *   corrections for this month's usage carried out into later bills.
 *
 * The projects of the page are those with anything in one of these sources, found through each
 * source's index in projectId order (the month's rollup, its bill-late events, the blocks of its
 * statements by their first project, its corrections), so a page costs O(page) whatever the number
 * of projects: the page's events are read by (project_id, occurred_at), the statements' blocks
 * holding its projects by `statement_blocks_first_project_idx`.
 */
export async function reconciliationPage(db: Db, a: ReconciliationMonth & { after: string | null; count: number }): Promise<ReconciliationRow[]> {
  const start = a.start.toISOString();
  const end = a.end.toISOString();
  const billed = a.billStatementId !== null;
  const bill = a.billStatementId ?? '0';
  // Project ids are positive: 0 is before the first.
  const after = a.after ?? '0';
  const n = a.count;
  const blocks = Math.ceil(n / BLOCK_LINES) + 1;
  const keys = await sql<{ id: string }>`
    with stmts as materialized (
      select id from statements
      where (kind = 'usage' and window_start >= ${start}::timestamptz and window_end <= ${end}::timestamptz) or id = ${bill}::bigint
    ), keys as (
      (select project_id from usage_month_rollup where month = ${a.month}::date and project_id > ${after}::bigint order by project_id limit ${n}::int)
      union
      (select project_id from usage_events
        where bill_late and occurred_at >= ${start}::timestamptz and occurred_at < ${end}::timestamptz and project_id > ${after}::bigint)
      union
      (select u.project_id from stmts s cross join lateral (
          (select b.project_ids from statement_blocks b
            where b.statement_id = s.id and b.project_ids[1] <= ${after}::bigint order by b.project_ids[1] desc limit 1)
          union all
          (select b.project_ids from statement_blocks b
            where b.statement_id = s.id and b.project_ids[1] > ${after}::bigint order by b.project_ids[1] limit ${blocks}::int)
        ) b cross join lateral unnest(b.project_ids) as u(project_id)
        where u.project_id > ${after}::bigint)
      union
      (select project_id from bill_corrections
        where bill_statement_id = ${bill}::bigint and project_id > ${after}::bigint order by project_id limit ${n}::int)
      union
      (select project_id from bill_corrections
        where month = ${a.month}::date and project_id > ${after}::bigint order by project_id limit ${n}::int)
    )
    select project_id::text as id from keys order by project_id limit ${n}::int`.execute(db);
  if (keys.rows.length === 0) return [];
  // The page's projects as an array of known length, so that every source below is read by key
  // (an index probe per project), never hashed whole.
  const ids = keys.rows.map((k) => k.id);
  const lo = ids[0]!;
  const hi = ids[ids.length - 1]!;
  const r = await sql<ReconciliationRow>`
    with fixed as materialized (
      select id, window_start, window_end from statements
      where kind = 'usage' and window_start >= ${start}::timestamptz and window_end <= ${end}::timestamptz
    ), stmts as materialized (
      select id from fixed union all select id from statements where id = ${bill}::bigint
    ), ev as materialized (
      select e.project_id, e.quantity, e.occurred_at, e.late, e.statement_id, e.bill_late, e.bill_statement_id
      from usage_events e
      where e.project_id = any(${ids}::bigint[]) and e.occurred_at >= ${start}::timestamptz and e.occurred_at < ${end}::timestamptz
    ), lines as materialized (
      -- The page's lines in a statement: the blocks from the one holding the page's first project
      -- to the one holding its last.
      select s.id as statement_id, u.project_id, u.amount, u.correction
      from stmts s cross join lateral (
          (select b.project_ids, b.amounts, b.corrections from statement_blocks b
            where b.statement_id = s.id and b.project_ids[1] <= ${lo}::bigint order by b.project_ids[1] desc limit 1)
          union all
          (select b.project_ids, b.amounts, b.corrections from statement_blocks b
            where b.statement_id = s.id and b.project_ids[1] > ${lo}::bigint and b.project_ids[1] <= ${hi}::bigint)
        ) b cross join lateral unnest(b.project_ids, b.amounts, b.corrections) as u(project_id, amount, correction)
      where u.project_id = any(${ids}::bigint[])
    ), q as (
      select project_id, quantity as ingested, 0::numeric as daily_reported, 0::numeric as daily_pending,
             0::numeric as billed_quantity, 0::numeric as bill_pending, 0::numeric as billed_amount,
             0::numeric as cin_q, 0::numeric as cin_a, 0::numeric as cout_q, 0::numeric as cout_a
        from ev
      union all
      select l.project_id, 0, l.amount - l.correction, 0, 0, 0, 0, 0, 0, 0, 0
        from lines l where l.statement_id in (select id from fixed)
      union all
      select project_id, 0, quantity, 0, 0, 0, 0, 0, 0, 0, 0 from ev where late and statement_id is not null
      union all
      select project_id, 0, 0, quantity, 0, 0, 0, 0, 0, 0, 0 from ev where late and statement_id is null
      union all
      select project_id, 0, 0, quantity, 0, 0, 0, 0, 0, 0, 0 from ev
        where not late and not exists (select 1 from fixed f where ev.occurred_at >= f.window_start and ev.occurred_at < f.window_end)
      union all
      select r.project_id, 0, 0, 0, case when ${billed}::boolean then r.quantity else 0 end,
             case when ${billed}::boolean then 0 else r.quantity end, 0, 0, 0, 0, 0
        from usage_month_rollup r where r.month = ${a.month}::date and r.project_id = any(${ids}::bigint[])
      union all
      select project_id, 0, 0, 0, case when bill_statement_id is not null then quantity else 0 end,
             case when bill_statement_id is null then quantity else 0 end, 0, 0, 0, 0, 0
        from ev where bill_late
      union all
      select l.project_id, 0, 0, 0, 0, 0, l.amount, 0, 0, 0, 0
        from lines l where l.statement_id = ${bill}::bigint
      union all
      select c.project_id, 0, 0, 0, 0, 0, 0, c.quantity, c.amount, 0, 0
        from bill_corrections c where c.bill_statement_id = ${bill}::bigint and c.project_id = any(${ids}::bigint[])
      union all
      select c.project_id, 0, 0, 0, 0, 0, 0, 0, 0, c.quantity, c.amount
        from bill_corrections c where c.month = ${a.month}::date and c.project_id = any(${ids}::bigint[])
    ), sums as (
      select project_id, sum(ingested) as ingested, sum(daily_reported) as daily_reported, sum(daily_pending) as daily_pending,
             sum(billed_quantity) as billed_quantity, sum(bill_pending) as bill_pending, sum(billed_amount) as billed_amount,
             sum(cin_q) as cin_q, sum(cin_a) as cin_a, sum(cout_q) as cout_q, sum(cout_a) as cout_a
      from q group by project_id
    ), who as (
      select p.project_id, p.customer_id, cu.plan_id, (pl.plan_id is not null) as plan_known
      from projects p
      left join customers cu on cu.customer_id = p.customer_id
      left join plans pl on pl.plan_id = cu.plan_id
      where p.project_id = any(${ids}::bigint[])
    )
    select pg.project_id::text, w.customer_id, w.plan_id, coalesce(w.plan_known, false) as plan_known,
           coalesce(s.ingested, 0)::text as ingested, coalesce(s.daily_reported, 0)::text as daily_reported,
           coalesce(s.daily_pending, 0)::text as daily_pending, coalesce(s.billed_quantity, 0)::text as billed_quantity,
           coalesce(s.bill_pending, 0)::text as bill_pending, coalesce(s.billed_amount, 0)::text as billed_amount,
           coalesce(s.cin_q, 0)::text as corrections_in_quantity, coalesce(s.cin_a, 0)::text as corrections_in_amount,
           coalesce(s.cout_q, 0)::text as corrections_out_quantity, coalesce(s.cout_a, 0)::text as corrections_out_amount
    from unnest(${ids}::bigint[]) as pg(project_id)
    left join sums s on s.project_id = pg.project_id
    left join who w on w.project_id = pg.project_id
    order by pg.project_id`.execute(db);
  return r.rows;
}

export interface ReconciliationTotalsRow {
  ingested: string;
  billable: string;
  on_time: string;
  reported_on_time: string;
  late_carried: string;
  late_pending: string;
  bill_late_carried: string;
  bill_late_pending: string;
  billed_amount: string;
  corrections_in_amount: string;
  corrections_out_amount: string;
}

/**
 * The month's totals, each from a source kept as usage arrives and statements are fixed, so they
 * cost O(days + statements + late events + corrections), never O(projects):
 * - ingested and billable (not late for the bill): `reconciliation_month_counts`, counted from the
 *   events as they are stored;
 * - on time for its day: the day counters (`usage_day_counts`), of which the usage statements of the
 *   month reported `total − correction` (their totals): the rest is pending;
 * - late and bill-late usage, carried or not: the month's late events (`usage_events_late_idx`);
 * - the bill's amount: its statement's total; corrections in and out: `bill_corrections`.
 */
export async function reconciliationTotals(db: Db, a: ReconciliationMonth): Promise<ReconciliationTotalsRow> {
  const start = a.start.toISOString();
  const end = a.end.toISOString();
  const bill = a.billStatementId ?? '0';
  const r = await sql<ReconciliationTotalsRow>`
    select
      (select coalesce(sum(ingested), 0) from reconciliation_month_counts where month = ${a.month}::date)::text as ingested,
      (select coalesce(sum(billable), 0) from reconciliation_month_counts where month = ${a.month}::date)::text as billable,
      (select coalesce(sum(quantity), 0) from usage_day_counts
        where day >= ${a.month}::date and day < (${a.month}::date + interval '1 month')::date)::text as on_time,
      (select coalesce(sum(total_amount - correction_amount), 0) from statements
        where kind = 'usage' and window_start >= ${start}::timestamptz and window_end <= ${end}::timestamptz)::text as reported_on_time,
      l.late_carried::text, l.late_pending::text, l.bill_late_carried::text, l.bill_late_pending::text,
      (select coalesce(sum(total_amount), 0) from statements where id = ${bill}::bigint)::text as billed_amount,
      (select coalesce(sum(amount), 0) from bill_corrections where bill_statement_id = ${bill}::bigint)::text as corrections_in_amount,
      (select coalesce(sum(amount), 0) from bill_corrections where month = ${a.month}::date)::text as corrections_out_amount
    from (
      select coalesce(sum(quantity) filter (where late and statement_id is not null), 0) as late_carried,
             coalesce(sum(quantity) filter (where late and statement_id is null), 0) as late_pending,
             coalesce(sum(quantity) filter (where bill_late and bill_statement_id is not null), 0) as bill_late_carried,
             coalesce(sum(quantity) filter (where bill_late and bill_statement_id is null), 0) as bill_late_pending
      from usage_events
      where (late or bill_late) and occurred_at >= ${start}::timestamptz and occurred_at < ${end}::timestamptz
    ) l`.execute(db);
  return r.rows[0]!;
}
