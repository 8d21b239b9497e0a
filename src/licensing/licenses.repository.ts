import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB, LicenseRow } from '../db/schema.ts';

/**
 * `start` plus `months` calendar months, computed in UTC whatever the session's time zone (a
 * `timestamptz + interval` is otherwise computed in the session's zone). The end of a short month
 * is clamped as Postgres does: 31 January + 1 month = 28 or 29 February.
 */
const plusMonthsUtc = (start: unknown, months: number) =>
  sql<Date>`((${start} at time zone 'UTC') + make_interval(months => ${months}::int)) at time zone 'UTC'`;

export function findLicense(db: Db, customerId: string, licenseKey: string, pid: string): Promise<LicenseRow | undefined> {
  return db
    .selectFrom('licenses')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('license_key', '=', licenseKey)
    .where('pid', '=', pid)
    .executeTakeFirst();
}

/**
 * Inserts the license unless the customer already has one for this licenseKey and PID; under a
 * concurrent twin, waits for it and then answers undefined.
 */
export async function insertLicenseIfAbsent(
  db: Transaction<DB>,
  l: { license: string; customerId: string; projectId: string; pid: string; licenseKey: string; activatedAt: Date; validityMonths: number },
): Promise<LicenseRow | undefined> {
  return db
    .insertInto('licenses')
    .values({
      license: l.license,
      customer_id: l.customerId,
      project_id: l.projectId,
      pid: l.pid,
      license_key: l.licenseKey,
      activated_at: l.activatedAt,
      expires_at: plusMonthsUtc(sql`${l.activatedAt}::timestamptz`, l.validityMonths),
    })
    .onConflict((oc) => oc.columns(['customer_id', 'license_key', 'pid']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function lockByLicense(db: Transaction<DB>, license: string): Promise<LicenseRow | undefined> {
  return db.selectFrom('licenses').selectAll().where('license', '=', license).forUpdate().executeTakeFirst();
}

/** A project's license by its value, or the most recently activated one for a licenseKey. */
export async function findInProject(db: Db, projectId: string, key: string): Promise<LicenseRow | undefined> {
  const byValue = await db.selectFrom('licenses').selectAll().where('license', '=', key).where('project_id', '=', projectId).executeTakeFirst();
  if (byValue) return byValue;
  return db
    .selectFrom('licenses')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('license_key', '=', key)
    .orderBy('activated_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * The latest expiry a license may reach. Renewals add up without end (a 100-year PID renewed 80
 * times), and past year 9999 every answer breaks: `YYYY-MM-DD` and RFC 3339 have four-digit years,
 * a JS Date ends in 275760, a Postgres timestamp in 294276.
 */
export const LAST_EXPIRY = new Date('9999-12-31T23:59:59Z');

/**
 * Extends the license by `months` from its current expiry; one more renewal. Undefined (and
 * nothing changed) when the new expiry would pass LAST_EXPIRY.
 */
export async function extend(db: Transaction<DB>, id: string, months: number, at: Date): Promise<LicenseRow | undefined> {
  return db
    .updateTable('licenses')
    .set({
      expires_at: plusMonthsUtc(sql.ref('expires_at'), months),
      renew_times: sql`renew_times + 1`,
      last_renew_at: at,
    })
    .where('id', '=', id)
    .where(sql<boolean>`${plusMonthsUtc(sql.ref('expires_at'), months)} <= ${LAST_EXPIRY}`)
    .returningAll()
    .executeTakeFirst();
}

export async function logRenewal(
  db: Transaction<DB>,
  r: { licenseId: string; renewId: string; previous: Date; expiresAt: Date; at: Date },
): Promise<void> {
  await db
    .insertInto('license_renewal_log')
    .values({ license_id: r.licenseId, renew_id: r.renewId, previous_expires_at: r.previous, expires_at: r.expiresAt, renewed_at: r.at })
    .execute();
}

export interface CustomerLicenseSummary {
  latestExpiry: Date | null;
  earliestActiveExpiry: Date | null;
  /** Exact decimal strings, straight from Postgres: totals over many purchases can pass 2^53. */
  activeCount: string | null;
  available: string;
  pools: number;
}

/**
 * What Agora's license query needs, in one round trip: both ends of the customer's expiry index
 * and the remaining quota over its pool rows. The count of active licenses is read only when asked
 * (it costs one index entry per license).
 */
export async function customerSummary(db: Db, customerId: string, now: Date, withActiveCount: boolean): Promise<CustomerLicenseSummary> {
  const activeCount = withActiveCount
    ? sql<string>`(select count(*)::text from licenses where customer_id = ${customerId} and expires_at > ${now})`
    : sql<null>`null`;
  const { rows } = await sql<{ latest: Date | null; earliest: Date | null; active: string | null; available: string; pools: string }>`
    select
      (select max(expires_at) from licenses where customer_id = ${customerId}) as latest,
      (select min(expires_at) from licenses where customer_id = ${customerId} and expires_at > ${now}) as earliest,
      ${activeCount} as active,
      (select coalesce(sum(capacity - used), 0)::text from license_pools where customer_id = ${customerId}) as available,
      (select count(*) from license_pools where customer_id = ${customerId}) as pools`.execute(db);
  const r = rows[0]!;
  return {
    latestExpiry: r.latest,
    earliestActiveExpiry: r.earliest,
    activeCount: r.active,
    available: r.available,
    pools: Number(r.pools),
  };
}
