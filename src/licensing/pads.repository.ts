import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB } from '../db/schema.ts';

/** Pre-authorization: one switch per project (no row: off) and the project's whitelist. */

export async function isEnabled(db: Db, projectId: string): Promise<boolean> {
  const row = await db.selectFrom('license_pad_settings').select('enabled').where('project_id', '=', projectId).executeTakeFirst();
  return row?.enabled ?? false;
}

/** Flips the switch in one statement (concurrent toggles each flip it once) and answers the new state. */
export async function toggle(db: Db, projectId: string): Promise<boolean> {
  const row = await db
    .insertInto('license_pad_settings')
    .values({ project_id: projectId, enabled: true })
    .onConflict((oc) => oc.column('project_id').doUpdateSet({ enabled: sql`not license_pad_settings.enabled`, updated_at: new Date() }))
    .returning('enabled')
    .executeTakeFirstOrThrow();
  return row.enabled;
}

export async function set(db: Db, projectId: string, enabled: boolean): Promise<boolean> {
  await db
    .insertInto('license_pad_settings')
    .values({ project_id: projectId, enabled })
    .onConflict((oc) => oc.column('project_id').doUpdateSet({ enabled, updated_at: new Date() }))
    .execute();
  return enabled;
}

/**
 * Whether the key is on the project's whitelist, holding its entry (FOR SHARE) until the
 * activation commits: a concurrent delete or clear waits, so a key removed from the list can never
 * activate after the removal has committed.
 */
export async function lockListed(db: Transaction<DB>, projectId: string, licenseKey: string): Promise<boolean> {
  const row = await db
    .selectFrom('license_pads')
    .select('id')
    .where('project_id', '=', projectId)
    .where('license_key', '=', licenseKey)
    .forShare()
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Adds the keys that are not listed yet; answers how many were added. Keys are inserted in sorted
 * order so that two concurrent uploads sharing keys take their index locks in the same order
 * (in file order, [a, b] against [b, a] would deadlock).
 */
export async function addKeys(db: Db, projectId: string, customerId: string, keys: string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const { rows } = await sql<{ n: string }>`
    with added as (
      insert into license_pads (project_id, customer_id, license_key)
      select ${projectId}::bigint, ${customerId}, k from unnest(${keys}::text[]) as u(k) order by k
      on conflict (project_id, license_key) do nothing
      returning 1
    )
    select count(*) as n from added`.execute(db);
  return Number(rows[0]!.n);
}

export async function deleteIds(db: Db, projectId: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db.deleteFrom('license_pads').where('project_id', '=', projectId).where('id', 'in', ids).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function clear(db: Db, projectId: string): Promise<number> {
  const r = await db.deleteFrom('license_pads').where('project_id', '=', projectId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export function find(db: Db, projectId: string, licenseKey: string) {
  return db.selectFrom('license_pads').selectAll().where('project_id', '=', projectId).where('license_key', '=', licenseKey).execute();
}

export async function page(db: Db, projectId: string, offset: number, limit: number) {
  const q = db.selectFrom('license_pads').where('project_id', '=', projectId);
  const [rows, total] = await Promise.all([
    q.selectAll().orderBy('id').offset(offset).limit(limit).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, count: Number(total.n) };
}

/** The keys after id `afterId`, in id order, for the export read in batches. */
export function keysAfter(db: Db, projectId: string, afterId: string, limit: number) {
  return db
    .selectFrom('license_pads')
    .select(['id', 'license_key'])
    .where('project_id', '=', projectId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}
