import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { runtimeMaintenance, billOverage } from '../src/runtime/maintenance.ts';
import { minutesOf, splitByMonth } from '../src/runtime/rules.ts';
import { signedBody } from '../src/agora/signature.ts';
import { dayStart, KEY, provision } from './helpers/app.ts';
import { extClient, skuAndPid, type ExtClient } from './helpers/ext.ts';
import { heartbeatBatcherOf } from '../src/runtime/heartbeat-batch.ts';
import { beatSessions } from '../src/runtime/sessions.repository.ts';
import { migrator } from '../src/db/migrate.ts';
import { adminJson, buy, licenseClient, projectCredentials, type Answer } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Licenses at run time (shared/spec/runtime.md): joins and their refusals, heartbeats, leaves,
 * silence, month boundaries, PCU limits, overage into Agora's usage, and Agora's license grants.
 * Every time comes from the app's injected clock.
 */
const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0', EXT_HEARTBEAT_SECONDS: '30', EXT_DEADLINE_MS: '30000' } });
const T0 = '2027-03-10T12:00:00Z';
const s0 = Date.parse(T0) / 1000;
const at = (s: number) => ctx.t.setNow(new Date(s * 1000));

interface World {
  p101: ExtClient;
  p102: ExtClient;
  p201: ExtClient;
  /** Licenses activated on project 101 for device `dev-1`, one per PID. */
  lic: Record<'av' | 'audio' | 'capped' | 'night' | 'bill', string>;
  pids: Record<'av' | 'audio' | 'capped' | 'night' | 'bill', string>;
}

async function world(): Promise<World> {
  const t = ctx.t;
  at(s0);
  await provision(t, 'c1', [101, 102]);
  await provision(t, 'c2', [201]);
  const pids = {
    av: await skuAndPid(t, 'av', { mediaType: 3 }),
    audio: await skuAndPid(t, 'audio', { mediaType: 1 }),
    capped: await skuAndPid(t, 'capped', { mediaType: 3, minutes: 2 }),
    night: await skuAndPid(t, 'night', { mediaType: 3, period: '22:00~02:00' }),
    bill: await skuAndPid(t, 'bill', { mediaType: 3, minutes: 1 }),
  };
  const api = licenseClient(t, { basic: await projectCredentials(ctx.tdb.db, '101') });
  const lic = {} as World['lic'];
  for (const [k, pid] of Object.entries(pids) as [keyof typeof pids, string][]) {
    await buy(t, 'c1', pid, 3);
    const a = await api.activate('101', pid, 'dev-1');
    if (a.status !== 200) throw new Error(`activate: ${a.status} ${JSON.stringify(a.body)}`);
    lic[k] = a.body.data.license;
  }
  const db = ctx.tdb.db;
  const get = () => ctx.t;
  return { p101: await extClient(get, db, '101'), p102: await extClient(get, db, '102'), p201: await extClient(get, db, '201'), lic, pids };
}

const dev = (license: string, extra: Record<string, unknown> = {}) => ({ license, licenseKey: 'dev-1', media: 'audio+video', platform: 'android', ...extra });

function refusedWith(r: Answer, reason: number, error: string) {
  expect(r.status).toBe(403);
  expect(r.body).toMatchObject({ code: 403, reason, error });
  expect(typeof r.body.message).toBe('string');
}

