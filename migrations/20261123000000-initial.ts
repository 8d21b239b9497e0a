import { sql, type Kysely } from 'kysely';

/**
 * Customers and projects from Agora's provisioning calls, usage events with their per-day rollup,
 * and the statements (what Agora was told) with their lines.
 *
 * Amounts and quantities are `numeric` without a fixed scale: exact, whatever the caller sent.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table customers (
      customer_id    text primary key,
      plan_id        text not null,
      customer_name  text,
      customer_email text,
      customer_phone text,
      created_at     timestamptz not null default now(),
      updated_at     timestamptz not null default now(),
      deactivated_at timestamptz
    )`.execute(db);

  await sql`
    create table projects (
      project_id     bigint primary key,
      customer_id    text not null references customers (customer_id),
      app_key        text not null unique,
      app_secret     text not null,
      created_at     timestamptz not null default now(),
      deactivated_at timestamptz
    )`.execute(db);
  await sql`create index projects_customer_idx on projects (customer_id)`.execute(db);

  // Every time a customer or a project stopped and (maybe) came back. Kept for good: usage dated
  // inside a period is refused, usage outside it is reported and billed.
  await sql`
    create table deactivations (
      id             bigserial primary key,
      customer_id    text not null,
      -- null: the customer as a whole
      project_id     bigint,
      deactivated_at timestamptz not null,
      reactivated_at timestamptz
    )`.execute(db);
  await sql`create index deactivations_project_idx on deactivations (project_id) where project_id is not null`.execute(db);
  await sql`create index deactivations_customer_idx on deactivations (customer_id)`.execute(db);

  await sql`
    create table statements (
      id                bigserial primary key,
      kind              text not null check (kind in ('usage', 'bill')),
      window_start      timestamptz not null,
      -- exclusive: toTs + 1 second, because Agora's toTs is inclusive to the second
      window_end        timestamptz not null check (window_end > window_start),
      fixed_at          timestamptz not null default clock_timestamp(),
      line_count        integer not null default 0,
      total_amount      numeric not null default 0,
      correction_amount numeric not null default 0,
      -- the unit word of the descriptions, fixed with the statement
      unit              text not null,
      unique (kind, window_start, window_end)
    )`.execute(db);

  // A statement's lines in blocks of 100, in projectId order: line n is element (n-1) % 100 of
  // block (n-1) / 100. A page reads one or a few blocks by key, so its cost does not depend on its
  // depth, and fixing a 100,000-line statement writes 1,000 rows instead of 100,000.
  await sql`
    create table statement_blocks (
      -- no foreign key: blocks are written only with their statement, in its transaction
      statement_id bigint not null,
      block_no     integer not null,
      project_ids  bigint[] not null,
      plan_ids     text[] not null,
      amounts      numeric[] not null,
      corrections  numeric[] not null,
      primary key (statement_id, block_no)
    )`.execute(db);

  await sql`
    create table usage_events (
      id           text primary key,
      -- checked by ingestion in the same transaction (projects are never deleted); no foreign
      -- key, whose per-row check would slow every batch
      project_id   bigint not null,
      quantity     numeric not null check (quantity > 0),
      occurred_at  timestamptz not null,
      description  text,
      received_at  timestamptz not null default clock_timestamp(),
      -- true when the event's moment was already inside a reported window when it arrived:
      -- it is then carried into the next statement as a correction
      late         boolean not null,
      -- for a late event, the statement that carried it (null while it waits). An event on time is
      -- reported by the first statement whose window holds its moment; that needs no mark.
      statement_id bigint
    )`.execute(db);
  // Windows shorter than a day sum their events straight from this index.
  await sql`create index usage_events_time_idx on usage_events (occurred_at) include (project_id, quantity) where not late`.execute(db);
  await sql`create index usage_events_pending_correction_idx on usage_events (project_id) where statement_id is null and late`.execute(db);
  await sql`create index usage_events_statement_idx on usage_events (statement_id) where statement_id is not null`.execute(db);

  // Usage on time per project and UTC day, maintained as events arrive, so the first page of a
  // whole day reads one row per project instead of a day of events.
  await sql`
    create table usage_day_rollup (
      day        date not null,
      project_id bigint not null,
      quantity   numeric not null,
      primary key (day, project_id)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['usage_day_rollup', 'usage_events', 'statement_blocks', 'statements', 'deactivations', 'projects', 'customers']) {
    await sql`drop table if exists ${sql.table(t)}`.execute(db);
  }
}
