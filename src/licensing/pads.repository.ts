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

export interface PadPage {
  rows: { id: string; customer_id: string; license_key: string; created_at: Date }[];
  /** Entries of the whole list, from the maintained counter. */
  count: number;
  /** The list's version when this page was read (changes with every write). */
  version: string;
}

/**
 * A page of the whitelist in id order: the entries after id `after`, skipping `offset` of them.
 * With `offset` 0 it reads `limit` index entries whatever the depth (keyset); an offset costs that
 * many index entries more, bounded by the whitelist's cap. The count and the version come from the
 * counter row in the same statement, so they describe exactly the list the rows were read from.
 */
export async function page(db: Db, projectId: string, p: { after: string; offset: number; limit: number }): Promise<PadPage> {
  const { rows } = await sql<{ entries: string; version: string; id: string | null; customer_id: string | null; license_key: string | null; created_at: Date | null }>`
    select c.entries, c.version, p.id, p.customer_id, p.license_key, p.created_at
    from (
      select coalesce(max(entries), 0)::bigint as entries, coalesce(max(version), 0)::bigint as version
      from license_pad_counts where project_id = ${projectId}
    ) c
    left join lateral (
      select id, customer_id, license_key, created_at from license_pads
      where project_id = ${projectId} and id > ${p.after}
      order by id offset ${p.offset} limit ${p.limit}
    ) p on true
    order by p.id`.execute(db);
  const first = rows[0];
  return {
    count: Number(first?.entries ?? 0),
    version: first?.version ?? '0',
    rows: rows.flatMap((r) => (r.id === null ? [] : [{ id: r.id, customer_id: r.customer_id!, license_key: r.license_key!, created_at: r.created_at! }])),
  };
}

/** Entries of the project's whitelist and the list's version, from the maintained counter (one row). */
export async function counter(db: Db, projectId: string): Promise<{ entries: number; version: string }> {
  const row = await db.selectFrom('license_pad_counts').select(['entries', 'version']).where('project_id', '=', projectId).executeTakeFirst();
  return { entries: Number(row?.entries ?? 0), version: row?.version ?? '0' };
}

export async function entries(db: Db, projectId: string): Promise<number> {
  return (await counter(db, projectId)).entries;
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
