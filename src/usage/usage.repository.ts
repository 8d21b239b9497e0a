import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

export interface EventRow {
  id: string;
  projectId: string;
  quantity: string;
  occurredAt: Date;
  description: string | null;
  late: boolean;
}

/** Projects of a batch with the moment each stopped (if it did). */
export function projectsByIds(db: Db, ids: string[]) {
  return db
    .selectFrom('projects')
    .select(['project_id', 'deactivated_at'])
    .where('project_id', 'in', ids)
    .execute();
}

/** Windows already reported that touch the given range of days. */
export function reportedUsageWindows(db: Db, from: Date, to: Date) {
  return db
    .selectFrom('statements')
    .select(['window_start', 'window_end'])
    .where('kind', '=', 'usage')
    .where('window_start', '<', to)
    .where('window_end', '>', from)
    .execute();
}

/**
 * Inserts the events whose id is new and returns those ids. Arrays through `unnest` keep a batch
 * of 1,000 to one short statement; an id that exists (or is being inserted by a concurrent
 * request) is left alone and compared by the caller.
 */
export async function insertNewEvents(db: Db, rows: EventRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const result = await sql<{ id: string }>`
    insert into usage_events (id, project_id, quantity, occurred_at, description, late)
    select * from unnest(
      ${rows.map((r) => r.id)}::text[],
      ${rows.map((r) => r.projectId)}::bigint[],
      ${rows.map((r) => r.quantity)}::numeric[],
      ${rows.map((r) => r.occurredAt.toISOString())}::timestamptz[],
      ${rows.map((r) => r.description)}::text[],
      ${rows.map((r) => r.late)}::boolean[])
    on conflict (id) do nothing
    returning id`.execute(db);
  return new Set(result.rows.map((r) => r.id));
}

export function eventsByIds(db: Db, ids: string[]) {
  return db
    .selectFrom('usage_events')
    .select(['id', 'project_id', 'quantity', 'occurred_at', 'description'])
    .where('id', 'in', ids)
    .execute();
}

/** Adds to the not-yet-reported usage per (day, project). Rows go in key order to avoid deadlocks. */
export async function addToDayRollup(db: Db, rows: { day: string; projectId: string; quantity: string }[]): Promise<void> {
  if (rows.length === 0) return;
  const sorted = [...rows].sort((a, b) =>
    a.day !== b.day ? (a.day < b.day ? -1 : 1) : compareBigIdText(a.projectId, b.projectId),
  );
  await sql`
    insert into usage_day_rollup (day, project_id, quantity)
    select * from unnest(
      ${sorted.map((r) => r.day)}::date[],
      ${sorted.map((r) => r.projectId)}::bigint[],
      ${sorted.map((r) => r.quantity)}::numeric[])
    on conflict (day, project_id) do update set quantity = usage_day_rollup.quantity + excluded.quantity`.execute(db);
}

function compareBigIdText(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

export interface FixTotals {
  lineCount: number;
  total: string;
  correction: string;
}

/**
 * Writes the lines of usage statement `statementId` in one statement:
 * - natural usage: for a whole day, the day's rollup (one row per project); for part of a day,
 *   the unreported events in the window, which are then marked as reported and taken off the
 *   rollup so a later whole-day window does not count them again;
 * - corrections: every late event not yet carried, whatever its day, marked as carried here;
 * - one line per project, numbered in projectId order, only where the amount is not zero.
 * The caller holds the day's exclusive lock, so no event of the day is being ingested meanwhile.
 */
export async function writeUsageLines(
  db: Db,
  args: { statementId: string; day: string; start: Date; end: Date; wholeDay: boolean; dayClosed: boolean; unit: string },
): Promise<FixTotals> {
  const { statementId: s, day, unit } = args;
  const natural = args.wholeDay
    ? sql`select project_id, quantity from usage_day_rollup where day = ${day}::date and quantity <> 0`
    : args.dayClosed
      ? sql`select null::bigint as project_id, null::numeric as quantity where false`
      : sql`select project_id, sum(quantity) as quantity from natural_events group by project_id`;
  const result = await sql<{ line_count: number; total: string; correction: string }>`
    with natural_events as (
      update usage_events set statement_id = ${s}::bigint
      where ${!args.wholeDay && !args.dayClosed}::boolean
        and occurred_at >= ${args.start.toISOString()}::timestamptz
        and occurred_at < ${args.end.toISOString()}::timestamptz
        and statement_id is null and not late
      returning project_id, quantity
    ), nat as (${natural}),
    taken_off as (
      update usage_day_rollup r set quantity = r.quantity - n.quantity
      from nat n
      where ${!args.wholeDay}::boolean and r.day = ${day}::date and r.project_id = n.project_id
      returning 1
    ), corr_events as (
      update usage_events set statement_id = ${s}::bigint
      where late and statement_id is null
      returning project_id, quantity
    ), corr as (
      select project_id, sum(quantity) as quantity from corr_events group by project_id
    ), merged as (
      select coalesce(n.project_id, c.project_id) as project_id,
             coalesce(n.quantity, 0) + coalesce(c.quantity, 0) as amount,
             coalesce(c.quantity, 0) as correction
      from nat n full join corr c on c.project_id = n.project_id
    ), ins as (
      insert into statement_lines
        (statement_id, line_no, project_id, customer_id, plan_id, amount, correction_amount, description)
      select ${s}::bigint, row_number() over (order by m.project_id), m.project_id, p.customer_id, cu.plan_id,
             m.amount, m.correction,
             trim_scale(m.amount)::text || ' ' || ${unit}::text || ' × ' || cu.plan_id ||
             case when m.correction <> 0
                  then ' (includes a correction of ' || trim_scale(m.correction)::text || ' ' || ${unit}::text ||
                       ' that arrived after its window was reported)'
                  else '' end
      from merged m
      join projects p on p.project_id = m.project_id
      join customers cu on cu.customer_id = p.customer_id
      where m.amount <> 0
      returning amount, correction_amount
    )
    select count(*)::int as line_count,
           coalesce(sum(amount), 0)::text as total,
           coalesce(sum(correction_amount), 0)::text as correction
    from ins`.execute(db);
  const row = result.rows[0]!;
  return { lineCount: Number(row.line_count), total: row.total, correction: row.correction };
}
