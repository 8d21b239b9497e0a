import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Logger } from '../http/context.ts';
import { send, type SendResult } from './send.ts';
import { signatureHeader } from './signing.ts';

export interface WorkerOptions {
  clock: () => Date;
  log: Logger;
  /** Milliseconds before each retry; after the last, the delivery is failed. */
  retryScheduleMs: number[];
  timeoutMs: number;
  /** Deliveries in flight at once (per instance). */
  concurrency: number;
  /** How long to wait for new work when there was none. */
  pollMs: number;
  allowPrivate: boolean;
  /** An endpoint that has only failed for this long is disabled. */
  disableAfterMs?: number;
  /** Told each attempt once it is recorded (the app's metrics). */
  onAttempt?: (outcome: DeliveryOutcome) => void;
  /** Deliveries of one endpoint in flight at once (default: `defaultPerEndpoint(concurrency)`). */
  perEndpoint?: number;
}

/** What a recorded attempt made of its delivery: delivered, to be tried again (`retry`), or failed for good. */
export type DeliveryOutcome = 'delivered' | 'retry' | 'failed';

const FIVE_DAYS_MS = 5 * 86_400_000;
/**
 * Deliveries of one endpoint in flight at once, unless set: half the slots, so one hanging
 * receiver leaves the other half to the other endpoints, and a burst to one healthy endpoint still
 * has half the slots (2 would make 10,000 deliveries to one receiver several times slower).
 */
export const defaultPerEndpoint = (concurrency: number) => Math.max(1, Math.floor(concurrency / 2));
const FANOUT_BATCH = 500;

/** A claimed delivery with what sending it needs. */
interface Claimed {
  id: string;
  attempts: number;
  event_id: string;
  type: string;
  data: unknown;
  created_at: Date;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
}

/**
 * Turns events not yet dispatched into one delivery per endpoint that wants them. Rows are taken
 * with SKIP LOCKED, so instances share the work; the deliveries and the `dispatched` mark are one
 * statement, so an event is dispatched entirely or not at all.
 */
export async function fanOut(db: Db, now: Date, limit = FANOUT_BATCH): Promise<number> {
  const r = await sql<{ n: string }>`
    with ev as (
      select seq, type from webhook_events where not dispatched order by seq limit ${limit} for update skip locked
    ), ins as (
      insert into webhook_deliveries (event_seq, endpoint_id, next_attempt_at, created_at)
      select ev.seq, ep.id, ${now}, ${now} from ev
      join webhook_endpoints ep on ep.enabled and (ep.events @> array[ev.type] or ep.events @> array['*'])
      on conflict do nothing
    ), upd as (
      update webhook_events set dispatched = true where seq in (select seq from ev) returning 1
    )
    select count(*)::text as n from upd`.execute(db);
  return Number(r.rows[0]!.n);
}

/**
 * Claims up to `limit` due deliveries with a lease: `locked_until` is set and the attempt counted
 * in one autocommitted statement, so no transaction or connection is held while the receivers
 * answer. A lease that runs out (the instance died) makes the delivery due again: that attempt may
 * have reached the receiver, which then sees the event twice, with the same webhook-id.
 *
 * At most `perEndpoint` deliveries of one endpoint are in flight (leased) at once, counting the
 * leases already out: a receiver that hangs, with thousands of deliveries due, holds that many
 * slots for its timeout and the other endpoints' deliveries take the rest (all instances together,
 * when claims do not race). Each enabled endpoint
 * gives at most `perEndpoint` candidates (its oldest due, by index), so a claim costs
 * O(endpoints × perEndpoint) whatever the backlog. Two instances claiming at the same moment do not
 * see each other's leases (each skips the other's locked rows), so an endpoint can then have up to
 * `perEndpoint` per instance in flight.
 */
