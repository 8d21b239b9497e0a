import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { buildApp, provision, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Provisioning calls of one customer racing each other, on two instances of one Postgres database.
 * Whatever order they commit in, the result must be one the calls could have had one after another:
 * no active project under a deactivated customer, and every deactivated customer or project has its
 * open period in `deactivations` (and an active one has none).
 */

const ctx = setupTestApp({ clearEach: false });
let other: Database;
let t2: TestApp;

beforeAll(async () => {
  if (!onPostgres) return;
  other = await ctx.tdb.openAnother();
  t2 = buildApp(other.db);
});
afterAll(async () => {
  await other?.close();
});

const TRIALS = 40;

async function checkInvariants(customerIds: string[]) {
  const db = ctx.tdb.db;
  const customers = await db.selectFrom('customers').selectAll().where('customer_id', 'in', customerIds).execute();
  const projects = await db.selectFrom('projects').selectAll().where('customer_id', 'in', customerIds).execute();
  const open = await db
    .selectFrom('deactivations')
    .selectAll()
    .where('customer_id', 'in', customerIds)
    .where('reactivated_at', 'is', null)
    .execute();
  const problems: string[] = [];
  for (const c of customers) {
    const periods = open.filter((d) => d.customer_id === c.customer_id && d.project_id === null);
    if (c.deactivated_at) {
      if (periods.length !== 1) problems.push(`customer ${c.customer_id} deactivated with ${periods.length} open periods`);
      for (const p of projects.filter((p) => p.customer_id === c.customer_id && !p.deactivated_at)) {
        problems.push(`project ${p.project_id} active under deactivated customer ${c.customer_id}`);
      }
    } else if (periods.length !== 0) {
      problems.push(`customer ${c.customer_id} active with ${periods.length} open periods`);
    }
  }
  for (const p of projects) {
    const periods = open.filter((d) => d.project_id === p.project_id);
    const expected = p.deactivated_at ? 1 : 0;
    if (periods.length !== expected) problems.push(`project ${p.project_id} (${p.deactivated_at ? 'deactivated' : 'active'}) with ${periods.length} open periods`);
  }
  return problems;
}

describe.skipIf(!onPostgres)('provisioning calls of one customer at once (Postgres, two instances)', () => {
  it('deactivate racing new projects leaves no active project under a deactivated customer', async () => {
    const ids: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const customerId = `race-${i}`;
      ids.push(customerId);
      await provision(ctx.t, customerId, [100_000 + i * 10]);
      const answers = await Promise.all([
        t2.agoraSend('PUT', `/customers/${customerId}/deactivate`, {}),
        ctx.t.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId: 100_000 + i * 10 + 1 }),
        t2.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId: 100_000 + i * 10 + 2 }),
        ctx.t.agoraSend('PUT', `/customers/${customerId}/deactivate`, {}),
      ]);
      // Each project call either came first (200) or found the customer deactivated (409).
      expect(answers.map((r) => r.status)).toEqual([200, expect.toBeOneOf([200, 409]), expect.toBeOneOf([200, 409]), 200]);
    }
    expect(await checkInvariants(ids)).toEqual([]);
    const deactivated = await ctx.tdb.db.selectFrom('customers').select('customer_id').where('customer_id', 'in', ids).where('deactivated_at', 'is not', null).execute();
    expect(deactivated).toHaveLength(TRIALS);
  });

  it('reactivation, deactivation and project calls at once keep every period recorded', async () => {
    const ids: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const customerId = `mix-${i}`;
      ids.push(customerId);
      const base = 200_000 + i * 10;
      await provision(ctx.t, customerId, [base, base + 1]);
      await ctx.t.agoraSend('PUT', `/customers/${customerId}/deactivate`, {});
      const answers = await Promise.all([
        ctx.t.agoraSend('POST', '/customers/new', { customerId, planId: 'basic' }),
        t2.agoraSend('PUT', `/customers/${customerId}/deactivate`, {}),
        ctx.t.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId: base }),
        t2.agoraSend('PUT', `/customers/${customerId}/projects/${base + 1}/deactivate`, {}),
        ctx.t.agoraSend('POST', '/customers/new', { customerId, planId: 'basic' }),
        t2.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId: base + 1 }),
      ]);
      for (const r of answers) expect([200, 409]).toContain(r.status);
    }
    expect(await checkInvariants(ids)).toEqual([]);
  });
});
