import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB, SessionEndReason } from '../db/schema.ts';

/** All SQL of the extension sessions (src/runtime). Times are whole Unix seconds in code. */

const at = (s: number) => new Date(s * 1000);

/**
 * What a join needs to know about its caller and its license, in one statement (one round trip,
 * one connection: each round trip costs a socket write on both sides, which bounds the requests
 * per second far more than the statement's work).
 */
export async function joinFacts(db: Db, projectId: string, license: string | undefined, month: string) {
  const caller = db
    .selectFrom('projects as p')
    .innerJoin('customers as c', 'c.customer_id', 'p.customer_id')
    .select(['p.deactivated_at as project_off', 'c.deactivated_at as customer_off'])
    .where('p.project_id', '=', projectId);
  if (license === undefined) return { caller: await caller.executeTakeFirst(), license: undefined };
  const row = await caller
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('licenses as l')
          .innerJoin('license_pids as d', 'd.pid', 'l.pid')
          .innerJoin('license_skus as k', 'k.sku_id', 'd.sku_id')
          .leftJoin('ext_pid_overage as o', 'o.pid', 'l.pid')
          .leftJoin('ext_license_minutes as m', (j) => j.onRef('m.license_id', '=', 'l.id').on('m.month', '=', month))
          .select([
            'l.id',
            'l.customer_id',
            'l.project_id',
            'l.license_key',
            'l.activated_at',
            'l.expires_at',
            'k.media_type',
            'k.minutes',
            'k.period',
            'o.mode',
            'm.seconds as month_seconds',
          ])
          .where('l.license', '=', license)
          .as('x'),
      (j) => j.onTrue(),
    )
    .selectAll('x')
    .executeTakeFirst();
  if (!row) return { caller: undefined, license: undefined };
  const { project_off, customer_off, id, customer_id, project_id, license_key, activated_at, expires_at, media_type } = row;
  const found =
    id !== null && customer_id !== null && project_id !== null && license_key !== null && activated_at !== null && expires_at !== null && media_type !== null
      ? { id, customer_id, project_id, license_key, activated_at, expires_at, media_type, minutes: row.minutes, period: row.period, mode: row.mode, month_seconds: row.month_seconds }
      : undefined;
  return { caller: { project_off, customer_off }, license: found };
}

/**
 * A license join in one call of `ext_join` (migrations/20261202110000-runtime-hot-heartbeat.ts):
 * the facts `joinFacts` reads, and, when they pass every check of `join` and the SKU has no usage
 * period, the seats and the session (`started`), else nothing written. `full`: the scope whose PCU
 * limit was reached (nothing written). The caller decides everything not started from the facts.
 */
export async function joinInOneCall(db: Db, s: NewSession & { license: string }, month: string) {
  const r = await sql<{
    out_project_off: Date | null;
    out_customer_off: Date | null;
    out_id: string | null;
    out_customer: string | null;
    out_project: string | null;
    out_license_key: string | null;
    out_activated_at: Date | null;
    out_expires_at: Date | null;
    out_media_type: number | null;
    out_minutes: number | null;
    out_period: string | null;
    out_mode: 'block' | 'bill' | null;
    out_month_seconds: string | null;
    out_started: boolean;
    out_full: 'customer' | 'project' | null;
  }>`
    select * from ext_join(${s.id}::uuid, ${s.customerId}, ${s.projectId}::bigint, ${s.license}, ${s.licenseKey}, ${s.media}, ${s.platform},
      ${s.channel}, ${s.userId}, ${s.heartbeatSeconds}::int, ${at(s.nowS)}::timestamptz, ${month}::date)`.execute(db);
  const row = r.rows[0];
  if (!row) return { caller: undefined, license: undefined, started: false, full: null };
  const caller = { project_off: row.out_project_off, customer_off: row.out_customer_off };
  const { out_id: id, out_customer: customer_id, out_project: project_id, out_license_key: license_key, out_activated_at: activated_at, out_expires_at: expires_at, out_media_type: media_type } = row;
  const license =
    id !== null && customer_id !== null && project_id !== null && license_key !== null && activated_at !== null && expires_at !== null && media_type !== null
      ? { id, customer_id, project_id, license_key, activated_at, expires_at, media_type, minutes: row.out_minutes, period: row.out_period, mode: row.out_mode, month_seconds: row.out_month_seconds }
      : undefined;
  return { caller, license, started: row.out_started, full: row.out_full };
}

