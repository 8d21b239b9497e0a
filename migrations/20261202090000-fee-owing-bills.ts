import { sql, type Kysely } from 'kysely';

/**
 * Bills with monthly fees fixed in O(page) (src/billing/bill.service.ts `freezeFeeBill`):
 *
 * - A fee month's line count starts from the number of projects (`vendor_counts`, kept by the
 *   triggers of migration 20261201060000): every project owes the fee but a few, found by index.
 * - The moment each project and each deactivation row was recorded (`projects.recorded_at`,
 *   `deactivations.recorded_at`, `deactivations.reactivation_recorded_at`), taken after the
 *   plan-change lock shared (advisory 7305, LOCK.PLAN_CHANGE in src/db/locks.ts: keep the literal
 *   equal), which a fix holds exclusive from before it stamps `fixed_at`: a project created,
 *   deactivated or reactivated is either seen by the fix or recorded after `fixed_at`, so the lines
 *   numbered later, by any instance, count the projects and periods as the fix saw them. Rows older
 *   than this migration are '-infinity' (recorded before any fix that reads the stamps).
 * - `deactivations_project_start_idx`: the projects off a whole month (deactivated before it began),
 *   which owe no fee.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table projects add column recorded_at timestamptz not null default '-infinity'`.execute(db);
  await sql`alter table projects alter column recorded_at set default clock_timestamp()`.execute(db);
  await sql`alter table deactivations add column recorded_at timestamptz not null default '-infinity'`.execute(db);
  await sql`alter table deactivations alter column recorded_at set default clock_timestamp()`.execute(db);
  await sql`alter table deactivations add column reactivation_recorded_at timestamptz`.execute(db);
  await sql`update deactivations set reactivation_recorded_at = '-infinity' where reactivated_at is not null`.execute(db);
  await sql`create index deactivations_project_start_idx on deactivations (deactivated_at) where project_id is not null`.execute(db);

  // Before the statement's rows are made: their recorded_at defaults are evaluated after the lock.
  await sql`
    create function provisioning_waits_for_fix() returns trigger language plpgsql as $$
    begin
      perform pg_advisory_xact_lock_shared(7305, 0);
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger projects_wait_for_fix before insert or delete on projects
    for each statement execute function provisioning_waits_for_fix()`.execute(db);
  await sql`
    create trigger deactivations_wait_for_fix before insert or delete on deactivations
    for each statement execute function provisioning_waits_for_fix()`.execute(db);

  await sql`
    create function deactivation_reactivated() returns trigger language plpgsql as $$
    begin
      if new.reactivated_at is distinct from old.reactivated_at then
        perform pg_advisory_xact_lock_shared(7305, 0);
        new.reactivation_recorded_at := clock_timestamp();
      end if;
      return new;
    end
    $$`.execute(db);
  await sql`
    create trigger deactivations_reactivated before update of reactivated_at on deactivations
    for each row execute function deactivation_reactivated()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists deactivations_reactivated on deactivations`.execute(db);
  await sql`drop function if exists deactivation_reactivated()`.execute(db);
  await sql`drop trigger if exists deactivations_wait_for_fix on deactivations`.execute(db);
  await sql`drop trigger if exists projects_wait_for_fix on projects`.execute(db);
  await sql`drop function if exists provisioning_waits_for_fix()`.execute(db);
  await sql`drop index if exists deactivations_project_start_idx`.execute(db);
  await sql`alter table deactivations drop column if exists reactivation_recorded_at`.execute(db);
  await sql`alter table deactivations drop column if exists recorded_at`.execute(db);
  await sql`alter table projects drop column if exists recorded_at`.execute(db);
}
