import { describe, expect, it } from 'vitest';
import { provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();

describe("a customer's projects' limits in one call", () => {
  it('answers what each project limits call answers, for the first projects in projectId order', async () => {
    await provision(ctx.t, 'acme', [30, 4, 200]);
    await provision(ctx.t, 'other', [5]);
    expect((await ctx.t.admin('PUT', '/v1/projects/200/limits', { pcu: 3 })).status).toBe(200);
    expect((await ctx.t.admin('PUT', '/v1/projects/5/limits', { pcu: 9 })).status).toBe(200);
    expect((await ctx.t.admin('PUT', '/v1/customers/acme/limits', { pcu: 10 })).status).toBe(200);
    const r = await ctx.t.admin('GET', '/v1/customers/acme/limits?projects=50');
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    const one = await Promise.all(['4', '30', '200'].map(async (p) => (await (await ctx.t.admin('GET', `/v1/projects/${p}/limits`)).json()) as any));
    expect(body).toEqual({ customerId: 'acme', pcu: 10, live: 0, projects: one });
    expect(body.projects.map((p: any) => [p.projectId, p.pcu, p.live])).toEqual([['4', null, 0], ['30', null, 0], ['200', 3, 0]]);
    const two = (await (await ctx.t.admin('GET', '/v1/customers/acme/limits?projects=2')).json()) as any;
    expect(two.projects.map((p: any) => p.projectId)).toEqual(['4', '30']);
    // Without projects, the answer it always was.
    expect(await (await ctx.t.admin('GET', '/v1/customers/acme/limits')).json()).toEqual({ customerId: 'acme', pcu: 10, live: 0 });
  });

  it('refuses an unknown customer and a size out of range', async () => {
    const r = await ctx.t.admin('GET', '/v1/customers/nobody/limits?projects=50');
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).error.code).toBe('unknown_customer');
    await provision(ctx.t, 'acme', [1]);
    for (const n of ['-1', '101', 'x']) {
      const bad = await ctx.t.admin('GET', `/v1/customers/acme/limits?projects=${n}`);
      expect(bad.status, n).toBe(400);
    }
  });
});
