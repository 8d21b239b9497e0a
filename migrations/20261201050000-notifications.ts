import { sql, type Kysely } from 'kysely';

/**
 * Webhooks and expiry reminders (docs/webhooks.md).
 *
 * - `webhook_events` is the transactional outbox (as few indexes as possible: each costs every
 *   emitting transaction; `id` is random, pruning walks `seq`): a row is inserted in the transaction of the change
 *   it tells of (src/notifications/outbox.ts), so a crash loses none. `dispatched` is false until a
 *   worker has made one delivery per endpoint that wants the event.
 * - `webhook_deliveries`: one per event and endpoint; claimed with a lease (`locked_until`) so no
 *   connection or transaction is held while the receiver answers. `endpoint_id` has no foreign key:
 *   the log stays after an endpoint is deleted.
 * - `webhook_attempts`: every attempt of a delivery, the answer cut at 1 KB.
 * - `reminders_sent`: one row per thing, expiry and threshold (0: expired), inserted in the
 *   transaction that emits the reminder: its primary key makes the reminder exactly-once.
 * - `signature_failures`: Agora signature failures per minute, flushed from memory by each
 *   instance (never a write per failed request), turned into at most one event a minute.
 * - Quota: a trigger on `license_pools` emits quota.low / quota.exhausted when a take crosses the
 *   line, in the take's own transaction and statement (activation is one round trip).
 */
export async function up(db: Kysely<any>): Promise<void> {
  // One statement a query: the embedded database prepares each.
  for (const statement of [
    `create table webhook_endpoints (
          id text primary key,
          url text not null,
          events text[] not null,
          description text,
          enabled boolean not null default true,
          disabled_reason text,
          secret text not null,
          previous_secret text,
          previous_secret_until timestamptz,
          failing_since timestamptz,
          created_at timestamptz not null default now(),
          updated_at timestamptz not null default now()
        )`,
    `create table webhook_events (
          seq bigserial primary key,
          id text not null,
          type text not null,
          data jsonb not null,
          created_at timestamptz not null,
          dispatched boolean not null default false
        )`,
    `create index webhook_events_undispatched on webhook_events (seq) where not dispatched`,
    `create table webhook_deliveries (
          id bigserial primary key,
          event_seq bigint not null references webhook_events (seq) on delete cascade,
          endpoint_id text not null,
          status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
          attempts int not null default 0,
          next_attempt_at timestamptz not null,
          locked_until timestamptz,
          last_attempt_at timestamptz,
          created_at timestamptz not null,
          unique (event_seq, endpoint_id)
        )`,
    `create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending'`,
    `create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, id)`,
    `create table webhook_attempts (
          id bigserial primary key,
          delivery_id bigint not null references webhook_deliveries (id) on delete cascade,
          at timestamptz not null,
          http_status int,
          duration_ms int not null,
          error text,
          response text
        )`,
    `create index webhook_attempts_delivery on webhook_attempts (delivery_id, id)`,
    `create table reminders_sent (
          kind text not null,
          thing_id text not null,
          expires_at timestamptz not null,
          threshold int not null,
          sent_at timestamptz not null,
          primary key (kind, thing_id, expires_at, threshold)
        )`,
    // Pruning finds the records of expiries long past by it.
    `create index reminders_sent_expiry on reminders_sent (expires_at)`,
    // The reminder scan reads the licenses expiring in the next REMINDER_DAYS by this index.
    `create index licenses_expiry_idx on licenses (expires_at)`,
    `create table signature_failures (
          minute timestamptz primary key,
          count bigint not null,
          first_at timestamptz not null,
          last_at timestamptz not null
        )`,
    `create function license_pools_quota_event() returns trigger language plpgsql as $$
        declare
          low_line numeric := ceil(new.capacity * 0.1);
          kind text;
        begin
          if new.used >= new.capacity and old.used < new.capacity then
            kind := 'quota.exhausted';
          elsif new.capacity - new.used <= low_line and new.capacity - old.used > low_line then
            kind := 'quota.low';
          else
            return null;
          end if;
          insert into webhook_events (id, type, data, created_at)
          values ('msg_' || replace(gen_random_uuid()::text, '-', ''), kind,
            jsonb_build_object('customerId', new.customer_id, 'pid', new.pid,
              'pool', coalesce(new.project_id::text, 'shared'), 'capacity', new.capacity::text, 'used', new.used::text),
            now());
          return null;
        end $$`,
    `create trigger license_pools_quota_event after update of used on license_pools
          for each row when (new.used > old.used) execute function license_pools_quota_event()`,
  ]) {
    await sql.raw(statement).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists license_pools_quota_event on license_pools`.execute(db);
  await sql`drop function if exists license_pools_quota_event()`.execute(db);
  await sql`drop index if exists licenses_expiry_idx`.execute(db);
  await sql`drop table if exists signature_failures, reminders_sent, webhook_attempts, webhook_deliveries, webhook_events, webhook_endpoints`.execute(db);
}
