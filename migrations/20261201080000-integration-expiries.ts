import { sql, type Kysely } from 'kysely';

/**
 * Issue 12–14 integration: reminders of platforms, agents and Agora grants, and grants in the
 * license file.
 *
 * - The reminder scan (src/notifications/reminders.ts) reads each kind by its expiry: one index
 *   each. Permanent platforms and deleted agents are never reminded of: left out of the index.
 *   `license_grants_customer_end` (customer_id, ends_at) does not serve a scan across customers.
 * - A grant is listed by the customer's license files: inserting one bumps the customer's
 *   license_file_versions counter ('c:<customerId>') with the existing trigger function, in the
 *   grant's own transaction, so every instance's cached file is made again on its next request.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index license_platforms_expiry_idx on license_platforms (expires_at) where not permanent`.execute(db);
  await sql`create index license_agents_expiry_idx on license_agents (expires_at) where not permanent and deleted_at is null`.execute(db);
  await sql`create index license_grants_end_idx on license_grants (ends_at)`.execute(db);
  await sql`
    create trigger license_grants_file_version_insert after insert on license_grants
    referencing new table as changed for each statement execute function license_file_bump_customers()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists license_grants_file_version_insert on license_grants`.execute(db);
  await sql`drop index if exists license_grants_end_idx`.execute(db);
  await sql`drop index if exists license_agents_expiry_idx`.execute(db);
  await sql`drop index if exists license_platforms_expiry_idx`.execute(db);
}
