import { sql, type Kysely } from 'kysely';

/**
 * How many rows each listing holds per group of the filters its API offers, kept by
 * statement-level triggers in the writing transaction (like license_pad_counts): a page answers its
 * `count` by summing a few counter rows instead of `count(*)` over up to a million licenses.
 *
 * One table for the four listings, one row per listing and group:
 * - `licenses`: per customer, project and PID (`/v1/licenses?customerId&projectId&pid`);
 * - `allocations`: per customer, project and PID (`/dabiz/license/v2/product/allocations`);
 * - `purchases`, `renewals`: per customer and PID (`/v1/purchases`, `/v1/renewals`), project 0.
 * A filter's count is the sum over the rows it matches: a customer's or a project's rows are its
 * projects × PIDs, a handful. Activations of one customer, project and PID update one row, the same
 * ones that already take one quota row, so no writer waits on another it did not wait on before.
 *
 * `version` grows with every write to the group: the sum over a filter's rows changes whenever the
 * filtered list does (rows are never deleted, only set to 0), so a page boundary remembered for one
 * version is valid for exactly that list. The grouping columns of these tables are never updated
 * (a license keeps its customer, project and PID; renewal only moves its expiry), so inserts and
 * deletes are all the triggers need to see.
 */

const LISTINGS: { listing: string; table: string; customer: string; project: string }[] = [
  { listing: 'licenses', table: 'licenses', customer: 'customer_id', project: 'project_id' },
  { listing: 'allocations', table: 'license_allocations', customer: 'customer_id', project: 'project_id' },
  { listing: 'purchases', table: 'license_purchases', customer: 'customer_id', project: '0' },
  { listing: 'renewals', table: 'license_renewals', customer: 'customer_id', project: '0' },
];

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table listing_counts (
      listing     text not null,
      customer_id text not null,
      project_id  bigint not null,
      pid         text not null,
      n           bigint not null default 0 check (n >= 0),
      version     bigint not null default 0,
      primary key (listing, customer_id, project_id, pid)
    )`.execute(db);
  // A project's rows (the primary key serves a customer's).
  await sql`create index listing_counts_project_idx on listing_counts (listing, project_id)`.execute(db);

  for (const l of LISTINGS) {
    const [customer, project, lit] = [sql.raw(l.customer), sql.raw(`${l.project}::bigint`), sql.lit(l.listing)];
    await sql`
      insert into listing_counts (listing, customer_id, project_id, pid, n)
      select ${lit}, ${customer}, ${project}, pid, count(*) from ${sql.table(l.table)} group by 2, 3, 4`.execute(db);
    // Groups in key order, so two statements counting into the same rows lock them in one order.
    await sql`
      create function ${sql.raw(`${l.table}_count_added`)}() returns trigger language plpgsql as $$
      begin
        insert into listing_counts as c (listing, customer_id, project_id, pid, n, version)
        select ${lit}, ${customer}, ${project}, pid, count(*), 1 from added group by 2, 3, 4 order by 2, 3, 4
        on conflict (listing, customer_id, project_id, pid) do update set n = c.n + excluded.n, version = c.version + 1;
        return null;
      end $$`.execute(db);
    await sql`
      create function ${sql.raw(`${l.table}_count_removed`)}() returns trigger language plpgsql as $$
      begin
        update listing_counts c set n = c.n - r.n, version = c.version + 1
        from (select ${customer} as customer_id, ${project} as project_id, pid, count(*) as n from removed group by 1, 2, 3) r
        where c.listing = ${lit} and c.customer_id = r.customer_id and c.project_id = r.project_id and c.pid = r.pid;
        return null;
      end $$`.execute(db);
    await sql`
      create trigger ${sql.raw(`${l.table}_counted_insert`)} after insert on ${sql.table(l.table)}
      referencing new table as added for each statement execute function ${sql.raw(`${l.table}_count_added`)}()`.execute(db);
    await sql`
      create trigger ${sql.raw(`${l.table}_counted_delete`)} after delete on ${sql.table(l.table)}
      referencing old table as removed for each statement execute function ${sql.raw(`${l.table}_count_removed`)}()`.execute(db);
  }

  // Keyset pages need an index in each listing's order for each filter that is used: a page is then
  // a range read of `size` entries at any depth. Licenses per customer and per project in id order
  // (the existing indexes serve Agora's query and the detail, in other orders).
  await sql`create index licenses_customer_id_idx on licenses (customer_id, id)`.execute(db);
  await sql`create index licenses_project_id_idx on licenses (project_id, id)`.execute(db);
  await sql`create index license_allocations_project_pid_idx on license_allocations (project_id, pid, id)`.execute(db);
  await sql`create index license_purchases_pid_idx on license_purchases (pid, id)`.execute(db);
  await sql`create index license_purchases_customer_pid_idx on license_purchases (customer_id, pid, id)`.execute(db);
  await sql`create index license_renewals_order_idx on license_renewals (created_at, renew_id)`.execute(db);
  await sql`create index license_renewals_customer_order_idx on license_renewals (customer_id, created_at, renew_id)`.execute(db);
  await sql`create index license_renewals_pid_order_idx on license_renewals (pid, created_at, renew_id)`.execute(db);
  await sql`create index license_renewals_customer_pid_order_idx on license_renewals (customer_id, pid, created_at, renew_id)`.execute(db);
}

const INDEXES = [
  'licenses_customer_id_idx',
  'licenses_project_id_idx',
  'license_allocations_project_pid_idx',
  'license_purchases_pid_idx',
  'license_purchases_customer_pid_idx',
  'license_renewals_order_idx',
  'license_renewals_customer_order_idx',
  'license_renewals_pid_order_idx',
  'license_renewals_customer_pid_order_idx',
];

export async function down(db: Kysely<any>): Promise<void> {
  for (const i of INDEXES) await sql`drop index if exists ${sql.raw(i)}`.execute(db);
  for (const l of LISTINGS) {
    await sql`drop trigger if exists ${sql.raw(`${l.table}_counted_delete`)} on ${sql.table(l.table)}`.execute(db);
    await sql`drop trigger if exists ${sql.raw(`${l.table}_counted_insert`)} on ${sql.table(l.table)}`.execute(db);
    await sql`drop function if exists ${sql.raw(`${l.table}_count_removed`)}()`.execute(db);
    await sql`drop function if exists ${sql.raw(`${l.table}_count_added`)}()`.execute(db);
  }
  await sql`drop table if exists listing_counts`.execute(db);
}
