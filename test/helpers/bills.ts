import { sql } from 'kysely';
import { afterEach, beforeEach, expect } from 'vitest';
import { deferredBillSettings } from '../../src/billing/bill.service.ts';
import type { Db } from '../../src/db/database.ts';
import { buildSettings, settleBuilds } from '../../src/statements/store.ts';
import { buildApp, provision, type TestApp } from './app.ts';
import type { TestContext } from './setup.ts';

/** The app the bill tests run with: `gold` is the default plan, bills in cents. */
export const BILL_ENV = { DEFAULT_PLAN_ID: 'gold', BILL_DECIMALS: '2' };

/** The bill tests' plans, no monthly fee: `gold` graduated in two tiers, `silver` one price. */
export const GOLD = {
  planId: 'gold',
  currency: 'USD',
  usageUnit: 'Minute',
  effectiveFrom: '2025-01',
  tiers: [
    { upTo: '1000', unitPrice: '0.002' },
    { upTo: null, unitPrice: '0.0015' },
  ],
};
export const SILVER = { ...GOLD, planId: 'silver', tiers: [{ upTo: null, unitPrice: '0.01' }] };

/** Agora's window for a whole month `YYYY-MM`. */
export const monthWindow = (ym: string) => {
  const [y, m] = ym.split('-').map(Number) as [number, number];
  return { fromTs: Date.UTC(y, m - 1, 1) / 1000, toTs: Date.UTC(y, m, 1) / 1000 - 1 };
};

/** One page of a month's bill as Agora asks for it: its status, exact text and parsed body. */
export async function billPage(app: TestApp, ym: string, pageNum: number, limit = 100) {
  const r = await app.agoraGet('/bill', { ...monthWindow(ym), pageNum, limit });
  const text = await r.text();
  return { status: r.status, text, body: r.status === 200 ? JSON.parse(text) : null };
}

/** Every page of a month's bill, in order. */
export async function allBillPages(app: TestApp, ym: string, limit = 100) {
  const texts: string[] = [];
  const entries: any[] = [];
  for (let n = 1; ; n++) {
    const p = await billPage(app, ym, n, limit);
    expect(p.status, p.text).toBe(200);
    texts.push(p.text);
    entries.push(...p.body.data.data);
    if (!p.body.data.hasNext) return { texts, entries, totalSize: p.body.data.totalSize as number };
  }
}

/** The statement row of a month's bill. */
export const billRow = (db: Db, ym: string) =>
  db.selectFrom('statements').selectAll().where('kind', '=', 'bill').where('window_start', '=', new Date(monthWindow(ym).fromTs * 1000)).executeTakeFirstOrThrow();

export const blockCount = async (db: Db, id: string) =>
  Number((await sql<{ n: string }>`select count(*)::text as n from statement_blocks where statement_id = ${id}::bigint`.execute(db)).rows[0]!.n);

/**
 * Forgets bill `ym` as if it had never been asked for (its blocks, the corrections it took, the
 * marks on the late events), and reads it again fixed whole, as before the deferred designs: the
 * reference the deferred fixes are compared with, byte for byte.
 */
export async function wholeFixOfSameData(db: Db, ym: string, limit: number, env: Record<string, string>) {
  const st = await billRow(db, ym);
  await sql`delete from statement_blocks where statement_id = ${st.id}::bigint`.execute(db);
  await sql`delete from bill_corrections where bill_statement_id = ${st.id}::bigint`.execute(db);
  await sql`update usage_events set bill_statement_id = null where bill_statement_id = ${st.id}::bigint`.execute(db);
  await sql`delete from statements where id = ${st.id}::bigint`.execute(db);
  deferredBillSettings.enabled = false;
  try {
    const app = buildApp(db, env);
    const pages = await allBillPages(app, ym, limit);
    const row = await billRow(db, ym);
    expect(row.building).toBe(false);
    expect(row.bill_pricing).toBeNull();
    return { ...pages, row };
  } finally {
    deferredBillSettings.enabled = true;
  }
}

/**
 * The statement store's and the deferred bills' settings, set for a test (chunks of 100 lines,
 * numbering on request, not in the background) and put back after it, once the numbering the test
 * began has settled. With `noReports`, a numbering that failed or found more lines than counted
 * (told through `buildSettings.report`) fails the test.
 */
export function deferredBillHooks(ctx: TestContext, opts: { noReports?: boolean } = {}): { report: (err: unknown) => void } {
  const settings = { ...buildSettings };
  const billDefaults = { ...deferredBillSettings };
  const reported: string[] = [];
  const report = (err: unknown) => void reported.push(String(err));
  beforeEach(() => {
    Object.assign(buildSettings, settings, { chunkLines: 100, background: false }, opts.noReports ? { report } : {});
    Object.assign(deferredBillSettings, billDefaults);
    reported.length = 0;
  });
  afterEach(async () => {
    Object.assign(buildSettings, settings, { background: false });
    await settleBuilds(ctx.tdb.db);
    Object.assign(buildSettings, settings);
    Object.assign(deferredBillSettings, billDefaults);
    expect(reported).toEqual([]);
  });
  // A test that silences reports for a while puts this one back.
  return { report };
}

/** An admin call that must succeed: its parsed body. */
export function adminOk(ctx: TestContext) {
  return async (method: string, path: string, body?: unknown) => {
    const r = await ctx.t.admin(method, path, body);
    const text = await r.text();
    expect(r.status, text).toBeLessThan(300);
    return JSON.parse(text) as any;
  };
}

/** Usage through the public API in batches of 500, ids `<prefix>-<n>`, every event accepted. */
/** A plan whose first 100 units are free and which owes no monthly fee (its projects owe no fee whatever the others do). */
export const FREE = { ...GOLD, planId: 'free', monthlyFee: '0', tiers: [{ upTo: '100', unitPrice: '0' }, { upTo: null, unitPrice: '0.001' }] };

/**
 * The bills' test world: `plans` created; customer `c<i>` on `customers[i - 1]` (a plan id, or
 * one that does not exist) with project `i`; projects after them up to `lastProject` spread over
 * the customers in turn; and every project created at `createdAt` when given.
 */
export async function billWorld(ctx: TestContext, o: { plans: object[]; customers: string[]; lastProject: number; createdAt?: string }): Promise<void> {
  const admin = adminOk(ctx);
  for (const plan of o.plans) await admin('POST', '/v1/plans', plan);
  for (const [i, planId] of o.customers.entries()) await provision(ctx.t, `c${i + 1}`, [i + 1], planId);
  const n = o.customers.length;
  await sql`insert into projects (project_id, customer_id, app_key, app_secret)
    select g, 'c' || (g % ${n}::int + 1), md5('k' || g), md5('s' || g) from generate_series(${n + 1}::int, ${o.lastProject}::int) g`.execute(ctx.tdb.db);
  if (o.createdAt !== undefined) await sql`update projects set created_at = ${o.createdAt}::timestamptz`.execute(ctx.tdb.db);
}

export function usageBatches(ctx: TestContext, prefix: string) {
  const admin = adminOk(ctx);
  let seq = 0;
  return async (events: { projectId: number; quantity: string; at: string }[]) => {
    for (let i = 0; i < events.length; i += 500) {
      const body = await admin('POST', '/v1/usage-events', {
        events: events.slice(i, i + 500).map((e) => ({ id: `${prefix}-${++seq}`, projectId: e.projectId, quantity: e.quantity, occurredAt: e.at })),
      });
      expect(body.rejected).toBe(0);
    }
  };
}
