import { sql, type Kysely } from 'kysely';

/**
 * The delivery claim caps the deliveries in flight per endpoint (src/notifications/worker.ts
 * `claimDue`): it walks each enabled endpoint's due deliveries in order (`…_endpoint_due`, a few
 * rows per endpoint whatever its backlog) and counts the ones leased now (`…_leased`: only rows
 * with a lease, which recording an attempt clears, so a handful).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index webhook_deliveries_endpoint_due on webhook_deliveries (endpoint_id, next_attempt_at, id) where status = 'pending'`.execute(db);
  await sql`create index webhook_deliveries_leased on webhook_deliveries (endpoint_id) where locked_until is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists webhook_deliveries_leased`.execute(db);
  await sql`drop index if exists webhook_deliveries_endpoint_due`.execute(db);
}
