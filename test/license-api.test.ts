import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import * as licensesRepo from '../src/licensing/licenses.repository.ts';
import { adminJson, COMMERCIAL_PID, licenseClient, licenseWorld, projectCredentials, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

// Rate limiting has its own test file; here it would only slow the tests down.
const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

const count = async (table: 'licenses' | 'license_pads' | 'license_allocations' | 'license_renewal_log') =>
  Number((await ctx.tdb.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

async function pools(customerId = 'c1') {
  const r = await adminJson(ctx.t, 'GET', `/v1/license-quotas?customerId=${customerId}`);
  return r.body.data as any[];
}

/** Everything the license tables hold, to check that a refused request changed nothing. */
async function snapshot() {
  const db = ctx.tdb.db;
  return {
    licenses: await db.selectFrom('licenses').selectAll().orderBy('id').execute(),
    pools: await db.selectFrom('license_pools').selectAll().orderBy('customer_id').orderBy('pid').orderBy('project_id').execute(),
    pads: await db.selectFrom('license_pads').selectAll().orderBy('id').execute(),
    settings: await db.selectFrom('license_pad_settings').selectAll().orderBy('project_id').execute(),
    allocations: await db.selectFrom('license_allocations').selectAll().orderBy('id').execute(),
    renewals: await db.selectFrom('license_renewals').selectAll().orderBy('renew_id').execute(),
    log: await db.selectFrom('license_renewal_log').selectAll().orderBy('id').execute(),
  };
}

const ymd = (unix: number) => new Date(unix * 1000).toISOString();

describe('authentication', () => {
  it("takes a project's appKey:appSecret or the admin token, and answers 401 otherwise", async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200);
    expect((await w.admin.activate('101', TRIAL_PID, 'dev-2')).status).toBe(200);
    const creds = await projectCredentials(ctx.tdb.db, '101');
    for (const auth of [
      { none: true as const },
      { header: 'Bearer wrong-token-000000000000' },
      { header: 'Basic !!!' },
      { basic: { appKey: creds.appKey, appSecret: 'wrong' } },
      { basic: { appKey: 'unknown', appSecret: creds.appSecret } },
    ]) {
      const r = await licenseClient(ctx.t, auth).activate('101', TRIAL_PID, 'dev-3');
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ code: 401, data: null, error: 'unauthorized' });
      expect(r.body.message).toEqual(expect.any(String));
      expect(r.headers.get('www-authenticate')).toMatch(/^Basic/);
    }
    expect(await count('licenses')).toBe(2);
  });

  it("reaches the caller's own customer's projects only; the admin token reaches all", async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    // Project 102's credentials act for project 101 of the same customer.
    expect((await w.p102.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200);
    const before = await snapshot();
    const r = await w.p201.activate('101', TRIAL_PID, 'dev-2');
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('project_forbidden');
    for (const [path, params] of [
      ['/v2/detail', { appid: '101', key: 'dev-1' }],
      ['/v2/pads', { appid: '101' }],
      ['/v2/product/allocations', { appid: '101' }],
    ] as const) {
      expect((await w.p201.get(path, params)).body.error).toBe('project_forbidden');
    }
    expect((await w.p201.post('/v2/vendor/pad/switch', { appid: '101' })).body.error).toBe('project_forbidden');
    expect((await w.p201.post('/v2/pad/add', { appid: '101', licenseKey: 'x' })).body.error).toBe('project_forbidden');
    expect(await snapshot()).toEqual(before);
    expect((await w.admin.activate('201', TRIAL_PID, 'dev-9')).status).toBe(200);
  });

  it('refuses the credentials of a deactivated project, and changes to a deactivated project', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const d = await ctx.t.agoraSend('PUT', '/customers/c1/projects/102/deactivate', {});
    expect(d.status).toBe(200);
    const before = await snapshot();
    expect((await w.p102.activate('101', TRIAL_PID, 'dev-1')).body.error).toBe('unauthorized');
    const r = await w.p101.activate('102', TRIAL_PID, 'dev-1');
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('project_inactive');
    expect(await snapshot()).toEqual(before);
  });
});

