import { sql, type Kysely } from 'kysely';

/**
 * What reconciliation needs to cost O(page) instead of a scan of a month's raw events
 * (src/billing/reconciliation.repository.ts):
 * - `reconciliation_month_counts`: per month, the quantity of every event stored (`ingested`) and
 *   of those not late for the month's bill (`billable`, what `usage_month_rollup` should hold).
 *   Kept by a statement trigger on `usage_events` (inserted rows only: events are never updated in
 *   quantity, moment or lateness, nor deleted), in the shard of the connection so concurrent
 *   batches do not queue on one row; a month's figure is the sum of its shards. It is the month's
 *   totals' "ingested" counted from the events themselves, apart from the rollups ingestion writes,
 *   so the totals still compare two sources. The trigger runs after the statement's rows (events,
 *   rollups, day counts) are written, so its counter rows are locked last, as ingestion's global
 *   lock order wants; `usage_ingest` and `usage_insert_events` are not changed.
 * - `usage_events_late_idx` (occurred_at) for late and bill-late events only (few: events that came
 *   after their window or month was reported): the month's late usage, carried or not, without
 *   reading its on-time events. On-time events never enter it, so ingestion of on-time usage pays
 *   only the predicate.
 * - `statement_blocks_first_project_idx` (statement_id, first projectId of the block): the block
 *   holding a given project in a statement (blocks are in projectId order), so a page of projects
 *   reads a few blocks per statement instead of all of them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table reconciliation_month_counts (
      month    date not null,
      shard    smallint not null,
      ingested numeric not null,
      billable numeric not null,
      primary key (month, shard)
    )`.execute(db);
  // The backfill reads every event once; not in parallel workers, which may not see the schema a
  // migration runs in (created in the same transaction, as the tests' schemas are).
  await sql`set local max_parallel_workers_per_gather = 0`.execute(db);
  await sql`
    insert into reconciliation_month_counts (month, shard, ingested, billable)
    select date_trunc('month', occurred_at at time zone 'UTC')::date, 0, sum(quantity),
           coalesce(sum(quantity) filter (where not bill_late), 0)
    from usage_events group by 1`.execute(db);
  await sql`
    create function usage_events_reconciled() returns trigger language plpgsql as $$
    begin
      insert into reconciliation_month_counts (month, shard, ingested, billable)
      select date_trunc('month', occurred_at at time zone 'UTC')::date, pg_backend_pid() % 8, sum(quantity),
             coalesce(sum(quantity) filter (where not bill_late), 0)
      from new_rows group by 1 order by 1
      on conflict (month, shard) do update set ingested = reconciliation_month_counts.ingested + excluded.ingested,
                                              billable = reconciliation_month_counts.billable + excluded.billable;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger usage_events_reconciled after insert on usage_events
    referencing new table as new_rows
    for each statement execute function usage_events_reconciled()`.execute(db);
  await sql`
    create function usage_events_kept() returns trigger language plpgsql as $$
    begin
      raise exception 'usage_events rows are never deleted, nor changed in quantity, moment or lateness (reconciliation_month_counts counts them)';
    end
    $$`.execute(db);
  await sql`
    create trigger usage_events_kept before delete or update of quantity, occurred_at, late, bill_late on usage_events
    for each row execute function usage_events_kept()`.execute(db);
  await sql`create index usage_events_late_idx on usage_events (occurred_at) where late or bill_late`.execute(db);
  await sql`create index statement_blocks_first_project_idx on statement_blocks (statement_id, (project_ids[1]))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists statement_blocks_first_project_idx`.execute(db);
  await sql`drop index if exists usage_events_late_idx`.execute(db);
  await sql`drop trigger if exists usage_events_kept on usage_events`.execute(db);
  await sql`drop function if exists usage_events_kept()`.execute(db);
  await sql`drop trigger if exists usage_events_reconciled on usage_events`.execute(db);
  await sql`drop function if exists usage_events_reconciled()`.execute(db);
  await sql`drop table if exists reconciliation_month_counts`.execute(db);
}
