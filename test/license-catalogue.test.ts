import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ADMIN, provision } from './helpers/app.ts';
import { adminJson, catalogue, COMMERCIAL_PID, licenseWorld, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

const admin = (method: string, path: string, body?: unknown) => adminJson(ctx.t, method, path, body);
const SKU = { id: 'iot-audio', product: 2, name: 'IoT audio', mediaType: 1 };
const rows = (table: 'license_skus' | 'license_pids' | 'license_purchases' | 'license_pools' | 'license_renewals') =>
  ctx.tdb.db.selectFrom(table).selectAll().execute();

describe('SKUs', () => {
  it('are created once, read back, and cannot change', async () => {
    const r = await admin('POST', '/v1/skus', { ...SKU, minutes: 600, period: '08:00~20:00' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ id: 'iot-audio', product: 2, name: 'IoT audio', mediaType: 1, minutes: 600, period: '08:00~20:00', createdAt: expect.any(String) });
    // The same again is a retry.
    expect((await admin('POST', '/v1/skus', { ...SKU, minutes: 600, period: '08:00~20:00' })).status).toBe(200);
    const changed = await admin('POST', '/v1/skus', { ...SKU, minutes: 601, period: '08:00~20:00' });
    expect(changed.status).toBe(409);
    expect(changed.body.error.code).toBe('sku_conflict');
    expect((await admin('POST', '/v1/skus', { ...SKU, id: 'plain' })).body).toMatchObject({ minutes: null, period: null });
    expect((await admin('GET', '/v1/skus')).body.data.map((s: any) => s.id)).toEqual(['iot-audio', 'plain']);
    expect((await admin('GET', '/v1/skus/plain')).status).toBe(200);
    expect((await admin('GET', '/v1/skus/none')).body.error.code).toBe('unknown_sku');
  });

  it.each([
    ['product 4', { product: 4 }],
    ['mediaType 0', { mediaType: 0 }],
    ['minutes 0', { minutes: 0 }],
    ['minutes 1.5', { minutes: 1.5 }],
    ['a period of 24:00', { period: '00:00~24:00' }],
    ['a period without ~', { period: '00:00-23:59' }],
    ['an id with spaces', { id: 'my sku' }],
    ['an id of 65 characters', { id: 's'.repeat(65) }],
    ['an empty name', { name: '  ' }],
  ])('refuse %s and store nothing', async (_label, change) => {
    const r = await admin('POST', '/v1/skus', { ...SKU, ...change });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_parameter');
    expect(await rows('license_skus')).toEqual([]);
  });

  it('need the admin token', async () => {
    const r = await ctx.t.app.request('/v1/skus', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(SKU) });
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.code).toBe('unauthorized');
  });
});

