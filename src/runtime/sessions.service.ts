import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.ts';
import type { SessionEndReason } from '../db/schema.ts';
import { Decimal } from '../decimal.ts';
import { AppError } from '../errors.ts';
import { heartbeatBatcherOf } from './heartbeat-batch.ts';
import * as repo from './sessions.repository.ts';
import { REASONS, insidePeriod, mediaCovered, minutesOf, monthOf, parsePeriod, periodEndsAt, splitByMonth, type Media, type ReasonName } from './rules.ts';

export interface Caller {
  customerId: string;
  projectId: string;
}

export interface JoinInput {
  license?: string | undefined;
  licenseKey: string;
  media: Media;
  platform: string;
  channel?: string | undefined;
  userId?: string | undefined;
}

export interface JoinAnswer {
  sessionId: string;
  heartbeatSeconds: number;
  expireTime: number;
  minutesLeft: string | null;
  periodEndsAt: number | null;
}

const MESSAGES: Record<ReasonName, string> = {
  LICENSE_INVALID: 'The license is unknown, or not one of this customer and project',
  EXPIRE: 'The license is expired or not yet valid',
  MINUTES_EXCEED: "The SKU's minutes are used up for this month",
  LIMITED_PERIOD: "Outside the SKU's usage period of the day",
  DIFF_DEVICES: 'The licenseKey is not the device the license was activated for',
  PCU_EXCEEDED: "The customer's or the project's concurrent-user limit is reached",
  MEDIA_NOT_LICENSED: "The SKU's media type does not cover this media",
  PLATFORM_NOT_LICENSED: 'No grant of this customer lists this platform',
};

export const refused = (name: ReasonName) => new AppError('join_refused', MESSAGES[name], { reason: REASONS[name], error: name });

const unixS = (d: Date) => Math.floor(d.getTime() / 1000);
const notAuthorized = () => new AppError('unauthorized', "The project's credentials no longer work: the project or its customer is deactivated");

/** Silent sessions a refused join ends before it looks again (a limit of 50 needs at most 50). */
const SWEEP_ON_REFUSAL = 200;

/**
 * A user joins a channel: every check of the spec in the order the issue gives (the license is the
 * customer's and project's, valid now, the device's, covers the media, inside its period, minutes
 * left), then a seat of the customer's and of the project's PCU limit and the session, in one
 * transaction. A license join that passes (of a SKU without a usage period) does all of it in one
 * round trip (`ext_join`); the checks here then find nothing to refuse, as that function's are
 * the same or stricter. A full limit is looked at again once after ending that scope's silent
 * sessions.
 */
