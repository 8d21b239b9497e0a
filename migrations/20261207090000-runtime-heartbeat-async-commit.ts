import { sql, type Kysely } from 'kysely';

/**
 * Batched heartbeats commit without waiting for the disk: `ext_beat_sessions_async` is
 * `ext_beat_sessions` (migration 20261203110000) with `synchronous_commit` off for the transaction
 * of its call (`set_config(…, true)`: local to that transaction, so a pooled connection is not left
 * with it; a function's own SET clause would not do, as it is undone when the function returns,
 * before the commit).
 *
 * Why: at 500 heartbeats a second on a 2-core VM, a heartbeat's p99 was 15–40 ms against a target
 * of 10 ms, and the slowest ones (50–165 ms) were calls of one or two heartbeats whose statement
 * took that long by itself while the calls after them queued: two calls in flight stalled for the
 * same time, waiting for the same WAL flush (the disk's fsync). With asynchronous commit the same
 * runs answered p99 5.3 and 6.1 ms, none over 50 ms (docs/benchmark.md).
 *
 * What it gives up, and why that is acceptable here: if the database server itself crashes (not
 * this server), the heartbeats of the last moments before it (at most three times
 * `wal_writer_delay`, 0.6 s by default) may be lost: their seconds are not counted and their
 * sessions' last heartbeat is the one before. Nothing is ever counted twice, and what is kept is
 * consistent: WAL is replayed in order, and any later commit that waits for the disk (a join, a
 * leave, ingestion, the sweep that writes overage) flushes every heartbeat before it. A heartbeat
 * carries nothing of the caller's but "still here"; joins, leaves, usage, bills and licenses keep
 * waiting for the disk.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function ext_beat_sessions_async(p_ids uuid[], p_projects bigint[], p_nows timestamptz[])
    returns table (out_ord int, out_seconds text, out_cap_seconds integer, out_bill boolean, out_month_seconds text)
    language plpgsql volatile as $$
    begin
      perform set_config('synchronous_commit', 'off', true);
      return query select * from ext_beat_sessions(p_ids, p_projects, p_nows);
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists ext_beat_sessions_async(uuid[], bigint[], timestamptz[])`.execute(db);
}
