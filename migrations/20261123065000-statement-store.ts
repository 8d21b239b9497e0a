import { sql, type Kysely } from 'kysely';

/**
 * The statement store fixes a whole day without copying its lines (src/statements/store.ts):
 *
 * - `usage_day_counts`: per UTC day, how many projects have a row in `usage_day_rollup` and the sum
 *   of their quantities. Ingestion keeps it in the statement that upserts the rollup (one small
 *   upsert per batch and day), so fixing a day reads its line count and total in a few rows.
 * - `statements.building`: the statement's count and totals are fixed, but its lines are still being
 *   numbered into `statement_blocks`, in projectId order, from frozen rows (the day's rollup, which
 *   no event touches once the day is reported). Whoever reads a line not numbered yet, or the
 *   background build of any instance, numbers it.
 * - `statement_corrections`: the late usage a statement carries, per project, taken when it is
 *   fixed, so lines numbered later add exactly what was taken.
 * - `customer_plan_changes`: the plan a customer had before each change of `plan_id`, stamped after
 *   the change waited for any statement being fixed (advisory lock 7305 shared; fixing takes it
 *   exclusive; see src/db/locks.ts, LOCK.PLAN_CHANGE). Lines numbered after a fix name the plan the
 *   customer had when the statement was fixed: the first change stamped after `fixed_at` tells it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // In a few shards per day (a batch writes the shard of its connection), so concurrent batches of
  // one day do not queue on one row until they commit; a day's count is the sum of its shards.
  await sql`
    create table usage_day_counts (
      day      date not null,
      shard    smallint not null,
      projects integer not null,
      quantity numeric not null,
      primary key (day, shard)
    )`.execute(db);
  await sql`
    insert into usage_day_counts (day, shard, projects, quantity)
    select day, 0, count(*), coalesce(sum(quantity), 0) from usage_day_rollup group by day`.execute(db);

  await sql`alter table statements add column building boolean not null default false`.execute(db);
  await sql`create index statements_building_idx on statements (id) where building`.execute(db);

  await sql`
    create table statement_corrections (
      statement_id bigint not null,
      project_id   bigint not null,
      quantity     numeric not null check (quantity > 0),
      primary key (statement_id, project_id)
    )`.execute(db);

  await sql`
    create table customer_plan_changes (
      customer_id text not null,
      -- the plan before the change
      plan_id     text not null,
      changed_at  timestamptz not null default clock_timestamp()
    )`.execute(db);
  await sql`create index customer_plan_changes_idx on customer_plan_changes (customer_id, changed_at)`.execute(db);
  await sql`
    create function customers_plan_change() returns trigger language plpgsql as $$
    begin
      if new.plan_id is distinct from old.plan_id then
        perform pg_advisory_xact_lock_shared(7305, 0);
        insert into customer_plan_changes (customer_id, plan_id, changed_at) values (old.customer_id, old.plan_id, clock_timestamp());
      end if;
      return new;
    end
    $$`.execute(db);
  await sql`
    create trigger customers_plan_change before update of plan_id on customers
    for each row execute function customers_plan_change()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists customers_plan_change on customers`.execute(db);
  await sql`drop function if exists customers_plan_change()`.execute(db);
  await sql`drop table if exists customer_plan_changes`.execute(db);
  await sql`drop table if exists statement_corrections`.execute(db);
  await sql`alter table statements drop column if exists building`.execute(db);
  await sql`drop table if exists usage_day_counts`.execute(db);
}