describe('activation', () => {
  it('answers the license in Agora’s shape and starts its validity now, in UTC calendar months', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3, commercial: 1 });
    // The app's clock, fixed: the validity arithmetic is checked on any day the suite runs.
    ctx.t.setNow('2026-01-15T10:20:30.700Z');
    const r = await w.p101.activate('101', TRIAL_PID, 'SN-0001');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      code: 200,
      message: 'success',
      data: {
        pid: TRIAL_PID,
        license: expect.stringMatching(/^[0-9A-F]{32}$/),
        licenseKey: 'SN-0001',
        activationTime: expect.any(Number),
        expireTime: expect.any(Number),
        skuView: { product: 2, name: 'IoT audio+video', mediaType: 3, minutes: 1000, period: '00:00~23:59' },
      },
    });
    const { activationTime, expireTime } = r.body.data;
    expect(ymd(activationTime)).toBe('2026-01-15T10:20:30.000Z');
    expect(ymd(expireTime)).toBe('2026-04-15T10:20:30.000Z');
    const c = await w.p101.activate('101', COMMERCIAL_PID, 'SN-0001');
    expect(ymd(c.body.data.activationTime)).toBe('2026-01-15T10:20:30.000Z');
    expect(ymd(c.body.data.expireTime)).toBe('2027-01-15T10:20:30.000Z');
    // Clamped at the end of a shorter month, as Postgres does.
    ctx.t.setNow('2026-11-30T23:59:59Z');
    const late = await w.p101.activate('101', TRIAL_PID, 'SN-0002');
    expect(ymd(late.body.data.expireTime)).toBe('2027-02-28T23:59:59.000Z');
  });

  it('adds calendar months in UTC whatever the session time zone, clamping at the end of a month', async () => {
    const expiries: string[] = [];
    await ctx.tdb.db
      .transaction()
      .execute(async (trx) => {
        // In Los Angeles 2027-03-01T04:00Z is still 28 February: local arithmetic would give 28 May.
        await sql`set local timezone = 'America/Los_Angeles'`.execute(trx);
        // What the licenses' foreign keys name (migrations/20261123050000-hardening.ts).
        await trx.insertInto('customers').values({ customer_id: 'c', plan_id: 'basic' }).execute();
        await trx.insertInto('projects').values({ project_id: '1', customer_id: 'c', app_key: 'k', app_secret: 's' }).execute();
        await trx.insertInto('license_skus').values({ sku_id: 's', product: 1, name: 'n', media_type: 1, minutes: null, period: null }).execute();
        await trx.insertInto('license_pids').values({ pid: 'p', sku_id: 's', category: 'device', type: 'trial', validity_months: 3 }).execute();
        for (const [key, at, months] of [
          ['a', '2027-03-01T04:00:00Z', 3],
          ['b', '2027-01-31T12:00:00Z', 3],
          ['c', '2028-02-29T00:00:00Z', 12],
        ] as const) {
          const row = await licensesRepo.insertLicenseIfAbsent(trx, {
            license: key,
            customerId: 'c',
            projectId: '1',
            pid: 'p',
            licenseKey: key,
            activatedAt: new Date(at),
            validityMonths: months,
          });
          expiries.push(row!.expires_at.toISOString());
        }
        throw new Error('rollback');
      })
      .catch((e: Error) => expect(e.message).toBe('rollback'));
    expect(expiries).toEqual(['2027-06-01T04:00:00.000Z', '2027-04-30T12:00:00.000Z', '2029-02-28T00:00:00.000Z']);
    expect(await count('licenses')).toBe(0);
  });

  it('consumes the project’s allocated quota first, then the shared quota, then refuses with quota_exhausted', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    expect((await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 1 })).status).toBe(200);
    // 101 has 1 of its own, the shared pool 2.
    expect((await w.p102.activate('102', TRIAL_PID, 'a')).status).toBe(200);
    expect((await w.p102.activate('102', TRIAL_PID, 'b')).status).toBe(200);
    const refused = await w.p102.activate('102', TRIAL_PID, 'c');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('quota_exhausted');
    expect(refused.body.message).toMatch(/No license of PID .* left for project 102/);
    // The one allocated to 101 is still 101's.
    expect((await w.p101.activate('101', TRIAL_PID, 'c')).status).toBe(200);
    expect((await w.p101.activate('101', TRIAL_PID, 'd')).body.error).toBe('quota_exhausted');
    const [q] = await pools();
    expect(q).toMatchObject({ pid: TRIAL_PID, total: 3, used: 3, available: 0, shared: { total: 2, used: 2 }, projects: [{ projectId: '101', total: 1, used: 1 }] });
    expect(await count('licenses')).toBe(3);
  });

  it('answers a repeated activation (same licenseKey and PID) with the same license and consumes nothing', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 2 });
    const first = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    const again = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    const fromOtherProject = await w.p102.activate('102', TRIAL_PID, 'dev-1');
    expect(again.body).toEqual(first.body);
    expect(fromOtherProject.body).toEqual(first.body);
    expect((await pools())[0]).toMatchObject({ used: 1, available: 1 });
    // Case-sensitive: DEV-1 is another device.
    expect((await w.p101.activate('101', TRIAL_PID, 'DEV-1')).body.data.license).not.toBe(first.body.data.license);
    expect((await pools())[0]).toMatchObject({ used: 2, available: 0 });
    // A retry still answers once the pool is used up.
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-1')).body).toEqual(first.body);
  });

  it('switches from trial to commercial by activating the commercial PID with the same licenseKey', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1, commercial: 1 });
    const trial = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    const commercial = await w.p101.activate('101', COMMERCIAL_PID, 'dev-1');
    expect(commercial.status).toBe(200);
    expect(commercial.body.data.pid).toBe(COMMERCIAL_PID);
    expect(commercial.body.data.license).not.toBe(trial.body.data.license);
    // The detail of the key is now the commercial license; the trial one stays readable by value.
    expect((await w.p101.get('/v2/detail', { appid: '101', key: 'dev-1' })).body.data.pid).toBe(COMMERCIAL_PID);
    expect((await w.p101.get('/v2/detail', { appid: '101', key: trial.body.data.license })).body).toEqual(trial.body);
  });

  it.each([
    ['an empty licenseKey', { licenseKey: '' }, 400, 'invalid_license_key'],
    ['a licenseKey of 64 bytes', { licenseKey: 'k'.repeat(64) }, 400, 'invalid_license_key'],
    ['a licenseKey of 22 three-byte characters (66 bytes)', { licenseKey: '设'.repeat(22) }, 400, 'invalid_license_key'],
    ['a licenseKey with a control character', { licenseKey: 'dev\u0001' }, 400, 'invalid_license_key'],
    ['a licenseKey with a line break', { licenseKey: 'dev\n1' }, 400, 'invalid_license_key'],
    ['a licenseKey with spaces around it', { licenseKey: ' dev ' }, 400, 'invalid_license_key'],
    ['no licenseKey', { licenseKey: undefined }, 400, 'missing_parameter'],
    ['no pid', { pid: undefined }, 400, 'missing_parameter'],
    ['no appid', { appid: undefined }, 400, 'missing_parameter'],
    ['an appid that is not a projectId', { appid: 'a6d6f75e' }, 400, 'invalid_parameter'],
    ['an appid beyond any projectId', { appid: '9999999999999999999' }, 400, 'invalid_parameter'],
    ['an unknown PID', { pid: 'NOPE' }, 404, 'unknown_pid'],
    ['an unknown project', { appid: '999' }, 404, 'unknown_project'],
  ])('refuses %s with a stable code and changes nothing', async (_label, change, status, code) => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const before = await snapshot();
    const r = await w.p101.call('POST', '/v2/active', { pid: TRIAL_PID, licenseKey: 'dev-1', appid: '101', ...change });
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ code: status, data: null, error: code });
    expect(await snapshot()).toEqual(before);
  });

  it('accepts a licenseKey of exactly 63 bytes and keys in any script', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    expect((await w.p101.activate('101', TRIAL_PID, 'k'.repeat(63))).status).toBe(200);
    expect((await w.p101.activate('101', TRIAL_PID, '设备'.repeat(10) + 'abc')).status).toBe(200); // 63 bytes
    expect((await w.p101.activate('101', TRIAL_PID, 'AA:BB:CC:DD:EE:FF')).status).toBe(200);
  });

  it('refuses a licenseKey that is not UTF-8, and a parameter given twice', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const auth = { authorization: `Basic ${Buffer.from(`${(await projectCredentials(ctx.tdb.db, '101')).appKey}:${(await projectCredentials(ctx.tdb.db, '101')).appSecret}`).toString('base64')}` };
    const bad = await ctx.t.app.request(`/dabiz/license/v2/active?pid=${TRIAL_PID}&appid=101&licenseKey=%FF%FE`, { method: 'POST', headers: auth });
    expect(bad.status).toBe(400);
    // Refused where all request text is checked (http/input.ts), naming the parameter.
    const badBody = (await bad.json()) as any;
    expect(badBody.error).toBe('invalid_parameter');
    expect(badBody.message).toMatch(/licenseKey is not valid percent-encoded UTF-8/);
    const twice = await ctx.t.app.request(`/dabiz/license/v2/active?pid=${TRIAL_PID}&appid=101&licenseKey=a&licenseKey=b`, { method: 'POST', headers: auth });
    expect(((await twice.json()) as any).error).toBe('repeated_parameter');
    // Percent-encoded UTF-8 is text like any other.
    const ok = await ctx.t.app.request(`/dabiz/license/v2/active?pid=${TRIAL_PID}&appid=101&licenseKey=%E8%AE%BE+1`, { method: 'POST', headers: auth });
    expect(((await ok.json()) as any).data.licenseKey).toBe('设 1');
    expect(await count('licenses')).toBe(1);
    void w;
  });
});

