import { sql, type Transaction } from 'kysely';
import type { DB, LicenseRow, Statement } from '../db/schema.ts';
import { emit } from './outbox.ts';
import { z } from 'zod';

/** Projects named in one usage.correction_carried event; `projectCount` says how many there are. */
const CORRECTION_PROJECTS = 100;
/** Windows named per project (its earliest); `windowCount` says how many there are. */
const CORRECTION_WINDOWS = 31;
/** The windows of a correction as the query writes them (jsonb). */
const correctionWindows = z.array(z.object({ day: z.string(), quantity: z.string() }));

/**
 * statement.fixed, and usage.correction_carried when the statement carries late usage: in the
 * fixing transaction, after its totals are set. Answers the statement, so a fix can return
 * through it.
 *
 * The window a late quantity belonged to is the UTC day of its events' `occurred_at`: every usage
 * statement window lies within one UTC day, so the day is the reported window the event missed (or
 * holds the shorter windows it missed), and it is derived from the events the fix just marked as
 * carried (`usage_events.statement_id`, indexed), whichever way the statement was fixed. A
 * statement carries few late events; the list is bounded all the same (100 projects, 31 windows each).
 */
export async function statementFixed(trx: Transaction<DB>, st: Statement, at: Date = new Date()): Promise<Statement> {
  const window = { windowStart: st.window_start.toISOString(), windowEnd: st.window_end.toISOString() };
  await emit(
    trx,
    'statement.fixed',
    { statementId: st.id, kind: st.kind, ...window, lineCount: st.line_count, total: st.total_amount, correctionTotal: st.correction_amount },
    at,
  );
  if (st.kind === 'usage' && !/^0(\.0*)?$/.test(st.correction_amount)) {
    const { rows } = await sql<{ project_id: string; quantity: string; window_count: string; n: string; windows: unknown }>`
      with per_day as (
        select project_id, (occurred_at at time zone 'UTC')::date as day, sum(quantity) as quantity
        from usage_events where statement_id = ${st.id}::bigint
        group by 1, 2
      ), per_project as (
        select project_id, sum(quantity) as quantity, count(*) as window_count from per_day group by project_id
      ), named as (
        select * from per_project order by project_id limit ${CORRECTION_PROJECTS}
      )
      select p.project_id::text as project_id, p.quantity::text as quantity, p.window_count::text as window_count,
        (select count(*) from per_project)::text as n,
        (select coalesce(jsonb_agg(jsonb_build_object('day', to_char(w.day, 'YYYY-MM-DD'), 'quantity', w.quantity::text) order by w.day), '[]'::jsonb)
         from (select day, quantity from per_day d where d.project_id = p.project_id order by day limit ${CORRECTION_WINDOWS}) w) as windows
      from named p order by p.project_id`.execute(trx);
    await emit(
      trx,
      'usage.correction_carried',
      {
        statementId: st.id,
        ...window,
        correctionTotal: st.correction_amount,
        projectCount: Number(rows[0]?.n ?? 0),
        projects: rows.map((r) => ({
          projectId: r.project_id,
          quantity: r.quantity,
          windowCount: Number(r.window_count),
          // jsonb: an array from pg, text from the embedded database's driver.
          windows: correctionWindows.parse(typeof r.windows === 'string' ? JSON.parse(r.windows) : r.windows).map((w) => {
            const start = new Date(`${w.day}T00:00:00.000Z`);
            return { windowStart: start.toISOString(), windowEnd: new Date(start.getTime() + 86_400_000).toISOString(), quantity: w.quantity };
          }),
        })),
      },
      at,
    );
  }
  return st;
}

export function licenseData(l: LicenseRow) {
  return { license: l.license, licenseKey: l.license_key, pid: l.pid, customerId: l.customer_id, projectId: l.project_id, expiresAt: l.expires_at.toISOString() };
}
