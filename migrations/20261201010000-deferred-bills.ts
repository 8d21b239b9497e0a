import { sql, type Kysely } from 'kysely';

/**
 * A bill fixed in O(page) (src/billing/bill.service.ts, `freezeBill`):
 *
 * - `usage_month_counts`: per month, how many projects have a row in `usage_month_rollup`. Kept by
 *   a statement trigger on the rollup (rows inserted, never updated or deleted), in the shard of
 *   the connection so concurrent batches do not queue on one row; a month's count is the sum of
 *   its shards. The trigger runs after the statement's rollup rows are written, so the counter rows
 *   are locked last, as ingestion's global lock order wants. Ingestion's SQL is not changed.
 * - `usage_month_rollup_quantity_idx` (month, quantity): the few projects of a month whose usage is
 *   too small to be sure to cost at least half a cent (they are priced exactly at the fix).
 * - `projects_created_idx`: whether any project was created before a month's end (a monthly fee
 *   can be owed only then). `customers_plan_idx`: the plans customers are on (a few index probes),
 *   when the default plan has no version to price the others with.
 * - `statements.bill_pricing`: what a deferred bill's lines are priced with, frozen at the fix (the
 *   versions in force for the month, the default plan's version, BILL_DECIMALS), so lines numbered
 *   later, by any instance, whatever its configuration, price as the fix did; `bill_skips`: how
 *   many candidate projects (rollup rows, corrections) the fix found to round to 0, which bounds
 *   how far past `count` lines a chunk reads.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table usage_month_counts (
      month    date not null,
      shard    smallint not null,
      projects integer not null,
      primary key (month, shard)
    )`.execute(db);
  await sql`
    insert into usage_month_counts (month, shard, projects)
    select month, 0, count(*) from usage_month_rollup group by month`.execute(db);
  await sql`
    create function usage_month_rollup_counted() returns trigger language plpgsql as $$
    begin
      insert into usage_month_counts (month, shard, projects)
      select month, pg_backend_pid() % 8, count(*) from new_rows group by month order by month
      on conflict (month, shard) do update set projects = usage_month_counts.projects + excluded.projects;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger usage_month_rollup_counted after insert on usage_month_rollup
    referencing new table as new_rows
    for each statement execute function usage_month_rollup_counted()`.execute(db);
  await sql`
    create function usage_month_rollup_not_removed() returns trigger language plpgsql as $$
    begin
      raise exception 'usage_month_rollup rows are never deleted (usage_month_counts counts them)';
    end
    $$`.execute(db);
  await sql`
    create trigger usage_month_rollup_not_removed before delete on usage_month_rollup
    for each row execute function usage_month_rollup_not_removed()`.execute(db);

  await sql`create index usage_month_rollup_quantity_idx on usage_month_rollup (month, quantity)`.execute(db);
  await sql`create index projects_created_idx on projects (created_at)`.execute(db);
  await sql`create index customers_plan_idx on customers (plan_id)`.execute(db);
  await sql`alter table statements add column bill_pricing jsonb`.execute(db);
  await sql`alter table statements add column bill_skips integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table statements drop column if exists bill_skips`.execute(db);
  await sql`alter table statements drop column if exists bill_pricing`.execute(db);
  await sql`drop index if exists customers_plan_idx`.execute(db);
  await sql`drop index if exists projects_created_idx`.execute(db);
  await sql`drop index if exists usage_month_rollup_quantity_idx`.execute(db);
  await sql`drop trigger if exists usage_month_rollup_not_removed on usage_month_rollup`.execute(db);
  await sql`drop function if exists usage_month_rollup_not_removed()`.execute(db);
  await sql`drop trigger if exists usage_month_rollup_counted on usage_month_rollup`.execute(db);
  await sql`drop function if exists usage_month_rollup_counted()`.execute(db);
  await sql`drop table if exists usage_month_counts`.execute(db);
}