export async function claimDue(db: Db, now: Date, limit: number, leaseMs: number, perEndpoint: number): Promise<Claimed[]> {
  const until = new Date(now.getTime() + leaseMs);
  const r = await sql<Claimed>`
    with cand as (
      select ep.id as endpoint_id, x.id, x.next_attempt_at,
        row_number() over (partition by ep.id order by x.next_attempt_at, x.id) as rank,
        (select count(*) from webhook_deliveries l
          where l.endpoint_id = ep.id and l.locked_until is not null and l.locked_until > ${now} and l.status = 'pending') as leased
      from webhook_endpoints ep
      cross join lateral (
        select d.id, d.next_attempt_at from webhook_deliveries d
        where d.endpoint_id = ep.id and d.status = 'pending' and d.next_attempt_at <= ${now}
          and (d.locked_until is null or d.locked_until <= ${now})
        order by d.next_attempt_at, d.id
        limit ${perEndpoint}
        for update of d skip locked
      ) x
      where ep.enabled
    ), c as (
      select id from cand where rank + leased <= ${perEndpoint}
      order by next_attempt_at, id
      limit ${limit}
    ), u as (
      update webhook_deliveries d set locked_until = ${until}, attempts = d.attempts + 1
      from c where d.id = c.id
      returning d.id, d.attempts, d.event_seq, d.endpoint_id
    )
    select u.id, u.attempts, e.id as event_id, e.type, e.data, e.created_at, ep.url, ep.secret, ep.previous_secret, ep.previous_secret_until
    from u join webhook_events e on e.seq = u.event_seq join webhook_endpoints ep on ep.id = u.endpoint_id`.execute(db);
  return r.rows;
}

export function deliveryBody(c: Pick<Claimed, 'event_id' | 'type' | 'data' | 'created_at'>): string {
  return JSON.stringify({ id: c.event_id, type: c.type, createdAt: c.created_at.toISOString(), data: c.data });
}

/**
 * Records one attempt: the log row, the delivery's new state, the endpoint's failure streak (and
 * its disabling after 5 days of nothing but failures), in one statement. The delivery changes only
 * if it is still the attempt this instance claimed (`attempts` unchanged).
 */
export async function recordAttempt(
  db: Db,
  c: { id: string; attempts: number },
  r: SendResult,
  at: Date,
  opts: { retryScheduleMs: number[]; disableAfterMs: number },
): Promise<DeliveryOutcome> {
  const retryIn = opts.retryScheduleMs[c.attempts - 1];
  const status = r.ok ? 'delivered' : retryIn === undefined ? 'failed' : 'pending';
  const next = new Date(at.getTime() + (r.ok || retryIn === undefined ? 0 : retryIn));
  const disableBefore = new Date(at.getTime() - opts.disableAfterMs);
  await sql`
    with d as (
      update webhook_deliveries set status = ${status}, next_attempt_at = ${next}, locked_until = null, last_attempt_at = ${at}
      where id = ${c.id} and attempts = ${c.attempts}
      returning endpoint_id
    ), a as (
      insert into webhook_attempts (delivery_id, at, http_status, duration_ms, error, response)
      values (${c.id}, ${at}, ${r.status}, ${r.durationMs}, ${r.error}, ${r.answer})
    )
    update webhook_endpoints ep set
      failing_since = case when ${r.ok} then null else coalesce(ep.failing_since, ${at}) end,
      enabled = case when not ${r.ok} and ep.failing_since <= ${disableBefore} then false else ep.enabled end,
      disabled_reason = case when not ${r.ok} and ep.failing_since <= ${disableBefore}
        then 'disabled: every delivery failed for 5 days (since ' || to_char(ep.failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')'
        else ep.disabled_reason end,
      updated_at = case when not ${r.ok} and ep.failing_since <= ${disableBefore} then ${at} else ep.updated_at end
    where ep.id = (select endpoint_id from d) and (ep.failing_since is not null or not ${r.ok})`.execute(db);
  return status === 'pending' ? 'retry' : status;
}

