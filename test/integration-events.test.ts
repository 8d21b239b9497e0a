import { describe, expect, it } from 'vitest';
import type { Db } from '../src/db/database.ts';
import { Scheduler } from '../src/notifications/scheduler.ts';
import { agents, grants, platforms } from '../src/notifications/reminders.ts';
import { runtimeMaintenance } from '../src/runtime/maintenance.ts';
import { provision, type TestApp } from './helpers/app.ts';
import { basicOf, certificateEnv, customer, issue, PUBLIC_URL } from './helpers/certificates.ts';
import { onPostgres } from './helpers/db.ts';
import { projectCredentials } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Issues 11–13 together: agora.grant and certificate.* events in the change's transaction,
 * reminders of platforms, agents and grants, and grants in the license file.
 */
const ctx = setupTestApp({ env: certificateEnv({ LICENSE_RATE_LIMIT: '0' }) });
const DAY = 86_400_000;
const T0 = '2027-03-01T00:00:00.000Z';
const t0 = Date.parse(T0);
const s0 = t0 / 1000;
const at = (days: number) => new Date(t0 + days * DAY).toISOString();
const REMINDER_DAYS = [45, 30, 15, 7, 6, 5, 4, 3, 2, 1];

async function events(types: string[]): Promise<{ type: string; data: any }[]> {
  const rows = await ctx.tdb.db.selectFrom('webhook_events').select(['type', 'data']).where('type', 'in', types).orderBy('seq').execute();
  return rows.map((r) => ({ type: r.type, data: r.data }));
}

function scheduler(db: Db, now: () => Date, sources = [platforms, agents, grants]): Scheduler {
  return new Scheduler(db, { clock: now, log: () => {}, intervalMs: 1000, reminderDays: REMINDER_DAYS, retentionDays: 7, sources });
}

async function licenseUrl(t: TestApp, customerId: string, projectId: number): Promise<string> {
  const r = await t.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId });
  expect(r.status).toBe(200);
  return ((await r.json()) as any).data.licenseUrl as string;
}

async function fileContent(t: TestApp, url: string) {
  const r = await t.app.request(url.slice(PUBLIC_URL.length));
  expect(r.status).toBe(200);
  const payload = (await r.text()).trim().split('.')[2]!;
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

describe('agora.grant', () => {
  it('one event per grant recorded, in its transaction; a retried callback sends nothing; the license file lists it at once', async () => {
    ctx.t.setNow(T0);
    await provision(ctx.t, 'c1', []);
    const url = await licenseUrl(ctx.t, 'c1', 101);
    // Made and cached before the grant: the grant must invalidate it.
    expect((await fileContent(ctx.t, url)).grants).toEqual([]);
    const body = { platform: 'ios|android', expire: `${s0 - 10}-${s0 + 30 * 86_400}`, type: 1 };
    expect((await ctx.t.agoraSend('PUT', '/license/customers/c1/activate', body)).status).toBe(200);
    expect((await ctx.t.agoraSend('PUT', '/license/customers/c1/activate', body)).status).toBe(200);
    expect((await ctx.t.agoraSend('POST', '/license/customers/c1/activate', body)).status).toBe(200);
    const sent = await events(['agora.grant']);
    const grant = await ctx.tdb.db.selectFrom('license_grants').selectAll().executeTakeFirstOrThrow();
    expect(sent).toEqual([
      {
        type: 'agora.grant',
        data: { grantId: grant.id, customerId: 'c1', platforms: ['android', 'ios'], startsAt: new Date((s0 - 10) * 1000).toISOString(), endsAt: at(30), type: '1' },
      },
    ]);
    const file = await fileContent(ctx.t, url);
    expect(file.grants).toEqual([{ grantId: grant.id, platforms: ['android', 'ios'], type: '1', startsAt: new Date((s0 - 10) * 1000).toISOString(), endsAt: at(30) }]);
    // A refused callback (unknown customer) stores nothing.
    expect((await ctx.t.agoraSend('PUT', '/license/customers/nobody/activate', body)).status).toBe(404);
    expect(await events(['agora.grant'])).toHaveLength(1);
    // An ended grant drops out of the file at its end.
    ctx.t.setNow(at(31));
    expect((await fileContent(ctx.t, url)).grants).toEqual([]);
  });
});

describe('certificate events', () => {
  it('certificate.registered per certificate registered (a re-upload sends nothing); certificate.bound once per binding', async () => {
    ctx.t.setNow(T0);
    await provision(ctx.t, 'c1', [101]);
    const c1 = customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    const pkg = await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }, { type: 'agent', validityDays: 10, count: 2 }]);
    const up = await c1.upload(pkg);
    expect(up.status).toBe(200);
    const ids = (up.body.data.certificates as any[]).map((c) => c.id as string);
    expect((await c1.upload(pkg)).body.data.alreadyRegistered).toBe(3);
    const registered = await events(['certificate.registered']);
    expect(registered.map((e) => e.data.certificateId).sort()).toEqual([...ids].sort());
    const platformEvent = registered.find((e) => e.data.type === 'platform')!;
    expect(platformEvent.data).toMatchObject({ customerId: 'c1', mode: expect.any(String), packageId: up.body.data.packageId, agentId: null, expiresAt: at(30) });
    expect(registered.filter((e) => e.data.type === 'agent').map((e) => e.data.expiresAt)).toEqual([null, null]);

    const agentIds = (up.body.data.certificates as any[]).filter((c) => c.type === 'agent').map((c) => c.id as string);
    await c1.registerAgent('bot-1');
    expect((await c1.bind(agentIds[0]!, 'bot-1')).status).toBe(200);
    expect((await c1.bind(agentIds[0]!, 'bot-1')).body.data.bound).toBe(false);
    ctx.t.setNow(at(2));
    expect((await c1.bind(agentIds[1]!, 'bot-1')).status).toBe(200);
    expect((await c1.bind(agentIds[1]!, 'bot-2')).status).toBe(409);
    expect(await events(['certificate.bound'])).toEqual([
      { type: 'certificate.bound', data: { certificateId: agentIds[0], customerId: 'c1', agentId: 'bot-1', startsAt: at(0), expiresAt: at(10), agentExpiresAt: at(10) } },
      { type: 'certificate.bound', data: { certificateId: agentIds[1], customerId: 'c1', agentId: 'bot-1', startsAt: at(10), expiresAt: at(20), agentExpiresAt: at(20) } },
    ]);
  });
});

