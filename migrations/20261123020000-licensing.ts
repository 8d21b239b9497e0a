import { sql, type Kysely } from 'kysely';

/**
 * Licensing: the vendor's catalogue (SKUs and PIDs), the quota customers bought (purchases,
 * counted in pools), renewal orders, the licenses activated from them, and each project's
 * pre-authorization whitelist.
 *
 * Quota is a counter row, never a count of other rows: a pool row holds `capacity` and `used`, and
 * every change is one conditional UPDATE (`used < capacity`, `capacity - used >= n`), so any number
 * of concurrent requests, on one instance or several, can never take more than is there.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table license_skus (
      sku_id     text primary key,
      product    smallint not null check (product between 1 and 3),
      name       text not null,
      media_type smallint not null check (media_type between 1 and 3),
      minutes    integer check (minutes > 0),
      period     text check (period ~ '^([01][0-9]|2[0-3]):[0-5][0-9]~([01][0-9]|2[0-3]):[0-5][0-9]$'),
      created_at timestamptz not null default now()
    )`.execute(db);

  // One PID per SKU, category, type and validity: every purchase of the same adds to the same PID.
  await sql`
    create table license_pids (
      pid             text primary key,
      sku_id          text not null references license_skus (sku_id),
      category        text not null check (category in ('device', 'account')),
      type            text not null check (type in ('trial', 'commercial')),
      -- trial: in months, at least 3; commercial: in whole years, at least 1 (stored as months)
      validity_months integer not null check (
        (type = 'trial' and validity_months >= 3) or
        (type = 'commercial' and validity_months >= 12 and validity_months % 12 = 0)),
      created_at      timestamptz not null default now(),
      unique (sku_id, category, type, validity_months)
    )`.execute(db);

  // What was bought, for the record; the quota itself is counted in license_pools.
  await sql`
    create table license_purchases (
      id          bigserial primary key,
      -- the vendor's own order id: a repeated purchase with it adds nothing
      order_id    text unique,
      customer_id text not null references customers (customer_id),
      pid         text not null references license_pids (pid),
      count       integer not null check (count > 0),
      created_at  timestamptz not null default now()
    )`.execute(db);
  await sql`create index license_purchases_customer_idx on license_purchases (customer_id, id)`.execute(db);

  // A customer's quota of a PID: one shared row (project_id null: first come, first served among
  // all its projects) and one row per project it was allocated to (that project's alone).
  await sql`
    create table license_pools (
      customer_id text not null,
      pid         text not null,
      project_id  bigint,
      capacity    integer not null check (capacity >= 0),
      used        integer not null default 0 check (used >= 0 and used <= capacity),
      unique nulls not distinct (customer_id, pid, project_id)
    )`.execute(db);

  await sql`
    create table license_allocations (
      id          bigserial primary key,
      customer_id text not null,
      project_id  bigint not null,
      pid         text not null,
      count       integer not null check (count > 0),
      creator     text,
      created_at  timestamptz not null default now()
    )`.execute(db);
  await sql`create index license_allocations_project_idx on license_allocations (project_id, id)`.execute(db);

  // A renewal order: `capacity` renewals of one PID for one customer, each extending one license
  // by the PID's validity.
  await sql`
    create table license_renewals (
      renew_id    text primary key,
      customer_id text not null references customers (customer_id),
      pid         text not null references license_pids (pid),
      capacity    integer not null check (capacity > 0),
      used        integer not null default 0 check (used >= 0 and used <= capacity),
      created_at  timestamptz not null default now()
    )`.execute(db);
  await sql`create index license_renewals_customer_idx on license_renewals (customer_id, pid, created_at)`.execute(db);

  // Created without foreign keys; migrations/20261123050000-hardening.ts adds them (activation
  // checks the project and the PID before its transaction, not inside it, so only keys hold).
  await sql`
    create table licenses (
      id            bigserial primary key,
      license       text not null unique,
      customer_id   text not null,
      project_id    bigint not null,
      pid           text not null,
      license_key   text not null,
      activated_at  timestamptz not null,
      expires_at    timestamptz not null check (expires_at > activated_at),
      renew_times   integer not null default 0,
      last_renew_at timestamptz,
      -- one license per device (or account) and PID for a customer: a repeated activation finds it
      unique (customer_id, license_key, pid)
    )`.execute(db);
  // Agora's license query (latest / earliest expiry of a customer) reads one end of this index.
  await sql`create index licenses_customer_expiry_idx on licenses (customer_id, expires_at)`.execute(db);
  // Detail by licenseKey within a project, and the vendor's listing per project.
  await sql`create index licenses_project_key_idx on licenses (project_id, license_key)`.execute(db);
  // Expiring licenses of a project and PID.
  await sql`create index licenses_project_pid_expiry_idx on licenses (project_id, pid, expires_at)`.execute(db);

  await sql`
    create table license_renewal_log (
      id                  bigserial primary key,
      license_id          bigint not null,
      renew_id            text not null,
      previous_expires_at timestamptz not null,
      expires_at          timestamptz not null,
      renewed_at          timestamptz not null
    )`.execute(db);
  await sql`create index license_renewal_log_license_idx on license_renewal_log (license_id)`.execute(db);

  // Pre-authorization: the switch of each project (no row: off) and its whitelist.
  await sql`
    create table license_pad_settings (
      project_id bigint primary key,
      enabled    boolean not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table license_pads (
      id          bigserial primary key,
      project_id  bigint not null,
      customer_id text not null,
      license_key text not null,
      created_at  timestamptz not null default now(),
      unique (project_id, license_key)
    )`.execute(db);
  await sql`create index license_pads_project_idx on license_pads (project_id, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'license_pads',
    'license_pad_settings',
    'license_renewal_log',
    'licenses',
    'license_renewals',
    'license_allocations',
    'license_pools',
    'license_purchases',
    'license_pids',
    'license_skus',
  ]) {
    await sql`drop table if exists ${sql.table(t)}`.execute(db);
  }
}
