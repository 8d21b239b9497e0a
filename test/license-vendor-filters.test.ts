import { describe, expect, it } from 'vitest';
import { ADMIN } from './helpers/app.ts';
import { licenseWorld, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();

const get = async (path: string) => {
  const r = await ctx.t.app.request(path, { headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: r.status, body: (await r.json()) as { error?: { code: string } } };
};

describe("the vendor licensing API's filters and path ids", () => {
  it('refuse what no id can be, with 400 invalid_parameter, as creation does', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const long = 'x'.repeat(10_000);
    for (const path of [
      `/v1/purchases?customerId=${long}`,
      `/v1/purchases?pid=a%zz`,
      `/v1/renewals?pid=${long}`,
      `/v1/renewals?customerId=a%00b`,
      `/v1/licenses?pid=a%00b`,
      `/v1/licenses?customerId=${long}`,
      `/v1/pids?sku=a%00b`,
      `/v1/pids?sku=a%ED%A0%80b`,
      `/v1/skus/a%00b`,
      `/v1/skus/${long}`,
      `/v1/pids/a%00b`,
      `/v1/pids/a%FF`,
    ]) {
      const r = await get(path);
      expect([path.slice(0, 60), r.status, r.body.error?.code]).toEqual([path.slice(0, 60), 400, 'invalid_parameter']);
    }
  });

  it('still find what exists', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    expect((await get(`/v1/purchases?customerId=c1&pid=${TRIAL_PID}`)).status).toBe(200);
    expect((await get(`/v1/pids?sku=iot-av`)).status).toBe(200);
    expect((await get(`/v1/skus/iot-av`)).status).toBe(200);
    expect((await get(`/v1/pids/${TRIAL_PID}`)).status).toBe(200);
    expect((await get(`/v1/licenses?customerId=c1&pid=${TRIAL_PID}`)).status).toBe(200);
    expect((await get(`/v1/renewals?customerId=c1`)).status).toBe(200);
  });
});
