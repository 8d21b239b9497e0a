import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';

/**
 * Something that expires and is reminded of. Adding a kind is one more entry in EXPIRY_SOURCES: a
 * function answering the things whose expiry lies in (`from`, `to`] as rows
 * `(thing_id text, expires_at timestamptz, details jsonb)`, by an index on the expiry. `details`
 * goes into the event's data next to `kind`, `id`, `expiresAt`, `daysLeft`.
 * A renewal is a new `expires_at` of the same thing: its thresholds start again by themselves
 * (reminders_sent is keyed by thing, expiry and threshold).
 * The kinds: device licenses, platforms, agents and grants (below; docs/webhooks.md).
 */
export interface ExpirySource {
  /** Stable: it is part of the key that makes a reminder exactly-once. */
  kind: string;
  things(from: Date, to: Date): RawBuilder<{ thing_id: string; expires_at: Date; details: unknown }>;
}

export const deviceLicenses: ExpirySource = {
  kind: 'device_license',
  things: (from, to) => sql`
    select l.id::text as thing_id, l.expires_at,
      jsonb_build_object('license', l.license, 'licenseKey', l.license_key, 'pid', l.pid, 'customerId', l.customer_id, 'projectId', l.project_id::text) as details
    from licenses l where l.expires_at > ${from} and l.expires_at <= ${to}`,
};

/**
 * A customer's platform (src/certificates): one thing per customer; stacking a certificate moves
 * its expiry, so the thresholds start again. A permanent platform is never reminded of.
 */
export const platforms: ExpirySource = {
  kind: 'platform',
  things: (from, to) => sql`
    select p.customer_id as thing_id, p.expires_at, jsonb_build_object('customerId', p.customer_id) as details
    from license_platforms p where not p.permanent and p.expires_at > ${from} and p.expires_at <= ${to}`,
};

/**
 * An agent's own licence (its bound certificates, stacked). An agent covered by unlimited agents
 * lasts as long as its platform when that is later (agentExpiry in certificates.service.ts): then
 * its own expiry is no lapse, and the platform's reminder tells of both, so it is left out here.
 */
export const agents: ExpirySource = {
  kind: 'agent',
  things: (from, to) => sql`
    select a.customer_id || '/' || a.agent_id as thing_id, a.expires_at,
      jsonb_build_object('customerId', a.customer_id, 'agentId', a.agent_id) as details
    from license_agents a
    where not a.permanent and a.deleted_at is null and a.expires_at > ${from} and a.expires_at <= ${to}
      and not (a.unlimited and exists (
        select 1 from license_platforms p where p.customer_id = a.customer_id and (p.permanent or p.expires_at >= a.expires_at)))`,
};

/**
 * An Agora grant (src/runtime/grants.service.ts). A grant that a later grant of the same customer
 * continues (it starts by this one's end, lasts longer and covers its platforms) does not lapse:
 * stacking leaves the reminders to the later grant's end.
 */
export const grants: ExpirySource = {
  kind: 'grant',
  things: (from, to) => sql`
    select g.id::text as thing_id, g.ends_at as expires_at,
      jsonb_build_object('grantId', g.id::text, 'customerId', g.customer_id, 'platforms', to_jsonb(g.platforms),
        'startsAt', to_char(g.starts_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) as details
    from license_grants g
    where g.ends_at > ${from} and g.ends_at <= ${to}
      and not exists (
        select 1 from license_grants n
        where n.customer_id = g.customer_id and n.id <> g.id and n.starts_at <= g.ends_at and n.ends_at > g.ends_at and n.platforms @> g.platforms)`,
};

/** Every kind of thing reminded of. */
export const EXPIRY_SOURCES: ExpirySource[] = [deviceLicenses, platforms, agents, grants];

/**
 * Things that expired longer ago than this get no `license.expired` (nor any reminder): after a
 * long downtime, or on the first start with old data, there is no flood of stale news.
 */
export const EXPIRED_CATCH_UP_DAYS = 30;

const DAY_MS = 86_400_000;

/**
 * Sends the reminders due at `now` for one source, at most `limit`; answers how many. For each
 * thing only its latest threshold passed is considered (after downtime the missed earlier ones are
 * skipped), and only if neither it nor a later one was sent for this expiry. The reminders_sent row
 * and the event are inserted in one statement in the caller's transaction: its primary key makes
 * the reminder exactly-once over instances, restarts and retries.
 */
export async function sendDueReminders(trx: Transaction<DB>, source: ExpirySource, now: Date, reminderDays: number[], limit: number): Promise<number> {
  const thresholds = [...new Set([...reminderDays, 0])];
  const from = new Date(now.getTime() - EXPIRED_CATCH_UP_DAYS * DAY_MS);
  const to = new Date(now.getTime() + Math.max(...thresholds) * DAY_MS);
  const r = await sql<{ n: string }>`
    with things as (${source.things(from, to)}),
    due as (
      select t.thing_id, t.expires_at, t.details,
        (select min(d) from unnest(${thresholds}::int[]) d where t.expires_at - make_interval(days => d) <= ${now}) as threshold
      from things t
    ),
    fresh as (
      insert into reminders_sent (kind, thing_id, expires_at, threshold, sent_at)
      select ${source.kind}, due.thing_id, due.expires_at, due.threshold, ${now} from due
      where due.threshold is not null and not exists (
        select 1 from reminders_sent r
        where r.kind = ${source.kind} and r.thing_id = due.thing_id and r.expires_at = due.expires_at and r.threshold <= due.threshold)
      limit ${limit}
      on conflict do nothing
      returning thing_id, expires_at, threshold
    ),
    events as (
      insert into webhook_events (id, type, data, created_at)
      select 'msg_' || replace(gen_random_uuid()::text, '-', ''),
        case when f.threshold = 0 then 'license.expired' else 'license.expiring' end,
        jsonb_build_object('kind', ${source.kind}::text, 'id', f.thing_id,
          'expiresAt', to_char(f.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
          || coalesce(due.details, '{}'::jsonb)
          || case when f.threshold = 0 then '{}'::jsonb else jsonb_build_object('daysLeft', f.threshold) end,
        ${now}
      from fresh f join due on due.thing_id = f.thing_id and due.expires_at = f.expires_at
      returning 1
    )
    select count(*)::text as n from events`.execute(trx);
  return Number(r.rows[0]!.n);
}
