import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { LOCK, lockExclusive } from '../db/locks.ts';
import * as repo from './plans.repository.ts';
import { versionsInForce } from './plans.repository.ts';
import { refreshThresholds } from './line-counts.ts';


export interface PlanInput extends repo.VersionInput {
  planId: string;
  name: string | null;
}

/** A month may be priced anew only while no bill of it or of a later month exists. */
async function assertUnbilled(db: Db, effectiveMonth: string): Promise<void> {
  const last = await repo.lastBilledMonth(db);
  if (last !== null && effectiveMonth <= last) {
    throw new AppError(
      'month_already_billed',
      `${effectiveMonth.slice(0, 7)} is already billed (bills exist up to ${last.slice(0, 7)}); a price change can take effect from ${nextMonth(last).slice(0, 7)}`,
    );
  }
}

function nextMonth(month: string): string {
  const d = new Date(`${month}T00:00:00Z`);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
}

export async function createPlan(db: Db, input: PlanInput): Promise<repo.PlanVersion[]> {
  return db.transaction().execute(async (trx) => {
    // Plan changes and bill fixing exclude each other, so a bill is priced with settled versions.
    await lockExclusive(trx, LOCK.PLAN, 0);
    await assertUnbilled(trx, input.effectiveMonth);
    if (!(await repo.insertPlan(trx, input.planId, input.name))) {
      throw new AppError('plan_exists', `Plan ${input.planId} exists; add a version to change its prices`);
    }
    await repo.upsertVersion(trx, input.planId, input);
    await refreshThresholds(trx, input.effectiveMonth);
    return repo.loadVersions(trx, { planIds: [input.planId] });
  });
}

/** A new price from a month on; the same month again replaces that (unbilled) version. */
export async function addVersion(db: Db, planId: string, input: repo.VersionInput): Promise<repo.PlanVersion[]> {
  return db.transaction().execute(async (trx) => {
    // Plan changes and bill fixing exclude each other, so a bill is priced with settled versions.
    await lockExclusive(trx, LOCK.PLAN, 0);
    if (!(await repo.findPlan(trx, planId))) throw new AppError('unknown_plan', `No plan ${planId}`);
    await assertUnbilled(trx, input.effectiveMonth);
    await repo.upsertVersion(trx, planId, input);
    await refreshThresholds(trx, input.effectiveMonth);
    return repo.loadVersions(trx, { planIds: [planId] });
  });
}

export { versionsInForce };