export async function join(db: Db, caller: Caller, input: JoinInput, now: Date, heartbeatSeconds: number): Promise<JoinAnswer> {
  const nowS = unixS(now);
  const month = monthOf(nowS);
  const session: repo.NewSession = {
    id: randomUUID(),
    customerId: caller.customerId,
    projectId: caller.projectId,
    licenseId: null,
    grantId: null,
    licenseKey: input.licenseKey,
    media: input.media,
    platform: input.platform,
    channel: input.channel ?? null,
    userId: input.userId ?? null,
    heartbeatSeconds,
    nowS,
  };
  // A license join tries everything in one round trip (ext_join); its facts decide the rest.
  const facts = input.license === undefined ? { ...(await repo.joinFacts(db, caller.projectId, undefined, month)), started: false, full: null } : await repo.joinInOneCall(db, { ...session, license: input.license }, month);
  if (!facts.caller || facts.caller.project_off !== null || facts.caller.customer_off !== null) throw notAuthorized();

  let expireTime: number;
  let minutesLeft: string | null = null;
  let periodEnd: number | null = null;
  const l = facts.license;
  if (input.license !== undefined) {
    if (!l || l.customer_id !== caller.customerId || l.project_id !== caller.projectId) throw refused('LICENSE_INVALID');
    if (unixS(l.activated_at) > nowS || unixS(l.expires_at) <= nowS) throw refused('EXPIRE');
    if (l.license_key !== input.licenseKey) throw refused('DIFF_DEVICES');
    if (!mediaCovered(l.media_type, input.media)) throw refused('MEDIA_NOT_LICENSED');
    const period = parsePeriod(l.period);
    if (!insidePeriod(period, nowS)) throw refused('LIMITED_PERIOD');
    if (l.minutes !== null) {
      const left = l.minutes * 60 - Number(l.month_seconds ?? '0');
      if (left <= 0 && l.mode !== 'bill') throw refused('MINUTES_EXCEED');
      minutesLeft = minutesOf(Math.max(0, left));
    }
    session.licenseId = l.id;
    expireTime = unixS(l.expires_at);
    periodEnd = periodEndsAt(period, nowS);
  } else {
    const grants = await repo.openGrants(db, caller.customerId, nowS);
    if (grants.length === 0) throw refused('EXPIRE');
    const covering = grants.filter((g) => g.platforms.includes(input.platform));
    if (covering.length === 0) throw refused('PLATFORM_NOT_LICENSED');
    session.grantId = covering[0]!.id;
    expireTime = unixS(covering[0]!.ends_at);
  }

  if (!facts.started) {
    // Not tried yet (a grant, a SKU with a usage period), or tried and a limit was full.
    const full = facts.full ?? (await repo.startSession(db, session));
    if (full !== null) {
      if ((await sweepScope(db, caller, full, nowS)) === 0) throw refused('PCU_EXCEEDED');
      if ((await repo.startSession(db, session)) !== null) throw refused('PCU_EXCEEDED');
    }
  }
  return { sessionId: session.id, heartbeatSeconds, expireTime, minutesLeft, periodEndsAt: periodEnd };
}

/**
 * A full limit's scope: ends its silent sessions before the join looks again. A batch may hold
 * live sessions whose schedule had come due (each then waits until its live_until), so a few more
 * batches are read while they find nothing silent and are full.
 */
async function sweepScope(db: Db, caller: Caller, full: 'customer' | 'project', nowS: number): Promise<number> {
  const scope = full === 'customer' ? { customerId: caller.customerId } : { projectId: caller.projectId };
  for (let batch = 0; batch < 5; batch++) {
    const r = await repo.endSilentSessions(db, nowS, { limit: SWEEP_ON_REFUSAL, ...scope });
    if (r.ended > 0 || r.visited < SWEEP_ON_REFUSAL) return r.ended;
  }
  return 0;
}

export interface HeartbeatAnswer {
  minutesUsed: string;
  minutesLeft: string | null;
  end: { reason: number; error: ReasonName } | null;
}

const ENDED_MESSAGES: Record<SessionEndReason, string> = {
  leave: 'The session was ended by its leave',
  silence: 'The session ended: no heartbeat for twice its heartbeat interval',
  EXPIRE: 'The session ended: its license expired',
  MINUTES_EXCEED: "The session ended: the SKU's minutes were used up for this month",
  LIMITED_PERIOD: "The session ended: the SKU's usage period of the day ended",
};

function ended(reason: SessionEndReason): AppError {
  const isReason = reason !== 'leave' && reason !== 'silence';
  return new AppError('session_ended', ENDED_MESSAGES[reason], {
    reason: isReason ? REASONS[reason] : null,
    error: 'SESSION_ENDED',
    endedBy: reason,
  });
}

const unknownSession = (id: string) => new AppError('unknown_session', `No session ${id} of this project`);

/**
 * A running session says it is still there: its seconds since the last heartbeat are counted (to
 * the license's months), and the answer says whether it must stop now (license expired, minutes
 * used up, period over); a session that must stop is ended here, as of now. A silent one (no
 * heartbeat until its `live_until`) ends as of its last heartbeat and answers 410.
 */
