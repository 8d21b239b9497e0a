import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Selectable } from 'kysely';
import type { WebhookEndpointsTable } from '../db/schema.ts';

export type EndpointRow = Selectable<WebhookEndpointsTable>;

export function newEndpointId(): string {
  return `ep_${randomBytes(12).toString('hex')}`;
}

export function listEndpoints(db: Db): Promise<EndpointRow[]> {
  return db.selectFrom('webhook_endpoints').selectAll().orderBy('created_at').orderBy('id').execute();
}

export function findEndpoint(db: Db, id: string): Promise<EndpointRow | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

export function insertEndpoint(db: Db, e: { id: string; url: string; events: string[]; description: string | null; secret: string; at: Date }): Promise<EndpointRow> {
  return db
    .insertInto('webhook_endpoints')
    .values({ id: e.id, url: e.url, events: e.events, description: e.description, secret: e.secret, created_at: e.at, updated_at: e.at })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function updateEndpoint(
  db: Db,
  id: string,
  change: { url?: string | undefined; events?: string[] | undefined; enabled?: boolean | undefined; description?: string | null | undefined },
  at: Date,
): Promise<EndpointRow | undefined> {
  return db
    .updateTable('webhook_endpoints')
    .set({
      updated_at: at,
      ...(change.url !== undefined ? { url: change.url } : {}),
      ...(change.events !== undefined ? { events: change.events } : {}),
      ...(change.description !== undefined ? { description: change.description } : {}),
      // Enabled again by hand: the failure streak starts over.
      ...(change.enabled !== undefined ? { enabled: change.enabled, ...(change.enabled ? { disabled_reason: null, failing_since: null } : {}) } : {}),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes the endpoint; its pending deliveries are failed (the log of every delivery stays). */
export async function deleteEndpoint(db: Db, id: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const gone = await trx.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
    if (gone.numDeletedRows === 0n) return false;
    await trx.updateTable('webhook_deliveries').set({ status: 'failed', locked_until: null }).where('endpoint_id', '=', id).where('status', '=', 'pending').execute();
    return true;
  });
}

export const ROTATION_OVERLAP_MS = 24 * 3600_000;

export function rotateSecret(db: Db, id: string, secret: string, at: Date): Promise<EndpointRow | undefined> {
  return db
    .updateTable('webhook_endpoints')
    .set({ previous_secret: sql<string>`secret`, previous_secret_until: new Date(at.getTime() + ROTATION_OVERLAP_MS), secret, updated_at: at })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  endpoint_id: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  created_at: Date;
}

export interface AttemptRow {
  delivery_id: string;
  at: Date;
  http_status: number | null;
  duration_ms: number;
  error: string | null;
  response: string | null;
}

/** Newest first, after the delivery id `after`; with every attempt of each. */
export async function listDeliveries(
  db: Db,
  f: { endpointId?: string | undefined; type?: string | undefined; status?: string | undefined; after?: string | undefined; limit: number },
): Promise<{ deliveries: DeliveryRow[]; attempts: AttemptRow[] }> {
  let q = db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.seq', 'd.event_seq')
    .select(['d.id', 'e.id as event_id', 'e.type', 'd.endpoint_id', 'd.status', 'd.attempts', 'd.next_attempt_at', 'd.last_attempt_at', 'd.created_at'])
    .orderBy('d.id', 'desc')
    .limit(f.limit);
  if (f.endpointId !== undefined) q = q.where('d.endpoint_id', '=', f.endpointId);
  if (f.type !== undefined) q = q.where('e.type', '=', f.type);
  if (f.status === 'pending' || f.status === 'delivered' || f.status === 'failed') q = q.where('d.status', '=', f.status);
  if (f.after !== undefined) q = q.where('d.id', '<', f.after);
  const deliveries = await q.execute();
  const attempts =
    deliveries.length === 0
      ? []
      : await db
          .selectFrom('webhook_attempts')
          .select(['delivery_id', 'at', 'http_status', 'duration_ms', 'error', 'response'])
          .where(
            'delivery_id',
            'in',
            deliveries.map((d) => d.id),
          )
          .orderBy('id')
          .execute();
  return { deliveries, attempts };
}

/** Due now again (one more attempt, then the schedule goes on from where it was). */
export async function retryNow(db: Db, id: string, at: Date): Promise<boolean> {
  const r = await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: at, locked_until: null })
    .where('id', '=', id)
    .where(sql<boolean>`exists (select 1 from webhook_endpoints ep where ep.id = webhook_deliveries.endpoint_id)`)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}
