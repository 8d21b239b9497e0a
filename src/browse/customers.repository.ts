import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

/**
 * Customers and projects as the vendor console lists them: keyset pages in id order (a range read
 * of `limit` index entries at any depth), counts from the counter rows the triggers of
 * migrations/20261201060000-vendor-console.ts keep, never `count(*)` over the table.
 */

export interface CustomerRow {
  customer_id: string;
  customer_name: string | null;
  customer_email: string | null;
  customer_phone: string | null;
  plan_id: string;
  created_at: Date;
  deactivated_at: Date | null;
  projects: string | null;
  active_projects: string | null;
}

export interface ProjectRow {
  project_id: string;
  customer_id: string;
  app_key: string;
  created_at: Date;
  deactivated_at: Date | null;
}

export type CustomerStatus = 'active' | 'deactivated';

/** Sum of the shards of the named counters. */
async function counted(db: Db, names: string[]): Promise<number> {
  const r = await db
    .selectFrom('vendor_counts')
    .select(sql<string>`coalesce(sum(n), 0)::text`.as('n'))
    .where('name', 'in', names)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

function customersQuery(db: Db) {
  return db
    .selectFrom('customers as c')
    .leftJoin('customer_project_counts as pc', 'pc.customer_id', 'c.customer_id')
    .select([
      'c.customer_id',
      'c.customer_name',
      'c.customer_email',
      'c.customer_phone',
      'c.plan_id',
      'c.created_at',
      'c.deactivated_at',
      'pc.projects',
      'pc.active as active_projects',
    ]);
}

/** Customers after `after` in customerId order, and how many the list holds. */
export async function customersPage(db: Db, f: { status?: CustomerStatus | undefined; after?: string | undefined; limit: number }) {
  let q = customersQuery(db);
  if (f.status === 'active') q = q.where('c.deactivated_at', 'is', null);
  if (f.status === 'deactivated') q = q.where('c.deactivated_at', 'is not', null);
  if (f.after !== undefined) q = q.where('c.customer_id', '>', f.after);
  const rows: CustomerRow[] = await q.orderBy('c.customer_id').limit(f.limit).execute();
  const names = f.status === undefined ? ['customers:active', 'customers:deactivated'] : [`customers:${f.status}`];
  return { rows, count: await counted(db, names) };
}

export function findCustomer(db: Db, customerId: string): Promise<CustomerRow | undefined> {
  return customersQuery(db).where('c.customer_id', '=', customerId).executeTakeFirst();
}

/** The first `limit` projects of a customer, in projectId order. */
export function projectsOfCustomer(db: Db, customerId: string, limit: number): Promise<ProjectRow[]> {
  return db
    .selectFrom('projects')
    .select(['project_id', 'customer_id', 'app_key', 'created_at', 'deactivated_at'])
    .where('customer_id', '=', customerId)
    .orderBy('project_id')
    .limit(limit)
    .execute();
}

/** A customer's deactivation periods (its own: projectId null, and its projects'), newest first. */
export function deactivationsOfCustomer(db: Db, customerId: string, limit: number) {
  return db
    .selectFrom('deactivations')
    .select(['project_id', 'deactivated_at', 'reactivated_at'])
    .where('customer_id', '=', customerId)
    .orderBy('deactivated_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** Projects after `after` in projectId order (of a customer, active or not), and how many the list holds. */
export async function projectsPage(db: Db, f: { customerId?: string | undefined; active?: boolean | undefined; after?: string | undefined; limit: number }) {
  let q = db.selectFrom('projects').select(['project_id', 'customer_id', 'app_key', 'created_at', 'deactivated_at']);
  if (f.customerId !== undefined) q = q.where('customer_id', '=', f.customerId);
  if (f.active === true) q = q.where('deactivated_at', 'is', null);
  if (f.active === false) q = q.where('deactivated_at', 'is not', null);
  if (f.after !== undefined) q = q.where('project_id', '>', f.after);
  // Of one customer: its projects in projectId order (projects_customer_project_idx).
  const ordered = f.customerId !== undefined ? q.orderBy('customer_id').orderBy('project_id') : q.orderBy('project_id');
  const rows: ProjectRow[] = await ordered.limit(f.limit).execute();
  let count: number;
  if (f.customerId !== undefined) {
    const c = await db.selectFrom('customer_project_counts').select(['projects', 'active']).where('customer_id', '=', f.customerId).executeTakeFirst();
    const all = Number(c?.projects ?? 0);
    const active = Number(c?.active ?? 0);
    count = f.active === undefined ? all : f.active ? active : all - active;
  } else {
    count = await counted(db, f.active === undefined ? ['projects:active', 'projects:deactivated'] : [f.active ? 'projects:active' : 'projects:deactivated']);
  }
  return { rows, count };
}