/** The customer's grants that are open at `nowS` (Agora's license activation callback). */
export function openGrants(db: Db, customerId: string, nowS: number) {
  return db
    .selectFrom('license_grants')
    .select(['id', 'platforms', 'starts_at', 'ends_at'])
    .where('customer_id', '=', customerId)
    .where('ends_at', '>', at(nowS))
    .where('starts_at', '<=', at(nowS))
    .orderBy('ends_at', 'desc')
    .limit(50)
    .execute();
}

/** Whether any grant of the customer covers `nowS` on `platform`; and if any (on any platform) exists at all then. */
export async function grantCovers(db: Db, customerId: string, platform: string, nowS: number): Promise<boolean> {
  const r = await db
    .selectFrom('license_grants')
    .select('id')
    .where('customer_id', '=', customerId)
    .where('ends_at', '>', at(nowS))
    .where('starts_at', '<=', at(nowS))
    .where(sql<boolean>`${platform} = any(platforms)`)
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

/** Gives seats back: customers first, then projects, each in ascending order (the order joins lock them in). */
export async function releaseSeats(trx: Transaction<DB>, ended: { customer_id: string; project_id: string }[]): Promise<void> {
  const count = (keys: string[]) => {
    const m = new Map<string, number>();
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
    return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  };
  for (const [scope, keys] of [
    ['customer', ended.map((e) => e.customer_id)],
    ['project', ended.map((e) => e.project_id)],
  ] as const) {
    for (const [id, n] of count(keys)) {
      await trx.updateTable('ext_limits').set({ live: sql`greatest(live - ${n}::int, 0)` }).where('scope', '=', scope).where('scope_id', '=', id).execute();
    }
  }
}

export interface NewSession {
  id: string;
  customerId: string;
  projectId: string;
  licenseId: string | null;
  grantId: string | null;
  licenseKey: string;
  media: 'audio' | 'video' | 'audio+video';
  platform: string;
  channel: string | null;
  userId: string | null;
  heartbeatSeconds: number;
  nowS: number;
}

/**
 * The seats of the session's customer and project, and the session, in one call of
 * `ext_start_session` (migrations/20261201030000-runtime-sessions.ts). Answers the scope that was
 * full (nothing written), or null.
 */
export async function startSession(db: Db, s: NewSession): Promise<'customer' | 'project' | null> {
  const r = await sql<{ full: 'customer' | 'project' | null }>`
    select ext_start_session(${s.id}::uuid, ${s.customerId}, ${s.projectId}::bigint, ${s.licenseId}::bigint, ${s.grantId}::bigint, ${s.licenseKey},
      ${s.media}, ${s.platform}, ${s.channel}, ${s.userId}, ${s.heartbeatSeconds}::int, ${at(s.nowS)}::timestamptz) as full`.execute(db);
  return r.rows[0]!.full;
}

/** A session with what its heartbeat checks, locked for the rest of the transaction. */
export function lockSession(trx: Transaction<DB>, sessionId: string, month: string) {
  return sessionFacts(trx, sessionId, month).forUpdate('s').executeTakeFirst();
}

/** The same facts, read without a lock (the heartbeat's fast path checks them again as it writes). */
export function readSession(db: Db, sessionId: string, month: string) {
  return sessionFacts(db, sessionId, month).executeTakeFirst();
}

function sessionFacts(db: Db | Transaction<DB>, sessionId: string, month: string) {
  return db
    .selectFrom('ext_sessions as s')
    .innerJoin('projects as p', 'p.project_id', 's.project_id')
    .innerJoin('customers as c', 'c.customer_id', 's.customer_id')
    .leftJoin('licenses as l', 'l.id', 's.license_id')
    .leftJoin('license_pids as d', 'd.pid', 'l.pid')
    .leftJoin('license_skus as k', 'k.sku_id', 'd.sku_id')
    .leftJoin('ext_pid_overage as o', 'o.pid', 'l.pid')
    .leftJoin('ext_license_minutes as m', (j) => j.onRef('m.license_id', '=', 's.license_id').on('m.month', '=', month))
    .select([
      's.id',
      's.customer_id',
      's.project_id',
      's.license_id',
      's.platform',
      's.heartbeat_seconds',
      's.last_seen_at',
      's.live_until',
      's.ended_at',
      's.end_reason',
      's.seconds',
      'p.deactivated_at as project_off',
      'c.deactivated_at as customer_off',
      'l.expires_at',
      'k.minutes',
      'k.period',
      'o.mode',
      'm.seconds as month_seconds',
    ])
    .where('s.id', '=', sessionId);
}

/**
 * A heartbeat of a live license session in one statement, no transaction: the session moves on to
 * `nowS` only if it is still as it was read (not ended, not silent, the same last heartbeat), and
 * only then are its seconds added to its license's months. Answers null when the session changed
 * since it was read (the caller then takes the locked path), else the seconds of the last month.
 */
export async function advanceSession(
  db: Db,
  s: { id: string; licenseId: string; lastSeenS: number; nowS: number; heartbeatSeconds: number; parts: { month: string; seconds: number }[]; capSeconds: number | null; bill: boolean },
): Promise<string | null> {
  const delta = s.parts.reduce((n, p) => n + p.seconds, 0);
  const billing = s.bill && s.capSeconds !== null;
  const values = sql.join(s.parts.map((p) => sql`(${p.month}::date, ${p.seconds}::bigint)`));
  const r = await sql<{ updated: string; month_seconds: string | null }>`
    with upd as (
      update ext_sessions set last_seen_at = ${at(s.nowS)}, live_until = ${at(s.nowS + 2 * s.heartbeatSeconds)}, seconds = seconds + ${delta}::bigint
      where id = ${s.id} and ended_at is null and last_seen_at = ${at(s.lastSeenS)} and live_until >= ${at(s.nowS)}
      returning license_id
    ), added as (
      insert into ext_license_minutes as m (license_id, month, seconds, over_seconds)
      select upd.license_id, v.month, v.seconds, case when ${billing}::boolean then greatest(0, v.seconds - ${s.capSeconds ?? 0}::bigint) else 0 end
      from upd, (values ${values}) as v (month, seconds)
      where v.seconds > 0
      on conflict (license_id, month) do update set
        seconds = m.seconds + excluded.seconds,
        over_seconds = case when ${billing}::boolean
          then greatest(m.over_seconds, m.seconds + excluded.seconds - ${s.capSeconds ?? 0}::bigint) else m.over_seconds end
      returning m.month, m.seconds
    )
    select (select count(*) from upd)::text as updated, (select seconds::text from added order by month desc limit 1) as month_seconds`.execute(db);
  const row = r.rows[0]!;
  return row.updated === '1' ? (row.month_seconds ?? '0') : null;
}

export interface BeatInput {
  id: string;
  projectId: string;
  nowS: number;
}

export interface BeatRow {
  seconds: string;
  capSeconds: number | null;
  bill: boolean;
  monthSeconds: string;
}

/**
 * The common heartbeat (a live license session of an active project, valid now, of a SKU without a
 * usage period, last seen this month) for many sessions in one call (`ext_beat_sessions`,
 * migration 20261203110000; one session: `ext_beat_session`, 20261201100000): the
 * answer of each by its index in `items`, undefined where it was not that case (nothing written).
 * Ids must be distinct. Committed without waiting for the disk (`ext_beat_sessions_async`,
 * migration 20261207090000: what a crash of the database may lose, and why that is acceptable).
 */
export async function beatSessions(db: Db, items: readonly BeatInput[]): Promise<(BeatRow | undefined)[]> {
  const r = await sql<{ out_ord: number; out_seconds: string; out_cap_seconds: number | null; out_bill: boolean; out_month_seconds: string }>`
    select * from ext_beat_sessions_async(${items.map((i) => i.id)}::uuid[], ${items.map((i) => i.projectId)}::bigint[], ${items.map((i) => at(i.nowS).toISOString())}::timestamptz[])`.execute(db);
  const out: (BeatRow | undefined)[] = new Array<BeatRow | undefined>(items.length).fill(undefined);
  for (const row of r.rows) out[row.out_ord - 1] = { seconds: row.out_seconds, capSeconds: row.out_cap_seconds, bill: row.out_bill, monthSeconds: row.out_month_seconds };
  return out;
}

/**
 * Adds the seconds [fromS, toS) of a license to its months. With `capSeconds` and `bill`, the part
 * of a month past the cap is recorded as overage (never less than already recorded). Answers the
 * seconds of the month `toS` falls in (or of the last month touched).
 */
export async function addLicenseSeconds(
  trx: Transaction<DB>,
  licenseId: string,
  parts: { month: string; seconds: number }[],
  capSeconds: number | null,
  bill: boolean,
): Promise<string | null> {
  let last: string | null = null;
  const billing = bill && capSeconds !== null;
  for (const p of parts) {
    const r = await sql<{ seconds: string }>`
      insert into ext_license_minutes as m (license_id, month, seconds, over_seconds)
      values (${licenseId}, ${p.month}, ${p.seconds}, ${billing ? Math.max(0, p.seconds - capSeconds) : 0})
      on conflict (license_id, month) do update set
        seconds = m.seconds + excluded.seconds,
        over_seconds = case when ${billing}::boolean
          then greatest(m.over_seconds, m.seconds + excluded.seconds - ${capSeconds ?? 0}::bigint) else m.over_seconds end
      returning m.seconds::text as seconds`.execute(trx);
    last = r.rows[0]!.seconds;
  }
  return last;
}

export async function updateSeen(trx: Transaction<DB>, sessionId: string, nowS: number, heartbeatSeconds: number, seconds: string): Promise<void> {
  await trx
    .updateTable('ext_sessions')
    .set({ last_seen_at: at(nowS), live_until: at(nowS + 2 * heartbeatSeconds), seconds })
    .where('id', '=', sessionId)
    .execute();
}

export async function endSession(trx: Transaction<DB>, sessionId: string, endedS: number, reason: SessionEndReason, seconds: string): Promise<void> {
  await trx.updateTable('ext_sessions').set({ ended_at: at(endedS), end_reason: reason, seconds }).where('id', '=', sessionId).where('ended_at', 'is', null).execute();
}

/**
 * Looks at up to `limit` open sessions past their `sweep_at` (ext_session_sweeps,
 * migrations/20261202110000-runtime-hot-heartbeat.ts), oldest first: a silent one (no heartbeat
 * until its `live_until`) ends as of its last heartbeat and gives its seats back; a live one is
 * looked at again at its `live_until`; the row of one already ended (by its leave or its
 * heartbeat) is deleted. The cost is that of the batch, whatever the number of sessions. Only rows
 * of ext_session_sweeps are locked for the batch (no request ever locks them), and of those, rows
 * another sweep holds are skipped, never waited for. `visited` is the batch's size (a full batch:
 * there may be more); `ended`, the sessions it ended.
 */
export async function endSilentSessions(
  db: Db,
  nowS: number,
  opts: { limit: number; customerId?: string; projectId?: string },
): Promise<{ visited: number; ended: number }> {
  const now = at(nowS);
  return db.transaction().execute(async (trx) => {
    const r = await sql<{ visited: string; customer_id: string | null; project_id: string | null }>`
      with due as (
        select w.session_seq, s.ended_at, s.live_until
        from ext_session_sweeps w join ext_sessions s on s.seq = w.session_seq
        where w.sweep_at < ${now}
          ${opts.customerId === undefined ? sql`` : sql`and w.customer_id = ${opts.customerId}`}
          ${opts.projectId === undefined ? sql`` : sql`and w.project_id = ${opts.projectId}`}
        order by w.sweep_at
        limit ${opts.limit}
        for update of w skip locked
      ), ended as (
        -- Re-checked on the row as it is now: a leave or a heartbeat that ended it first wins.
        update ext_sessions s set ended_at = s.last_seen_at, end_reason = 'silence'
        from due
        where s.seq = due.session_seq and due.ended_at is null and due.live_until < ${now} and s.ended_at is null and s.live_until < ${now}
        returning s.seq, s.customer_id, s.project_id
      ), gone as (
        delete from ext_session_sweeps w using due
        where w.session_seq = due.session_seq and (due.ended_at is not null or w.session_seq in (select seq from ended))
      ), moved as (
        -- Live (or ended meanwhile by someone else: the next sweep meets it again and deletes it).
        update ext_session_sweeps w set sweep_at = due.live_until
        from due
        where w.session_seq = due.session_seq and due.ended_at is null and w.session_seq not in (select seq from ended)
      )
      select (select count(*) from due)::text as visited, null::text as customer_id, null::text as project_id
      union all
      select null, customer_id, project_id::text from ended`.execute(trx);
    const visited = Number(r.rows.find((x) => x.visited !== null)?.visited ?? '0');
    const ended = r.rows.filter((x) => x.customer_id !== null && x.project_id !== null).map((x) => ({ customer_id: x.customer_id!, project_id: x.project_id! }));
    if (ended.length > 0) await releaseSeats(trx, ended);
    return { visited, ended: ended.length };
  });
}

export async function setLimit(db: Db, scope: 'customer' | 'project', scopeId: string, pcu: number | null) {
  await db
    .insertInto('ext_limits')
    .values({ scope, scope_id: scopeId, pcu })
    .onConflict((oc) => oc.columns(['scope', 'scope_id']).doUpdateSet({ pcu }))
    .execute();
}

export function limitOf(db: Db, scope: 'customer' | 'project', scopeId: string) {
  return db.selectFrom('ext_limits').select(['pcu', 'live']).where('scope', '=', scope).where('scope_id', '=', scopeId).executeTakeFirst();
}

/** Seconds of one license in one month (0 when it has none). */
export async function licenseMonthSeconds(db: Db, licenseId: string, month: string): Promise<string> {
  const r = await db.selectFrom('ext_license_minutes').select('seconds').where('license_id', '=', licenseId).where('month', '=', month).executeTakeFirst();
  return r?.seconds ?? '0';
}
