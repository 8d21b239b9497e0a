import { sql, type Kysely } from 'kysely';

/**
 * What the vendor console reads (issue 14): listings of customers and projects, a project's
 * events by time, daily totals by project, and the log of what Agora asked.
 *
 * - `vendor_counts`: customers and projects by status, so a listing's `count` is a few counter rows
 *   rather than `count(*)` over 100,000 projects. Sharded by connection (like usage_day_counts) so
 *   concurrent provisioning calls do not queue on one row; a count is the sum of its shards.
 * - `customer_project_counts`: a customer's projects and active projects (a page of customers
 *   answers each one's `projectCount` by key; `/v1/projects?customerId` its `count`).
 * Both are kept by statement-level triggers in the writing transaction, like listing_counts. The
 * provisioning writes that fire them already serialize per customer (an advisory lock), and take
 * the counter rows in one order: customers' before projects'.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table vendor_counts (
      name  text not null,
      shard int not null,
      n     bigint not null default 0,
      primary key (name, shard)
    )`.execute(db);
  await sql`
    create table customer_project_counts (
      customer_id text primary key,
      projects    bigint not null default 0,
      active      bigint not null default 0
    )`.execute(db);

  await sql`
    insert into vendor_counts (name, shard, n)
    select case when deactivated_at is null then 'customers:active' else 'customers:deactivated' end, 0, count(*) from customers group by 1`.execute(db);
  await sql`
    insert into vendor_counts (name, shard, n)
    select case when deactivated_at is null then 'projects:active' else 'projects:deactivated' end, 0, count(*) from projects group by 1`.execute(db);
  await sql`
    insert into customer_project_counts (customer_id, projects, active)
    select customer_id, count(*), count(*) filter (where deactivated_at is null) from projects group by 1`.execute(db);

  // One function per table and event: `d` is +1 for each row in `added`, -1 for each in
  // `removed` (an update has both: the row as it was and as it is, so an unchanged status nets 0).

  for (const [event, tables, rows] of [
    ['insert', 'referencing new table as added', 'select deactivated_at, 1 as d from added'],
    ['update', 'referencing old table as removed new table as added', 'select deactivated_at, 1 as d from added union all select deactivated_at, -1 from removed'],
    ['delete', 'referencing old table as removed', 'select deactivated_at, -1 as d from removed'],
  ] as const) {
    await sql`
      create function ${sql.raw(`customers_counted_${event}`)}() returns trigger language plpgsql as $$
      begin
        insert into vendor_counts as c (name, shard, n)
        select name, pg_backend_pid() % 8, n from (
          select case when deactivated_at is null then 'customers:active' else 'customers:deactivated' end as name, sum(d) as n
          from (${sql.raw(rows)}) r group by 1
        ) x where n <> 0 order by name
        on conflict (name, shard) do update set n = c.n + excluded.n;
        return null;
      end $$`.execute(db);
    await sql`
      create trigger ${sql.raw(`customers_counted_${event}`)} after ${sql.raw(event)} on customers
      ${sql.raw(tables)} for each statement execute function ${sql.raw(`customers_counted_${event}`)}()`.execute(db);

    const projectRows = rows.replaceAll('deactivated_at', 'customer_id, deactivated_at');
    await sql`
      create function ${sql.raw(`projects_counted_${event}`)}() returns trigger language plpgsql as $$
      begin
        insert into customer_project_counts as c (customer_id, projects, active)
        select customer_id, projects, active from (
          select customer_id, sum(d) as projects, coalesce(sum(d) filter (where deactivated_at is null), 0) as active
          from (${sql.raw(projectRows)}) r group by 1
        ) x where projects <> 0 or active <> 0 order by customer_id
        on conflict (customer_id) do update set projects = c.projects + excluded.projects, active = c.active + excluded.active;
        insert into vendor_counts as c (name, shard, n)
        select name, pg_backend_pid() % 8, n from (
          select case when deactivated_at is null then 'projects:active' else 'projects:deactivated' end as name, sum(d) as n
          from (${sql.raw(rows)}) r group by 1
        ) x where n <> 0 order by name
        on conflict (name, shard) do update set n = c.n + excluded.n;
        return null;
      end $$`.execute(db);
    await sql`
      create trigger ${sql.raw(`projects_counted_${event}`)} after ${sql.raw(event)} on projects
      ${sql.raw(tables)} for each statement execute function ${sql.raw(`projects_counted_${event}`)}()`.execute(db);
  }

  // Keyset pages: a customer's projects in projectId order; the few deactivated rows among many.
  await sql`create index projects_customer_project_idx on projects (customer_id, project_id)`.execute(db);
  await sql`create index projects_deactivated_idx on projects (project_id) where deactivated_at is not null`.execute(db);
  await sql`create index customers_deactivated_idx on customers (customer_id) where deactivated_at is not null`.execute(db);
  // A project's events by time, and a project's days (the rollup's key starts with the day). No
  // included quantity: the rollup's updates stay HOT.
  await sql`create index usage_events_project_time_idx on usage_events (project_id, occurred_at, id)`.execute(db);
  await sql`create index usage_day_rollup_project_idx on usage_day_rollup (project_id, day)`.execute(db);

  // What Agora asked: written in batches off the request path (src/agora-log/).
  await sql`
    create table agora_requests (
      id          bigserial primary key,
      at          timestamptz not null,
      kind        text not null,
      method      text not null,
      path        text not null,
      from_ts     bigint,
      to_ts       bigint,
      page_num    bigint,
      page_limit  bigint,
      customer_id text,
      api_key_id  text,
      status      int not null,
      duration_ms numeric not null,
      error_code  text
    )`.execute(db);
  await sql`create index agora_requests_at_idx on agora_requests (at, id)`.execute(db);
  await sql`create index agora_requests_path_idx on agora_requests (path, at, id)`.execute(db);
  await sql`create index agora_requests_status_idx on agora_requests (status, at, id)`.execute(db);
  await sql`create index agora_requests_kind_idx on agora_requests (kind, at, id)`.execute(db);
  await sql`create index agora_requests_kind_ok_idx on agora_requests (kind, at, id) where status < 400`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists agora_requests`.execute(db);
  for (const i of ['usage_day_rollup_project_idx', 'usage_events_project_time_idx', 'customers_deactivated_idx', 'projects_deactivated_idx', 'projects_customer_project_idx']) {
    await sql`drop index if exists ${sql.raw(i)}`.execute(db);
  }
  for (const event of ['insert', 'update', 'delete']) {
    await sql`drop trigger if exists ${sql.raw(`projects_counted_${event}`)} on projects`.execute(db);
    await sql`drop function if exists ${sql.raw(`projects_counted_${event}`)}()`.execute(db);
    await sql`drop trigger if exists ${sql.raw(`customers_counted_${event}`)} on customers`.execute(db);
    await sql`drop function if exists ${sql.raw(`customers_counted_${event}`)}()`.execute(db);
  }
  await sql`drop table if exists customer_project_counts`.execute(db);
  await sql`drop table if exists vendor_counts`.execute(db);
}
