import { describe, expect, it } from 'vitest';
import { buildApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { adminJson, buy, COMMERCIAL_PID, licenseClient, licenseWorld, projectCredentials, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

async function quota(customerId = 'c1') {
  return (await adminJson(ctx.t, 'GET', `/v1/license-quotas?customerId=${customerId}`)).body.data as any[];
}
const licenseCount = async () => Number((await ctx.tdb.db.selectFrom('licenses').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

describe('no double spending', () => {
  it('30 parallel activations of distinct keys against 7 licenses left: exactly 7 licenses, 23 quota_exhausted', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10 });
    for (const k of ['a', 'b', 'c']) expect((await w.p101.activate('101', TRIAL_PID, k)).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? w.p101 : w.p102).activate(i % 2 ? '101' : '102', TRIAL_PID, `dev-${i}`)));
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    expect(ok).toHaveLength(7);
    expect(refused).toHaveLength(23);
    for (const r of refused) expect(r.body).toMatchObject({ code: 403, error: 'quota_exhausted' });
    expect(new Set(ok.map((a) => a.body.data.license)).size).toBe(7);
    expect(await licenseCount()).toBe(10);
    expect((await quota())[0]).toMatchObject({ total: 10, used: 10, available: 0 });
  });

  it('racing for the last licenses with quota allocated to one project: each pool gives exactly what it holds', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 6 });
    await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 2 });
    // 101 may use its 2 and the 4 shared; 102 only the shared 4.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? w.p101.activate('101', TRIAL_PID, `a-${i}`) : w.p102.activate('102', TRIAL_PID, `b-${i}`))),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(6);
    const q = (await quota())[0];
    expect(q).toMatchObject({ used: 6, available: 0, shared: { total: 4, used: 4 }, projects: [{ projectId: '101', total: 2, used: 2 }] });
    const by101 = answers.filter((a, i) => a.status === 200 && i % 2 === 1).length;
    expect(by101).toBeGreaterThanOrEqual(2);
  });

  it('parallel repeats of one activation give one license and consume one', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? w.p101 : w.admin).activate('101', TRIAL_PID, 'same-device')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.body.data.license)).size).toBe(1);
    expect(await licenseCount()).toBe(1);
    expect((await quota())[0]).toMatchObject({ used: 1, available: 4 });
  });

  it('parallel allocations never allocate more than the shared quota holds', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10 });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? w.p101 : w.p102).post('/v2/allocate', { appid: i % 2 ? '101' : '102' }, { pid: TRIAL_PID, count: 3 })),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
    for (const a of answers.filter((x) => x.status !== 200)) expect(a.body.error).toBe('quota_exhausted');
    const q = (await quota())[0];
    expect(q.total).toBe(10);
    expect(q.shared.total).toBe(1);
    expect(q.projects.reduce((n: number, p: any) => n + p.total, 0)).toBe(9);
    const allocations = await ctx.tdb.db.selectFrom('license_allocations').select('count').execute();
    expect(allocations.reduce((n, a) => n + a.count, 0)).toBe(9);
  });

  it('parallel renewals of one license each extend it once, and never use more renewals than ordered', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1 });
    // A fixed clock: the expected expiry needs no clamping at a month's end, whatever today is.
    ctx.t.setNow('2026-01-15T10:00:00Z');
    const a = (await w.p101.activate('101', TRIAL_PID, 'dev-1')).body.data;
    await adminJson(ctx.t, 'POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 3, renewId: 'R1' });
    await adminJson(ctx.t, 'POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 2, renewId: 'R2' });
    const answers = await Promise.all(Array.from({ length: 9 }, () => w.p101.post('/v2/renew', { appid: '101', license: a.license })));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(5);
    for (const r of answers.filter((x) => x.status !== 200)) expect(r.body.error).toBe('renewal_exhausted');
    const detail = (await w.p101.get('/v2/detail', { appid: '101', key: a.license })).body.data;
    expect(a.expireTime).toBe(Date.parse('2026-04-15T10:00:00Z') / 1000);
    // Five renewals of 3 months each.
    expect(detail.expireTime).toBe(Date.parse('2027-07-15T10:00:00Z') / 1000);
    const renewTimes = await ctx.tdb.db.selectFrom('licenses').select('renew_times').executeTakeFirstOrThrow();
    expect(renewTimes.renew_times).toBe(5);
    const orders = (await adminJson(ctx.t, 'GET', '/v1/renewals?customerId=c1')).body.data;
    expect(orders.map((o: any) => [o.renewId, o.used])).toEqual([
      ['R1', 3],
      ['R2', 2],
    ]);
  });

  it('parallel purchases with one orderId add the quota once', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => adminJson(ctx.t, 'POST', '/v1/purchases', { customerId: 'c1', pid: COMMERCIAL_PID, count: 50, orderId: 'SO-1' })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect((await quota()).find((q) => q.pid === COMMERCIAL_PID)).toMatchObject({ total: 50 });
  });
});

