import type { Transaction } from 'kysely';
import { LOCK, lockExclusiveText } from '../db/locks.ts';
import type { Db } from '../db/database.ts';
import type { Customer, DB, Project } from '../db/schema.ts';

/**
 * Serializes the provisioning writes of one customer until the transaction ends. An advisory lock
 * rather than the customer row: `POST /customers/new` must also serialize before the row exists.
 * Two ids with the same hash only wait on each other.
 */
export async function lockCustomer(trx: Transaction<DB>, customerId: string): Promise<void> {
  await lockExclusiveText(trx, LOCK.CUSTOMER, customerId);
}

export interface CustomerInput {
  customerId: string;
  planId: string;
  customerName: string | null;
  customerEmail: string | null;
  customerPhone: string | null;
}

/** Creates the customer, or brings an existing one up to date and active again. */
export async function upsertCustomer(db: Db, c: CustomerInput, now: Date): Promise<void> {
  await db
    .insertInto('customers')
    .values({
      customer_id: c.customerId,
      plan_id: c.planId,
      customer_name: c.customerName,
      customer_email: c.customerEmail,
      customer_phone: c.customerPhone,
    })
    .onConflict((oc) =>
      oc.column('customer_id').doUpdateSet((eb) => ({
        plan_id: eb.ref('excluded.plan_id'),
        customer_name: eb.ref('excluded.customer_name'),
        customer_email: eb.ref('excluded.customer_email'),
        customer_phone: eb.ref('excluded.customer_phone'),
        deactivated_at: null,
        updated_at: now,
      })),
    )
    .execute();
}

export function findCustomer(db: Db, customerId: string): Promise<Customer | undefined> {
  return db.selectFrom('customers').selectAll().where('customer_id', '=', customerId).executeTakeFirst();
}

export function findProject(db: Db, projectId: string): Promise<Project | undefined> {
  return db.selectFrom('projects').selectAll().where('project_id', '=', projectId).executeTakeFirst();
}

/** The project of an appKey (the license API's credentials), active or not. */
export function findProjectByAppKey(db: Db, appKey: string) {
  return db.selectFrom('projects').select(['project_id', 'customer_id', 'app_secret', 'deactivated_at']).where('app_key', '=', appKey).executeTakeFirst();
}

/** The customer of each of a few projects (projectId → customerId; unknown projects absent). */
export async function customersOfProjects(db: Db, projectIds: string[]): Promise<Map<string, string>> {
  if (projectIds.length === 0) return new Map();
  const rows = await db.selectFrom('projects').select(['project_id', 'customer_id']).where('project_id', 'in', projectIds).execute();
  return new Map(rows.map((r) => [r.project_id, r.customer_id]));
}

/** The planId of each of a few projects' customers (projectId → planId; unknown projects absent). */
export async function customerPlans(db: Db, projectIds: string[]): Promise<Map<string, string>> {
  if (projectIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('projects')
    .innerJoin('customers', 'customers.customer_id', 'projects.customer_id')
    .select(['projects.project_id', 'customers.plan_id'])
    .where('projects.project_id', 'in', projectIds)
    .execute();
  return new Map(rows.map((r) => [r.project_id, r.plan_id]));
}

/**
 * Inserts the project unless it exists; concurrent retries of one request end with one row.
 * Answers whether this call inserted it.
 */
export async function insertProjectIfAbsent(
  db: Db,
  p: { projectId: string; customerId: string; appKey: string; appSecret: string },
): Promise<boolean> {
  const r = await db
    .insertInto('projects')
    .values({ project_id: p.projectId, customer_id: p.customerId, app_key: p.appKey, app_secret: p.appSecret })
    .onConflict((oc) => oc.column('project_id').doNothing())
    .returning('project_id')
    .execute();
  return r.length > 0;
}

/** Ends the open deactivation period of the customer (projectId null) or of one project. */
export async function closeDeactivation(db: Db, customerId: string, projectId: string | null, at: Date): Promise<void> {
  let q = db
    .updateTable('deactivations')
    .set({ reactivated_at: at })
    .where('customer_id', '=', customerId)
    .where('reactivated_at', 'is', null);
  q = projectId === null ? q.where('project_id', 'is', null) : q.where('project_id', '=', projectId);
  await q.execute();
}

export async function reactivateProject(db: Db, customerId: string, projectId: string, at: Date): Promise<void> {
  await db.updateTable('projects').set({ deactivated_at: null }).where('project_id', '=', projectId).execute();
  await closeDeactivation(db, customerId, projectId, at);
}

/**
 * Deactivation is recorded once (a repeat keeps the first moment) and stays in `deactivations`
 * after a reactivation. Deactivating a customer deactivates each of its active projects.
 * Answers whether the call changed anything (a repeat changes nothing).
 */
export async function deactivateCustomer(db: Db, customerId: string, at: Date): Promise<boolean> {
  const changed = await db
    .updateTable('customers')
    .set({ deactivated_at: at })
    .where('customer_id', '=', customerId)
    .where('deactivated_at', 'is', null)
    .executeTakeFirst();
  if (changed.numUpdatedRows > 0n) {
    await db.insertInto('deactivations').values({ customer_id: customerId, project_id: null, deactivated_at: at }).execute();
  }
  const projects = await db
    .updateTable('projects')
    .set({ deactivated_at: at })
    .where('customer_id', '=', customerId)
    .where('deactivated_at', 'is', null)
    .returning('project_id')
    .execute();
  if (projects.length > 0) {
    await db
      .insertInto('deactivations')
      .values(projects.map((p) => ({ customer_id: customerId, project_id: p.project_id, deactivated_at: at })))
      .execute();
  }
  return changed.numUpdatedRows > 0n || projects.length > 0;
}

/** Answers whether the call deactivated the project (false: it was deactivated already). */
export async function deactivateProject(db: Db, customerId: string, projectId: string, at: Date): Promise<boolean> {
  const changed = await db
    .updateTable('projects')
    .set({ deactivated_at: at })
    .where('project_id', '=', projectId)
    .where('deactivated_at', 'is', null)
    .executeTakeFirst();
  if (changed.numUpdatedRows > 0n) {
    await db.insertInto('deactivations').values({ customer_id: customerId, project_id: projectId, deactivated_at: at }).execute();
  }
  return changed.numUpdatedRows > 0n;
}
