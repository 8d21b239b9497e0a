import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import { LOCK, lockExclusiveText } from '../db/locks.ts';
import type { CertificateType, DB, LicenseAgentRow, LicenseCertificateRow, LicensePlatformRow } from '../db/schema.ts';

/** Every certificate write of one customer holds this lock: stacking reads an expiry, then writes it. */
export async function lockCustomerCertificates(trx: Transaction<DB>, customerId: string): Promise<void> {
  await lockExclusiveText(trx, LOCK.CERTIFICATES, customerId);
}

export async function existingOwners(db: Db, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await sql<{ id: string; customer_id: string }>`
    select id, customer_id from license_certificates where id = any(${ids}::text[])`.execute(db);
  return new Map(rows.map((r) => [r.id, r.customer_id]));
}

export interface NewCertificateRow {
  id: string;
  type: CertificateType;
  mode: string;
  validityDays: number | null;
  activatedAt: Date | null;
  startsAt: Date | null;
  expiresAt: Date | null;
}

/** Every new certificate in one statement (arrays through unnest), whatever their number. */
export async function insertCertificates(trx: Transaction<DB>, customerId: string, packageId: string, now: Date, rows: NewCertificateRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const iso = (d: Date | null) => (d === null ? null : d.toISOString());
  const result = await sql`
    insert into license_certificates (id, customer_id, type, mode, validity_days, package_id, registered_at, activated_at, starts_at, expires_at)
    select u.id, ${customerId}, u.type, u.mode, u.validity_days, ${packageId}, ${now.toISOString()}::timestamptz, u.activated_at, u.starts_at, u.expires_at
    from unnest(
      ${rows.map((r) => r.id)}::text[],
      ${rows.map((r) => r.type)}::text[],
      ${rows.map((r) => r.mode)}::text[],
      ${rows.map((r) => r.validityDays)}::int[],
      ${rows.map((r) => iso(r.activatedAt))}::timestamptz[],
      ${rows.map((r) => iso(r.startsAt))}::timestamptz[],
      ${rows.map((r) => iso(r.expiresAt))}::timestamptz[]) as u(id, type, mode, validity_days, activated_at, starts_at, expires_at)
    on conflict (id) do nothing`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

export async function findPlatform(db: Db, customerId: string): Promise<LicensePlatformRow | undefined> {
  return db.selectFrom('license_platforms').selectAll().where('customer_id', '=', customerId).executeTakeFirst();
}

export async function savePlatform(trx: Transaction<DB>, p: LicensePlatformRow): Promise<void> {
  await trx
    .insertInto('license_platforms')
    .values(p)
    .onConflict((oc) =>
      oc.column('customer_id').doUpdateSet({ expires_at: p.expires_at, permanent: p.permanent, unlimited_until: p.unlimited_until, unlimited_permanent: p.unlimited_permanent }),
    )
    .execute();
}

/** Agents that exist when a platform-unlimited certificate activates are covered too (docs/certificates.md). */
export async function coverAgentsUnlimited(trx: Transaction<DB>, customerId: string): Promise<void> {
  await trx.updateTable('license_agents').set({ unlimited: true }).where('customer_id', '=', customerId).where('deleted_at', 'is', null).where('unlimited', '=', false).execute();
}

export async function findAgent(db: Db, customerId: string, agentId: string): Promise<LicenseAgentRow | undefined> {
  return db.selectFrom('license_agents').selectAll().where('customer_id', '=', customerId).where('agent_id', '=', agentId).executeTakeFirst();
}

export async function insertAgent(trx: Transaction<DB>, row: LicenseAgentRow): Promise<void> {
  await trx.insertInto('license_agents').values(row).execute();
}

export async function markAgentDeleted(trx: Transaction<DB>, customerId: string, agentId: string, now: Date): Promise<void> {
  await trx.updateTable('license_agents').set({ deleted_at: now }).where('customer_id', '=', customerId).where('agent_id', '=', agentId).where('deleted_at', 'is', null).execute();
}

export async function setAgentExpiry(trx: Transaction<DB>, customerId: string, agentId: string, expiresAt: Date | null, permanent: boolean): Promise<void> {
  await trx.updateTable('license_agents').set({ expires_at: expiresAt, permanent }).where('customer_id', '=', customerId).where('agent_id', '=', agentId).execute();
}

export async function findCertificate(db: Db, customerId: string, id: string): Promise<LicenseCertificateRow | undefined> {
  return db.selectFrom('license_certificates').selectAll().where('id', '=', id).where('customer_id', '=', customerId).executeTakeFirst();
}

/** Binds an unbound certificate; 0 rows when it was bound meanwhile (the lock makes that impossible, the condition makes it certain). */
export async function bindCertificate(
  trx: Transaction<DB>,
  id: string,
  agentId: string,
  activatedAt: Date,
  startsAt: Date,
  expiresAt: Date | null,
): Promise<number> {
  const r = await trx
    .updateTable('license_certificates')
    .set({ agent_id: agentId, activated_at: activatedAt, starts_at: startsAt, expires_at: expiresAt })
    .where('id', '=', id)
    .where('agent_id', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export type CertificateListRow = LicenseCertificateRow & { agent_deleted_at: Date | null };

export async function listCertificates(db: Db, customerId: string, after: string | undefined, size: number): Promise<CertificateListRow[]> {
  let q = db
    .selectFrom('license_certificates as c')
    .leftJoin('license_agents as a', (j) => j.onRef('a.customer_id', '=', 'c.customer_id').onRef('a.agent_id', '=', 'c.agent_id'))
    .selectAll('c')
    .select('a.deleted_at as agent_deleted_at')
    .where('c.customer_id', '=', customerId);
  if (after !== undefined) q = q.where('c.id', '>', after);
  return q.orderBy('c.id').limit(size).execute();
}

export async function countCertificates(db: Db, customerId: string): Promise<number> {
  const r = await db.selectFrom('license_certificates').select((eb) => eb.fn.countAll<string>().as('n')).where('customer_id', '=', customerId).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function listAgents(db: Db, customerId: string, after: string | undefined, size: number): Promise<LicenseAgentRow[]> {
  let q = db.selectFrom('license_agents').selectAll().where('customer_id', '=', customerId).where('deleted_at', 'is', null);
  if (after !== undefined) q = q.where('agent_id', '>', after);
  return q.orderBy('agent_id').limit(size).execute();
}