/** The secrets a delivery is signed with now: the new one, and the old one during its 24 h. */
function secretsOf(c: Claimed, now: Date): string[] {
  return c.previous_secret && c.previous_secret_until && c.previous_secret_until > now ? [c.secret, c.previous_secret] : [c.secret];
}

/**
 * The delivery loop of one instance: fan out, claim what is due (never more than free slots), send
 * each without waiting for the others, record. A slow receiver holds one slot for at most its own
 * timeout, and no database connection meanwhile.
 */
export class DeliveryWorker {
  private running = false;
  private readonly inFlight = new Set<Promise<void>>();
  private wake: (() => void) | null = null;
  /** A finished attempt wakes the loop once this few are left in flight (Infinity: any). */
  private wakeAt = Infinity;
  private loop: Promise<void> | null = null;
  private readonly leaseMs: number;

  constructor(
    private readonly db: Db,
    private readonly opts: WorkerOptions,
  ) {
    // Longer than an attempt can take (the timeout, then one recording statement), so a live
    // instance never loses its lease mid-attempt; short, so a dead instance's claims come back soon.
    this.leaseMs = opts.timeoutMs * 2 + 5000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops claiming; waits for the attempts in flight to be recorded. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all([...this.inFlight]);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Claims come in batches of at least half the slots: one claim (and one fan-out) a few
      // deliveries rather than one each, which a burst of thousands would spend on round trips.
      if (this.inFlight.size > this.opts.concurrency / 2) {
        await Promise.race(this.inFlight);
        continue;
      }
      let worked = false;
      let capped = false;
      try {
        const now = this.opts.clock();
        worked = (await fanOut(this.db, now)) > 0;
        const free = this.opts.concurrency - this.inFlight.size;
        if (free > 0) {
          const claimed = await claimDue(this.db, now, free, this.leaseMs, this.opts.perEndpoint ?? defaultPerEndpoint(this.opts.concurrency));
          for (const c of claimed) this.track(this.attempt(c));
          worked ||= claimed.length > 0;
          // Fewer than the free slots while some are in flight: the per-endpoint cap (or an empty
          // queue). Claiming again at every finished attempt would be one claim per delivery (a
          // burst to one endpoint 4 times slower); the next claim waits for half of them.
          capped = claimed.length < free && this.inFlight.size > 0;
        }
      } catch (err) {
        this.opts.log({ at: new Date().toISOString(), level: 'warn', event: 'webhook_worker_error', error: err instanceof Error ? err.message : String(err) });
      }
      if (!this.running) break;
      if (capped) {
        this.wakeAt = Math.floor(this.inFlight.size / 2);
        await this.sleep(this.opts.pollMs);
        this.wakeAt = Infinity;
      } else if (!worked) await this.sleep(this.opts.pollMs);
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => {
      this.inFlight.delete(p);
      if (this.inFlight.size <= this.wakeAt) this.wake?.();
    });
  }

  private async attempt(c: Claimed): Promise<void> {
    const sentAt = this.opts.clock();
    const body = deliveryBody(c);
    const timestamp = Math.floor(sentAt.getTime() / 1000);
    const headers = {
      'webhook-id': c.event_id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secretsOf(c, sentAt), c.event_id, timestamp, body),
    };
    const result = await send(c.url, headers, body, { timeoutMs: this.opts.timeoutMs, allowPrivate: this.opts.allowPrivate });
    try {
      const outcome = await recordAttempt(this.db, c, result, this.opts.clock(), { retryScheduleMs: this.opts.retryScheduleMs, disableAfterMs: this.opts.disableAfterMs ?? FIVE_DAYS_MS });
      this.opts.onAttempt?.(outcome);
    } catch (err) {
      // Not recorded: the lease runs out and the delivery is attempted again (at least once).
      this.opts.log({ at: new Date().toISOString(), level: 'warn', event: 'webhook_record_failed', deliveryId: c.id, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
