import { sql, type Kysely } from 'kysely';

/**
 * A month's bill lines counted as usage arrives, so a month with many projects inside a free tier
 * is fixed in O(page) too (docs/deferred-bills.md "Line counts kept as usage arrives";
 * src/billing/line-counts.ts).
 *
 * Amounts of a month without fees never fall as the quantity grows, so a project is a line iff its
 * quantity reaches the least quantity its version prices at half of the last decimal or more:
 *
 * - `bill_line_months`: the months whose counts are kept, with the settings their thresholds were
 *   computed for (BILL_DECIMALS, DEFAULT_PLAN_ID; a fix configured otherwise does not use them),
 *   `generation` (raised when a price change moves a threshold) and `passed` (the generation every
 *   row was last assigned under), and `plans_seen_at`: every plan change stamped after it has yet to
 *   be applied to the month's rows (`customer_plan_changes`).
 * - `bill_line_thresholds`: per kept month and plan with a version in force, that least quantity
 *   (`'Infinity'`: a version that never costs that much); plan key `''` is the default plan's
 *   version, or `'Infinity'` when there is none (such projects pay nothing).
 * - `usage_month_rollup.line_at`: the threshold a row is counted against (null: not assigned yet).
 *   The insert trigger assigns it to the rows a statement inserts into a kept month, from the plan
 *   their customer is on; the app reassigns rows whose customer changed plan, and every row of a
 *   month whose thresholds changed. Not indexed: ingestion's updates stay HOT.
 * - `usage_month_lines`: per month (in shards, as usage_month_counts), how many rows have
 *   `quantity >= line_at` and how many have no `line_at`. Statement triggers on the rollup keep
 *   them from the rows each statement inserts or updates, whoever writes them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table bill_line_months (
      month          date primary key,
      decimals       integer not null,
      default_plan_id text not null,
      generation     integer not null default 1,
      passed         integer not null default 0,
      plans_seen_at  timestamptz not null
    )`.execute(db);
  await sql`
    create table bill_line_thresholds (
      month    date not null references bill_line_months (month),
      plan_key text not null,
      line_at  numeric not null,
      primary key (month, plan_key)
    )`.execute(db);
  await sql`alter table usage_month_rollup add column line_at numeric`.execute(db);
  await sql`
    create table usage_month_lines (
      month   date not null,
      shard   smallint not null,
      lines   bigint not null,
      unknown bigint not null,
      primary key (month, shard)
    )`.execute(db);
  await sql`
    insert into usage_month_lines (month, shard, lines, unknown)
    select month, 0, 0, count(*) from usage_month_rollup group by month`.execute(db);

  // The threshold of a plan in a kept month: its own version's, else the default's; null when the
  // month's counts are not kept. Called with plain columns, the planner inlines it.
  await sql`
    create function usage_line_at(p_month date, p_plan text) returns numeric
    language sql stable as $$
      select coalesce((select t.line_at from bill_line_thresholds t where t.month = p_month and t.plan_key = p_plan),
                      (select t.line_at from bill_line_thresholds t where t.month = p_month and t.plan_key = ''))
    $$`.execute(db);

  // Counts from a statement's rows: what the new rows hold less what the old ones held.
  await sql`
    create function usage_month_lines_moved() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        insert into usage_month_lines (month, shard, lines, unknown)
        select n.month, pg_backend_pid() % 8, count(*) filter (where n.quantity >= n.line_at), count(*) filter (where n.line_at is null)
        from new_rows n group by n.month order by n.month
        on conflict (month, shard) do update set lines = usage_month_lines.lines + excluded.lines,
                                                unknown = usage_month_lines.unknown + excluded.unknown;
      else
        insert into usage_month_lines (month, shard, lines, unknown)
        select x.month, pg_backend_pid() % 8, coalesce(sum(x.lines), 0), sum(x.unknown)
        from (select n.month, (n.quantity >= n.line_at)::int as lines, (n.line_at is null)::int as unknown from new_rows n
              union all
              select o.month, -(o.quantity >= o.line_at)::int, -(o.line_at is null)::int from old_rows o) x
        group by x.month
        having coalesce(sum(x.lines), 0) <> 0 or sum(x.unknown) <> 0
        order by x.month
        on conflict (month, shard) do update set lines = usage_month_lines.lines + excluded.lines,
                                                unknown = usage_month_lines.unknown + excluded.unknown;
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger usage_month_lines_inserted after insert on usage_month_rollup
    referencing new table as new_rows
    for each statement execute function usage_month_lines_moved()`.execute(db);
  await sql`
    create trigger usage_month_lines_updated after update on usage_month_rollup
    referencing old table as old_rows new table as new_rows
    for each statement execute function usage_month_lines_moved()`.execute(db);

  // The rows a statement inserts into a kept month get their threshold at once (ingestion inserts a
  // row once per project and month; its updates do not come here). Ingestion holds the month's
  // lock shared, so the plans read here are not being reconciled meanwhile (src/billing/line-counts.ts).
  // By key, month by month: the month's statistics may not know its rows yet (a month just begun),
  // and a join could be planned as a scan of the whole month.
  await sql`
    create function usage_month_rollup_assigned() returns trigger language plpgsql as $$
    declare
      m date;
    begin
      for m in select distinct n.month from new_rows n loop
        if exists (select 1 from bill_line_months b where b.month = m) then
          update usage_month_rollup r set line_at = t.line_at
          from (select n.project_id, (select usage_line_at(m, c.plan_id) from projects p join customers c on c.customer_id = p.customer_id
                                      where p.project_id = n.project_id) as line_at
                from new_rows n where n.month = m) t
          where r.month = m and r.project_id = any (array(select n.project_id from new_rows n where n.month = m))
            and r.project_id = t.project_id and r.line_at is distinct from t.line_at;
        end if;
      end loop;
      return null;
    end
    $$`.execute(db);
  // Named to fire after usage_month_lines_inserted (triggers fire in name order), so the insert is
  // counted before the assignment moves it.
  await sql`
    create trigger usage_month_rollup_zz_assigned after insert on usage_month_rollup
    referencing new table as new_rows
    for each statement execute function usage_month_rollup_assigned()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists usage_month_rollup_zz_assigned on usage_month_rollup`.execute(db);
  await sql`drop function if exists usage_month_rollup_assigned()`.execute(db);
  await sql`drop trigger if exists usage_month_lines_updated on usage_month_rollup`.execute(db);
  await sql`drop trigger if exists usage_month_lines_inserted on usage_month_rollup`.execute(db);
  await sql`drop function if exists usage_month_lines_moved()`.execute(db);
  await sql`drop function if exists usage_line_at(date, text)`.execute(db);
  await sql`drop table if exists usage_month_lines`.execute(db);
  await sql`alter table usage_month_rollup drop column if exists line_at`.execute(db);
  await sql`drop table if exists bill_line_thresholds`.execute(db);
  await sql`drop table if exists bill_line_months`.execute(db);
}