describe('detail', () => {
  it('finds a license of the project by value or by licenseKey, and answers 404 otherwise', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const a = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    expect((await w.p101.get('/v2/detail', { appid: '101', key: 'dev-1' })).body).toEqual(a.body);
    expect((await w.p101.get('/v2/detail', { appid: '101', key: a.body.data.license })).body).toEqual(a.body);
    for (const key of ['dev-2', 'DEV-1']) {
      const r = await w.p101.get('/v2/detail', { appid: '101', key });
      expect(r.status).toBe(404);
      expect(r.body.error).toBe('unknown_license');
    }
    // Another project of the same customer does not list it.
    expect((await w.p101.get('/v2/detail', { appid: '102', key: 'dev-1' })).body.error).toBe('unknown_license');
  });
});

describe('allocation', () => {
  it('moves shared quota to a project, lists allocations newest first, and refuses more than is left', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 10, commercial: 2 });
    const r = await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 4, creator: 'ops' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      code: 200,
      message: `Allocated 4 licenses of PID ${TRIAL_PID} to project 101`,
      data: { pid: TRIAL_PID, appid: '101', count: 4, projectQuota: { total: 4, used: 0, available: 4 }, sharedAvailable: 6 },
    });
    await w.p101.post('/v2/allocate', { appid: '101' }, { pid: COMMERCIAL_PID, count: 2 });
    await w.p102.activate('102', TRIAL_PID, 'x'); // shared: 5 left
    const before = await snapshot();
    const tooMany = await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 6 });
    expect(tooMany.status).toBe(403);
    expect(tooMany.body.error).toBe('quota_exhausted');
    expect(tooMany.body.message).toMatch(/Only 5 unallocated/);
    expect(await snapshot()).toEqual(before);

    const list = await w.p101.get('/v2/product/allocations', { appid: '101' });
    expect(list.body.data.count).toBe(2);
    expect(list.body.data.list).toEqual([
      { pid: COMMERCIAL_PID, type: 1, creator: '', count: 2, createTime: expect.any(Number) },
      { pid: TRIAL_PID, type: 2, creator: 'ops', count: 4, createTime: expect.any(Number) },
    ]);
    expect((await w.p101.get('/v2/product/allocations', { appid: '101', pid: TRIAL_PID, page: 1, size: 1 })).body.data).toMatchObject({ count: 1, list: [{ count: 4 }] });
    expect((await w.p101.get('/v2/product/allocations', { appid: '102' })).body.data).toEqual({ count: 0, list: [], next: null });
  });

  it.each([
    ['a count of 0', { pid: TRIAL_PID, count: 0 }, 'invalid_parameter'],
    ['a fractional count', { pid: TRIAL_PID, count: 1.5 }, 'invalid_parameter'],
    ['no pid', { count: 1 }, 'missing_parameter'],
    ['an unknown PID', { pid: 'NOPE', count: 1 }, 'unknown_pid'],
    ['a PID the customer never bought', { pid: COMMERCIAL_PID, count: 1 }, 'quota_exhausted'],
  ])('refuses %s and changes nothing', async (_label, body, code) => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const before = await snapshot();
    const r = await w.p101.post('/v2/allocate', { appid: '101' }, body);
    expect(r.body.error).toBe(code);
    expect(await snapshot()).toEqual(before);
  });
});

