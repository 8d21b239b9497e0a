import { sql, type Expression, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.ts';
import type { LicenseRow } from '../db/schema.ts';
import type { Listing, ListingPage } from '../http/paging.ts';
import type { PurchaseRow, RenewalRow } from './quota.repository.ts';

/**
 * The licensing listings as keyset pages (src/http/paging.ts). Each page is one statement: the
 * counter rows of the filter (listing_counts, kept by triggers) joined with a lateral read of the
 * page in the listing's unique order, on an index in that order, so that the count and the version
 * describe exactly the list the rows come from, and a page costs `size` index entries at any depth.
 *
 * Lists whose membership depends on the clock (licenses by `status`, licenses expiring within some
 * days) cannot have a maintained count: theirs is counted, at most COUNT_CAP + 1 index entries, and
 * is exact up to COUNT_CAP (`exact` false beyond: the list holds more than COUNT_CAP).
 */
export const COUNT_CAP = 10_000;

type Counted = { listing_n: string; listing_version: string; listing_exact: boolean };

/** Sums the counter rows of `listing` matching the filter (a handful for a customer or a project). */
function counterRows(listing: string, f: { customerId?: string | undefined; projectId?: string | undefined; pid?: string | undefined }) {
  const where: RawBuilder<unknown>[] = [sql`listing = ${listing}`];
  if (f.customerId !== undefined) where.push(sql`customer_id = ${f.customerId}`);
  if (f.projectId !== undefined) where.push(sql`project_id = ${f.projectId}`);
  if (f.pid !== undefined) where.push(sql`pid = ${f.pid}`);
  return sql`from listing_counts where ${sql.join(where, sql` and `)}`;
}

/** The count and version of a filter from its counter rows. */
function exactCount(listing: string, f: Parameters<typeof counterRows>[1]) {
  return sql`select coalesce(sum(n), 0)::bigint as listing_n, coalesce(sum(version), 0)::bigint as listing_version, true as listing_exact ${counterRows(listing, f)}`;
}

/** A count of the matching rows that stops after COUNT_CAP + 1 of them; the version from the counters. */
function cappedCount(listing: string, f: Parameters<typeof counterRows>[1], matching: Expression<unknown>) {
  return sql`
    select least(x.n, ${COUNT_CAP})::bigint as listing_n, v.listing_version, x.n <= ${COUNT_CAP} as listing_exact
    from (select count(*) as n from (${matching}) m) x,
         (select coalesce(sum(version), 0)::bigint as listing_version ${counterRows(listing, f)}) v`;
}

/** Runs `counts` left-joined with the lateral `rows` in one statement and splits the answer. */
async function readPage<R>(db: Db, counts: Expression<unknown>, rows: Expression<unknown>, order: RawBuilder<unknown>, isRow: (r: R) => boolean): Promise<ListingPage<R>> {
  const { rows: out } = await sql<R & Counted>`select c.*, r.* from (${counts}) c left join lateral (${rows}) r on true order by ${order}`.execute(db);
  const first = out[0];
  return {
    count: Number(first?.listing_n ?? 0),
    exact: first?.listing_exact ?? true,
    version: first?.listing_version ?? '0',
    // A page past the end is the counter row alone, its row columns null. The counter columns stay
    // on each row: views name the fields they answer.
    rows: out.filter(isRow),
  };
}

async function countOnly(db: Db, counts: Expression<unknown>) {
  const { rows } = await sql<Counted>`${counts}`.execute(db);
  const r = rows[0];
  return { count: Number(r?.listing_n ?? 0), exact: r?.listing_exact ?? true, version: r?.listing_version ?? '0' };
}

/** Without a customer or a project, a count sums a counter row per customer (and PID): a heavy read. */
const overAll = (f: { customerId?: string | undefined; projectId?: string | undefined }) => f.customerId === undefined && f.projectId === undefined;

const scopeOf = (name: string, f: object) => `${name}:${JSON.stringify(f)}`;

export interface LicenseFilter {
  customerId?: string | undefined;
  projectId?: string | undefined;
  pid?: string | undefined;
  status?: 'active' | 'expired' | undefined;
  now: Date;
}

function matchingLicenses(db: Db, f: LicenseFilter) {
  let q = db.selectFrom('licenses');
  if (f.customerId !== undefined) q = q.where('customer_id', '=', f.customerId);
  if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId);
  if (f.pid !== undefined) q = q.where('pid', '=', f.pid);
  if (f.status === 'active') q = q.where('expires_at', '>', f.now);
  if (f.status === 'expired') q = q.where('expires_at', '<=', f.now);
  return q;
}

