import type { Db } from '../db/database.ts';
import type { LicenseRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { LicenseCaller } from '../http/context.ts';
import { projectFor } from './access.ts';
import * as catalogue from './catalogue.repository.ts';
import { randomCode } from './catalogue.service.ts';
import * as repo from './licenses.repository.ts';
import * as pads from './pads.repository.ts';
import * as quota from './quota.repository.ts';

async function productOf(db: Db, pid: string): Promise<catalogue.Product> {
  const product = await catalogue.findProduct(db, pid);
  if (!product) throw new AppError('unknown_pid', `No PID ${pid}`);
  return product;
}

/** Whole seconds: activation times are answered in Unix seconds and RFC 3339 without fractions. */
const wholeSecond = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

export interface Activation {
  license: LicenseRow;
  product: catalogue.Product;
  /** False when the customer already had this licenseKey's license for the PID (a retry). */
  created: boolean;
}

async function exhausted(db: Db, customerId: string, pid: string, projectId: string): Promise<AppError> {
  const rows = await quota.pools(db, customerId, pid);
  if (rows.length === 0) return new AppError('quota_exhausted', `Customer ${customerId} holds no licenses of PID ${pid}`);
  const own = rows.find((r) => r.projectId === projectId);
  const shared = rows.find((r) => r.projectId === null);
  const parts = [
    ...(own ? [`the ${own.capacity} allocated to project ${projectId} are used`] : []),
    `the ${shared?.capacity ?? 0} shared are used`,
  ];
  return new AppError('quota_exhausted', `No license of PID ${pid} is left for project ${projectId}: ${parts.join(' and ')}`);
}

/**
 * Activates a license of `pid` for `licenseKey` under project `appid`, consuming one license of
 * the project's own quota if it has any left, else of its customer's shared quota.
 *
 * A repeated activation of the same licenseKey and PID for the customer answers the license it
 * already has and consumes nothing — also when the two race: the license row is inserted with ON
 * CONFLICT DO NOTHING before the quota is touched, in one transaction, so the loser of a race
 * writes nothing and answers the winner's license.
 */
export async function activate(db: Db, caller: LicenseCaller, input: { appid: string; pid: string; licenseKey: string }, now = new Date()): Promise<Activation> {
  const project = await projectFor(db, caller, input.appid, { change: true });
  const product = await productOf(db, input.pid);
  const customerId = project.customer_id;
  const existing = await repo.findLicense(db, customerId, input.licenseKey, input.pid);
  if (existing) return { license: existing, product, created: false };

  const inserted = await db.transaction().execute(async (trx) => {
    if ((await pads.isEnabled(trx, project.project_id)) && !(await pads.lockListed(trx, project.project_id, input.licenseKey))) {
      throw new AppError('not_preauthorized', `Pre-authorization is on for project ${project.project_id} and licenseKey ${input.licenseKey} is not on its whitelist`);
    }
    const row = await repo.insertLicenseIfAbsent(trx, {
      license: randomCode(),
      customerId,
      projectId: project.project_id,
      pid: input.pid,
      licenseKey: input.licenseKey,
      activatedAt: wholeSecond(now),
      validityMonths: product.pid.validity_months,
    });
    if (!row) return undefined; // a concurrent twin won; this transaction wrote nothing
    if (!(await quota.consumeOne(trx, customerId, input.pid, project.project_id))) {
      throw await exhausted(trx, customerId, input.pid, project.project_id);
    }
    return row;
  });
  if (inserted) return { license: inserted, product, created: true };
  const twin = await repo.findLicense(db, customerId, input.licenseKey, input.pid);
  if (!twin) throw new Error('a conflicting license vanished'); // licenses are never deleted
  return { license: twin, product, created: false };
}

/** A project's license by its value or by licenseKey (then the most recently activated one). */
export async function detail(db: Db, caller: LicenseCaller, input: { appid: string; key: string }) {
  const project = await projectFor(db, caller, input.appid, { change: false });
  const license = await repo.findInProject(db, project.project_id, input.key);
  if (!license) throw new AppError('unknown_license', `Project ${input.appid} has no license or licenseKey ${input.key}`);
  return { license, product: await productOf(db, license.pid) };
}

/**
 * Moves `count` licenses of the customer's shared quota to the project, for it alone. All or
 * nothing: fewer left than asked changes nothing.
 */
export async function allocate(db: Db, caller: LicenseCaller, input: { appid: string; pid: string; count: number; creator: string | null }) {
  const project = await projectFor(db, caller, input.appid, { change: true });
  await productOf(db, input.pid);
  const customerId = project.customer_id;
  await db.transaction().execute(async (trx) => {
    if (!(await quota.moveToProject(trx, customerId, input.pid, project.project_id, input.count))) {
      const shared = (await quota.pools(trx, customerId, input.pid)).find((r) => r.projectId === null);
      const left = shared ? shared.capacity - shared.used : 0n;
      throw new AppError('quota_exhausted', `Only ${left} unallocated licenses of PID ${input.pid} are left; ${input.count} were asked for`);
    }
    await quota.insertAllocation(trx, { customerId, projectId: project.project_id, pid: input.pid, count: input.count, creator: input.creator });
  });
  const rows = await quota.pools(db, customerId, input.pid);
  const own = rows.find((r) => r.projectId === project.project_id)!;
  const shared = rows.find((r) => r.projectId === null);
  return {
    pid: input.pid,
    appid: project.project_id,
    count: input.count,
    projectQuota: { total: own.capacity, used: own.used, available: own.capacity - own.used },
    sharedAvailable: shared ? shared.capacity - shared.used : 0n,
  };
}

/**
 * Extends a license of the project by its PID's validity, from its current expiry (not from now:
 * renewing early loses nothing), consuming one renewal of the order `renewId`, or of the customer's
 * oldest order for the PID with renewals left.
 */
export async function renew(db: Db, caller: LicenseCaller, input: { appid: string; license: string; renewId: string | undefined }, now = new Date()) {
  const project = await projectFor(db, caller, input.appid, { change: true });
  const at = wholeSecond(now);
  return db.transaction().execute(async (trx) => {
    const license = await repo.lockByLicense(trx, input.license);
    if (!license) throw new AppError('unknown_license', `No license ${input.license}`);
    if (license.customer_id !== project.customer_id || license.project_id !== project.project_id) {
      throw new AppError('license_forbidden', `License ${input.license} is not one of project ${project.project_id}'s licenses`);
    }
    const product = await productOf(trx, license.pid);
    let renewId: string | undefined;
    if (input.renewId !== undefined) {
      const order = await quota.findRenewal(trx, input.renewId);
      if (!order || order.customer_id !== license.customer_id) throw new AppError('unknown_renewal', `No renewal order ${input.renewId} for this customer`);
      if (order.pid !== license.pid) {
        throw new AppError('renewal_mismatch', `Renewal order ${input.renewId} is for PID ${order.pid}; license ${input.license} is of PID ${license.pid}`);
      }
      if (!(await quota.consumeRenewal(trx, order.renew_id))) throw new AppError('renewal_exhausted', `Renewal order ${input.renewId} has no renewals left`);
      renewId = order.renew_id;
    } else {
      for (const candidate of await quota.renewalsWithRoom(trx, license.customer_id, license.pid)) {
        if (await quota.consumeRenewal(trx, candidate)) {
          renewId = candidate;
          break;
        }
      }
      if (renewId === undefined) throw new AppError('renewal_exhausted', `Customer ${license.customer_id} has no renewals of PID ${license.pid} left`);
    }
    const renewed = await repo.extend(trx, license.id, product.pid.validity_months, at);
    // Thrown inside the transaction: the renewal consumed above is given back.
    if (!renewed) {
      throw new AppError('expiry_limit', `License ${input.license} expires ${license.expires_at.toISOString().slice(0, 10)}; renewing it would pass ${repo.LAST_EXPIRY.toISOString().slice(0, 10)}, the latest expiry a license can have`);
    }
    await repo.logRenewal(trx, { licenseId: license.id, renewId, previous: license.expires_at, expiresAt: renewed.expires_at, at });
    return { license: renewed, renewId };
  });
}