async function sessionCount() {
  const r = await ctx.tdb.db.selectFrom('ext_sessions').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

describe('join', () => {
  it('starts a session and answers its heartbeat interval, expiry, minutes and period', async () => {
    const w = await world();
    const r = await w.p101.join(dev(w.lic.capped, { channel: 'room-1', userId: 'u1' }));
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ heartbeatSeconds: 30, minutesLeft: '2', periodEndsAt: null });
    expect(r.body.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body.expireTime).toBe(Date.UTC(2028, 2, 10, 12) / 1000); // one year: calendar months, UTC
    const night = await (at(Date.parse('2027-03-10T23:00:00Z') / 1000), w.p101.join(dev(w.lic.night)));
    expect(night.status).toBe(201);
    expect(night.body.periodEndsAt).toBe(Date.parse('2027-03-11T02:01:00Z') / 1000);
  });

  it('refuses with every reason 1–8, its stable name, and writes nothing', async () => {
    const w = await world();
    refusedWith(await w.p101.join(dev('no-such-license')), 1, 'LICENSE_INVALID');
    refusedWith(await w.p102.join(dev(w.lic.av)), 1, 'LICENSE_INVALID'); // another project of the customer
    refusedWith(await w.p201.join(dev(w.lic.av)), 1, 'LICENSE_INVALID'); // another customer
    at(s0 + 400 * 86_400);
    refusedWith(await w.p101.join(dev(w.lic.av)), 2, 'EXPIRE');
    at(s0 - 60);
    refusedWith(await w.p101.join(dev(w.lic.av)), 2, 'EXPIRE'); // not yet valid
    at(s0);
    refusedWith(await w.p101.join(dev(w.lic.av, { licenseKey: 'dev-2' })), 5, 'DIFF_DEVICES');
    refusedWith(await w.p101.join(dev(w.lic.audio, { media: 'video' })), 7, 'MEDIA_NOT_LICENSED');
    expect((await w.p101.join(dev(w.lic.audio, { media: 'audio' }))).status).toBe(201);
    refusedWith(await w.p101.join(dev(w.lic.night)), 4, 'LIMITED_PERIOD'); // 12:00 is outside 22:00~02:00
    // Minutes: 2 per month, used up by one session of 120 s.
    const s = await w.p101.join(dev(w.lic.capped));
    at(s0 + 60);
    await w.p101.heartbeat(s.body.sessionId);
    at(s0 + 120);
    expect((await w.p101.leave(s.body.sessionId)).body).toEqual({ seconds: 120, minutes: '2' });
    refusedWith(await w.p101.join(dev(w.lic.capped)), 3, 'MINUTES_EXCEED');
    // PCU: project 101 may have one live session, and has one (the audio one has gone silent).
    expect((await w.p101.join(dev(w.lic.av))).status).toBe(201);
    expect((await ctx.t.admin('PUT', '/v1/projects/101/limits', { pcu: 1 })).status).toBe(200);
    refusedWith(await w.p101.join(dev(w.lic.av)), 6, 'PCU_EXCEEDED');
    expect((await ctx.t.admin('PUT', '/v1/projects/101/limits', { pcu: null })).status).toBe(200);
    expect((await ctx.t.admin('PUT', '/v1/customers/c1/limits', { pcu: 1 })).status).toBe(200);
    refusedWith(await w.p101.join(dev(w.lic.av)), 6, 'PCU_EXCEEDED');
    // 8: a grant of customer c2 for ios only; a join without a license on android.
    const g = await ctx.t.agoraSend('PUT', '/license/customers/c2/activate', { platform: 'ios', expire: `${s0 - 10}-${s0 + 3600}` });
    expect(g.status).toBe(200);
    refusedWith(await w.p201.join({ licenseKey: 'phone-1', media: 'audio', platform: 'android' }), 8, 'PLATFORM_NOT_LICENSED');
    expect((await w.p201.join({ licenseKey: 'phone-1', media: 'audio', platform: 'ios' })).status).toBe(201);
    at(s0 + 7200);
    refusedWith(await w.p201.join({ licenseKey: 'phone-1', media: 'audio', platform: 'ios' }), 2, 'EXPIRE'); // outside any grant
    // Only the four joins that were admitted wrote a session.
    expect(await sessionCount()).toBe(4);
  });

  it('refuses bad input with a stable code and writes nothing', async () => {
    const w = await world();
    const bad = async (body: unknown, code: string) => {
      const r = await w.p101.join(body as Record<string, unknown>);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error).toBe(code);
      expect(r.body.reason).toBeNull();
    };
    await bad(dev(w.lic.av, { licenseKey: 'k'.repeat(64) }), 'invalid_license_key');
    await bad(dev(w.lic.av, { licenseKey: 'é'.repeat(32) }), 'invalid_license_key'); // 64 bytes
    await bad(dev(w.lic.av, { media: 'hologram' }), 'invalid_parameter');
    await bad(dev(w.lic.av, { platform: 'symbian' }), 'invalid_parameter');
    await bad(dev(w.lic.av, { channel: 'c'.repeat(65) }), 'invalid_parameter');
    await bad({ license: w.lic.av, media: 'audio', platform: 'web' }, 'missing_parameter');
    const notJson = await w.p101.call('POST', '/sessions', '{"license":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toBe('invalid_json');
    for (const id of ['nope', '123', '3F0C5A8E-2B7D-4C1E-9A6F-0D8B7E5C4A21x']) {
      const r = await w.p101.heartbeat(id);
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_parameter');
    }
    const unknown = await w.p101.heartbeat('3f0c5a8e-2b7d-4c1e-9a6f-0d8b7e5c4a21');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('unknown_session');
    // A session of another project is not this project's to beat or end.
    const s = await w.p101.join(dev(w.lic.av));
    expect((await w.p102.heartbeat(s.body.sessionId)).body.error).toBe('unknown_session');
    expect((await w.p102.leave(s.body.sessionId)).status).toBe(404);
    expect((await w.p101.heartbeat(s.body.sessionId)).status).toBe(200);
    expect(await sessionCount()).toBe(1);
  });

  it('takes only a project’s appKey:appSecret, and not once the project is deactivated', async () => {
    const w = await world();
    const wrong = await w.p101.call('POST', '/sessions', dev(w.lic.av), `Basic ${Buffer.from('nobody:nothing').toString('base64')}`);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 401, reason: null, error: 'unauthorized' });
    const admin = await w.p101.call('POST', '/sessions', dev(w.lic.av), 'Bearer test-admin-token-0123456789abcdef');
    expect(admin.status).toBe(401);
    const s = await w.p101.join(dev(w.lic.av));
    expect(s.status).toBe(201);
    expect((await ctx.t.agoraSend('PUT', '/customers/c1/projects/101/deactivate', {})).status).toBe(200);
    expect((await w.p101.join(dev(w.lic.av))).status).toBe(401);
    expect((await w.p101.heartbeat(s.body.sessionId)).status).toBe(401);
  });
});

