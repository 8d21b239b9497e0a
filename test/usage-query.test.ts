import { describe, expect, it } from 'vitest';
import { buildApp, DAY, dayStart, provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();

const D = '2025-06-20';
const from = dayStart(D);

async function send(events: unknown[]) {
  const r = await ctx.t.admin('POST', '/v1/usage-events', { events });
  expect(r.status).toBe(200);
  return (await r.json()) as { accepted: number; duplicates: number; rejected: number; results: { status: string; code?: string }[] };
}

async function usage(params: Record<string, string | number>) {
  const r = await ctx.t.agoraGet('/usage', params);
  return { status: r.status, text: await r.clone().text(), body: (await r.json()) as any };
}

describe('GET /usage', () => {
  it('reports one entry per project, ordered by projectId, with exact amounts and descriptions', async () => {
    await provision(ctx.t, 'c1', [30, 4, 200], 'planA');
    const s = await send([
      { id: 'a', projectId: 200, quantity: '0.1', occurredAt: from + 10 },
      { id: 'b', projectId: 200, quantity: '0.2', occurredAt: from + 20 },
      { id: 'c', projectId: '4', quantity: '12.000001', occurredAt: new Date((from + 3600) * 1000).toISOString() },
      { id: 'd', projectId: 30, quantity: 250, occurredAt: from + DAY - 1 },
    ]);
    expect(s.accepted).toBe(4);
    const r = await usage({ fromTs: from, toTs: from + DAY - 1, pageNum: 1 });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe(0);
    expect(r.body.data).toMatchObject({ totalSize: 3, pageNum: 1, hasNext: false });
    expect(r.body.data.data.map((e: any) => e.projectId)).toEqual(['4', '30', '200']);
    // Exact digits on the wire: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
    expect(r.text).toContain('"amount":0.3,');
    expect(r.text).toContain('"amount":12.000001,');
    expect(r.text).toContain('"amount":250,');
    expect(r.body.data.data[0].description).toBe('12.000001 Minute × planA');
  });

  it('pages with limit, totalSize and hasNext; a page past the end is empty', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => i + 1);
    await provision(ctx.t, 'c1', ids);
    await send(ids.map((p) => ({ id: `e${p}`, projectId: p, quantity: p, occurredAt: from + p })));
    const pages = [];
    for (let pageNum = 1; pageNum <= 4; pageNum++) {
      const r = await usage({ fromTs: from, toTs: from + DAY - 1, pageNum, limit: 3 });
      pages.push(r.body.data);
    }
    expect(pages.map((p) => p.data.length)).toEqual([3, 3, 1, 0]);
    expect(pages.map((p) => p.hasNext)).toEqual([true, true, false, false]);
    expect(pages.every((p) => p.totalSize === 7)).toBe(true);
    expect(pages.map((p) => p.pageNum)).toEqual([1, 2, 3, 4]);
    expect(pages.flatMap((p) => p.data.map((e: any) => e.projectId))).toEqual(ids.map(String));
  });

  it('defaults limit to 100', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => i + 1);
    await provision(ctx.t, 'c1', ids);
    await send(ids.map((p) => ({ id: `e${p}`, projectId: p, quantity: '1', occurredAt: from + 5 })));
    const r = await usage({ fromTs: from, toTs: from + DAY - 1, pageNum: 1 });
    expect(r.body.data.data).toHaveLength(100);
    expect(r.body.data.hasNext).toBe(true);
  });

  it('a window is inclusive to the second at both ends', async () => {
    await provision(ctx.t, 'c1', [1]);
    await send([
      { id: 'before', projectId: 1, quantity: 1, occurredAt: from + 99 },
      { id: 'start', projectId: 1, quantity: 2, occurredAt: from + 100 },
      { id: 'end', projectId: 1, quantity: 4, occurredAt: new Date((from + 200) * 1000 + 999).toISOString() },
      { id: 'after', projectId: 1, quantity: 8, occurredAt: from + 201 },
    ]);
    const r = await usage({ fromTs: from + 100, toTs: from + 200, pageNum: 1 });
    expect(r.body.data.data).toEqual([{ projectId: '1', amount: 6, description: '6 Minute × basic' }]);
  });

  it.each([
    [{ toTs: from + 10, pageNum: 1 }, 'missing_parameter'],
    [{ fromTs: from, pageNum: 1 }, 'missing_parameter'],
    [{ fromTs: from, toTs: from + 10 }, 'missing_parameter'],
    [{ fromTs: 'abc', toTs: from + 10, pageNum: 1 }, 'invalid_parameter'],
    [{ fromTs: from * 1000, toTs: from * 1000 + 10, pageNum: 1 }, 'invalid_parameter'],
    [{ fromTs: from + 10, toTs: from, pageNum: 1 }, 'invalid_window'],
    [{ fromTs: from, toTs: from + DAY, pageNum: 1 }, 'invalid_window'],
    [{ fromTs: from, toTs: from + 10, pageNum: 0 }, 'invalid_parameter'],
    [{ fromTs: from, toTs: from + 10, pageNum: -1 }, 'invalid_parameter'],
    [{ fromTs: from, toTs: from + 10, pageNum: 1.5 }, 'invalid_parameter'],
    [{ fromTs: from, toTs: from + 10, pageNum: '99999999999999999999' }, 'invalid_parameter'],
    [{ fromTs: from, toTs: from + 10, pageNum: 1, limit: 0 }, 'invalid_parameter'],
    [{ fromTs: from, toTs: from + 10, pageNum: 1, limit: 1001 }, 'invalid_parameter'],
    [{ fromTs: from, toTs: from + 10, pageNum: 1, limit: '9'.repeat(40) }, 'invalid_parameter'],
    [{ fromTs: 4102444800, toTs: 4102444810, pageNum: 1 }, 'invalid_window'],
  ])('rejects %j with %s in the numeric envelope', async (params, code) => {
    const r = await usage(params as Record<string, string | number>);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(code);
    expect(typeof r.body.status).toBe('number');
    expect(r.body.status).not.toBe(0);
    expect(r.body.statusReason.length).toBeGreaterThan(5);
  });

  it('refuses a window that has not ended yet, allowing a few minutes of clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const dayOfNow = now - (now % DAY);
    // Tomorrow's first hour ends at least an hour from now.
    const open = await usage({ fromTs: dayOfNow + DAY, toTs: dayOfNow + DAY + 3599, pageNum: 1 });
    expect(open.status).toBe(400);
    expect(open.body.code).toBe('invalid_window');
    expect(open.body.statusReason).toMatch(/not ended/);
    const skewed = await usage({ fromTs: Math.max(dayOfNow, now - 60), toTs: Math.min(now + 60, dayOfNow + DAY - 1), pageNum: 1 });
    expect(skewed.status).toBe(200);
  });

  it('answers a window with no usage with an empty list', async () => {
    const r = await usage({ fromTs: from, toTs: from + DAY - 1, pageNum: 1 });
    expect(r.body).toEqual({ status: 0, statusReason: 'Success getting usage data', data: { totalSize: 0, pageNum: 1, hasNext: false, data: [] } });
  });

  it('writes the configured unit word', async () => {
    const t2 = buildApp(ctx.tdb.db, { USAGE_UNIT: 'Times' });
    await provision(t2, 'c1', [1], 'p');
    await send([{ id: 'x', projectId: 1, quantity: 3, occurredAt: from }]);
    const r = await t2.agoraGet('/usage', { fromTs: from, toTs: from + DAY - 1, pageNum: 1 });
    expect(((await r.json()) as any).data.data[0].description).toBe('3 Times × p');
  });
});
