import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB } from '../db/schema.ts';

const MINUTE_MS = 60_000;
const MAX_MINUTES = 120;

/**
 * Agora signature failures counted in memory: recording one is a few arithmetic operations, never a
 * database write (the failures may be an attacker's flood). `flush` adds what was counted to the
 * minute's row, one write per instance and minute; the scheduler turns each finished minute into
 * one `agora.signature_failed` event for all instances together.
 */
export class SignatureFailureCounter {
  private byMinute = new Map<number, { count: number; first: number; last: number }>();

  record(at: Date): void {
    const t = at.getTime();
    const minute = Math.floor(t / MINUTE_MS) * MINUTE_MS;
    const m = this.byMinute.get(minute);
    if (m) {
      m.count += 1;
      if (t < m.first) m.first = t;
      if (t > m.last) m.last = t;
    } else {
      this.byMinute.set(minute, { count: 1, first: t, last: t });
      // Never flushed (the worker is off here): the oldest minute goes, memory stays bounded.
      if (this.byMinute.size > MAX_MINUTES) this.byMinute.delete(this.byMinute.keys().next().value!);
    }
  }

  pending(): number {
    let n = 0;
    for (const m of this.byMinute.values()) n += m.count;
    return n;
  }

  async flush(db: Db): Promise<void> {
    if (this.byMinute.size === 0) return;
    const taken = this.byMinute;
    this.byMinute = new Map();
    try {
      for (const [minute, m] of taken) {
        await sql`
          insert into signature_failures (minute, count, first_at, last_at)
          values (${new Date(minute)}, ${m.count}, ${new Date(m.first)}, ${new Date(m.last)})
          on conflict (minute) do update set count = signature_failures.count + excluded.count,
            first_at = least(signature_failures.first_at, excluded.first_at), last_at = greatest(signature_failures.last_at, excluded.last_at)`.execute(db);
      }
    } catch (err) {
      // Counted again next time rather than lost.
      for (const [minute, m] of taken) {
        const now = this.byMinute.get(minute);
        if (now) {
          now.count += m.count;
          now.first = Math.min(now.first, m.first);
          now.last = Math.max(now.last, m.last);
        } else this.byMinute.set(minute, m);
      }
      throw err;
    }
  }
}

/**
 * One event per finished minute of failures (a minute is finished once `graceMs` has passed since
 * its end, so the instances have flushed it); the minute's row is deleted with the event's insert.
 */
export async function emitSignatureFailures(trx: Transaction<DB>, now: Date, graceMs: number): Promise<number> {
  const before = new Date(now.getTime() - MINUTE_MS - graceMs);
  const r = await sql<{ n: string }>`
    with done as (
      delete from signature_failures where minute <= ${before} returning count, first_at, last_at
    ), ev as (
      insert into webhook_events (id, type, data, created_at)
      select 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'agora.signature_failed',
        jsonb_build_object('count', count, 'firstAt', to_char(first_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'lastAt', to_char(last_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
        ${now}
      from done
      returning 1
    )
    select count(*)::text as n from ev`.execute(trx);
  return Number(r.rows[0]!.n);
}
