import type { Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { randomToken } from '../ids.ts';
import { emit } from '../notifications/outbox.ts';
import * as repo from './provisioning.repository.ts';

export type { CustomerInput } from './provisioning.repository.ts';

/**
 * Every provisioning write of one customer runs here, one at a time. Each reads state (is the
 * customer deactivated? which projects are active? is a deactivation period open?) and then writes
 * on that basis; under READ COMMITTED two of them at once would each act on what the other has not
 * committed yet, e.g. a project enabled while its customer is being deactivated stays active.
 */
function inCustomerTransaction<T>(db: Db, customerId: string, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await repo.lockCustomer(trx, customerId);
    return fn(trx);
  });
}

/** Whether provisioning `input` changes the customer as stored (absent: it creates it). */
function customerChanges(before: Awaited<ReturnType<typeof repo.findCustomer>>, input: repo.CustomerInput): boolean {
  return (
    !before ||
    before.deactivated_at !== null ||
    before.plan_id !== input.planId ||
    before.customer_name !== input.customerName ||
    before.customer_email !== input.customerEmail ||
    before.customer_phone !== input.customerPhone
  );
}

/**
 * Agora re-sends a request up to twice; every operation here has the effect of one call and
 * answers the same each time. An event is stored only by the call that changed something
 * (created, reactivated, changed a field, deactivated): a re-sent call (the same body again) finds
 * nothing to change, under the customer's lock, and sends nothing.
 */
export async function provisionCustomer(db: Db, input: repo.CustomerInput, now = new Date()): Promise<void> {
  await inCustomerTransaction(db, input.customerId, async (trx) => {
    const changes = customerChanges(await repo.findCustomer(trx, input.customerId), input);
    await repo.closeDeactivation(trx, input.customerId, null, now);
    await repo.upsertCustomer(trx, input, now);
    if (changes) await emit(trx, 'customer.provisioned', { ...input }, now);
  });
}

async function activeCustomer(db: Db, customerId: string) {
  const customer = await repo.findCustomer(db, customerId);
  if (!customer) throw new AppError('unknown_customer', `Customer ${customerId} is not provisioned`);
  return customer;
}

export interface ProjectCredentials {
  appKey: string;
  appSecret: string;
}

export async function provisionProject(db: Db, customerId: string, projectId: string, now = new Date()): Promise<ProjectCredentials> {
  return inCustomerTransaction(db, customerId, async (trx) => {
    const customer = await activeCustomer(trx, customerId);
    if (customer.deactivated_at) {
      throw new AppError('customer_deactivated', `Customer ${customerId} is deactivated; activate the extension again first`);
    }
    // 24 and 36 random bytes: 32 and 48 characters, inside Agora's 32–255 bytes.
    const created = await repo.insertProjectIfAbsent(trx, { projectId, customerId, appKey: randomToken(24), appSecret: randomToken(36) });
    const project = (await repo.findProject(trx, projectId))!;
    if (project.customer_id !== customerId) {
      throw new AppError('project_of_another_customer', `Project ${projectId} belongs to another customer`);
    }
    if (project.deactivated_at) await repo.reactivateProject(trx, customerId, projectId, now);
    if (created || project.deactivated_at) await emit(trx, 'project.provisioned', { customerId, projectId }, now);
    return { appKey: project.app_key, appSecret: project.app_secret };
  });
}

export async function deactivateCustomer(db: Db, customerId: string, now = new Date()): Promise<void> {
  await inCustomerTransaction(db, customerId, async (trx) => {
    await activeCustomer(trx, customerId);
    if (await repo.deactivateCustomer(trx, customerId, now)) await emit(trx, 'customer.deactivated', { customerId }, now);
  });
}

export async function deactivateProject(db: Db, customerId: string, projectId: string, now = new Date()): Promise<void> {
  await inCustomerTransaction(db, customerId, async (trx) => {
    await activeCustomer(trx, customerId);
    const project = await repo.findProject(trx, projectId);
    if (!project || project.customer_id !== customerId) {
      throw new AppError('unknown_project', `Project ${projectId} is not provisioned for customer ${customerId}`);
    }
    if (await repo.deactivateProject(trx, customerId, projectId, now)) await emit(trx, 'project.deactivated', { customerId, projectId }, now);
  });
}
