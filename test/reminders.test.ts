import { describe, expect, it } from 'vitest';
import { Scheduler } from '../src/notifications/scheduler.ts';
import type { Db } from '../src/db/database.ts';
import { onPostgres } from './helpers/db.ts';
import { adminJson, licenseWorld, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

/** Expiry reminders: 45, 30, 15 and each of the last 7 days, then license.expired; exactly once each. */
const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });
const DAY = 86_400_000;
const REMINDER_DAYS = [45, 30, 15, 7, 6, 5, 4, 3, 2, 1];

function scheduler(db: Db, at: () => Date): Scheduler {
  return new Scheduler(db, { clock: at, log: () => {}, intervalMs: 1000, reminderDays: REMINDER_DAYS, retentionDays: 7 });
}

async function reminders(): Promise<{ type: string; data: any }[]> {
  const rows = await ctx.tdb.db.selectFrom('webhook_events').select(['type', 'data']).where('type', 'in', ['license.expiring', 'license.expired']).orderBy('seq').execute();
  return rows.map((r) => ({ type: r.type, data: r.data }));
}

async function activated(licenseKey: string, at: string) {
  ctx.t.setNow(at);
  const world = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10 });
  const r = await world.p101.activate('101', TRIAL_PID, licenseKey);
  expect(r.status).toBe(200);
  const row = await ctx.tdb.db.selectFrom('licenses').selectAll().where('license_key', '=', licenseKey).executeTakeFirstOrThrow();
  return { world, license: row };
}

