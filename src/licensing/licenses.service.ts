import type { Db } from '../db/database.ts';
import type { LicenseRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { licenseData } from '../notifications/events.ts';
import { emit } from '../notifications/outbox.ts';
import type { LicenseCaller } from '../http/context.ts';
import { projectFor } from './access.ts';
import * as catalogue from './catalogue.repository.ts';
import { randomCode } from './catalogue.service.ts';
import * as repo from './licenses.repository.ts';
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

/** The refusal of a quota used up, naming what is used (as the pools were when the take failed). */
function exhausted(r: repo.ActivationResult, customerId: string, pid: string, projectId: string): AppError {
  if (r.pools === 0) return new AppError('quota_exhausted', `Customer ${customerId} holds no licenses of PID ${pid}`);
  const parts = [
    ...(r.ownCapacity !== null ? [`the ${r.ownCapacity} allocated to project ${projectId} are used`] : []),
    `the ${r.sharedCapacity ?? 0} shared are used`,
  ];
  return new AppError('quota_exhausted', `No license of PID ${pid} is left for project ${projectId}: ${parts.join(' and ')}`);
}

/**
 * Activates a license of `pid` for `licenseKey` under project `appid`, consuming one license of
 * the project's own quota if some is left, else of its customer's shared quota.
 *
 * A repeated activation of the same licenseKey and PID for the customer answers the license it
 * already has and consumes nothing — also when the two race: the license row is inserted with ON
 * CONFLICT DO NOTHING before the quota is touched, in one transaction, so the loser of a race
 * writes nothing and answers the winner's license.
 *
 * One round trip: the checks (in the order: the caller's credentials still active, projectFor, the
 * PID, an earlier license, the whitelist),
 * the insert and the take are one call of `license_activate`, which answers the check that failed;
 * the errors are the ones the separate statements raised before.
 */
export async function activate(db: Db, caller: LicenseCaller, input: { appid: string; pid: string; licenseKey: string }, now = new Date()): Promise<Activation> {
  const callerProjectId = caller.kind === 'project' ? caller.projectId : null;
  const r = await repo.activateInOneStatement(db, {
    callerProjectId,
    callerCustomerId: caller.kind === 'project' ? caller.customerId : null,
    projectId: input.appid,
    pid: input.pid,
    licenseKey: input.licenseKey,
    license: randomCode(),
    activatedAt: wholeSecond(now),
  });
  switch (r.outcome) {
    case 'caller_deactivated':
      // As the license API's authentication answers it (auth.ts), which may have taken the
      // credentials from memory and left this check to the call.
      throw new AppError('unauthorized', `Project ${callerProjectId} is deactivated; its credentials no longer work`);
    case 'unknown_project':
      throw new AppError('unknown_project', `Project ${input.appid} is not provisioned`);
    case 'project_forbidden':
      throw new AppError('project_forbidden', `Project ${input.appid} belongs to another customer; these credentials reach only their own customer's projects`);
    case 'project_inactive':
      throw new AppError('project_inactive', `Project ${input.appid} is deactivated; enable the extension for it again first`);
    case 'unknown_pid':
      throw new AppError('unknown_pid', `No PID ${input.pid}`);
    case 'not_preauthorized':
      throw new AppError('not_preauthorized', `Pre-authorization is on for project ${input.appid} and licenseKey ${input.licenseKey} is not on its whitelist`);
    case 'quota_exhausted':
      throw exhausted(r, r.customerId!, input.pid, input.appid);
    case 'created':
    case 'existing':
      return { license: r.license!, product: r.product!, created: r.outcome === 'created' };
  }
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
    await emit(trx, 'license.renewed', { ...licenseData(renewed), previousExpiresAt: license.expires_at.toISOString(), renewId }, at);
    return { license: renewed, renewId };
  });
}

