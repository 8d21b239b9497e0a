import { sql, type Kysely } from 'kysely';

/**
 * How many entries each project's whitelist holds, kept by statement-level triggers on
 * `license_pads`, so that a page of the whitelist answers its `count` by reading one row instead
 * of counting up to the whole list, and an upload can be held to the cap per project. The triggers
 * run in the writing statement's transaction: a count is never ahead of or behind what committed,
 * whoever writes (the API, a seed, a cascade). Concurrent writers of one project serialize on its
 * row for the rest of their transaction; each writes one statement, so that is short. `version`
 * changes with every write: a page boundary remembered for one version is valid only for it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table license_pad_counts (
      project_id bigint primary key,
      entries    bigint not null default 0 check (entries >= 0),
      version    bigint not null default 0
    )`.execute(db);
  await sql`
    insert into license_pad_counts (project_id, entries)
    select project_id, count(*) from license_pads group by project_id`.execute(db);
  await sql`
    create function license_pads_count_added() returns trigger language plpgsql as $$
    begin
      insert into license_pad_counts as c (project_id, entries, version)
      select project_id, count(*), 1 from added group by project_id order by project_id
      on conflict (project_id) do update set entries = c.entries + excluded.entries, version = c.version + 1;
      return null;
    end $$`.execute(db);
  await sql`
    create function license_pads_count_removed() returns trigger language plpgsql as $$
    begin
      update license_pad_counts c set entries = c.entries - r.n, version = c.version + 1
      from (select project_id, count(*) as n from removed group by project_id) r
      where c.project_id = r.project_id;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger license_pads_counted_insert after insert on license_pads
    referencing new table as added for each statement execute function license_pads_count_added()`.execute(db);
  await sql`
    create trigger license_pads_counted_delete after delete on license_pads
    referencing old table as removed for each statement execute function license_pads_count_removed()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists license_pads_counted_delete on license_pads`.execute(db);
  await sql`drop trigger if exists license_pads_counted_insert on license_pads`.execute(db);
  await sql`drop function if exists license_pads_count_removed()`.execute(db);
  await sql`drop function if exists license_pads_count_added()`.execute(db);
  await sql`drop table if exists license_pad_counts`.execute(db);
}
