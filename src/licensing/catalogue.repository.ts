import type { Insertable } from 'kysely';
import type { Db } from '../db/database.ts';
import type { LicensePid, LicensePidsTable, LicenseSku, LicenseSkusTable } from '../db/schema.ts';

/** A PID with its SKU: what a license's `skuView` and validity come from. */
export interface Product {
  pid: LicensePid;
  sku: LicenseSku;
}

/** True when the row was inserted, false when the SKU id was taken (by this request's twin, say). */
export async function insertSkuIfAbsent(db: Db, sku: Insertable<LicenseSkusTable>): Promise<boolean> {
  const rows = await db.insertInto('license_skus').values(sku).onConflict((oc) => oc.doNothing()).returning('sku_id').execute();
  return rows.length > 0;
}

export function findSku(db: Db, skuId: string): Promise<LicenseSku | undefined> {
  return db.selectFrom('license_skus').selectAll().where('sku_id', '=', skuId).executeTakeFirst();
}

export function listSkus(db: Db): Promise<LicenseSku[]> {
  return db.selectFrom('license_skus').selectAll().orderBy('sku_id').execute();
}

/** False when the pid or the definition (SKU, category, type, validity) already exists. */
export async function insertPidIfAbsent(db: Db, pid: Insertable<LicensePidsTable>): Promise<boolean> {
  const rows = await db.insertInto('license_pids').values(pid).onConflict((oc) => oc.doNothing()).returning('pid').execute();
  return rows.length > 0;
}

export function findPidByDefinition(
  db: Db,
  d: { skuId: string; category: LicensePid['category']; type: LicensePid['type']; validityMonths: number },
): Promise<LicensePid | undefined> {
  return db
    .selectFrom('license_pids')
    .selectAll()
    .where('sku_id', '=', d.skuId)
    .where('category', '=', d.category)
    .where('type', '=', d.type)
    .where('validity_months', '=', d.validityMonths)
    .executeTakeFirst();
}

export function findPid(db: Db, pid: string): Promise<LicensePid | undefined> {
  return db.selectFrom('license_pids').selectAll().where('pid', '=', pid).executeTakeFirst();
}

export function listPids(db: Db, filter: { skuId?: string | undefined }): Promise<LicensePid[]> {
  let q = db.selectFrom('license_pids').selectAll();
  if (filter.skuId !== undefined) q = q.where('sku_id', '=', filter.skuId);
  return q.orderBy('created_at').orderBy('pid').execute();
}

export async function findProduct(db: Db, pid: string): Promise<Product | undefined> {
  const row = await db
    .selectFrom('license_pids as p')
    .innerJoin('license_skus as s', 's.sku_id', 'p.sku_id')
    .select([
      'p.pid',
      'p.sku_id',
      'p.category',
      'p.type',
      'p.validity_months',
      'p.created_at as pid_created_at',
      's.product',
      's.name',
      's.media_type',
      's.minutes',
      's.period',
      's.created_at as sku_created_at',
    ])
    .where('p.pid', '=', pid)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    pid: { pid: row.pid, sku_id: row.sku_id, category: row.category, type: row.type, validity_months: row.validity_months, created_at: row.pid_created_at },
    sku: { sku_id: row.sku_id, product: row.product, name: row.name, media_type: row.media_type, minutes: row.minutes, period: row.period, created_at: row.sku_created_at },
  };
}