describe('reminders of platforms, agents and grants', () => {
  it('each threshold once per thing and expiry, over runs and instances; stacking moves the expiry and the thresholds start again', async () => {
    ctx.t.setNow(T0);
    await provision(ctx.t, 'c1', [101]);
    const c1 = customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    const up = await c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 20 }, { type: 'agent', validityDays: 10 }]));
    const agentCert = (up.body.data.certificates as any[]).find((c) => c.type === 'agent').id as string;
    await c1.registerAgent('bot-1');
    await c1.bind(agentCert, 'bot-1');
    expect((await ctx.t.agoraSend('PUT', '/license/customers/c1/activate', { platform: 'web', expire: `${s0}-${s0 + 5 * 86_400}` })).status).toBe(200);
    const grantId = (await ctx.tdb.db.selectFrom('license_grants').select('id').executeTakeFirstOrThrow()).id;
    const other = onPostgres ? await ctx.tdb.openAnother() : null;
    try {
      let now = new Date(t0 + 60_000);
      const run = async () => {
        await Promise.all([scheduler(ctx.tdb.db, () => now).runOnce(), other ? scheduler(other.db, () => now).runOnce() : null]);
        await scheduler(ctx.tdb.db, () => now).runOnce();
      };
      await run();
      const kinds = ['license.expiring', 'license.expired'];
      // Only the latest threshold passed of each: platform 20 days left (30), agent 10 (15), grant 5 (5).
      const first = await events(kinds);
      expect(first).toEqual(
        expect.arrayContaining([
          { type: 'license.expiring', data: { kind: 'platform', id: 'c1', customerId: 'c1', expiresAt: at(20), daysLeft: 30 } },
          { type: 'license.expiring', data: { kind: 'agent', id: 'c1/bot-1', customerId: 'c1', agentId: 'bot-1', expiresAt: at(10), daysLeft: 15 } },
          { type: 'license.expiring', data: { kind: 'grant', id: grantId, grantId, customerId: 'c1', platforms: ['web'], startsAt: at(0), expiresAt: at(5), daysLeft: 5 } },
        ]),
      );
      expect(first).toHaveLength(3);
      // A day later: only the grant passed a threshold.
      now = new Date(t0 + DAY + 60_000);
      await run();
      expect((await events(kinds)).slice(3).map((e) => [e.data.kind, e.data.daysLeft])).toEqual([['grant', 4]]);
      // Stacking: a second platform certificate (20 + 40 days) and a grant continuing the first.
      ctx.t.setNow(now.toISOString());
      await c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 40 }]));
      expect((await ctx.t.agoraSend('PUT', '/license/customers/c1/activate', { platform: 'web', expire: `${s0 + 5 * 86_400}-${s0 + 60 * 86_400}` })).status).toBe(200);
      const before = (await events(kinds)).length;
      now = new Date(t0 + 3 * DAY + 60_000);
      await run();
      const fresh = (await events(kinds)).slice(before);
      // The platform now expires at day 60 (57 days left: no threshold yet); the old grant is continued
      // by the new one (no reminder of its end), which ends at day 60 too; the agent reaches 7 days.
      expect(fresh.map((e) => [e.data.kind, e.data.daysLeft])).toEqual([['agent', 7]]);
      now = new Date(t0 + 16 * DAY);
      await run();
      const later = (await events(kinds)).slice(before + 1);
      expect(later).toEqual(
        expect.arrayContaining([
          { type: 'license.expiring', data: { kind: 'platform', id: 'c1', customerId: 'c1', expiresAt: at(60), daysLeft: 45 } },
          expect.objectContaining({ type: 'license.expired', data: expect.objectContaining({ kind: 'agent', expiresAt: at(10) }) }),
        ]),
      );
      expect(later.filter((e) => e.data.kind === 'grant').map((e) => [e.data.expiresAt, e.data.daysLeft])).toEqual([[at(60), 45]]);
      expect(later).toHaveLength(3);
      await run();
      expect((await events(kinds)).length).toBe(before + 1 + 3);
    } finally {
      await other?.close();
    }
  });

  it('a permanent platform, a deleted agent and an unlimited agent covered by its platform are not reminded of', async () => {
    ctx.t.setNow(T0);
    await provision(ctx.t, 'c1', [101]);
    const c1 = customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    const up = await c1.upload(await issue(ctx.t, 'c1', [{ type: 'agent', validityDays: 10, count: 2 }, { type: 'platform-unlimited', validityDays: 40 }]));
    const [a1, a2] = (up.body.data.certificates as any[]).filter((c) => c.type === 'agent').map((c) => c.id as string);
    await c1.registerAgent('covered');
    await c1.registerAgent('deleted');
    await c1.bind(a1!, 'covered');
    await c1.bind(a2!, 'deleted');
    await c1.deleteAgent('deleted');
    await c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', mode: 'buyout', validityDays: null }]));
    await scheduler(ctx.tdb.db, () => new Date(t0 + 9 * DAY)).runOnce();
    expect(await events(['license.expiring', 'license.expired'])).toEqual([]);
  });
});

