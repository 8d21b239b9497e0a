import { sql, type Kysely } from 'kysely';

/**
 * `ext_beat_sessions` (migrations/20261203110000-runtime-batched-heartbeats.ts) planned its
 * statement again at every call: 3 ms of its 3.5 ms for one heartbeat, on a 2-core VM.
 *
 * PL/pgSQL keeps a plan per statement and, under the default `plan_cache_mode = auto`, compares the
 * cost of the generic plan with the average cost of the custom plans of the first five calls. With
 * the ids given as arrays, the generic plan reckons with ten elements (the planner's guess for an
 * array not known yet), the custom plans with the one or few of each call, so the generic plan
 * always looks about eight times dearer and is never chosen: every call plans the eight-table join
 * again (measured: 3.3 ms a call with custom plans, 0.5 ms with the generic one). The generic plan
 * is the one a custom plan would be anyway — every table reached by its key, one index probe per
 * session, whatever the batch's size — so the function always takes it.
 *
 * Not needed for `ext_join` and `license_activate`: timed the same way, they switch to their
 * generic plans after five calls by themselves (0.8 ms a call either way).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter function ext_beat_sessions(uuid[], bigint[], timestamptz[]) set plan_cache_mode = force_generic_plan`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter function ext_beat_sessions(uuid[], bigint[], timestamptz[]) reset plan_cache_mode`.execute(db);
}