describe('renewal', () => {
  async function renewalOrder(body: Record<string, unknown>) {
    return adminJson(ctx.t, 'POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, ...body });
  }

  it('extends from the current expiry, counts renewals, and consumes one renewal each time', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 2 });
    const a = (await w.p101.activate('101', TRIAL_PID, 'dev-1')).body.data;
    // As if activated long ago and expiring next week: the renewal adds to that expiry.
    await ctx.tdb.db
      .updateTable('licenses')
      .set({ activated_at: new Date('2026-06-15T10:00:00Z'), expires_at: new Date('2026-09-15T10:00:00Z') })
      .where('license', '=', a.license)
      .execute();
    expect((await renewalOrder({ renewId: 'R-1', count: 2 })).status).toBe(201);
    const r = await w.p101.post('/v2/renew', { appid: '101', license: a.license });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({
      licenseKey: 'dev-1',
      license: a.license,
      renewTimes: 1,
      lastRenewTime: expect.any(Number),
      activationTime: Date.parse('2026-06-15T10:00:00Z') / 1000,
      expireTime: Date.parse('2026-12-15T10:00:00Z') / 1000,
      renewId: 'R-1',
    });
    const again = await w.p101.post('/v2/renew', { appid: '101', license: a.license, renewId: 'R-1' });
    expect(again.body.data).toMatchObject({ renewTimes: 2, expireTime: Date.parse('2027-03-15T10:00:00Z') / 1000 });
    const before = await snapshot();
    const none = await w.p101.post('/v2/renew', { appid: '101', license: a.license });
    expect(none.status).toBe(403);
    expect(none.body.error).toBe('renewal_exhausted');
    expect((await w.p101.post('/v2/renew', { appid: '101', license: a.license, renewId: 'R-1' })).body.error).toBe('renewal_exhausted');
    expect(await snapshot()).toEqual(before);
    expect(await count('license_renewal_log')).toBe(2);
    const orders = await adminJson(ctx.t, 'GET', '/v1/renewals?customerId=c1');
    expect(orders.body.data).toEqual([expect.objectContaining({ renewId: 'R-1', count: 2, used: 2, available: 0 })]);
  });

  it('chooses the oldest order with renewals left when no renewId is given', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1 });
    const a = (await w.p101.activate('101', TRIAL_PID, 'dev-1')).body.data;
    await renewalOrder({ renewId: 'R-old', count: 1 });
    await renewalOrder({ renewId: 'R-new', count: 1 });
    await ctx.tdb.db.updateTable('license_renewals').set({ created_at: sql`now() - interval '1 day'` } as never).where('renew_id', '=', 'R-old').execute();
    expect((await w.p101.post('/v2/renew', { appid: '101', license: a.license })).body.data.renewId).toBe('R-old');
    expect((await w.p101.post('/v2/renew', { appid: '101', license: a.license })).body.data.renewId).toBe('R-new');
  });

  it.each([
    ['an unknown license', (l: string) => ({ appid: '101', license: `${l}X` }), 404, 'unknown_license'],
    ["another customer's license", (l: string) => ({ appid: '201', license: l }), 403, 'license_forbidden'],
    ["another project's license", (l: string) => ({ appid: '102', license: l }), 403, 'license_forbidden'],
    ['an unknown renewId', (l: string) => ({ appid: '101', license: l, renewId: 'NOPE' }), 404, 'unknown_renewal'],
    ["another customer's renewId", (l: string) => ({ appid: '101', license: l, renewId: 'R-c2' }), 404, 'unknown_renewal'],
    ['a renewId of another PID', (l: string) => ({ appid: '101', license: l, renewId: 'R-comm' }), 400, 'renewal_mismatch'],
    ['no license', () => ({ appid: '101' }), 400, 'missing_parameter'],
  ])('refuses %s and changes nothing', async (_label, params, status, code) => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1 });
    const l = (await w.p101.activate('101', TRIAL_PID, 'dev-1')).body.data.license;
    await renewalOrder({ renewId: 'R-1', count: 5 });
    await renewalOrder({ renewId: 'R-comm', pid: COMMERCIAL_PID, count: 5 });
    await adminJson(ctx.t, 'POST', '/v1/renewals', { customerId: 'c2', pid: TRIAL_PID, renewId: 'R-c2', count: 5 });
    const before = await snapshot();
    // Project 201's caller may name its own project; the license is c1's.
    const caller = (params(l) as { appid: string }).appid === '201' ? w.p201 : w.p101;
    const r = await caller.post('/v2/renew', params(l));
    expect(r.status).toBe(status);
    expect(r.body.error).toBe(code);
    expect(await snapshot()).toEqual(before);
  });
});