describe('sessions', () => {
  it('count to the second from join to leave; a repeated leave answers the same', async () => {
    const w = await world();
    const s = (await w.p101.join(dev(w.lic.capped))).body.sessionId;
    at(s0 + 25);
    expect((await w.p101.heartbeat(s)).body).toEqual({ minutesUsed: '0.416667', minutesLeft: '1.583333', end: null });
    at(s0 + 60);
    await w.p101.heartbeat(s);
    at(s0 + 90);
    expect((await w.p101.leave(s)).body).toEqual({ seconds: 90, minutes: '1.5' });
    at(s0 + 500);
    expect((await w.p101.leave(s)).body).toEqual({ seconds: 90, minutes: '1.5' });
    const gone = await w.p101.heartbeat(s);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ code: 410, reason: null, error: 'SESSION_ENDED', endedBy: 'leave' });
    const m = await adminJson(ctx.t, 'GET', `/v1/licenses/${w.lic.capped}/minutes`);
    expect(m.body).toMatchObject({ month: '2027-03', minutesCap: 2, minutesUsed: '1.5', minutesLeft: '0.5', overage: 'block' });
  });

  it('heartbeats of one session sent at once count its seconds once, to the session and its license', async () => {
    const w = await world();
    const s = (await w.p101.join(dev(w.lic.capped))).body.sessionId;
    at(s0 + 30);
    const answers = await Promise.all(Array.from({ length: 8 }, () => w.p101.heartbeat(s)));
    for (const a of answers) expect(a.status).toBe(200);
    for (const a of answers) expect(a.body).toMatchObject({ minutesUsed: '0.5', minutesLeft: '1.5', end: null });
    at(s0 + 60);
    expect((await w.p101.leave(s)).body).toEqual({ seconds: 60, minutes: '1' });
    const m = await adminJson(ctx.t, 'GET', `/v1/licenses/${w.lic.capped}/minutes`);
    expect(m.body).toMatchObject({ month: '2027-03', minutesUsed: '1', minutesLeft: '1' });
  });

  it('heartbeats of several sessions of one license in one call: each session its own seconds, the license their sum, overage included', async () => {
    const w = await world();
    expect((await ctx.t.admin('PUT', `/v1/pids/${w.pids.bill}/overage`, { overage: 'bill' })).status).toBe(200);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await w.p101.join(dev(w.lic.bill))).body.sessionId);
    const capped = (await w.p101.join(dev(w.lic.capped))).body.sessionId;
    at(s0 + 30);
    const batcher = heartbeatBatcherOf(ctx.tdb.db);
    const before = { ...batcher.sent };
    // Asked in one turn of the event loop: one call carries them all, a repeated id waits for the next.
    const nowS = s0 + 30;
    const rows = await Promise.all([...ids, ids[0]!, capped].map((id) => batcher.beat({ id, projectId: '101', nowS })));
    expect(batcher.sent.calls - before.calls).toBe(2);
    expect(batcher.sent.beats - before.beats).toBe(6);
    // The cap is 60 s: four sessions of 30 s make 120, 60 of them past it (billed later).
    for (const r of rows.slice(0, 4)) expect(r).toEqual({ seconds: '30', capSeconds: 60, bill: true, monthSeconds: '120' });
    expect(rows[4]).toBeUndefined(); // the repeat: already beaten at this second, nothing written
    expect(rows[5]).toEqual({ seconds: '30', capSeconds: 120, bill: false, monthSeconds: '30' });
    const minutes = await ctx.tdb.db.selectFrom('ext_license_minutes as m').innerJoin('licenses as l', 'l.id', 'm.license_id').select(['l.license', 'm.seconds', 'm.over_seconds']).orderBy('l.license').execute();
    expect(new Map(minutes.map((m) => [m.license, [m.seconds, m.over_seconds]]))).toEqual(
      new Map([
        [w.lic.bill, ['120', '60']],
        [w.lic.capped, ['30', '0']],
      ]),
    );
    // Through the API, the same sessions go on: 30 s more each, 60 s more over the cap.
    at(s0 + 60);
    const answers = await Promise.all(ids.map((id) => w.p101.heartbeat(id)));
    for (const a of answers) expect(a.body).toMatchObject({ minutesUsed: '1', minutesLeft: '0', end: null });
    const m = await adminJson(ctx.t, 'GET', `/v1/licenses/${w.lic.bill}/minutes`);
    expect(m.body).toMatchObject({ month: '2027-03', minutesUsed: '4', minutesLeft: '0' });
    const over = await ctx.tdb.db.selectFrom('ext_license_minutes').select('over_seconds').where('over_seconds', '>', '0').execute();
    expect(over).toEqual([{ over_seconds: '180' }]);
  });

  it('ext_beat_sessions always takes its generic plan (migration 20261206080000), and beats the same without it', async () => {
    // Left to plan_cache_mode = auto, the generic plan (costed for arrays of ten) never beats the
    // custom plans of one heartbeat, so every call planned the eight-table join again.
    const config = async () =>
      (await sql<{ c: string[] | null }>`select proconfig as c from pg_proc where proname = 'ext_beat_sessions' and pronamespace = current_schema()::regnamespace`.execute(ctx.tdb.db)).rows;
    expect(await config()).toEqual([{ c: ['plan_cache_mode=force_generic_plan'] }]);
    const w = await world();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await w.p101.join(dev(w.lic.bill))).body.sessionId);
    const batcher = heartbeatBatcherOf(ctx.tdb.db);
    const beat = (nowS: number) => Promise.all(ids.map((id) => batcher.beat({ id, projectId: '101', nowS })));
    // The function itself, as it was before (the server calls it through ext_beat_sessions_async, 20261207090000).
    const beatDirect = async (nowS: number) =>
      (
        await sql<{ out_seconds: string; out_month_seconds: string }>`select * from ext_beat_sessions(${ids}::uuid[], ${ids.map(() => '101')}::bigint[],
          ${ids.map(() => new Date(nowS * 1000).toISOString())}::timestamptz[]) order by out_ord`.execute(ctx.tdb.db)
      ).rows.map((r) => ({ seconds: r.out_seconds, monthSeconds: r.out_month_seconds }));
    const m = await migrator(ctx.tdb.db);
    try {
      expect((await m.migrateTo('20261205100000-ingest-hot-rollups')).error).toBeUndefined();
      expect(await config()).toEqual([{ c: null }]);
      expect(await beatDirect(s0 + 10)).toEqual(ids.map(() => ({ seconds: '10', monthSeconds: '30' })));
    } finally {
      expect((await m.migrateToLatest()).error).toBeUndefined();
    }
    expect(await config()).toEqual([{ c: ['plan_cache_mode=force_generic_plan'] }]);
    for (const r of await beat(s0 + 20)) expect(r).toMatchObject({ seconds: '20', monthSeconds: '60' });
  });

  it('batched heartbeats commit without waiting for the disk, in their own transaction only (migration 20261207090000)', async () => {
    const w = await world();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await w.p101.join(dev(w.lic.bill))).body.sessionId);
    const items = (nowS: number) => ids.map((id) => ({ id, projectId: '101', nowS }));
    const show = async (db: Parameters<typeof beatSessions>[0]) => (await sql<{ v: string }>`select current_setting('synchronous_commit') as v`.execute(db)).rows[0]!.v;
    const usual = await show(ctx.tdb.db);
    expect(usual).not.toBe('off');
    // Inside the call's transaction it is off, up to the commit…
    await ctx.tdb.db.transaction().execute(async (trx) => {
      expect(await show(trx)).toBe(usual);
      for (const r of await beatSessions(trx, items(s0 + 10))) expect(r).toMatchObject({ seconds: '10', monthSeconds: '20' });
      expect(await show(trx)).toBe('off');
    });
    // …and a call on its own (its statement its transaction) leaves the connection as it was.
    await ctx.tdb.db.connection().execute(async (conn) => {
      for (const r of await beatSessions(conn, items(s0 + 20))) expect(r).toMatchObject({ seconds: '20', monthSeconds: '40' });
      expect(await show(conn)).toBe(usual);
    });
    const exists = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from pg_proc where proname = 'ext_beat_sessions_async' and pronamespace = current_schema()::regnamespace`.execute(ctx.tdb.db)).rows[0]!.n;
    const m = await migrator(ctx.tdb.db);
    try {
      expect((await m.migrateTo('20261206080000-runtime-heartbeat-generic-plan')).error).toBeUndefined();
      expect(await exists()).toBe(0);
    } finally {
      expect((await m.migrateToLatest()).error).toBeUndefined();
    }
    expect(await exists()).toBe(1);
    const batcher = heartbeatBatcherOf(ctx.tdb.db);
    for (const r of await Promise.all(items(s0 + 30).map((i) => batcher.beat(i)))) expect(r).toMatchObject({ seconds: '30', monthSeconds: '60' });
  });

  it('end by silence as of the last heartbeat, and stop counting toward PCU', async () => {
    const w = await world();
    await ctx.t.admin('PUT', '/v1/customers/c1/limits', { pcu: 1 });
    const s = (await w.p101.join(dev(w.lic.av))).body.sessionId;
    at(s0 + 30);
    await w.p101.heartbeat(s);
    expect((await adminJson(ctx.t, 'GET', '/v1/customers/c1/limits')).body).toEqual({ customerId: 'c1', pcu: 1, live: 1 });
    // 60 s (2 × heartbeatSeconds) of silence is allowed; past it the session ended at s0 + 30.
    at(s0 + 90);
    refusedWith(await w.p102.join({ ...dev(w.lic.av), license: undefined, licenseKey: 'x' }), 2, 'EXPIRE'); // no grant: not a seat question
    at(s0 + 91);
    const listed = await adminJson(ctx.t, 'GET', '/v1/sessions?customerId=c1&live=false');
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0]).toMatchObject({ sessionId: s, live: false, endedBy: 'silence', seconds: 30, endedAt: new Date((s0 + 30) * 1000).toISOString() });
    // The join that finds the limit reached ends the silent session first, and is admitted.
    const again = await w.p101.join(dev(w.lic.av));
    expect(again.status).toBe(201);
    const beat = await w.p101.heartbeat(s);
    expect(beat.status).toBe(410);
    expect(beat.body).toMatchObject({ endedBy: 'silence', reason: null });
    expect((await adminJson(ctx.t, 'GET', '/v1/customers/c1/limits')).body).toEqual({ customerId: 'c1', pcu: 1, live: 1 });
  });

  it('the periodic sweep ends silent sessions in batches and gives their seats back', async () => {
    const w = await world();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await w.p101.join(dev(w.lic.av))).body.sessionId);
    at(s0 + 61);
    expect(await runtimeMaintenance(ctx.tdb.db, new Date((s0 + 61) * 1000))).toEqual({ ended: 5, overageEvents: 0 });
    expect((await adminJson(ctx.t, 'GET', '/v1/projects/101/limits')).body).toEqual({ projectId: '101', pcu: null, live: 0 });
    const ended = await ctx.tdb.db.selectFrom('ext_sessions').select(['end_reason', 'ended_at']).execute();
    expect(ended.every((e) => e.end_reason === 'silence' && e.ended_at!.getTime() === s0 * 1000)).toBe(true);
  });

  it('one run sweeps every full batch within its time budget, past the 10,000 a fixed count of batches allowed; a budget of 0 does one batch', async () => {
    const w = await world();
    await w.p101.join(dev(w.lic.av));
    // 10,600 more sessions of that license, silent after s0 + 60, with their schedules and seats.
    const db = ctx.tdb.db;
    await sql`insert into ext_sessions (id, customer_id, project_id, license_id, license_key, media, platform, heartbeat_seconds, started_at, last_seen_at, live_until)
      select gen_random_uuid(), s.customer_id, s.project_id, s.license_id, s.license_key, s.media, s.platform, 30, s.started_at, s.last_seen_at, s.live_until
      from ext_sessions s cross join generate_series(1, 10600)`.execute(db);
    await sql`insert into ext_session_sweeps (session_seq, customer_id, project_id, sweep_at)
      select seq, customer_id, project_id, live_until from ext_sessions where seq not in (select session_seq from ext_session_sweeps)`.execute(db);
    await sql`update ext_limits set live = 10601`.execute(db);
    const later = new Date((s0 + 61) * 1000);
    expect(await runtimeMaintenance(db, later, 0)).toEqual({ ended: 500, overageEvents: 0 });
    expect(await runtimeMaintenance(db, later, 60_000)).toEqual({ ended: 10_101, overageEvents: 0 });
    expect((await adminJson(ctx.t, 'GET', '/v1/projects/101/limits')).body).toEqual({ projectId: '101', pcu: null, live: 0 });
  });

  it('the sweep looks at a live session again at its live_until, ends it once silent, and forgets ended ones', async () => {
    const w = await world();
    const live = (await w.p101.join(dev(w.lic.av))).body.sessionId;
    const left = (await w.p101.join(dev(w.lic.av))).body.sessionId;
    const schedule = () => ctx.tdb.db.selectFrom('ext_session_sweeps as w').innerJoin('ext_sessions as s', 's.seq', 'w.session_seq').select(['s.id', 'w.sweep_at']).orderBy('s.id').execute();
    expect((await schedule()).map((r) => r.sweep_at.getTime())).toEqual([(s0 + 60) * 1000, (s0 + 60) * 1000]);
    at(s0 + 50);
    expect((await w.p101.heartbeat(live)).status).toBe(200); // live until s0 + 110; its schedule stays at s0 + 60
    expect((await w.p101.leave(left)).status).toBe(200);
    expect((await schedule()).map((r) => r.sweep_at.getTime())).toEqual([(s0 + 60) * 1000, (s0 + 60) * 1000]);
    // Past s0 + 60: the live one is looked at again at s0 + 110, the left one's row is deleted.
    expect(await runtimeMaintenance(ctx.tdb.db, new Date((s0 + 61) * 1000))).toEqual({ ended: 0, overageEvents: 0 });
    expect(await schedule()).toEqual([{ id: live, sweep_at: new Date((s0 + 110) * 1000) }]);
    expect((await adminJson(ctx.t, 'GET', '/v1/projects/101/limits')).body).toMatchObject({ live: 1 });
    // Silent past s0 + 110: ended as of its last heartbeat, its seat given back, its row deleted.
    expect(await runtimeMaintenance(ctx.tdb.db, new Date((s0 + 111) * 1000))).toEqual({ ended: 1, overageEvents: 0 });
    expect(await schedule()).toEqual([]);
    const ended = await ctx.tdb.db.selectFrom('ext_sessions').select(['end_reason', 'ended_at', 'seconds']).where('id', '=', live).executeTakeFirstOrThrow();
    expect(ended).toEqual({ end_reason: 'silence', ended_at: new Date((s0 + 50) * 1000), seconds: '50' });
    expect((await adminJson(ctx.t, 'GET', '/v1/projects/101/limits')).body).toMatchObject({ live: 0 });
  });

  it('a session crossing a UTC month boundary counts in both months', async () => {
    const w = await world();
    const end = Date.parse('2027-04-01T00:00:00Z') / 1000;
    at(end - 20);
    const s = (await w.p101.join(dev(w.lic.capped))).body.sessionId;
    at(end + 10);
    const beat = await w.p101.heartbeat(s);
    expect(beat.body).toEqual({ minutesUsed: '0.5', minutesLeft: '1.833333', end: null });
    const months = await ctx.tdb.db.selectFrom('ext_license_minutes').select(['month', 'seconds']).orderBy('month').execute();
    expect(months).toEqual([
      { month: '2027-03-01', seconds: '20' },
      { month: '2027-04-01', seconds: '10' },
    ]);
    expect(splitByMonth(end - 20, end + 10)).toEqual([
      { month: '2027-03-01', seconds: 20 },
      { month: '2027-04-01', seconds: 10 },
    ]);
    expect(minutesOf(90)).toBe('1.5');
  });

  it('heartbeats answer end when the minutes run out, the period ends or the license expires', async () => {
    const w = await world();
    const capped = (await w.p101.join(dev(w.lic.capped))).body.sessionId;
    at(s0 + 60);
    expect((await w.p101.heartbeat(capped)).body.end).toBeNull();
    at(s0 + 120);
    expect((await w.p101.heartbeat(capped)).body).toEqual({ minutesUsed: '2', minutesLeft: '0', end: { reason: 3, error: 'MINUTES_EXCEED' } });
    expect((await w.p101.heartbeat(capped)).body).toMatchObject({ reason: 3, endedBy: 'MINUTES_EXCEED' });

    const night0 = Date.parse('2027-03-11T01:59:30Z') / 1000;
    at(night0);
    const night = (await w.p101.join(dev(w.lic.night))).body.sessionId;
    at(night0 + 30); // 02:00:00, still inside 22:00~02:00
    expect((await w.p101.heartbeat(night)).body.end).toBeNull();
    at(night0 + 60); // 02:00:30 is still the minute 02:00
    expect((await w.p101.heartbeat(night)).body.end).toBeNull();
    at(night0 + 90); // 02:01:00
    expect((await w.p101.heartbeat(night)).body.end).toEqual({ reason: 4, error: 'LIMITED_PERIOD' });

    const exp = Date.UTC(2028, 2, 10, 12) / 1000;
    at(exp - 30);
    const av = (await w.p101.join(dev(w.lic.av))).body.sessionId;
    at(exp);
    expect((await w.p101.heartbeat(av)).body.end).toEqual({ reason: 2, error: 'EXPIRE' });
    expect((await adminJson(ctx.t, 'GET', '/v1/projects/101/limits')).body.live).toBe(0);
  });
});

describe('PCU limits at once', () => {
  it('60 joins at once against a project limit of 10 and a customer limit of 12: exactly 10, then 2 on another project', async () => {
    const w = await world();
    await ctx.t.admin('PUT', '/v1/projects/101/limits', { pcu: 10 });
    await ctx.t.admin('PUT', '/v1/customers/c1/limits', { pcu: 12 });
    const first = await Promise.all(Array.from({ length: 60 }, () => w.p101.join(dev(w.lic.av))));
    expect(first.filter((r) => r.status === 201)).toHaveLength(10);
    expect(first.filter((r) => r.status === 403 && r.body.reason === 6), JSON.stringify(first.filter((r) => r.status !== 201).slice(0, 3).map((r) => r.body))).toHaveLength(50);
    // Project 102 has no limit of its own; the customer's leaves room for 2.
    const grant = await ctx.t.agoraSend('PUT', '/license/customers/c1/activate', { platform: 'web', expire: `${s0 - 10}-${s0 + 3600}` });
    expect(grant.status).toBe(200);
    const second = await Promise.all(Array.from({ length: 20 }, () => w.p102.join({ licenseKey: 'tab', media: 'audio', platform: 'web' })));
    expect(second.filter((r) => r.status === 201)).toHaveLength(2);
    expect((await adminJson(ctx.t, 'GET', '/v1/customers/c1/limits')).body).toEqual({ customerId: 'c1', pcu: 12, live: 12 });
    expect((await adminJson(ctx.t, 'GET', '/v1/projects/101/limits')).body).toEqual({ projectId: '101', pcu: 10, live: 10 });
    expect(await sessionCount()).toBe(12);
  });
});

describe('overage per PID', () => {
  it('bill: joins go on past the cap and the minutes past it reach Agora’s usage exactly once', async () => {
    const w = await world();
    expect((await ctx.t.admin('PUT', `/v1/pids/${w.pids.bill}/overage`, { overage: 'bill' })).status).toBe(200);
    const s = (await w.p101.join(dev(w.lic.bill))).body.sessionId;
    at(s0 + 30);
    await w.p101.heartbeat(s);
    at(s0 + 60);
    await w.p101.heartbeat(s);
    at(s0 + 90);
    expect((await w.p101.heartbeat(s)).body).toEqual({ minutesUsed: '1.5', minutesLeft: '0', end: null });
    expect((await w.p101.join(dev(w.lic.bill))).status).toBe(201); // past the cap, still admitted
    at(s0 + 100);
    await w.p101.leave(s);
    const now = new Date((s0 + 100) * 1000);
    expect(await billOverage(ctx.tdb.db, now)).toBe(1);
    expect(await billOverage(ctx.tdb.db, now)).toBe(0);
    expect(await runtimeMaintenance(ctx.tdb.db, now)).toMatchObject({ overageEvents: 0 });
    const events = await ctx.tdb.db.selectFrom('usage_events').select(['project_id', 'quantity']).execute();
    expect(events).toEqual([{ project_id: '101', quantity: '0.666667' }]);
    // Agora's usage poll of that day, once the day is over, carries it.
    at(s0 + 86_400);
    const from = dayStart('2027-03-10');
    const r = await ctx.t.agoraGet('/usage', { fromTs: from, toTs: from + 86_399, pageNum: 1 });
    const body = (await r.json()) as { data: { data: { projectId: string; amount: number }[] } };
    expect(body.data.data).toEqual([expect.objectContaining({ projectId: '101', amount: 0.666667 })]);
    const m = await adminJson(ctx.t, 'GET', `/v1/licenses/${w.lic.bill}/minutes`);
    expect(m.body).toMatchObject({ month: '2027-03', overage: 'bill', minutesUsed: '1.666667', minutesLeft: '0' });
    // More overage later that month is a second event, for the new minutes only.
    at(s0 + 86_400 + 10);
    const s2 = (await w.p101.join(dev(w.lic.bill))).body.sessionId;
    at(s0 + 86_400 + 40);
    await w.p101.leave(s2);
    expect(await billOverage(ctx.tdb.db, new Date((s0 + 86_400 + 40) * 1000))).toBe(1);
    const all = await ctx.tdb.db.selectFrom('usage_events').select('quantity').orderBy('occurred_at').execute();
    expect(all.map((e) => e.quantity)).toEqual(['0.666667', '0.5']);
  });

  it('an overage fixed but not yet recorded as billed is sent again with the same id (a duplicate)', async () => {
    const w = await world();
    await ctx.t.admin('PUT', `/v1/pids/${w.pids.bill}/overage`, { overage: 'bill' });
    const s = (await w.p101.join(dev(w.lic.bill))).body.sessionId;
    at(s0 + 45);
    await w.p101.heartbeat(s);
    at(s0 + 90);
    await w.p101.leave(s);
    // As if a run stopped between fixing the amount and marking it billed.
    await ctx.tdb.db.updateTable('ext_license_minutes').set({ pending_seconds: '30' }).execute();
    const now = new Date((s0 + 90) * 1000);
    expect(await billOverage(ctx.tdb.db, now)).toBe(1);
    await ctx.tdb.db.updateTable('ext_license_minutes').set({ pending_seconds: '30', billed_seconds: '0' }).execute();
    expect(await billOverage(ctx.tdb.db, now)).toBe(0); // the same event again: a duplicate
    expect(await ctx.tdb.db.selectFrom('usage_events').select('quantity').execute()).toEqual([{ quantity: '0.5' }]);
  });
});

describe("Agora's license activation callback", () => {
  const path = '/license/customers/c1/activate';
  it('records a grant, signed in plain or URL-encoded base64, the same under retries, seen by the license query', async () => {
    await world();
    // Its end is after the licenses' (2028-03-10), so it is the customer's latest expiry.
    const grantEnd = Date.UTC(2028, 5, 1) / 1000;
    const body = { platform: 'android|ios', expire: `${s0}-${grantEnd}`, type: 'prepaid' };
    for (let i = 0; i < 3; i++) {
      const r = await ctx.t.agoraSend('PUT', path, body);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ status: 'success', statusReason: '' });
    }
    // URL-encoded base64 signature, and POST.
    for (const method of ['PUT', 'POST'] as const) {
      const signed = signedBody(method, path, { ...body, apiKey: KEY.apiKey }, KEY.apiSecret);
      const r = await ctx.t.app.request(path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...signed, signature: encodeURIComponent(String(signed.signature)) }),
      });
      expect(r.status).toBe(200);
    }
    expect(await ctx.tdb.db.selectFrom('license_grants').selectAll().execute()).toHaveLength(1);
    const wrong = await ctx.t.app.request(path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, apiKey: KEY.apiKey, signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }),
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ status: 'failed' });
    // Agora's license query counts the grant: its end is the latest expiry.
    const q = await ctx.t.agoraGet('/customers/c1/license', {});
    expect(((await q.json()) as { data: { expireDate: string } }).data.expireDate).toBe('2028-06-01');
    // A join of the customer's project without a license, inside the window.
    const p102 = await extClient(() => ctx.t, ctx.tdb.db, '102');
    expect((await p102.join({ licenseKey: 'tablet', media: 'video', platform: 'ios' })).status).toBe(201);
  });

  it('a customer with only a grant is known to the license query', async () => {
    at(s0);
    await provision(ctx.t, 'c9', [901]);
    expect((await ctx.t.agoraGet('/customers/c9/license', {})).status).toBe(404);
    expect((await ctx.t.agoraSend('PUT', '/license/customers/c9/activate', { platform: 'web', expire: `${s0}-${s0 + 86_400}` })).status).toBe(200);
    expect((await ctx.t.agoraGet('/customers/c9/license', {})).status).toBe(200);
  });

  it('refuses bad fields (400) and an unknown customer (404), recording nothing', async () => {
    await world();
    const cases: [Record<string, unknown>, number][] = [
      [{ platform: 'android', expire: `${s0 + 10}-${s0}` }, 400],
      [{ platform: 'android', expire: `${s0}-${s0}` }, 400],
      [{ platform: 'android', expire: `${s0 * 1000}-${(s0 + 60) * 1000}` }, 400],
      [{ platform: 'android', expire: 'tomorrow-next-week' }, 400],
      [{ platform: 'android', expire: String(s0) }, 400],
      [{ platform: '', expire: `${s0}-${s0 + 60}` }, 400],
      [{ platform: 'android||ios', expire: `${s0}-${s0 + 60}` }, 400],
      [{ platform: 'palm', expire: `${s0}-${s0 + 60}` }, 400],
      [{ expire: `${s0}-${s0 + 60}` }, 400],
      [{ platform: 'android' }, 400],
    ];
    for (const [body, status] of cases) {
      const r = await ctx.t.agoraSend('PUT', path, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(((await r.json()) as { status: string }).status).toBe('failed');
    }
    expect((await ctx.t.agoraSend('PUT', '/license/customers/nobody/activate', { platform: 'android', expire: `${s0}-${s0 + 60}` })).status).toBe(404);
    expect(await ctx.tdb.db.selectFrom('license_grants').selectAll().execute()).toHaveLength(0);
  });
});

describe('vendor view', () => {
  it('lists sessions by customer, project, license and liveness, in keyset pages', async () => {
    const w = await world();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await w.p101.join(dev(w.lic.av))).body.sessionId);
    await w.p101.leave(ids[0]!);
    const page1 = await adminJson(ctx.t, 'GET', '/v1/sessions?customerId=c1&size=2');
    expect(page1.body).toMatchObject({ count: 5, countExact: true, page: 1, size: 2 });
    expect(page1.body.data.map((s: { sessionId: string }) => s.sessionId)).toEqual(ids.slice(0, 2));
    const page2 = await adminJson(ctx.t, 'GET', `/v1/sessions?customerId=c1&size=2&after=${page1.body.next}`);
    expect(page2.body.data.map((s: { sessionId: string }) => s.sessionId)).toEqual(ids.slice(2, 4));
    const byNumber = await adminJson(ctx.t, 'GET', '/v1/sessions?customerId=c1&size=2&page=3');
    expect(byNumber.body.data.map((s: { sessionId: string }) => s.sessionId)).toEqual(ids.slice(4));
    expect((await adminJson(ctx.t, 'GET', '/v1/sessions?live=true')).body.count).toBe(4);
    expect((await adminJson(ctx.t, 'GET', `/v1/sessions?license=${w.lic.av}&live=false`)).body.count).toBe(1);
    expect((await adminJson(ctx.t, 'GET', '/v1/sessions?projectId=102')).body.count).toBe(0);
    expect((await adminJson(ctx.t, 'GET', '/v1/sessions?live=maybe')).status).toBe(400);
    expect((await adminJson(ctx.t, 'GET', '/v1/sessions?after=abc')).status).toBe(400);
    expect((await ctx.t.app.request('/v1/sessions')).status).toBe(401);
  });

  it('limits: bad bodies, unknown customers and projects, unknown PIDs', async () => {
    await world();
    for (const pcu of [-1, 1.5, '5', true]) expect((await ctx.t.admin('PUT', '/v1/customers/c1/limits', { pcu })).status).toBe(400);
    expect((await ctx.t.admin('PUT', '/v1/customers/c1/limits', {})).status).toBe(400);
    expect((await adminJson(ctx.t, 'PUT', '/v1/customers/nobody/limits', { pcu: 3 })).body.error.code).toBe('unknown_customer');
    expect((await adminJson(ctx.t, 'PUT', '/v1/projects/999/limits', { pcu: 3 })).body.error.code).toBe('unknown_project');
    expect((await adminJson(ctx.t, 'PUT', '/v1/pids/NOPE/overage', { overage: 'bill' })).body.error.code).toBe('unknown_pid');
    expect((await ctx.t.admin('PUT', '/v1/pids/PID-av/overage', { overage: 'sometimes' })).status).toBe(400);
    expect((await adminJson(ctx.t, 'GET', '/v1/licenses/nope/minutes')).status).toBe(404);
  });
});