describe('PIDs', () => {
  it('generate Agora-like PIDs, one per SKU, category, type and validity', async () => {
    await admin('POST', '/v1/skus', SKU);
    const trial = await admin('POST', '/v1/pids', { sku: 'iot-audio', category: 'device', type: 'trial', validityMonths: 3 });
    expect(trial.status).toBe(201);
    expect(trial.body).toEqual({
      pid: expect.stringMatching(/^[0-9A-F]{32}$/),
      sku: 'iot-audio',
      category: 'device',
      type: 'trial',
      validityMonths: 3,
      validityYears: null,
      createdAt: expect.any(String),
    });
    const again = await admin('POST', '/v1/pids', { sku: 'iot-audio', category: 'device', type: 'trial', validityMonths: 3 });
    expect(again.status).toBe(200);
    expect(again.body.pid).toBe(trial.body.pid);
    // Naming another PID for the same definition is a conflict; naming the same one is a retry.
    expect((await admin('POST', '/v1/pids', { pid: 'OTHER', sku: 'iot-audio', category: 'device', type: 'trial', validityMonths: 3 })).body.error.code).toBe('pid_conflict');
    expect((await admin('POST', '/v1/pids', { pid: trial.body.pid, sku: 'iot-audio', category: 'device', type: 'trial', validityMonths: 3 })).status).toBe(200);
    // Each of category, type and validity makes another PID.
    const account = await admin('POST', '/v1/pids', { sku: 'iot-audio', category: 'account', type: 'trial', validityMonths: 3 });
    const six = await admin('POST', '/v1/pids', { sku: 'iot-audio', category: 'device', type: 'trial', validityMonths: 6 });
    const commercial = await admin('POST', '/v1/pids', { pid: 'MY-PID-1', sku: 'iot-audio', category: 'device', type: 'commercial', validityYears: 2 });
    expect(commercial.body).toMatchObject({ pid: 'MY-PID-1', validityMonths: null, validityYears: 2 });
    expect(new Set([trial.body.pid, account.body.pid, six.body.pid, 'MY-PID-1']).size).toBe(4);
    // A taken pid with another definition.
    expect((await admin('POST', '/v1/pids', { pid: 'MY-PID-1', sku: 'iot-audio', category: 'device', type: 'commercial', validityYears: 3 })).body.error.code).toBe('pid_conflict');
    expect((await admin('GET', '/v1/pids?sku=iot-audio')).body.data).toHaveLength(4);
    expect((await admin('GET', '/v1/pids/MY-PID-1')).body.validityYears).toBe(2);
    expect((await admin('GET', '/v1/pids/NOPE')).body.error.code).toBe('unknown_pid');
  });

  it.each([
    ['a trial of 2 months', { type: 'trial', validityMonths: 2 }, 'invalid_validity', /at least 3 months/],
    ['a trial in years', { type: 'trial', validityYears: 1 }, 'invalid_validity', /months/],
    ['a trial without validity', { type: 'trial' }, 'invalid_validity', /validityMonths/],
    ['a commercial of 0 years', { type: 'commercial', validityYears: 0 }, 'invalid_validity', /at least 1 year/],
    ['a commercial in months', { type: 'commercial', validityMonths: 12 }, 'invalid_validity', /years/],
    ['an unknown type', { type: 'forever', validityMonths: 3 }, 'invalid_parameter', /type/],
    ['an unknown category', { category: 'car', type: 'trial', validityMonths: 3 }, 'invalid_parameter', /category/],
    ['an unknown SKU', { sku: 'nope', type: 'trial', validityMonths: 3 }, 'unknown_sku', /nope/],
  ])('refuse %s and store nothing', async (_label, change, code, message) => {
    await admin('POST', '/v1/skus', SKU);
    const r = await admin('POST', '/v1/pids', { sku: 'iot-audio', category: 'device', ...change });
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.message).toMatch(message);
    expect(await rows('license_pids')).toEqual([]);
  });
});

