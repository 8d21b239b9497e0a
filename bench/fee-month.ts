import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';
import { fmtInt, fmtMs, type Row } from './report.ts';
import type { FirstPage } from './scenarios/server.ts';

/**
 * The first page of a bill in which every project owes a monthly fee (docs/deferred-bills.md, "Fee
 * months"): the seeded projects are created now, so only the current month's fee is owed by them.
 * For that month every seeded plan gets a version with a fee (the tiers of its 2020 version), and
 * the usage of the benchmark month is copied in: the bill has a line for every project.
 */
export function feeMonth(now = new Date()): string {
  return now.toISOString().slice(0, 7);
}

/** Seeds the fee month after `seed` (plans and the benchmark month's rollup are there). */
export async function seedFeeMonth(db: Db, benchMonth: string, month = feeMonth()): Promise<void> {
  const fees: Record<string, string> = { 'plan-0': '1', 'plan-1': '2', 'plan-2': '5' };
  for (const [planId, fee] of Object.entries(fees)) {
    const { rows } = await sql<{ id: string }>`
      insert into plan_versions (plan_id, effective_month, currency, usage_unit, monthly_fee)
      select plan_id, ${`${month}-01`}::date, currency, usage_unit, ${fee}::numeric from plan_versions
      where plan_id = ${planId} and effective_month = '2020-01-01'
      on conflict (plan_id, effective_month) do update set monthly_fee = excluded.monthly_fee
      returning id`.execute(db);
    const versionId = rows[0]?.id;
    if (!versionId) continue;
    await sql`insert into plan_tiers (plan_version_id, tier_no, from_qty, up_to, unit_price)
      select ${versionId}::bigint, t.tier_no, t.from_qty, t.up_to, t.unit_price
      from plan_tiers t join plan_versions v on v.id = t.plan_version_id
      where v.plan_id = ${planId} and v.effective_month = '2020-01-01'
      on conflict do nothing`.execute(db);
  }
  await sql`insert into usage_month_rollup (month, project_id, quantity)
    select ${`${month}-01`}::date, project_id, quantity from usage_month_rollup where month = ${`${benchMonth}-01`}::date
    on conflict do nothing`.execute(db);
}


/**
 * The fee month's first page, and its time against the small month's (a tenth of the lines, no
 * fee): O(page) makes them about equal, the whole fix would cost about 10×.
 */
export async function feeMonthRows(o: {
  projects: number;
  first: () => Promise<FirstPage>;
  row: (label: string, r: FirstPage) => Row;
  smallMonth: { label: string; result: FirstPage };
}): Promise<{ rows: Row[]; result: FirstPage }> {
  const r = await o.first();
  const rows = [o.row(`first page of an unasked month with monthly fees (GET /bill ${feeMonth()}, ${fmtInt(o.projects)} projects owing a fee)`, r)];
  const small = o.smallMonth.result;
  const ratio = small.status === 200 && r.status === 200 ? r.totalMs / small.totalMs : null;
  rows.push({
    scenario: `first page of a fee month, ${fmtInt(r.totalSize ?? 0)} lines vs ${fmtInt(small.totalSize ?? 0)} (${o.smallMonth.label}, no fee), same run`,
    result: ratio === null ? 'not answered' : `${fmtMs(r.totalMs)} vs ${fmtMs(small.totalMs)}: ratio ${ratio.toFixed(2)}`,
    target: 'ratio < 1.5 (O(page))',
    verdict: ratio !== null && ratio < 1.5 ? 'ok' : 'MISSED',
  });
  return { rows, result: r };
}