export async function heartbeat(db: Db, caller: Caller, sessionId: string, now: Date): Promise<HeartbeatAnswer> {
  const one = await oneStatementHeartbeat(db, caller, sessionId, now);
  if (one === 'locked') return lockedHeartbeat(db, caller, sessionId, now);
  return one ?? (await fastHeartbeat(db, caller, sessionId, now)) ?? lockedHeartbeat(db, caller, sessionId, now);
}

/**
 * The commonest heartbeat in one round trip, shared with the heartbeats that arrive with it
 * (`ext_beat_sessions`, src/runtime/heartbeat-batch.ts): every round trip costs the server a
 * socket write and the database a commit, which is what limits the requests per second. Null: not
 * that case (a grant session, a SKU with a usage period, a month boundary, anything to end or
 * refuse), nothing written. 'locked': the seconds were counted and used up the minutes, so the
 * locked path ends the session (adding nothing more, its last heartbeat being now).
 */
async function oneStatementHeartbeat(db: Db, caller: Caller, sessionId: string, now: Date): Promise<HeartbeatAnswer | 'locked' | null> {
  const r = await heartbeatBatcherOf(db).beat({ id: sessionId, projectId: caller.projectId, nowS: unixS(now) });
  if (r === undefined) return null;
  if (r.capSeconds !== null && !r.bill && new Decimal(r.monthSeconds).gte(r.capSeconds)) return 'locked';
  const minutesLeft = r.capSeconds === null ? null : minutesOf(Decimal.max(0, new Decimal(r.capSeconds).minus(r.monthSeconds)).toFixed());
  return { minutesUsed: minutesOf(r.seconds), minutesLeft, end: null };
}

/**
 * The common heartbeat in two round trips (a read, then one conditional statement), with no
 * transaction: a live license session that goes on. Anything else (unknown, ended, silent, a grant
 * session, a session that must end now, or one that changed between the read and the write)
 * answers null and is handled by the locked path, which decides everything again under the lock.
 */
async function fastHeartbeat(db: Db, caller: Caller, sessionId: string, now: Date): Promise<HeartbeatAnswer | null> {
  const nowS = unixS(now);
  const s = await repo.readSession(db, sessionId, monthOf(nowS));
  if (!s || s.project_id !== caller.projectId || s.project_off !== null || s.customer_off !== null || s.ended_at !== null) return null;
  if (s.license_id === null || unixS(s.live_until) < nowS) return null;
  if (s.expires_at === null || unixS(s.expires_at) <= nowS || !insidePeriod(parsePeriod(s.period), nowS)) return null;
  const lastSeenS = unixS(s.last_seen_at);
  if (nowS <= lastSeenS) return null;
  const capSeconds = s.minutes === null ? null : s.minutes * 60;
  const monthSeconds = await repo.advanceSession(db, {
    id: s.id,
    licenseId: s.license_id,
    lastSeenS,
    nowS,
    heartbeatSeconds: s.heartbeat_seconds,
    parts: splitByMonth(lastSeenS, nowS),
    capSeconds,
    bill: s.mode === 'bill',
  });
  if (monthSeconds === null) return null;
  // The minutes ran out with these seconds: the locked path ends the session (adding nothing more).
  if (capSeconds !== null && s.mode !== 'bill' && new Decimal(monthSeconds).gte(capSeconds)) return null;
  const seconds = (BigInt(s.seconds) + BigInt(nowS - lastSeenS)).toString();
  const minutesLeft = capSeconds === null ? null : minutesOf(Decimal.max(0, new Decimal(capSeconds).minus(monthSeconds)).toFixed());
  return { minutesUsed: minutesOf(seconds), minutesLeft, end: null };
}