describe('runtime maintenance as a scheduler job', () => {
  it('runs its own transactions on the pinned connection; one instance at a time; the lock is freed after, also after a failure', async () => {
    ctx.t.setNow(T0);
    const real = new Scheduler(ctx.tdb.db, {
      clock: () => new Date(t0),
      log: () => {},
      intervalMs: 1000,
      reminderDays: REMINDER_DAYS,
      retentionDays: 7,
      maintenance: { intervalMs: 0, run: runtimeMaintenance },
    });
    expect(await real.runMaintenance()).toBe(true);
    expect(await real.runMaintenance()).toBe(true);

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let runs = 0;
    const slow = async () => {
      runs++;
      await held;
    };
    const make = (db: Db, run: (db: Db, now: Date) => Promise<unknown>) =>
      new Scheduler(db, { clock: () => new Date(t0), log: () => {}, intervalMs: 1000, reminderDays: REMINDER_DAYS, retentionDays: 7, maintenance: { intervalMs: 0, run } });
    const failing = make(ctx.tdb.db, async () => {
      throw new Error('boom');
    });
    await expect(failing.runMaintenance()).rejects.toThrow('boom');
    const first = make(ctx.tdb.db, slow).runMaintenance();
    const other = onPostgres ? await ctx.tdb.openAnother() : null;
    try {
      if (other) {
        // While one instance runs it, another skips it at once.
        while (runs === 0) await new Promise((r) => setTimeout(r, 10));
        expect(await make(other.db, slow).runMaintenance()).toBe(false);
      }
      release();
      expect(await first).toBe(true);
      expect(await make((other ?? ctx.tdb).db, async () => {}).runMaintenance()).toBe(true);
      expect(runs).toBe(1);
    } finally {
      await other?.close();
    }
  });
});
