import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { findCustomer } from '../provisioning/provisioning.repository.ts';
import * as catalogue from './catalogue.repository.ts';
import { randomCode } from './catalogue.service.ts';
import * as repo from './quota.repository.ts';

async function checkCustomerAndPid(db: Db, customerId: string, pid: string): Promise<void> {
  if (!(await findCustomer(db, customerId))) throw new AppError('unknown_customer', `Customer ${customerId} is not provisioned`);
  if (!(await catalogue.findPid(db, pid))) throw new AppError('unknown_pid', `No PID ${pid}`);
}

/**
 * Adds `count` licenses of the PID to the customer's shared quota. With an `orderId`, a repeated
 * request (a retry) answers the first purchase and adds nothing; the same orderId with other values
 * is a conflict.
 */
export async function purchase(db: Db, p: { customerId: string; pid: string; count: number; orderId: string | null }) {
  await checkCustomerAndPid(db, p.customerId, p.pid);
  const outcome = await db.transaction().execute(async (trx) => {
    const row = await repo.insertPurchase(trx, p);
    if (!row) return undefined;
    await repo.addSharedCapacity(trx, p.customerId, p.pid, p.count);
    return row;
  });
  if (outcome) return { purchase: outcome, created: true };
  const first = (await repo.findPurchaseByOrder(db, p.orderId!))!;
  if (first.customer_id !== p.customerId || first.pid !== p.pid || first.count !== p.count) {
    throw new AppError('conflict', `Order ${p.orderId} was already recorded with other values (customer ${first.customer_id}, PID ${first.pid}, count ${first.count})`);
  }
  return { purchase: first, created: false };
}

/**
 * A renewal order: `count` renewals of the PID for the customer, each extending one license by the
 * PID's validity. The same renewId again with the same values answers the order (a retry).
 */
export async function orderRenewal(db: Db, r: { customerId: string; pid: string; count: number; renewId: string | undefined }) {
  await checkCustomerAndPid(db, r.customerId, r.pid);
  const renewId = r.renewId ?? randomCode();
  const created = await repo.insertRenewal(db, { renewId, customerId: r.customerId, pid: r.pid, count: r.count });
  const order = (await repo.findRenewal(db, renewId))!;
  if (!created && (order.customer_id !== r.customerId || order.pid !== r.pid || order.capacity !== r.count)) {
    throw new AppError('conflict', `Renewal order ${renewId} was already recorded with other values`);
  }
  return { order, created };
}

/** The customer's quota per PID: shared, per project, and what is left to activate (exact bigints). */
export async function quotaOf(db: Db, customerId: string) {
  if (!(await findCustomer(db, customerId))) throw new AppError('unknown_customer', `Customer ${customerId} is not provisioned`);
  const rows = await repo.pools(db, customerId);
  const byPid = new Map<string, repo.PoolRow[]>();
  for (const r of rows) byPid.set(r.pid, [...(byPid.get(r.pid) ?? []), r]);
  return [...byPid].map(([pid, list]) => {
    const shared = list.find((r) => r.projectId === null) ?? { capacity: 0n, used: 0n };
    const projects = list.filter((r) => r.projectId !== null);
    const total = list.reduce((n, r) => n + r.capacity, 0n);
    const used = list.reduce((n, r) => n + r.used, 0n);
    return {
      pid,
      total,
      used,
      available: total - used,
      shared: { total: shared.capacity, used: shared.used, available: shared.capacity - shared.used },
      projects: projects.map((r) => ({ projectId: r.projectId!, total: r.capacity, used: r.used, available: r.capacity - r.used })),
    };
  });
}