describe('expiry reminders', () => {
  it('one reminder at each threshold and license.expired at the expiry, never twice (runs repeated, a restart, a second instance)', async () => {
    const { license } = await activated('key-1', '2030-01-01T00:00:00Z');
    const E = license.expires_at.getTime();
    expect(license.expires_at.toISOString()).toBe('2030-04-01T00:00:00.000Z');
    const other = onPostgres ? await ctx.tdb.openAnother() : null;
    try {
      let now = new Date('2030-01-01T00:00:00Z');
      const here = scheduler(ctx.tdb.db, () => now);
      const there = other ? scheduler(other.db, () => now) : null;
      await here.runOnce();
      expect(await reminders()).toEqual([]);
      const expected: { type: string; data: any }[] = [];
      for (const d of REMINDER_DAYS) {
        // Between two thresholds: nothing new.
        now = new Date(E - (d + 0.5) * DAY);
        await here.runOnce();
        expect(await reminders()).toHaveLength(expected.length);
        now = new Date(E - d * DAY + 60_000);
        // Both instances at once, then again, then a fresh instance (a restart): one reminder.
        await Promise.all([here.runOnce(), there?.runOnce()]);
        await here.runOnce();
        await scheduler(ctx.tdb.db, () => now).runOnce();
        expected.push({
          type: 'license.expiring',
          data: {
            kind: 'device_license',
            id: license.id,
            expiresAt: '2030-04-01T00:00:00.000Z',
            daysLeft: d,
            license: license.license,
            licenseKey: 'key-1',
            pid: TRIAL_PID,
            customerId: 'c1',
            projectId: '101',
          },
        });
        expect(await reminders()).toEqual(expected);
      }
      now = new Date(E + 1000);
      await Promise.all([here.runOnce(), there?.runOnce()]);
      await scheduler(ctx.tdb.db, () => now).runOnce();
      const all = await reminders();
      expect(all).toHaveLength(REMINDER_DAYS.length + 1);
      expect(all.at(-1)).toEqual({ type: 'license.expired', data: { ...expected[0]!.data, daysLeft: undefined } });
      expect('daysLeft' in all.at(-1)!.data).toBe(false);
      now = new Date(E + 10 * DAY);
      await here.runOnce();
      expect(await reminders()).toHaveLength(REMINDER_DAYS.length + 1);
    } finally {
      await other?.close();
    }
  });

  it('after downtime only the latest missed threshold of each thing is sent', async () => {
    const { license } = await activated('key-2', '2030-01-01T00:00:00Z');
    const E = license.expires_at.getTime();
    await scheduler(ctx.tdb.db, () => new Date('2030-01-01T00:00:00Z')).runOnce();
    // Down from 50 days before to 10 days before: 45, 30 and 15 were missed; only 15 goes out.
    await scheduler(ctx.tdb.db, () => new Date(E - 10 * DAY)).runOnce();
    expect((await reminders()).map((r) => r.data.daysLeft)).toEqual([15]);
    // Down again past the expiry: only license.expired.
    await scheduler(ctx.tdb.db, () => new Date(E + 2 * DAY)).runOnce();
    expect((await reminders()).map((r) => r.type)).toEqual(['license.expiring', 'license.expired']);
  });

  it('a renewal moves the expiry and the thresholds start again', async () => {
    const { license } = await activated('key-3', '2030-01-01T00:00:00Z');
    const E = license.expires_at.getTime();
    await scheduler(ctx.tdb.db, () => new Date(E - 45 * DAY + 1000)).runOnce();
    await scheduler(ctx.tdb.db, () => new Date(E - 30 * DAY + 1000)).runOnce();
    expect((await reminders()).map((r) => r.data.daysLeft)).toEqual([45, 30]);
    const order = await adminJson(ctx.t, 'POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 1 });
    expect(order.status).toBe(201);
    ctx.t.setNow(new Date(E - 29 * DAY));
    const world = await import('./helpers/license.ts');
    const p101 = world.licenseClient(ctx.t, { basic: await world.projectCredentials(ctx.tdb.db, '101') });
    const renewed = await p101.post('/v2/renew', { appid: '101', license: license.license });
    expect(renewed.status).toBe(200);
    const after = await ctx.tdb.db.selectFrom('licenses').select('expires_at').where('id', '=', license.id).executeTakeFirstOrThrow();
    expect(after.expires_at.toISOString()).toBe('2030-07-01T00:00:00.000Z');
    const E2 = after.expires_at.getTime();
    // The old expiry's thresholds are gone with it: nothing at the old 15 days.
    await scheduler(ctx.tdb.db, () => new Date(E - 15 * DAY + 1000)).runOnce();
    expect(await reminders()).toHaveLength(2);
    await scheduler(ctx.tdb.db, () => new Date(E2 - 45 * DAY + 1000)).runOnce();
    const list = await reminders();
    expect(list.map((r) => [r.data.daysLeft, r.data.expiresAt])).toEqual([
      [45, '2030-04-01T00:00:00.000Z'],
      [30, '2030-04-01T00:00:00.000Z'],
      [45, '2030-07-01T00:00:00.000Z'],
    ]);
    const renewedEvents = await ctx.tdb.db.selectFrom('webhook_events').select('data').where('type', '=', 'license.renewed').execute();
    expect(renewedEvents.map((e) => e.data)).toEqual([
      expect.objectContaining({ license: license.license, previousExpiresAt: '2030-04-01T00:00:00.000Z', expiresAt: '2030-07-01T00:00:00.000Z' }),
    ]);
  });
});

describe('license and quota events', () => {
  it('license.activated once per new license (a repeat sends nothing); quota.low and quota.exhausted when a take crosses the line', async () => {
    ctx.t.setNow('2030-01-01T00:00:00Z');
    const world = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10 });
    for (let i = 1; i <= 10; i++) expect((await world.p101.activate('101', TRIAL_PID, `k${i}`)).status).toBe(200);
    expect((await world.p101.activate('101', TRIAL_PID, 'k1')).status).toBe(200);
    expect((await world.p101.activate('101', TRIAL_PID, 'k11')).status).toBe(403);
    const events = await ctx.tdb.db.selectFrom('webhook_events').select(['type', 'data', 'created_at']).orderBy('seq').execute();
    const activatedEvents = events.filter((e) => e.type === 'license.activated');
    expect(activatedEvents).toHaveLength(10);
    expect(activatedEvents[0]!.data).toMatchObject({ licenseKey: 'k1', pid: TRIAL_PID, customerId: 'c1', projectId: '101', expiresAt: '2030-04-01T00:00:00.000Z' });
    expect(activatedEvents[0]!.created_at.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(events.filter((e) => e.type.startsWith('quota.')).map((e) => [e.type, e.data])).toEqual([
      ['quota.low', { customerId: 'c1', pid: TRIAL_PID, pool: 'shared', capacity: '10', used: '9' }],
      ['quota.exhausted', { customerId: 'c1', pid: TRIAL_PID, pool: 'shared', capacity: '10', used: '10' }],
    ]);
  });
});
