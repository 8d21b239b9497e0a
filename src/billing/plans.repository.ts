import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { Decimal } from '../decimal.ts';
import type { Tier } from './tiers.ts';

export interface PlanVersion {
  id: string;
  planId: string;
  /** `YYYY-MM-01`. */
  effectiveMonth: string;
  currency: string;
  usageUnit: string;
  monthlyFee: Decimal;
  tiers: Tier[];
}

export interface VersionInput {
  effectiveMonth: string;
  currency: string;
  usageUnit: string;
  monthlyFee: Decimal;
  tiers: Tier[];
}

export async function insertPlan(db: Db, planId: string, name: string | null): Promise<boolean> {
  const r = await db
    .insertInto('plans')
    .values({ plan_id: planId, name })
    .onConflict((oc) => oc.column('plan_id').doNothing())
    .executeTakeFirst();
  return (r.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

export function findPlan(db: Db, planId: string) {
  return db.selectFrom('plans').selectAll().where('plan_id', '=', planId).executeTakeFirst();
}

/** Writes a version; one with the same plan and month is replaced (the caller checked it is unbilled). */
export async function upsertVersion(db: Db, planId: string, v: VersionInput): Promise<string> {
  const row = await db
    .insertInto('plan_versions')
    .values({
      plan_id: planId,
      effective_month: v.effectiveMonth,
      currency: v.currency,
      usage_unit: v.usageUnit,
      monthly_fee: v.monthlyFee.toFixed(),
    })
    .onConflict((oc) =>
      oc.columns(['plan_id', 'effective_month']).doUpdateSet((eb) => ({
        currency: eb.ref('excluded.currency'),
        usage_unit: eb.ref('excluded.usage_unit'),
        monthly_fee: eb.ref('excluded.monthly_fee'),
      })),
    )
    .returning('id')
    .executeTakeFirstOrThrow();
  await db.deleteFrom('plan_tiers').where('plan_version_id', '=', row.id).execute();
  await db
    .insertInto('plan_tiers')
    .values(
      v.tiers.map((t, i) => ({
        plan_version_id: row.id,
        tier_no: i + 1,
        from_qty: t.from.toFixed(),
        up_to: t.upTo === null ? null : t.upTo.toFixed(),
        unit_price: t.unitPrice.toFixed(),
      })),
    )
    .execute();
  return row.id;
}

/** Versions with their tiers, optionally of some plans only, oldest first within a plan. */
export async function loadVersions(db: Db, filter: { planIds?: string[]; versionIds?: string[] } = {}): Promise<PlanVersion[]> {
  let q = db.selectFrom('plan_versions').selectAll();
  if (filter.planIds) {
    if (filter.planIds.length === 0) return [];
    q = q.where('plan_id', 'in', filter.planIds);
  }
  if (filter.versionIds) {
    if (filter.versionIds.length === 0) return [];
    q = q.where('id', 'in', filter.versionIds);
  }
  const versions = await q.orderBy('plan_id').orderBy('effective_month').execute();
  if (versions.length === 0) return [];
  const tiers = await db
    .selectFrom('plan_tiers')
    .selectAll()
    .where(
      'plan_version_id',
      'in',
      versions.map((v) => v.id),
    )
    .orderBy('plan_version_id')
    .orderBy('tier_no')
    .execute();
  return versions.map((v) => ({
    id: v.id,
    planId: v.plan_id,
    effectiveMonth: v.effective_month,
    currency: v.currency,
    usageUnit: v.usage_unit,
    monthlyFee: new Decimal(v.monthly_fee),
    tiers: tiers
      .filter((t) => t.plan_version_id === v.id)
      .map((t) => ({ from: new Decimal(t.from_qty), upTo: t.up_to === null ? null : new Decimal(t.up_to), unitPrice: new Decimal(t.unit_price) })),
  }));
}

export function listPlans(db: Db) {
  return db.selectFrom('plans').selectAll().orderBy('plan_id').execute();
}

/** The latest month a bill was fixed for, as `YYYY-MM-01`, or null. */
export async function lastBilledMonth(db: Db): Promise<string | null> {
  const row = await db
    .selectFrom('statements')
    .select(sql<string>`to_char(max(window_start) at time zone 'UTC', 'YYYY-MM-DD')`.as('month'))
    .where('kind', '=', 'bill')
    .executeTakeFirst();
  return row?.month ?? null;
}

/** The version of each plan in force in `month` (`YYYY-MM-01`): the latest effective by then. */
export function versionsInForce(versions: PlanVersion[], month: string): Map<string, PlanVersion> {
  const out = new Map<string, PlanVersion>();
  for (const v of versions) {
    if (v.effectiveMonth <= month) {
      const current = out.get(v.planId);
      if (!current || current.effectiveMonth < v.effectiveMonth) out.set(v.planId, v);
    }
  }
  return out;
}