/** Licenses after id `afterId`, for exports read in batches. */
export function licensesAfter(db: Db, f: LicenseFilter, afterId: string, limit: number): Promise<LicenseRow[]> {
  return matchingLicenses(db, f).selectAll().where('id', '>', afterId).orderBy('id').limit(limit).execute();
}

/**
 * Licenses in id order (activation order); the cursor is a license's `id`. Counted from the
 * counters, except with `status`, which the clock changes (capped count).
 */
export function licenses(db: Db, f: LicenseFilter): Listing<LicenseRow> {
  const groups = { customerId: f.customerId, projectId: f.projectId, pid: f.pid };
  const counts =
    f.status === undefined
      ? exactCount('licenses', groups)
      : cappedCount('licenses', groups, matchingLicenses(db, f).select(sql`1`.as('one')).limit(COUNT_CAP + 1));
  return {
    // Not the clock: with `status`, a walk continues after the previous page's last license.
    scope: scopeOf('licenses', { ...groups, status: f.status }),
    heavy: overAll(groups),
    cursorOf: (r) => r.id,
    counted: () => countOnly(db, counts),
    read: (p) => {
      let q = matchingLicenses(db, f).selectAll();
      if (p.after !== undefined) q = q.where('id', '>', p.after);
      return readPage<LicenseRow>(db, counts, q.orderBy('id').offset(p.offset).limit(p.limit), sql`r.id`, (r) => r.id !== null);
    },
  };
}

/**
 * Licenses of a project and PID expiring after `now` and at most `days` days from it, soonest first
 * (then by id); the cursor is a license's `license`. The window moves with the clock: capped count.
 * A walk by page number continues from the previous page's last license in the window as it is now
 * (the scope names the days, not the instant), so licenses that expired in between do not shift it.
 */
export function expiring(db: Db, f: { projectId: string; pid: string; days: number; now: Date }): Listing<LicenseRow> {
  const to = new Date(f.now.getTime() + f.days * 86_400_000);
  const matching = () =>
    db.selectFrom('licenses').where('project_id', '=', f.projectId).where('pid', '=', f.pid).where('expires_at', '>', f.now).where('expires_at', '<=', to);
  const counts = cappedCount('licenses', { projectId: f.projectId, pid: f.pid }, matching().select(sql`1`.as('one')).limit(COUNT_CAP + 1));
  return {
    scope: scopeOf('expiring', { projectId: f.projectId, pid: f.pid, days: f.days }),
    cursorOf: (r) => r.license,
    counted: () => countOnly(db, counts),
    read: (p) => {
      let q = matching().selectAll();
      if (p.after !== undefined) {
        // An unknown cursor compares with null: no rows, as after the last one.
        q = q.where(sql<boolean>`(expires_at, id) > (select l.expires_at, l.id from licenses l where l.license = ${p.after})`);
      }
      return readPage<LicenseRow>(db, counts, q.orderBy('expires_at').orderBy('id').offset(p.offset).limit(p.limit), sql`r.expires_at, r.id`, (r) => r.id !== null);
    },
  };
}

/**
 * Licenses expiring after `now` and at most `days` days from it, of one customer or of all, soonest
 * first (then by id); the cursor is a license's `license`. Read on an index in that order
 * (licenses_customer_expiry_idx, licenses_expiry_idx). The window moves with the clock: capped count.
 */
