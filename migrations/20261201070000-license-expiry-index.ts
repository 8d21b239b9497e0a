import { sql, type Kysely } from 'kysely';

/**
 * Licenses by expiry across every customer: the vendor console's "expiring within 45 days" (and
 * `GET /v1/licenses/expiring` without a customer) reads this index from now on, soonest first,
 * instead of every license. One customer's expiring licenses already have
 * `licenses_customer_expiry_idx`. The reminders' scan (20261201050000-notifications) made
 * `licenses_expiry_idx` on `(expires_at)` alone; `(expires_at, id)` serves it as well, so it takes
 * its place rather than standing beside it (each index costs every activation and renewal).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists licenses_expiry_idx`.execute(db);
  await sql`create index licenses_expiry_idx on licenses (expires_at, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index licenses_expiry_idx`.execute(db);
  await sql`create index licenses_expiry_idx on licenses (expires_at)`.execute(db);
}