describe('whitelist updates under concurrency', () => {
  it('overlapping uploads and adds list each key once, without deadlocks', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    const keys = Array.from({ length: 200 }, (_, i) => `dev-${i}`);
    const shuffled = keys.map((_, i) => keys[(i * 7) % keys.length]!); // 7 and 200 are coprime: a permutation
    const answers = await Promise.all([
      w.p101.upload('101', keys.join('\n')),
      w.p101.upload('101', [...keys].reverse().join('\r\n')),
      w.p101.upload('101', shuffled.join('\n')),
      ...keys.slice(0, 20).map((k) => w.p101.post('/v2/pad/add', { appid: '101', licenseKey: k })),
    ]);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const added = answers.reduce((n, a) => n + a.body.data.added, 0);
    expect(added).toBe(200);
    expect((await w.p101.get('/v2/pads', { appid: '101', size: 1 })).body.data.count).toBe(200);
  });

  it('concurrent toggles each flip the switch once', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    const answers = await Promise.all(Array.from({ length: 7 }, () => w.p101.post('/v2/vendor/pad/switch', { appid: '101' })));
    const states = answers.map((a) => a.body.data.enabled);
    expect(states.filter((s) => s).length).toBe(4);
    expect(states.filter((s) => !s).length).toBe(3);
    const setting = await ctx.tdb.db.selectFrom('license_pad_settings').select('enabled').executeTakeFirstOrThrow();
    expect(setting.enabled).toBe(true);
  });

  it('activations racing a clear of the whitelist: a key activates only while it is listed', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 50 });
    await w.p101.post('/v2/vendor/pad/switch', { appid: '101', enabled: 'true' });
    await w.p101.upload('101', Array.from({ length: 30 }, (_, i) => `dev-${i}`).join('\n'));
    const answers = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => w.p101.activate('101', TRIAL_PID, `dev-${i}`)),
      w.p101.post('/v2/pad/clear', { appid: '101' }),
    ]);
    const activations = answers.slice(0, 30);
    for (const a of activations) expect([200, 403]).toContain(a.status);
    for (const a of activations.filter((x) => x.status === 403)) expect(a.body.error).toBe('not_preauthorized');
    const ok = activations.filter((a) => a.status === 200).length;
    expect(await licenseCount()).toBe(ok);
    expect((await quota())[0]).toMatchObject({ used: ok });
    // Once cleared, nothing activates.
    // dev-0 again: its license if it got one before the clear (a repeat), else refused.
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-0')).status).toBe(activations[0]!.status);
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-new')).body.error).toBe('not_preauthorized');
  });
});

describe('two instances on one database', () => {
  it.runIf(onPostgres)('race for the last licenses: exactly N licenses in all, and one license per repeated key', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10 });
    const other = await ctx.tdb.openAnother();
    try {
      const t2 = buildApp(other.db, { LICENSE_RATE_LIMIT: '0' });
      const second = licenseClient(t2, { basic: await projectCredentials(ctx.tdb.db, '102') });
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? w.p101.activate('101', TRIAL_PID, `dev-${i}`) : second.activate('102', TRIAL_PID, `dev-${i}`))),
      );
      expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
      expect(answers.filter((a) => a.status === 403 && a.body.error === 'quota_exhausted')).toHaveLength(30);
      expect(await licenseCount()).toBe(10);

      await buy(ctx.t, 'c1', TRIAL_PID, 3);
      const repeats = await Promise.all(
        Array.from({ length: 16 }, (_, i) => (i % 2 ? w.p101.activate('101', TRIAL_PID, 'same') : second.activate('102', TRIAL_PID, 'same'))),
      );
      expect(repeats.every((a) => a.status === 200)).toBe(true);
      expect(new Set(repeats.map((a) => a.body.data.license)).size).toBe(1);
      expect((await quota())[0]).toMatchObject({ total: 13, used: 11, available: 2 });
    } finally {
      await other.close();
    }
  });
});
