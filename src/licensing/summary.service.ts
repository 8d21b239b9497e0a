import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { findCustomer } from '../provisioning/provisioning.repository.ts';
import * as repo from './licenses.repository.ts';

export interface LicenseSummary {
  /** `YYYY-MM-DD` (UTC), or '' when no license has been activated yet. */
  expireDate: string;
  residueCount: string;
}

/**
 * What Agora's `GET /customers/{customerId}/license` shows for a customer:
 *
 * - `expireDate`: the UTC day of the latest expiry among the customer's unexpired licenses
 *   (`LICENSE_EXPIRE_RULE=latest`, the default), or of the earliest one (`earliest`: the next
 *   license to lapse). When every license has expired: the latest expiry, a day in the past. When
 *   none has been activated yet (quota only): ''.
 * - `residueCount`: licenses still available to activate, the remaining quota over all the
 *   customer's PIDs and projects (`LICENSE_RESIDUE_RULE=available`, the default), or the number of
 *   unexpired licenses (`active`).
 *
 * An unknown customer, and a customer with neither licenses nor quota, is `failed` (404).
 */
export async function customerLicense(
  db: Db,
  config: Pick<Config, 'licenseExpireRule' | 'licenseResidueRule'>,
  customerId: string,
  now = new Date(),
): Promise<LicenseSummary> {
  if (!(await findCustomer(db, customerId))) throw new AppError('unknown_customer', `Customer ${customerId} is not provisioned`);
  const s = await repo.customerSummary(db, customerId, now, config.licenseResidueRule === 'active');
  if (s.latestExpiry === null && s.pools === 0) throw new AppError('no_license', `Customer ${customerId} has no licenses`);
  const expiry = s.latestExpiry === null ? null : config.licenseExpireRule === 'earliest' ? (s.earliestActiveExpiry ?? s.latestExpiry) : s.latestExpiry;
  return {
    expireDate: expiry === null ? '' : expiry.toISOString().slice(0, 10),
    residueCount: config.licenseResidueRule === 'active' ? (s.activeCount ?? '0') : s.available,
  };
}
