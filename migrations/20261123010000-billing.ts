import { sql, type Kysely } from 'kysely';

/**
 * Plans with versioned graduated prices, the month rollup that prices a month without reading a
 * month of events, and what each bill carried for usage that arrived after its month was billed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table plans (
      plan_id    text primary key,
      name       text,
      created_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table plan_versions (
      id              bigserial primary key,
      plan_id         text not null references plans (plan_id),
      -- the first day of the first month this version prices
      effective_month date not null check (extract(day from effective_month) = 1),
      currency        text not null,
      usage_unit      text not null,
      monthly_fee     numeric not null default 0 check (monthly_fee >= 0),
      created_at      timestamptz not null default now(),
      unique (plan_id, effective_month)
    )`.execute(db);

  // Graduated tiers: a quantity q pays unit_price for the part of q above from_qty and up to up_to.
  await sql`
    create table plan_tiers (
      plan_version_id bigint not null references plan_versions (id) on delete cascade,
      tier_no         integer not null,
      from_qty        numeric not null check (from_qty >= 0),
      up_to           numeric check (up_to > from_qty),
      unit_price      numeric not null check (unit_price >= 0),
      primary key (plan_version_id, tier_no)
    )`.execute(db);

  // The price of quantity q under a version's tiers; used for the few corrections of a bill (the
  // lines of a whole month are priced by a join, not a call per project).
  await sql`
    create function tiered_price(version_id bigint, q numeric) returns numeric
    language sql stable as $$
      select coalesce(sum((least(q, coalesce(t.up_to, q)) - t.from_qty) * t.unit_price), 0)
      from plan_tiers t where t.plan_version_id = version_id and t.from_qty < q
    $$`.execute(db);

  // Usage on time for its month's bill, per month and project, kept as events arrive.
  await sql`
    create table usage_month_rollup (
      month      date not null,
      project_id bigint not null,
      quantity   numeric not null,
      primary key (month, project_id)
    )`.execute(db);

  // bill_late: the event's month was already billed when it arrived; it is then carried into the
  // next bill fixed (bill_statement_id) as a correction priced with its own month's plan.
  await sql`alter table usage_events add column bill_late boolean not null default false`.execute(db);
  await sql`alter table usage_events add column bill_statement_id bigint`.execute(db);
  await sql`create index usage_events_pending_bill_idx on usage_events (project_id) where bill_late and bill_statement_id is null`.execute(db);

  // One row per (bill, project, month of the usage) carried as a correction.
  await sql`
    create table bill_corrections (
      bill_statement_id bigint not null,
      project_id        bigint not null,
      month             date not null,
      plan_version_id   bigint,
      quantity          numeric not null,
      amount            numeric not null,
      primary key (bill_statement_id, project_id, month)
    )`.execute(db);
  await sql`create index bill_corrections_month_idx on bill_corrections (month, project_id)`.execute(db);

  // Bill lines keep what their description shows: the quantity priced, the version, the fee.
  await sql`alter table statement_blocks add column quantities numeric[]`.execute(db);
  await sql`alter table statement_blocks add column version_ids bigint[]`.execute(db);
  await sql`alter table statement_blocks add column fees numeric[]`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table statement_blocks drop column quantities, drop column version_ids, drop column fees`.execute(db);
  await sql`drop table bill_corrections`.execute(db);
  await sql`alter table usage_events drop column bill_late, drop column bill_statement_id`.execute(db);
  await sql`drop table usage_month_rollup`.execute(db);
  await sql`drop function tiered_price(bigint, numeric)`.execute(db);
  await sql`drop table plan_tiers`.execute(db);
  await sql`drop table plan_versions`.execute(db);
  await sql`drop table plans`.execute(db);
}
