import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { findCustomer, findProject } from '../provisioning/provisioning.repository.ts';
import * as repo from './sessions.repository.ts';
import { minutesOf, monthOf } from './rules.ts';

export interface PcuView {
  pcu: number | null;
  /** Sessions live now (silent ones of this scope are ended first). */
  live: number;
}

async function exists(db: Db, scope: 'customer' | 'project', id: string) {
  if (scope === 'customer' && !(await findCustomer(db, id))) throw new AppError('unknown_customer', `Customer ${id} is not provisioned`);
  if (scope === 'project' && !(await findProject(db, id))) throw new AppError('unknown_project', `Project ${id} is not provisioned`);
}

/** A scope's limit and the sessions live in it now. */
export async function pcuOf(db: Db, scope: 'customer' | 'project', id: string, now: Date): Promise<PcuView> {
  await exists(db, scope, id);
  const nowS = Math.floor(now.getTime() / 1000);
  // A live count that includes silent sessions would overstate the use: end this scope's first.
  while ((await repo.endSilentSessions(db, nowS, { limit: 500, ...(scope === 'customer' ? { customerId: id } : { projectId: id }) })).visited === 500);
  const row = await repo.limitOf(db, scope, id);
  return { pcu: row?.pcu ?? null, live: row?.live ?? 0 };
}

/**
 * The limits of a customer's first `limit` projects (projectId order), each with the sessions live
 * in it now: the customer's silent sessions ended first (which are all its projects'), then one
 * query over its projects (projects_customer_project_idx) and their `ext_limits` rows by key, where
 * the console made one `pcuOf` call per project.
 */
export async function projectPcusOf(db: Db, customerId: string, now: Date, limit: number): Promise<(PcuView & { projectId: string })[]> {
  await exists(db, 'customer', customerId);
  const nowS = Math.floor(now.getTime() / 1000);
  while ((await repo.endSilentSessions(db, nowS, { limit: 500, customerId })).visited === 500);
  const rows = await db
    .selectFrom('projects as p')
    .leftJoin('ext_limits as l', (j) => j.on('l.scope', '=', 'project').onRef('l.scope_id', '=', sql<string>`p.project_id::text`))
    .select([sql<string>`p.project_id::text`.as('project_id'), 'l.pcu', 'l.live'])
    .where('p.customer_id', '=', customerId)
    .orderBy('p.project_id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ projectId: r.project_id, pcu: r.pcu ?? null, live: r.live ?? 0 }));
}

/** Sets (or with null removes) a limit. Lowering it under the live count ends nothing: joins wait for room. */
export async function setPcu(db: Db, scope: 'customer' | 'project', id: string, pcu: number | null, now: Date): Promise<PcuView> {
  await exists(db, scope, id);
  await repo.setLimit(db, scope, id, pcu);
  return pcuOf(db, scope, id, now);
}

export async function setOverage(db: Db, pid: string, mode: 'block' | 'bill'): Promise<void> {
  const found = await db.selectFrom('license_pids').select('pid').where('pid', '=', pid).executeTakeFirst();
  if (!found) throw new AppError('unknown_pid', `No PID ${pid}`);
  await db
    .insertInto('ext_pid_overage')
    .values({ pid, mode })
    .onConflict((oc) => oc.column('pid').doUpdateSet({ mode, updated_at: new Date() }))
    .execute();
}

export async function overageOf(db: Db, pid: string): Promise<'block' | 'bill'> {
  const r = await db.selectFrom('ext_pid_overage').select('mode').where('pid', '=', pid).executeTakeFirst();
  return r?.mode ?? 'block';
}

/** A license's minutes this UTC month: used, left under the SKU's cap (null: none), overage billed. */
export async function licenseMinutes(db: Db, license: string, now: Date) {
  const l = await db
    .selectFrom('licenses as l')
    .innerJoin('license_pids as d', 'd.pid', 'l.pid')
    .innerJoin('license_skus as k', 'k.sku_id', 'd.sku_id')
    .leftJoin('ext_pid_overage as o', 'o.pid', 'l.pid')
    .select(['l.id', 'l.license', 'l.pid', 'k.minutes', 'o.mode'])
    .where('l.license', '=', license)
    .executeTakeFirst();
  if (!l) throw new AppError('unknown_license', `No license ${license}`);
  const month = monthOf(Math.floor(now.getTime() / 1000));
  const m = await db.selectFrom('ext_license_minutes').selectAll().where('license_id', '=', l.id).where('month', '=', month).executeTakeFirst();
  const seconds = Number(m?.seconds ?? '0');
  return {
    license: l.license,
    month: month.slice(0, 7),
    minutesCap: l.minutes,
    minutesUsed: minutesOf(seconds),
    minutesLeft: l.minutes === null ? null : minutesOf(Math.max(0, l.minutes * 60 - seconds)),
    overage: l.mode ?? 'block',
    overageMinutesBilled: minutesOf(m?.billed_seconds ?? '0'),
  };
}

/**
 * Sessions not yet ended on every instance, for /metrics: the runtime's per-customer counters
 * (`ext_limits.live`, one row per customer that ever joined), never a count of `ext_sessions`.
 * Silent sessions count until they are ended (by the sweep, within its interval).
 */
export async function liveSessionsTotal(db: Db): Promise<number> {
  const r = await db
    .selectFrom('ext_limits')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<string>('live'), eb.val('0')).as('n'))
    .where('scope', '=', 'customer')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