export function expiringLicenses(db: Db, f: { customerId?: string | undefined; days: number; now: Date }): Listing<LicenseRow> {
  const to = new Date(f.now.getTime() + f.days * 86_400_000);
  const matching = () => {
    let q = db.selectFrom('licenses').where('expires_at', '>', f.now).where('expires_at', '<=', to);
    if (f.customerId !== undefined) q = q.where('customer_id', '=', f.customerId);
    return q;
  };
  const groups = { customerId: f.customerId };
  const counts = cappedCount('licenses', groups, matching().select(sql`1`.as('one')).limit(COUNT_CAP + 1));
  return {
    scope: scopeOf('expiring-licenses', { customerId: f.customerId, days: f.days }),
    heavy: overAll(groups),
    cursorOf: (r) => r.license,
    counted: () => countOnly(db, counts),
    read: (p) => {
      let q = matching().selectAll();
      if (p.after !== undefined) {
        // An unknown cursor compares with null: no rows, as after the last one.
        q = q.where(sql<boolean>`(expires_at, id) > (select l.expires_at, l.id from licenses l where l.license = ${p.after})`);
      }
      return readPage<LicenseRow>(db, counts, q.orderBy('expires_at').orderBy('id').offset(p.offset).limit(p.limit), sql`r.expires_at, r.id`, (r) => r.id !== null);
    },
  };
}

export type AllocationRow = { id: string; pid: string; type: 'trial' | 'commercial'; creator: string | null; count: number; created_at: Date };

/** The allocations to a project (of one PID or all), newest first; the cursor is an allocation's `id`. */
export function allocations(db: Db, f: { projectId: string; pid?: string | undefined }): Listing<AllocationRow> {
  const counts = exactCount('allocations', f);
  return {
    scope: scopeOf('allocations', f),
    cursorOf: (r) => r.id,
    counted: () => countOnly(db, counts),
    read: (p) => {
      let q = db.selectFrom('license_allocations as a').where('a.project_id', '=', f.projectId);
      if (f.pid !== undefined) q = q.where('a.pid', '=', f.pid);
      if (p.after !== undefined) q = q.where('a.id', '<', p.after);
      const rows = q
        .innerJoin('license_pids as p', 'p.pid', 'a.pid')
        .select(['a.id', 'a.pid', 'p.type', 'a.creator', 'a.count', 'a.created_at'])
        .orderBy('a.id', 'desc')
        .offset(p.offset)
        .limit(p.limit);
      return readPage<AllocationRow>(db, counts, rows, sql`r.id desc`, (r) => r.id !== null);
    },
  };
}

/** Purchases, oldest first (id order); the cursor is a purchase's `id`. */
export function purchases(db: Db, f: { customerId?: string | undefined; pid?: string | undefined }): Listing<PurchaseRow> {
  const counts = exactCount('purchases', f);
  return {
    scope: scopeOf('purchases', f),
    heavy: overAll(f),
    cursorOf: (r) => r.id,
    counted: () => countOnly(db, counts),
    read: (p) => {
      let q = db.selectFrom('license_purchases').selectAll();
      if (f.customerId !== undefined) q = q.where('customer_id', '=', f.customerId);
      if (f.pid !== undefined) q = q.where('pid', '=', f.pid);
      if (p.after !== undefined) q = q.where('id', '>', p.after);
      return readPage<PurchaseRow>(db, counts, q.orderBy('id').offset(p.offset).limit(p.limit), sql`r.id`, (r) => r.id !== null);
    },
  };
}

/** Renewal orders, oldest first (then by renewId); the cursor is an order's `renewId`. */
export function renewals(db: Db, f: { customerId?: string | undefined; pid?: string | undefined }): Listing<RenewalRow> {
  const counts = exactCount('renewals', f);
  return {
    scope: scopeOf('renewals', f),
    heavy: overAll(f),
    cursorOf: (r) => r.renew_id,
    counted: () => countOnly(db, counts),
    read: (p) => {
      let q = db.selectFrom('license_renewals').selectAll();
      if (f.customerId !== undefined) q = q.where('customer_id', '=', f.customerId);
      if (f.pid !== undefined) q = q.where('pid', '=', f.pid);
      if (p.after !== undefined) {
        q = q.where(sql<boolean>`(created_at, renew_id) > (select o.created_at, o.renew_id from license_renewals o where o.renew_id = ${p.after})`);
      }
      const rows = q.orderBy('created_at').orderBy('renew_id').offset(p.offset).limit(p.limit);
      return readPage<RenewalRow>(db, counts, rows, sql`r.created_at, r.renew_id`, (r) => r.renew_id !== null);
    },
  };
}
