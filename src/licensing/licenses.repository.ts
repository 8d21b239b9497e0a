import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB, LicensePid, LicenseRow } from '../db/schema.ts';
import type { Product } from './catalogue.repository.ts';

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

/** Which check `license_activate` stopped at, or `created` / `existing` (a repeat, or a twin that won). */
export type ActivationOutcome =
  | 'caller_deactivated'
  | 'created'
  | 'existing'
  | 'unknown_project'
  | 'project_forbidden'
  | 'project_inactive'
  | 'unknown_pid'
  | 'not_preauthorized'
  | 'quota_exhausted';

export interface ActivationResult {
  outcome: ActivationOutcome;
  /** With `created` and `existing`: the license. */
  license: LicenseRow | undefined;
  /** From `unknown_pid` on: the PID and its SKU. */
  product: Product | undefined;
  /** The project's customer, from `project_forbidden` on. */
  customerId: string | null;
  /** With `quota_exhausted`: the capacities of the project's own and the shared pool (null: no such pool), and how many pools there are. */
  ownCapacity: string | null;
  sharedCapacity: string | null;
  pools: number;
}

/**
 * Activation in one round trip: every check, the insert and the conditional take of one license,
 * in `license_activate` (migrations/20261123080000-activation.ts, which says why each guarantee
 * holds), and the license.activated event of a new license (the outbox, src/notifications). Runs in its own implicit transaction: call it outside any transaction, or the whitelist
 * entry it holds FOR SHARE is held until that one ends.
 */
export async function activateInOneStatement(
  db: Db,
  a: { callerProjectId: string | null; callerCustomerId: string | null; projectId: string; pid: string; licenseKey: string; license: string; activatedAt: Date },
): Promise<ActivationResult> {
  const { rows } = await sql<{
    outcome: ActivationOutcome;
    project_customer: string | null;
    id: string | null;
    license: string | null;
    customer_id: string | null;
    project_id: string | null;
    pid: string | null;
    license_key: string | null;
    activated_at: Date | null;
    expires_at: Date | null;
    renew_times: number | null;
    last_renew_at: Date | null;
    p_pid: string | null;
    p_sku_id: string | null;
    p_category: LicensePid['category'] | null;
    p_type: LicensePid['type'] | null;
    p_validity_months: number | null;
    p_created_at: Date | null;
    s_product: number | null;
    s_name: string | null;
    s_media_type: number | null;
    s_minutes: number | null;
    s_period: string | null;
    s_created_at: Date | null;
    own_capacity: string | null;
    shared_capacity: string | null;
    pool_count: string | null;
  }>`
    with a as materialized (
      select * from license_activate(${a.callerProjectId}::bigint, ${a.callerCustomerId}::text, ${a.projectId}::bigint, ${a.pid}::text, ${a.licenseKey}::text, ${a.license}::text, ${a.activatedAt}::timestamptz)
    ), activated_event as (
      -- license.activated in the same statement (so the same transaction): still one round trip.
      insert into webhook_events (id, type, data, created_at)
      select 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'license.activated',
        jsonb_build_object('license', (a.lic).license, 'licenseKey', (a.lic).license_key, 'pid', (a.lic).pid, 'customerId', (a.lic).customer_id,
          'projectId', (a.lic).project_id::text, 'expiresAt', to_char((a.lic).expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
        ${a.activatedAt}::timestamptz
      from a where a.outcome = 'created'
    )
    select a.outcome, a.project_customer, (a.lic).*,
      (a.pid_row).pid as p_pid, (a.pid_row).sku_id as p_sku_id, (a.pid_row).category as p_category, (a.pid_row).type as p_type,
      (a.pid_row).validity_months as p_validity_months, (a.pid_row).created_at as p_created_at,
      (a.sku_row).product as s_product, (a.sku_row).name as s_name, (a.sku_row).media_type as s_media_type,
      (a.sku_row).minutes as s_minutes, (a.sku_row).period as s_period, (a.sku_row).created_at as s_created_at,
      a.own_capacity::text as own_capacity, a.shared_capacity::text as shared_capacity, a.pool_count
    from a`.execute(db);
  const r = rows[0];
  if (!r) throw new Error('license_activate answered no row');
  const license: LicenseRow | undefined =
    r.id === null
      ? undefined
      : {
          id: r.id,
          license: r.license!,
          customer_id: r.customer_id!,
          project_id: r.project_id!,
          pid: r.pid!,
          license_key: r.license_key!,
          activated_at: r.activated_at!,
          expires_at: r.expires_at!,
          renew_times: r.renew_times!,
          last_renew_at: r.last_renew_at,
        };
  const product: Product | undefined =
    r.p_pid === null
      ? undefined
      : {
          pid: { pid: r.p_pid, sku_id: r.p_sku_id!, category: r.p_category!, type: r.p_type!, validity_months: r.p_validity_months!, created_at: r.p_created_at! },
          sku: { sku_id: r.p_sku_id!, product: r.s_product!, name: r.s_name!, media_type: r.s_media_type!, minutes: r.s_minutes, period: r.s_period, created_at: r.s_created_at! },
        };
  return {
    outcome: r.outcome,
    license,
    product,
    customerId: r.project_customer,
    ownCapacity: r.own_capacity,
    sharedCapacity: r.shared_capacity,
    pools: Number(r.pool_count ?? 0),
  };
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
/**
 * A certificate-licensed platform (src/certificates) counts as a license: its expiry, and for a
 * permanent one 9999-12-31, the latest day Agora's `expireDate` can say.
 */
const PLATFORM_EXPIRY = sql`case when permanent then timestamptz '9999-12-31T00:00:00Z' else expires_at end`;

export async function customerSummary(db: Db, customerId: string, now: Date, withActiveCount: boolean): Promise<CustomerLicenseSummary> {
  const activeCount = withActiveCount
    ? sql<string>`((select count(*) from licenses where customer_id = ${customerId} and expires_at > ${now})
        + (select count(*) from license_grants where customer_id = ${customerId} and ends_at > ${now}))::text`
    : sql<null>`null`;
  // Agora's grants (license activation callback, src/runtime) count as licenses expiring at their end.
  const { rows } = await sql<{ latest: Date | null; earliest: Date | null; active: string | null; available: string; pools: string }>`
    select
      greatest((select max(expires_at) from licenses where customer_id = ${customerId}),
               (select ${PLATFORM_EXPIRY} from license_platforms where customer_id = ${customerId}),
               (select max(ends_at) from license_grants where customer_id = ${customerId})) as latest,
      least((select min(expires_at) from licenses where customer_id = ${customerId} and expires_at > ${now}),
            (select ${PLATFORM_EXPIRY} from license_platforms where customer_id = ${customerId} and (permanent or expires_at > ${now})),
            (select min(ends_at) from license_grants where customer_id = ${customerId} and ends_at > ${now})) as earliest,
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