describe('expiring licenses', () => {
  it('lists the licenses of a project and PID expiring within the days asked, soonest first, in RFC 3339', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    for (const k of ['a', 'b', 'c', 'd']) await w.p101.activate('101', TRIAL_PID, k);
    await w.p102.activate('102', TRIAL_PID, 'other-project');
    const day = 86_400_000;
    // One reading of the clock: an expiry computed twice could straddle a second.
    const now = Date.now();
    const at = (ms: number) => new Date(Math.floor((now + ms) / 1000) * 1000);
    const set = (k: string, d: Date) => ctx.tdb.db.updateTable('licenses').set({ activated_at: new Date('2026-01-05T08:00:00Z'), expires_at: d }).where('license_key', '=', k).execute();
    await set('a', at(10 * day));
    await set('b', at(2 * day));
    await set('c', at(-1 * day)); // already expired
    await set('d', at(60 * day));
    const r = await w.p101.get(`/v3/projects/101/pids/${TRIAL_PID}/expiringLicenses`, { expiringDay: 45 });
    expect(r.status).toBe(200);
    expect(r.body.data.count).toBe(2);
    expect(r.body.data.list.map((l: any) => l.licenseKey)).toEqual(['b', 'a']);
    expect(r.body.data.list[0]).toEqual({
      licenseKey: 'b',
      license: expect.stringMatching(/^[0-9A-F]{32}$/),
      activeTime: '2026-01-05T08:00:00Z',
      expireTime: at(2 * day).toISOString().replace('.000Z', 'Z'),
    });
    const paged = await w.p101.get(`/v3/projects/101/pids/${TRIAL_PID}/expiringLicenses`, { expiringDay: 90, page: 2, size: 2 });
    expect(paged.body.data).toMatchObject({ count: 3, list: [{ licenseKey: 'd' }] });
  });

  it.each([
    ['a page size over 100', { expiringDay: 30, size: 101 }, 'invalid_parameter', /size must be at most 100/],
    ['page 0', { expiringDay: 30, page: 0 }, 'invalid_parameter', /page must be at least 1/],
    ['no expiringDay', {}, 'missing_parameter', /expiringDay/],
    ['a negative expiringDay', { expiringDay: -1 }, 'invalid_parameter', /expiringDay/],
  ])('refuses %s', async (_label, params, code, message) => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    const r = await w.p101.get(`/v3/projects/101/pids/${TRIAL_PID}/expiringLicenses`, params);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe(code);
    expect(r.body.message).toMatch(message);
  });

  it('answers 404 for an unknown PID and 403 for another customer’s project', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    expect((await w.p101.get('/v3/projects/101/pids/NOPE/expiringLicenses', { expiringDay: 3 })).body.error).toBe('unknown_pid');
    expect((await w.p201.get(`/v3/projects/101/pids/${TRIAL_PID}/expiringLicenses`, { expiringDay: 3 })).body.error).toBe('project_forbidden');
  });
});

