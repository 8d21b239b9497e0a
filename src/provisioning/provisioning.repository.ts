import type { Db } from '../db/database.ts';
import type { Customer, Project } from '../db/schema.ts';

export interface CustomerInput {
  customerId: string;
  planId: string;
  customerName: string | null;
  customerEmail: string | null;
  customerPhone: string | null;
}

/** Creates the customer, or brings an existing one up to date and active again. */
export async function upsertCustomer(db: Db, c: CustomerInput): Promise<void> {
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
        updated_at: new Date(),
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

/** Inserts the project unless it exists; concurrent retries of one request end with one row. */
export async function insertProjectIfAbsent(
  db: Db,
  p: { projectId: string; customerId: string; appKey: string; appSecret: string },
): Promise<void> {
  await db
    .insertInto('projects')
    .values({ project_id: p.projectId, customer_id: p.customerId, app_key: p.appKey, app_secret: p.appSecret })
    .onConflict((oc) => oc.column('project_id').doNothing())
    .execute();
}

export async function reactivateProject(db: Db, projectId: string): Promise<void> {
  await db.updateTable('projects').set({ deactivated_at: null }).where('project_id', '=', projectId).execute();
}

/** Deactivation is recorded once; repeating it keeps the first moment. */
export async function deactivateCustomer(db: Db, customerId: string, at: Date): Promise<void> {
  await db
    .updateTable('customers')
    .set({ deactivated_at: at })
    .where('customer_id', '=', customerId)
    .where('deactivated_at', 'is', null)
    .execute();
  await db
    .updateTable('projects')
    .set({ deactivated_at: at })
    .where('customer_id', '=', customerId)
    .where('deactivated_at', 'is', null)
    .execute();
}

export async function deactivateProject(db: Db, projectId: string, at: Date): Promise<void> {
  await db
    .updateTable('projects')
    .set({ deactivated_at: at })
    .where('project_id', '=', projectId)
    .where('deactivated_at', 'is', null)
    .execute();
}
