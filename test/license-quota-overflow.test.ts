import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { purchase } from '../src/licensing/quota.service.ts';
import { ADMIN } from './helpers/app.ts';
import { adminJson, COMMERCIAL_PID, licenseWorld, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();

/** The raw text of an answer: JSON.parse would round a count beyond 2^53 and hide the defect. */
async function rawText(path: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const r = await ctx.t.app.request(path, init);
  return { status: r.status, text: await r.text() };
}

describe('quota totals beyond an integer', () => {
  it('2,200 purchases of 1,000,000 each: pools, quota, allocation and Agora license query stay exact', async () => {
    const { p101 } = await licenseWorld(ctx.t, ctx.tdb.db);
    // Through the service (the API's own code path below its HTTP layer) to keep the test quick;
    // with `integer` counters the 2,148th purchase failed with "integer out of range".
    for (let i = 1; i <= 2200; i++) {
      const r = await purchase(ctx.tdb.db, { customerId: 'c1', pid: TRIAL_PID, count: 1_000_000, orderId: `order-${i}` });
      expect(r.created).toBe(true);
    }
    // And one more through the API, on top of 2.2 billion.
    const viaApi = await ctx.t.admin('POST', '/v1/purchases', { customerId: 'c1', pid: TRIAL_PID, count: 1_000_000, orderId: 'order-api' });
    expect(viaApi.status).toBe(201);
    const total = 2_201_000_000;

    const activated = await p101.activate('101', TRIAL_PID, 'dev-1');
    expect(activated.status).toBe(200);
    const allocated = await p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 1_000_000 });
    expect(allocated.status).toBe(200);
    expect(allocated.body.data.sharedAvailable).toBe(total - 1 - 1_000_000);

    const quota = await rawText('/v1/license-quotas?customerId=c1', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(quota.status).toBe(200);
    expect(JSON.parse(quota.text).data).toEqual([
      {
        pid: TRIAL_PID,
        total,
        used: 1,
        available: total - 1,
        shared: { total: total - 1_000_000, used: 1, available: total - 1_000_001 },
        projects: [{ projectId: '101', total: 1_000_000, used: 0, available: 1_000_000 }],
      },
    ]);

    const agora = await ctx.t.agoraGet('/customers/c1/license', {});
    expect(agora.status).toBe(200);
    expect((await agora.json()).data).toEqual({ expireDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), residueCount: String(total - 1) });
  }, 180_000);

  it('counts past 2^53 are answered with every digit', async () => {
    const { p101 } = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1 });
    // 2^53 + 3 left in the shared pool: not reachable by purchases in a test's time, but nothing in
    // the schema stops it, so no answer may go through a float on the way.
    await sql`update license_pools set capacity = 9007199254740995, used = 0 where customer_id = 'c1'`.execute(ctx.tdb.db);

    const agora = await ctx.t.agoraGet('/customers/c1/license', {});
    expect(await agora.json()).toMatchObject({ data: { residueCount: '9007199254740995' } });

    const quota = await rawText('/v1/license-quotas?customerId=c1', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(quota.text).toContain('"total":9007199254740995,"used":0,"available":9007199254740995');

    const allocate = await ctx.t.app.request('/dabiz/license/v2/allocate?appid=101', {
      method: 'POST',
      headers: { ...(await basicOf('101')), 'content-type': 'application/json' },
      body: JSON.stringify({ pid: TRIAL_PID, count: 2 }),
    });
    expect(allocate.status).toBe(200);
    expect(await allocate.text()).toContain('"sharedAvailable":9007199254740993');
    expect((await p101.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200);
  });
});

describe('license expiry beyond year 9999', () => {
  it('a renewal that would pass 9999-12-31 is refused (409 expiry_limit), consuming nothing; one that stays inside works', async () => {
    const { p101 } = await licenseWorld(ctx.t, ctx.tdb.db, { commercial: 2 });
    const a = (await p101.activate('101', COMMERCIAL_PID, 'dev-1')).body.data;
    const b = (await p101.activate('101', COMMERCIAL_PID, 'dev-2')).body.data;
    expect((await adminJson(ctx.t, 'POST', '/v1/renewals', { customerId: 'c1', pid: COMMERCIAL_PID, count: 5, renewId: 'R' })).status).toBe(201);
    // As after many renewals of a long validity: one year from the end of year 9999, and just inside it.
    await sql`update licenses set expires_at = '9999-03-01T00:00:00Z' where license = ${a.license}`.execute(ctx.tdb.db);
    await sql`update licenses set expires_at = '9998-12-31T23:59:59Z' where license = ${b.license}`.execute(ctx.tdb.db);

    const refused = await p101.post('/v2/renew', { appid: '101', license: a.license, renewId: 'R' });
    expect([refused.status, refused.body.error]).toEqual([409, 'expiry_limit']);
    const kept = await ctx.tdb.db.selectFrom('licenses').select(['expires_at', 'renew_times']).where('license', '=', a.license).executeTakeFirstOrThrow();
    expect(kept).toEqual({ expires_at: new Date('9999-03-01T00:00:00Z'), renew_times: 0 });

    const renewed = await p101.post('/v2/renew', { appid: '101', license: b.license, renewId: 'R' });
    expect(renewed.status).toBe(200);
    expect(renewed.body.data.expireTime).toBe(Date.parse('9999-12-31T23:59:59Z') / 1000);
    const order = await adminJson(ctx.t, 'GET', '/v1/renewals?customerId=c1');
    expect(order.body.data).toEqual([expect.objectContaining({ renewId: 'R', used: 1, available: 4 })]);

    // Agora's license query keeps a four-digit year.
    const agora = await ctx.t.agoraGet('/customers/c1/license', {});
    expect((await agora.json()).data.expireDate).toBe('9999-12-31');
  });
});

async function basicOf(projectId: string): Promise<Record<string, string>> {
  const p = await ctx.tdb.db.selectFrom('projects').select(['app_key', 'app_secret']).where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return { authorization: `Basic ${Buffer.from(`${p.app_key}:${p.app_secret}`).toString('base64')}` };
}
