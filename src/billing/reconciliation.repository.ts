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

/**
 * Per project, for one month: every figure from its own source, so that the differences the
 * invariants keep at zero are checked, not assumed.
 * - ingested: the raw events of the month;
 * - daily reported: what usage statements of the month reported on time, plus the month's late
 *   events already carried as corrections (wherever they were carried);
 * - daily pending: on-time events in no reported window yet, and late events not carried yet;
 * - billed: the month's on-time quantity if the month is billed, plus its late usage carried into
 *   later bills; bill pending: the month's quantity while it is not billed, plus late usage not
 *   carried yet;
 * - amounts: the month's bill line, the corrections it carried in from other months, and the
 *   corrections for this month's usage carried out into later bills.
 */
export async function reconciliationRows(
  db: Db,
  a: { month: string; start: Date; end: Date; billStatementId: string | null },
): Promise<ReconciliationRow[]> {
  const start = a.start.toISOString();
  const end = a.end.toISOString();
  const billed = a.billStatementId !== null;
  const bill = a.billStatementId ?? '0';
  const r = await sql<ReconciliationRow>`
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
  return r.rows;
}