describe('purchases and renewal orders', () => {
  it("add to a provisioned customer's shared quota; an orderId makes a retry safe", async () => {
    await catalogue(ctx.t);
    await provision(ctx.t, 'c1', [101]);
    const first = await admin('POST', '/v1/purchases', { customerId: 'c1', pid: TRIAL_PID, count: 10, orderId: 'SO-1' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: expect.any(String), orderId: 'SO-1', customerId: 'c1', pid: TRIAL_PID, count: 10, createdAt: expect.any(String) });
    const retry = await admin('POST', '/v1/purchases', { customerId: 'c1', pid: TRIAL_PID, count: 10, orderId: 'SO-1' });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect((await admin('POST', '/v1/purchases', { customerId: 'c1', pid: TRIAL_PID, count: 11, orderId: 'SO-1' })).body.error.code).toBe('conflict');
    expect((await admin('POST', '/v1/purchases', { customerId: 'c1', pid: TRIAL_PID, count: 5 })).status).toBe(201);
    expect((await admin('POST', '/v1/purchases', { customerId: 'c1', pid: COMMERCIAL_PID, count: 2 })).status).toBe(201);
    const quota = await admin('GET', '/v1/license-quotas?customerId=c1');
    expect(quota.body.data).toEqual([
      { pid: COMMERCIAL_PID, total: 2, used: 0, available: 2, shared: { total: 2, used: 0, available: 2 }, projects: [] },
      { pid: TRIAL_PID, total: 15, used: 0, available: 15, shared: { total: 15, used: 0, available: 15 }, projects: [] },
    ].sort((a, b) => (a.pid < b.pid ? -1 : 1)));
    const list = await admin('GET', '/v1/purchases?customerId=c1&size=2');
    expect(list.body).toMatchObject({ count: 3, page: 1, size: 2 });
    expect(list.body.data.map((p: any) => p.count)).toEqual([10, 5]);
    expect((await admin('GET', '/v1/purchases?size=101')).body.error.code).toBe('invalid_parameter');
  });

  it.each([
    ['an unknown customer', { customerId: 'nobody' }, 'unknown_customer'],
    ['an unknown PID', { pid: 'NOPE' }, 'unknown_pid'],
    ['a count of 0', { count: 0 }, 'invalid_parameter'],
    ['a count given as text', { count: '5' }, 'invalid_parameter'],
    ['no count', { count: undefined }, 'missing_parameter'],
  ])('refuse %s and add nothing', async (_label, change, code) => {
    await catalogue(ctx.t);
    await provision(ctx.t, 'c1', [101]);
    const purchase = await admin('POST', '/v1/purchases', { customerId: 'c1', pid: TRIAL_PID, count: 5, ...change });
    expect(purchase.body.error.code).toBe(code);
    const renewal = await admin('POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 5, ...change });
    expect(renewal.body.error.code).toBe(code);
    expect(await rows('license_purchases')).toEqual([]);
    expect(await rows('license_pools')).toEqual([]);
    expect(await rows('license_renewals')).toEqual([]);
  });

  it('record renewal orders with a given or generated renewId', async () => {
    await catalogue(ctx.t);
    await provision(ctx.t, 'c1', [101]);
    const given = await admin('POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 3, renewId: 'R-2026-1' });
    expect(given.status).toBe(201);
    expect(given.body).toEqual({ renewId: 'R-2026-1', customerId: 'c1', pid: TRIAL_PID, count: 3, used: 0, available: 3, createdAt: expect.any(String) });
    expect((await admin('POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 3, renewId: 'R-2026-1' })).status).toBe(200);
    expect((await admin('POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 4, renewId: 'R-2026-1' })).body.error.code).toBe('conflict');
    const generated = await admin('POST', '/v1/renewals', { customerId: 'c1', pid: COMMERCIAL_PID, count: 1 });
    expect(generated.body.renewId).toMatch(/^[0-9A-F]{32}$/);
    expect((await admin('GET', `/v1/renewals?pid=${COMMERCIAL_PID}`)).body.data).toHaveLength(1);
  });
});

describe('license exports', () => {
  it('list licenses as JSON pages and as CSV with the columns of Agora Console’s export', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    await w.p101.activate('101', TRIAL_PID, 'dev,1');
    await w.p102.activate('102', TRIAL_PID, 'dev"2');
    await w.p201.activate('201', TRIAL_PID, 'other');
    await ctx.tdb.db.updateTable('licenses').set({ activated_at: new Date('2025-01-01T00:00:00Z'), expires_at: new Date('2025-04-01T00:00:00Z') }).where('license_key', '=', 'dev"2').execute();

    const page = await admin('GET', '/v1/licenses?customerId=c1&size=1');
    expect(page.body).toMatchObject({ count: 2, page: 1, size: 1 });
    expect(page.body.data[0]).toEqual({
      license: expect.stringMatching(/^[0-9A-F]{32}$/),
      licenseKey: 'dev,1',
      pid: TRIAL_PID,
      customerId: 'c1',
      projectId: '101',
      activatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      expiresAt: expect.stringMatching(/Z$/),
      status: 'active',
      renewTimes: 0,
      lastRenewedAt: null,
    });
    expect((await admin('GET', '/v1/licenses?customerId=c1&status=expired')).body.data.map((l: any) => l.licenseKey)).toEqual(['dev"2']);
    expect((await admin('GET', '/v1/licenses?projectId=201')).body.count).toBe(1);

    const r = await ctx.t.app.request('/v1/licenses?customerId=c1', { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } });
    expect(r.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(r.headers.get('content-disposition')).toBe('attachment; filename="licenses-c1.csv"');
    const lines = (await r.text()).split('\r\n');
    expect(lines[0]).toBe('License,LicenseKey,PID,Project,Customer,Activation,Expiry,Status,RenewTimes');
    expect(lines).toHaveLength(4); // header, two licenses, and the empty string after the last line end
    expect(lines[1]).toMatch(new RegExp(`^[0-9A-F]{32},"dev,1",${TRIAL_PID},101,c1,\\d{4}-.+Z,\\d{4}-.+Z,active,0$`));
    expect(lines[2]).toMatch(new RegExp(`^[0-9A-F]{32},"dev""2",${TRIAL_PID},102,c1,2025-01-01T00:00:00Z,2025-04-01T00:00:00Z,expired,0$`));
  });

  it('export thousands of licenses as CSV in batches', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await sql`insert into licenses (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
      select 'L' || g, 'c1', 101, ${TRIAL_PID}, 'k' || g, now(), now() + interval '3 months' from generate_series(1, 12001) g`.execute(ctx.tdb.db);
    const r = await ctx.t.app.request('/v1/licenses?customerId=c1', { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } });
    const lines = (await r.text()).trimEnd().split('\r\n');
    expect(lines).toHaveLength(12002);
    expect(new Set(lines.slice(1).map((l) => l.split(',')[0])).size).toBe(12001);
  });
});