async function lockedHeartbeat(db: Db, caller: Caller, sessionId: string, now: Date): Promise<HeartbeatAnswer> {
  const nowS = unixS(now);
  const month = monthOf(nowS);
  const out = await db.transaction().execute(async (trx) => {
    const s = await repo.lockSession(trx, sessionId, month);
    if (!s || s.project_id !== caller.projectId) return { error: unknownSession(sessionId) };
    if (s.project_off !== null || s.customer_off !== null) return { error: notAuthorized() };
    if (s.ended_at !== null) return { error: ended(s.end_reason!) };
    if (unixS(s.live_until) < nowS) {
      await repo.endSession(trx, s.id, unixS(s.last_seen_at), 'silence', s.seconds);
      await repo.releaseSeats(trx, [{ customer_id: s.customer_id, project_id: s.project_id }]);
      return { error: ended('silence') };
    }
    const from = Math.min(unixS(s.last_seen_at), nowS);
    const seconds = (BigInt(s.seconds) + BigInt(nowS - from)).toString();
    let monthSeconds: string | null = null;
    const capSeconds = s.minutes === null ? null : s.minutes * 60;
    if (s.license_id !== null && nowS > from) {
      monthSeconds = await repo.addLicenseSeconds(trx, s.license_id, splitByMonth(from, nowS), capSeconds, s.mode === 'bill');
    } else if (s.license_id !== null) {
      monthSeconds = s.month_seconds ?? '0';
    }
    let end: ReasonName | null = null;
    if (s.license_id !== null) {
      if (s.expires_at !== null && unixS(s.expires_at) <= nowS) end = 'EXPIRE';
      else if (capSeconds !== null && s.mode !== 'bill' && new Decimal(monthSeconds ?? '0').gte(capSeconds)) end = 'MINUTES_EXCEED';
      else if (!insidePeriod(parsePeriod(s.period), nowS)) end = 'LIMITED_PERIOD';
    } else if (!(await repo.grantCovers(trx, s.customer_id, s.platform, nowS))) {
      end = 'EXPIRE';
    }
    if (end !== null) {
      await repo.endSession(trx, s.id, nowS, end, seconds);
      await repo.releaseSeats(trx, [{ customer_id: s.customer_id, project_id: s.project_id }]);
    } else {
      await repo.updateSeen(trx, s.id, nowS, s.heartbeat_seconds, seconds);
    }
    const minutesLeft = capSeconds === null ? null : minutesOf(Decimal.max(0, new Decimal(capSeconds).minus(monthSeconds ?? '0')).toFixed());
    return { answer: { minutesUsed: minutesOf(seconds), minutesLeft, end: end === null ? null : { reason: REASONS[end], error: end } } };
  });
  if ('error' in out) throw out.error;
  return out.answer;
}

/**
 * The user leaves: the seconds since the last heartbeat are counted and the session ends. A repeat
 * answers the same; a session that had gone silent ends as of its last heartbeat.
 */
export async function leave(db: Db, caller: Caller, sessionId: string, now: Date): Promise<{ seconds: number; minutes: string }> {
  const nowS = unixS(now);
  const out = await db.transaction().execute(async (trx) => {
    const s = await repo.lockSession(trx, sessionId, monthOf(nowS));
    if (!s || s.project_id !== caller.projectId) return { error: unknownSession(sessionId) };
    if (s.project_off !== null || s.customer_off !== null) return { error: notAuthorized() };
    if (s.ended_at !== null) return { seconds: s.seconds };
    if (unixS(s.live_until) < nowS) {
      await repo.endSession(trx, s.id, unixS(s.last_seen_at), 'silence', s.seconds);
    } else {
      const from = Math.min(unixS(s.last_seen_at), nowS);
      const seconds = (BigInt(s.seconds) + BigInt(nowS - from)).toString();
      if (s.license_id !== null && nowS > from) {
        await repo.addLicenseSeconds(trx, s.license_id, splitByMonth(from, nowS), s.minutes === null ? null : s.minutes * 60, s.mode === 'bill');
      }
      await repo.endSession(trx, s.id, nowS, 'leave', seconds);
      s.seconds = seconds;
    }
    await repo.releaseSeats(trx, [{ customer_id: s.customer_id, project_id: s.project_id }]);
    return { seconds: s.seconds };
  });
  if ('error' in out) throw out.error;
  return { seconds: Number(out.seconds), minutes: minutesOf(out.seconds) };
}
