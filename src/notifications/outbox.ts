import { randomBytes } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';

/**
 * The event catalogue: every type the server sends, what its `data` holds, and where it comes
 * from. docs/webhooks.md shows this table as `renderCatalogue()` writes it (a test compares them).
 */
export const EVENT_TYPES = {
  'statement.fixed': {
    data: '`statementId`, `kind` (usage, bill), `windowStart`, `windowEnd`, `lineCount`, `total`, `correctionTotal` (decimal strings)',
    when: 'a usage or bill statement is fixed (the first time Agora or the vendor asks for its window)',
  },
  'usage.correction_carried': {
    data: '`statementId`, `windowStart`, `windowEnd`, `correctionTotal`, `projectCount`, `projects`: up to 100 of `{projectId, quantity, windowCount, windows}`, `windows` up to 31 of `{windowStart, windowEnd, quantity}`: the UTC days the late usage belonged to',
    when: 'a fixed usage statement carries late usage of earlier windows',
  },
  'customer.provisioned': {
    data: '`customerId`, `planId`, `customerName`, `customerEmail`, `customerPhone`, as Agora sent them',
    when: 'Agora provisions, re-activates or changes a customer (a re-sent call changing nothing sends nothing)',
  },
  'customer.deactivated': { data: '`customerId`', when: 'Agora deactivates a customer (a repeat sends nothing)' },
  'project.provisioned': { data: '`customerId`, `projectId`', when: 'Agora provisions (or re-enables) a project (a repeat sends nothing)' },
  'project.deactivated': { data: '`customerId`, `projectId`', when: 'Agora deactivates a project (a repeat sends nothing)' },
  'license.activated': {
    data: '`license`, `licenseKey`, `pid`, `customerId`, `projectId`, `expiresAt`',
    when: 'a device license is activated (a repeated activation of the same key sends nothing)',
  },
  'license.renewed': {
    data: '`license`, `licenseKey`, `pid`, `customerId`, `projectId`, `previousExpiresAt`, `expiresAt`, `renewId`',
    when: 'a device license is renewed',
  },
  'license.expiring': {
    data: '`kind` (`device_license`, `platform`, `agent`, `grant`), `id`, `expiresAt`, `daysLeft`, and what the kind tells of the thing (device license: `license`, `licenseKey`, `pid`, `customerId`, `projectId`; platform: `customerId`; agent: `customerId`, `agentId`; grant: `grantId`, `customerId`, `platforms`, `startsAt`)',
    when: 'REMINDER_DAYS before an expiry (default 45, 30, 15 and each of the last 7 days)',
  },
  'license.expired': { data: 'as `license.expiring`, without `daysLeft`', when: 'at the expiry' },
  'quota.low': {
    data: '`customerId`, `pid`, `pool` (`shared` or the projectId), `capacity`, `used` (integer strings)',
    when: 'a take leaves 10 % of a pool or less (once per crossing)',
  },
  'quota.exhausted': { data: 'as `quota.low`', when: 'a take uses the last license of a pool' },
  'agora.signature_failed': {
    data: '`count`, `firstAt`, `lastAt` (one minute of failures, all instances together)',
    when: 'requests claiming to be Agora fail their signature or name an unknown apiKey; at most one event a minute',
  },
  'agora.grant': {
    data: '`grantId`, `customerId`, `platforms`, `startsAt`, `endsAt`, `type`',
    when: "Agora's license activation callback records a grant (a retry of the same grant sends nothing)",
  },
  'certificate.registered': {
    data: '`certificateId`, `customerId`, `type`, `mode`, `packageId`, `agentId` (null), `expiresAt` (null: permanent, or an agent certificate not bound yet)',
    when: 'an upload registers a certificate: one event per certificate (one already registered sends nothing)',
  },
  'certificate.bound': {
    data: '`certificateId`, `customerId`, `agentId`, `startsAt`, `expiresAt` (null: permanent), `agentExpiresAt`',
    when: 'an agent certificate is bound to an agent (the same binding again sends nothing)',
  },
} as const satisfies Record<string, { data: string; when: string }>;

export type EventType = keyof typeof EVENT_TYPES;
export const EVENT_TYPE_NAMES: EventType[] = Object.keys(EVENT_TYPES).filter(isEventType);

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_TYPES, type);
}

/** The catalogue as the Markdown table docs/webhooks.md holds. */
export function renderCatalogue(): string {
  const rows = EVENT_TYPE_NAMES.map((t) => `| \`${t}\` | ${EVENT_TYPES[t].when} | ${EVENT_TYPES[t].data} |`);
  return ['| type | sent when | data |', '|---|---|---|', ...rows].join('\n');
}

/**
 * Several events of one type (an upload's certificates, up to 100,000) in one statement whatever
 * their number: the data travel as one JSON array parameter. In the change's transaction, like `emit`.
 */
export async function emitMany(trx: Transaction<DB>, type: EventType, data: Record<string, unknown>[], at: Date): Promise<void> {
  if (data.length === 0) return;
  await sql`
    insert into webhook_events (id, type, data, created_at)
    select 'msg_' || replace(gen_random_uuid()::text, '-', ''), ${type}, e.value, ${at}
    from jsonb_array_elements(${JSON.stringify(data)}::jsonb) with ordinality as e(value, n)
    order by e.n`.execute(trx);
}

/** A Standard Webhooks message id: the same `webhook-id` on every attempt of the event. */
export function newEventId(): string {
  return `msg_${randomBytes(16).toString('hex')}`;
}

/**
 * Stores an event in the outbox, in the transaction of the change it tells of: it is delivered if
 * and only if that change commits. One small insert (an index entry on an unlogged-free table), well
 * under a millisecond; delivery happens later in the worker (src/notifications/worker.ts).
 */
export async function emit(trx: Transaction<DB>, type: EventType, data: Record<string, unknown>, at: Date = new Date()): Promise<string> {
  const id = newEventId();
  await trx.insertInto('webhook_events').values({ id, type, data: JSON.stringify(data), created_at: at }).execute();
  return id;
}
