import { sql, type Transaction } from 'kysely';
import type { Db } from './database.ts';
import type { DB } from './schema.ts';

/**
 * Every advisory lock class of the server, in one place, so two subsystems never pick the same
 * class by accident. A lock is (class, key), both 32-bit; all are transaction locks (held until
 * the transaction ends), so the functions that take one ask for a `Transaction`: outside one, the
 * lock would be released as soon as the statement ends, which is never what the caller means.
 * The one session lock (withSessionLock) pins a connection instead.
 *
 * - DAY (key: days since 1970-01-01) and MONTH (key: year * 12 + month index): ingestion takes the
 *   lock of each UTC day and month its events fall in, shared; fixing a usage window takes its
 *   day's lock, a bill its month's, exclusive. So a statement waits for the ingestions of its period
 *   in flight and holds new ones back until it is committed.
 * - PLAN (key 0): plan and version writes exclusive, fixing a bill shared: prices do not change
 *   while a bill is priced.
 * - CUSTOMER (key: hashtext(customerId)): provisioning writes of one customer, exclusive.
 * - PLAN_CHANGE (key 0): a change of a customer's planId, shared (taken by the trigger
 *   `customers_plan_change` of migration 20261123060000, which writes the class as a literal:
 *   keep the two equal); fixing a statement whose lines are numbered after its transaction,
 *   exclusive (from before the fix decides whether it defers, inside a savepoint rolled back when
 *   it does not: `freezeOrGiveBack` in statements/store.ts). So every plan change is either seen by the fix or stamped after it, and the lines
 *   numbered later name the plan the customer had when the statement was fixed.
 * - SCHEDULER (key: the job's number in src/notifications/scheduler.ts): a job due by time runs on
 *   one instance at a time; the others skip it (pg_try_advisory_xact_lock) rather than wait. A job
 *   whose work runs its own transactions (runtime maintenance) holds the session-level lock of
 *   the same key on one pinned connection instead (withSessionLock).
 */
export const LOCK = {
  DAY: 7301,
  MONTH: 7302,
  PLAN: 7303,
  CUSTOMER: 7304,
  PLAN_CHANGE: 7305,
  /** (key: hashtext(customerId)) certificate uploads, binds and agent changes of one customer, exclusive. */
  CERTIFICATES: 7306,
  SCHEDULER: 7307,
} as const;

export type LockClass = (typeof LOCK)[keyof typeof LOCK];

export async function lockExclusive(trx: Transaction<DB>, lockClass: LockClass, key: number): Promise<void> {
  await sql`select pg_advisory_xact_lock(${lockClass}::int, ${key}::int)`.execute(trx);
}

export async function lockShared(trx: Transaction<DB>, lockClass: LockClass, keys: number[]): Promise<void> {
  // Ascending order, always, so two ingestions never wait on each other in a cycle.
  for (const k of [...new Set(keys)].sort((a, b) => a - b)) {
    await sql`select pg_advisory_xact_lock_shared(${lockClass}::int, ${k}::int)`.execute(trx);
  }
}

/** The exclusive lock of a text key (hashed by the database: two texts may share a lock). */
export async function lockExclusiveText(trx: Transaction<DB>, lockClass: LockClass, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(${lockClass}::int, hashtext(${key}))`.execute(trx);
}

/** The lock if it is free, else false at once (a job another instance is running is skipped). */
export async function tryLockExclusive(trx: Transaction<DB>, lockClass: LockClass, key: number): Promise<boolean> {
  const r = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${lockClass}::int, ${key}::int) as ok`.execute(trx);
  return r.rows[0]!.ok;
}

/**
 * Runs `fn` on one pinned connection while holding the session-level lock, if it is free; else
 * answers null at once. For work that runs its own transactions (they run on the same connection,
 * so they are not nested in another). The lock is released when `fn` ends, or with the connection.
 */
export async function withSessionLock<T>(db: Db, lockClass: LockClass, key: number, fn: (conn: Db) => Promise<T>): Promise<T | null> {
  return db.connection().execute(async (conn) => {
    const r = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${lockClass}::int, ${key}::int) as ok`.execute(conn);
    if (!r.rows[0]!.ok) return null;
    try {
      return await fn(conn);
    } finally {
      await sql`select pg_advisory_unlock(${lockClass}::int, ${key}::int)`.execute(conn);
    }
  });
}