describe('pre-authorization', () => {
  it('toggles per project; while on, only whitelisted licenseKeys activate', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    const on = await w.p101.post('/v2/vendor/pad/switch', { appid: '101' });
    expect(on.body).toEqual({ code: 200, message: 'Pre-authorization is on for project 101', data: { enabled: true } });
    const before = await snapshot();
    const refused = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('not_preauthorized');
    expect(refused.body.message).toMatch(/whitelist/);
    expect(await snapshot()).toEqual(before);
    // Project 102 has its own switch, still off.
    expect((await w.p102.activate('102', TRIAL_PID, 'dev-1')).status).toBe(200);
    expect((await w.p101.post('/v2/pad/add', { appid: '101', licenseKey: 'dev-2' })).body).toMatchObject({ data: { added: 1, alreadyListed: 0 } });
    expect((await w.p101.post('/v2/pad/add', { appid: '101', licenseKey: 'dev-2' })).body).toMatchObject({ data: { added: 0, alreadyListed: 1 } });
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-2')).status).toBe(200);
    // Keys are case-sensitive.
    expect((await w.p101.activate('101', TRIAL_PID, 'DEV-2')).body.error).toBe('not_preauthorized');
    const off = await w.p101.post('/v2/vendor/pad/switch', { appid: '101' });
    expect(off.body.data).toEqual({ enabled: false });
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-3')).status).toBe(200);
    // Setting explicitly is idempotent.
    expect((await w.p101.post('/v2/vendor/pad/switch', { appid: '101', enabled: 'true' })).body.data).toEqual({ enabled: true });
    expect((await w.p101.post('/v2/vendor/pad/switch', { appid: '101', enabled: 'true' })).body.data).toEqual({ enabled: true });
  });

  it('takes a text file: CRLF, blank lines, spaces and repeats are fine; search, list, export, delete and clear', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    const up = await w.p101.upload('101', '\uFEFFdev-1\r\n\r\n  dev-2  \r\ndev-1\r\n设备-3\n\n');
    expect(up.status).toBe(200);
    expect(up.body).toEqual({ code: 200, message: '3 licenseKeys added, 0 already listed', data: { added: 3, alreadyListed: 0, repeatedInFile: 1 } });
    expect((await w.p101.upload('101', 'dev-2\ndev-4')).body.data).toEqual({ added: 1, alreadyListed: 1, repeatedInFile: 0 });

    const found = await w.p101.get('/v2/pads/search', { appid: '101', licenseKey: 'dev-2' });
    expect(found.body.data).toEqual([{ id: expect.any(Number), cid: 'c1', licenseKey: 'dev-2', createTime: expect.any(Number) }]);
    expect((await w.p101.get('/v2/pads/search', { appid: '101', licenseKey: 'DEV-2' })).body.data).toEqual([]);

    const page1 = await w.p101.get('/v2/pads', { appid: '101', page: 1, size: 3 });
    expect(page1.body.data.count).toBe(4);
    expect(page1.body.data.list).toHaveLength(3);
    const page2 = await w.p101.get('/v2/pads', { appid: '101', page: 2, size: 3 });
    expect(page2.body.data.list.map((e: any) => e.licenseKey)).toEqual(['dev-4']);
    const all = [...page1.body.data.list, ...page2.body.data.list].map((e: any) => e.licenseKey);
    expect([...all].sort()).toEqual(['dev-1', 'dev-2', 'dev-4', '设备-3']);

    const exported = await w.p101.get('/v2/pads/export', { appid: '101' });
    expect(exported.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(exported.body).toBe(all.join('\n') + '\n');

    const ids = page1.body.data.list.slice(0, 2).map((e: any) => e.id);
    const del = await w.p101.post('/v2/pad/delete', { appid: '101' }, { ids: [...ids, 999999] });
    expect(del.body.data).toEqual({ deleted: 2, notFound: 1 });
    // A retry deletes nothing more.
    expect((await w.p101.post('/v2/pad/delete', { appid: '101' }, { ids })).body.data).toEqual({ deleted: 0, notFound: 2 });
    // Another project's ids are not this project's entries.
    await w.p102.post('/v2/pad/add', { appid: '102', licenseKey: 'dev-1' });
    const theirs = (await w.p102.get('/v2/pads', { appid: '102' })).body.data.list[0].id;
    expect((await w.p101.post('/v2/pad/delete', { appid: '101' }, { ids: [theirs] })).body.data).toEqual({ deleted: 0, notFound: 1 });

    expect((await w.p101.post('/v2/pad/clear', { appid: '101' })).body.data).toEqual({ deleted: 2 });
    expect((await w.p101.get('/v2/pads', { appid: '101' })).body.data).toEqual({ count: 0, list: [] });
    expect((await w.p101.get('/v2/pads/export', { appid: '101' })).body).toBe('');
    expect(await count('license_pads')).toBe(1);
  });

  it.each([
    ['an empty file', '', 400, 'invalid_upload', /empty/],
    ['only blank lines', '\r\n  \n\n', 400, 'invalid_upload', /no licenseKey/],
    ['a binary file (NUL bytes)', new Uint8Array([0x64, 0x00, 0x65, 0x0a]), 400, 'invalid_upload', /binary/],
    ['invalid UTF-8', new Uint8Array([0x64, 0x65, 0xff, 0x0a]), 400, 'invalid_upload', /not UTF-8/],
    ['a key of 64 bytes on line 3', 'dev-1\ndev-2\n' + 'k'.repeat(64) + '\ndev-4\n', 400, 'invalid_upload', /^Line 3: .*64 bytes/],
    ['a control character on line 2', 'dev-1\r\nde\u0007v\r\n', 400, 'invalid_upload', /^Line 2: .*control/],
    ['a file over 1 MiB', 'k'.repeat(1024 * 1024 + 1), 413, 'payload_too_large', /1048576/],
    ['a body far over the limit', 'k\n'.repeat(700_000), 413, 'payload_too_large', /larger than/],
  ])('refuses %s as a whole and adds nothing', async (_label, file, status, code, message) => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    await w.p101.post('/v2/pad/add', { appid: '101', licenseKey: 'kept' });
    const before = await snapshot();
    const r = await w.p101.upload('101', file as BlobPart);
    expect(r.status).toBe(status);
    expect(r.body.error).toBe(code);
    expect(r.body.message).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses an upload without the file field, and bad single keys', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    const none = await w.p101.upload('101', null);
    expect(none.status).toBe(400);
    expect(await count('license_pads')).toBe(0);
    for (const licenseKey of ['', 'k'.repeat(64), 'a\tb']) {
      expect((await w.p101.post('/v2/pad/add', { appid: '101', licenseKey })).body.error).toBe('invalid_license_key');
    }
    expect((await w.p101.post('/v2/pad/delete', { appid: '101' }, { ids: [] })).body.error).toBe('invalid_parameter');
    expect((await w.p101.post('/v2/pad/delete', { appid: '101' }, { ids: ['x'] })).body.error).toBe('invalid_parameter');
    expect((await w.p101.get('/v2/pads', { appid: '101', size: 101 })).body).toMatchObject({ code: 400, error: 'invalid_parameter', message: expect.stringMatching(/size must be at most 100/) });
    expect(await count('license_pads')).toBe(0);
  });
});

describe('the license API', () => {
  it('answers an unknown path under /dabiz/license in its own envelope', async () => {
    const r = await licenseClient(ctx.t, { admin: true }).get('/v2/nothing');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ code: 404, message: 'No such route', data: null, error: 'not_found' });
  });
});
