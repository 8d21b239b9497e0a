import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB } from '../db/schema.ts';

/**
 * Quota as counters. Every change is one conditional UPDATE of one row: Postgres locks the row,
 * re-reads it once a concurrent writer commits and applies the condition to the new values, so
 * concurrent requests — on any number of instances — never take more than the row holds.
 */

/** Counters as JS bigints: a pool's capacity is the sum of all its purchases and can pass 2^53. */
export interface PoolRow {
  pid: string;
  projectId: string | null;
  capacity: bigint;
  used: bigint;
}

/** Adds `count` to the customer's shared quota of the PID. */
export async function addSharedCapacity(db: Transaction<DB>, customerId: string, pid: string, count: number): Promise<void> {
  await db
    .insertInto('license_pools')
    .values({ customer_id: customerId, pid, project_id: null, capacity: count })
    .onConflict((oc) => oc.columns(['customer_id', 'pid', 'project_id']).doUpdateSet({ capacity: sql`license_pools.capacity + excluded.capacity` }))
    .execute();
}

/**
 * Takes one license: from the project's own quota when it has some left, else from the shared
 * quota. Returns where it came from (the project id, or null for shared), or undefined when both are
 * used up.
 */
export async function consumeOne(db: Transaction<DB>, customerId: string, pid: string, projectId: string): Promise<{ from: string | null } | undefined> {
  const take = (pool: string | null) => {
    const q = db
      .updateTable('license_pools')
      .set({ used: sql`used + 1` })
      .where('customer_id', '=', customerId)
      .where('pid', '=', pid)
      .where(sql<boolean>`used < capacity`);
    return (pool === null ? q.where('project_id', 'is', null) : q.where('project_id', '=', pool)).returning('project_id').executeTakeFirst();
  };
  if (await take(projectId)) return { from: projectId };
  return (await take(null)) ? { from: null } : undefined;
}

/**
 * Moves `count` of the shared quota to the project. False (and nothing changed) when fewer than
 * `count` unallocated licenses are left.
 */
export async function moveToProject(db: Transaction<DB>, customerId: string, pid: string, projectId: string, count: number): Promise<boolean> {
  const taken = await db
    .updateTable('license_pools')
    .set({ capacity: sql`capacity - ${count}` })
    .where('customer_id', '=', customerId)
    .where('pid', '=', pid)
    .where('project_id', 'is', null)
    .where(sql<boolean>`capacity - used >= ${count}`)
    .returning('capacity')
    .executeTakeFirst();
  if (!taken) return false;
  await db
    .insertInto('license_pools')
    .values({ customer_id: customerId, pid, project_id: projectId, capacity: count })
    .onConflict((oc) => oc.columns(['customer_id', 'pid', 'project_id']).doUpdateSet({ capacity: sql`license_pools.capacity + excluded.capacity` }))
    .execute();
  return true;
}

export async function pools(db: Db, customerId: string, pid?: string): Promise<PoolRow[]> {
  let q = db.selectFrom('license_pools').select(['pid', 'project_id', 'capacity', 'used']).where('customer_id', '=', customerId);
  if (pid !== undefined) q = q.where('pid', '=', pid);
  const rows = await q.orderBy('pid').orderBy(sql`project_id nulls first`).execute();
  return rows.map((r) => ({ pid: r.pid, projectId: r.project_id, capacity: BigInt(r.capacity), used: BigInt(r.used) }));
}

export async function insertPurchase(
  db: Transaction<DB>,
  p: { orderId: string | null; customerId: string; pid: string; count: number },
): Promise<PurchaseRow | undefined> {
  const row = await db
    .insertInto('license_purchases')
    .values({ order_id: p.orderId, customer_id: p.customerId, pid: p.pid, count: p.count })
    .onConflict((oc) => oc.column('order_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  return row;
}

export type PurchaseRow = { id: string; order_id: string | null; customer_id: string; pid: string; count: number; created_at: Date };

export function findPurchaseByOrder(db: Db, orderId: string): Promise<PurchaseRow | undefined> {
  return db.selectFrom('license_purchases').selectAll().where('order_id', '=', orderId).executeTakeFirst();
}

export async function insertAllocation(
  db: Transaction<DB>,
  a: { customerId: string; projectId: string; pid: string; count: number; creator: string | null },
): Promise<void> {
  await db
    .insertInto('license_allocations')
    .values({ customer_id: a.customerId, project_id: a.projectId, pid: a.pid, count: a.count, creator: a.creator })
    .execute();
}

export type RenewalRow = { renew_id: string; customer_id: string; pid: string; capacity: number; used: number; created_at: Date };

/** False when the renewId is taken. */
export async function insertRenewal(db: Db, r: { renewId: string; customerId: string; pid: string; count: number }): Promise<boolean> {
  const rows = await db
    .insertInto('license_renewals')
    .values({ renew_id: r.renewId, customer_id: r.customerId, pid: r.pid, capacity: r.count })
    .onConflict((oc) => oc.doNothing())
    .returning('renew_id')
    .execute();
  return rows.length > 0;
}

export function findRenewal(db: Db, renewId: string): Promise<RenewalRow | undefined> {
  return db.selectFrom('license_renewals').selectAll().where('renew_id', '=', renewId).executeTakeFirst();
}

/** Renewal orders of the customer and PID with renewals left, oldest first. */
export async function renewalsWithRoom(db: Db, customerId: string, pid: string): Promise<string[]> {
  const rows = await db
    .selectFrom('license_renewals')
    .select('renew_id')
    .where('customer_id', '=', customerId)
    .where('pid', '=', pid)
    .where(sql<boolean>`used < capacity`)
    .orderBy('created_at')
    .orderBy('renew_id')
    .execute();
  return rows.map((r) => r.renew_id);
}

/** Takes one renewal of the order; false when it has none left (checked on the row's latest values). */
export async function consumeRenewal(db: Transaction<DB>, renewId: string): Promise<boolean> {
  const row = await db
    .updateTable('license_renewals')
    .set({ used: sql`used + 1` })
    .where('renew_id', '=', renewId)
    .where(sql<boolean>`used < capacity`)
    .returning('renew_id')
    .executeTakeFirst();
  return row !== undefined;
}
