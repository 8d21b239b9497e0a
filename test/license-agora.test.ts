import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from '../src/licensing/rate-limit.ts';
import { buildApp, KEY, provision } from './helpers/app.ts';
import { licenseClient, licenseWorld, projectCredentials, TRIAL_PID, COMMERCIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

// The default configuration: 10 requests per second per customer, latest expiry, available licenses.
const ctx = setupTestApp();

async function agoraLicense(customerId: string, t = ctx.t) {
  const r = await t.agoraGet(`/customers/${customerId}/license`, {});
  return { status: r.status, body: (await r.json()) as any };
}

const setExpiry = (licenseKey: string, iso: string) =>
  ctx.tdb.db.updateTable('licenses').set({ activated_at: new Date('2024-01-01T00:00:00Z'), expires_at: new Date(iso) }).where('license_key', '=', licenseKey).execute();

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

describe("Agora's license query", () => {
  it('answers the latest expiry among unexpired licenses and the licenses left to activate', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10, commercial: 5 });
    for (const k of ['a', 'b', 'c']) await w.admin.activate('101', TRIAL_PID, k);
    await w.admin.activate('102', COMMERCIAL_PID, 'a');
    await setExpiry('b', inDays(400));
    await setExpiry('c', '2025-01-01T00:00:00Z');
    const r = await agoraLicense('c1');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'success', statusReason: '', data: { expireDate: inDays(400).slice(0, 10), residueCount: '11' } });
  });

  it('follows LICENSE_EXPIRE_RULE=earliest and LICENSE_RESIDUE_RULE=active', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10 });
    for (const k of ['a', 'b', 'c']) await w.admin.activate('101', TRIAL_PID, k);
    await setExpiry('a', inDays(20));
    await setExpiry('b', inDays(300));
    await setExpiry('c', '2025-01-01T00:00:00Z');
    const t2 = buildApp(ctx.tdb.db, { LICENSE_EXPIRE_RULE: 'earliest', LICENSE_RESIDUE_RULE: 'active' });
    expect((await agoraLicense('c1', t2)).body.data).toEqual({ expireDate: inDays(20).slice(0, 10), residueCount: '2' });
    expect((await agoraLicense('c1')).body.data).toEqual({ expireDate: inDays(300).slice(0, 10), residueCount: '7' });
  });

  it('answers the last expiry, in the past, when every license has expired; "" before any activation', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 2 });
    expect((await agoraLicense('c1')).body).toEqual({ status: 'success', statusReason: '', data: { expireDate: '', residueCount: '2' } });
    await w.admin.activate('101', TRIAL_PID, 'a');
    await w.admin.activate('101', TRIAL_PID, 'b');
    await setExpiry('a', '2025-03-01T10:00:00Z');
    await setExpiry('b', '2025-02-01T10:00:00Z');
    const t2 = buildApp(ctx.tdb.db, { LICENSE_EXPIRE_RULE: 'earliest' });
    for (const t of [ctx.t, t2]) expect((await agoraLicense('c1', t)).body.data).toEqual({ expireDate: '2025-03-01', residueCount: '0' });
  });

  it('is failed for an unknown customer and for a customer without licenses', async () => {
    await provision(ctx.t, 'empty', [9]);
    const unknown = await agoraLicense('nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ status: 'failed', statusReason: 'Customer nobody is not provisioned', code: 'unknown_customer' });
    const none = await agoraLicense('empty');
    expect(none.status).toBe(404);
    expect(none.body).toEqual({ status: 'failed', statusReason: 'Customer empty has no licenses', code: 'no_license' });
  });

  it('needs Agora’s signature', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db, { trial: 2 });
    const unsigned = await ctx.t.app.request(`/customers/c1/license?apiKey=${KEY.apiKey}`);
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toMatchObject({ status: 'failed', code: 'invalid_signature' });
    const wrong = await ctx.t.app.request(`/customers/c1/license?apiKey=${KEY.apiKey}&signature=AAAA`);
    expect(((await wrong.json()) as any).code).toBe('invalid_signature');
    // The provisioning routes beside it still work.
    expect((await ctx.t.agoraSend('POST', '/customers/c1/projects/new', { projectId: 103 })).status).toBe(200);
  });
});

describe('rate limiting', () => {
  it('allows 10 requests per second per customer and answers the 11th with 429 and Retry-After', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 2 });
    const answers = [];
    for (let i = 0; i < 11; i++) answers.push(await w.p101.get('/v2/pads', { appid: '101' }));
    expect(answers.slice(0, 10).map((a) => a.status)).toEqual(Array(10).fill(200));
    const limited = answers[10]!;
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ code: 429, data: null, error: 'rate_limited' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Per customer: another project of the same customer shares the limit, another customer does not.
    expect((await w.p102.get('/v2/pads', { appid: '102' })).status).toBe(429);
    expect((await w.p201.get('/v2/pads', { appid: '201' })).status).toBe(200);
    // The vendor's token is not limited.
    expect((await w.admin.get('/v2/pads', { appid: '101' })).status).toBe(200);
    // A limited activation consumes nothing.
    expect((await w.p101.activate('101', TRIAL_PID, 'x')).status).toBe(429);
    expect(await ctx.tdb.db.selectFrom('licenses').selectAll().execute()).toEqual([]);
  });

  it('lets requests through again once the window has moved on', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db, { trial: 2 });
    const t2 = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '2' });
    const c = licenseClient(t2, { basic: await projectCredentials(ctx.tdb.db, '101') });
    expect((await c.get('/v2/pads', { appid: '101' })).status).toBe(200);
    expect((await c.get('/v2/pads', { appid: '101' })).status).toBe(200);
    expect((await c.get('/v2/pads', { appid: '101' })).status).toBe(429);
    await new Promise((r) => setTimeout(r, 1050));
    expect((await c.get('/v2/pads', { appid: '101' })).status).toBe(200);
  });

  it('counts a sliding one-second window: never more than the limit in any second', () => {
    let now = 0;
    const limiter = new SlidingWindowLimiter(10, () => now);
    const granted: number[] = [];
    for (let t = 0; t < 3000; t += 37) {
      now = t;
      if (limiter.take('c') === 0) granted.push(t);
    }
    for (const t of granted) expect(granted.filter((g) => g > t - 1000 && g <= t).length).toBeLessThanOrEqual(10);
    now = 10_000;
    for (let i = 0; i < 10; i++) expect(limiter.take('c')).toBe(0);
    now = 10_400;
    expect(limiter.take('c')).toBe(600);
    expect(limiter.take('other')).toBe(0);
    expect(new SlidingWindowLimiter(0).take('c')).toBe(0);
  });
});
