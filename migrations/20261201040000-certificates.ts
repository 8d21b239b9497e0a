import { sql, type Kysely } from 'kysely';

/**
 * Signed license certificates (platform, agent, platform with unlimited agents), the platform and
 * agents they license, and license files (docs/certificates.md).
 *
 * `license_file_versions` holds one counter per scope ('c:<customerId>', 'p:<projectId>'), bumped
 * by statement-level triggers on every table a license file is made from, so a cached file is
 * reused exactly while nothing in it changed, on any instance. Activations are already counted by
 * `listing_counts.version` (migration 20261123070000): no trigger is added to the activation
 * statement; renewals (UPDATEs of licenses) bump the project's counter here.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table license_platforms (
      customer_id         text primary key references customers (customer_id),
      expires_at          timestamptz,
      permanent           boolean not null default false,
      unlimited_until     timestamptz,
      unlimited_permanent boolean not null default false
    )`.execute(db);
  await sql`
    create table license_agents (
      customer_id   text not null references customers (customer_id),
      agent_id      text not null check (length(agent_id) between 1 and 64),
      registered_at timestamptz not null,
      deleted_at    timestamptz,
      expires_at    timestamptz,
      permanent     boolean not null default false,
      unlimited     boolean not null default false,
      primary key (customer_id, agent_id)
    )`.execute(db);
  await sql`
    create table license_certificates (
      id            text primary key,
      customer_id   text not null references customers (customer_id),
      type          text not null check (type in ('platform', 'agent', 'platform-unlimited')),
      mode          text not null check (length(mode) between 1 and 32),
      validity_days integer check (validity_days is null or validity_days between 1 and 36500),
      package_id    text not null,
      registered_at timestamptz not null,
      agent_id      text,
      activated_at  timestamptz,
      starts_at     timestamptz,
      expires_at    timestamptz,
      foreign key (customer_id, agent_id) references license_agents (customer_id, agent_id),
      check ((type = 'agent') or agent_id is null)
    )`.execute(db);
  await sql`create index license_certificates_customer on license_certificates (customer_id, id)`.execute(db);
  await sql`
    create table license_file_tokens (
      project_id bigint primary key references projects (project_id),
      token      text not null,
      token_hash text not null unique,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table license_file_versions (
      scope   text primary key,
      version bigint not null default 0
    )`.execute(db);

  await sql`
    create function license_file_bump_customers() returns trigger language plpgsql as $$
    begin
      insert into license_file_versions as v (scope, version)
      select distinct 'c:' || customer_id, 1 from changed order by 1
      on conflict (scope) do update set version = v.version + 1;
      return null;
    end $$`.execute(db);
  for (const table of ['license_platforms', 'license_agents', 'license_certificates']) {
    for (const event of ['insert', 'update']) {
      await sql`
        create trigger ${sql.raw(`${table}_file_version_${event}`)} after ${sql.raw(event)} on ${sql.table(table)}
        referencing new table as changed for each statement execute function license_file_bump_customers()`.execute(db);
    }
  }
  await sql`
    create function license_file_bump_projects() returns trigger language plpgsql as $$
    begin
      insert into license_file_versions as v (scope, version)
      select distinct 'p:' || project_id, 1 from changed order by 1
      on conflict (scope) do update set version = v.version + 1;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger licenses_file_version_update after update on licenses
    referencing new table as changed for each statement execute function license_file_bump_projects()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists licenses_file_version_update on licenses`.execute(db);
  await sql`drop table if exists license_file_versions, license_file_tokens, license_certificates, license_agents, license_platforms`.execute(db);
  await sql`drop function if exists license_file_bump_projects()`.execute(db);
  await sql`drop function if exists license_file_bump_customers()`.execute(db);
}
