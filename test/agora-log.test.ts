import { describe, expect, it } from 'vitest';
import { AgoraRequestLog, type AgoraRequestEntry } from '../src/agora-log/agora-log.ts';
import { buildApp, DAY, dayStart, KEY, provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();

async function list(query = '') {
  const r = await ctx.t.admin('GET', `/v1/agora-requests${query}`);
  const body = (await r.json()) as any;
  expect(r.status, JSON.stringify(body)).toBe(200);
  return body;
}

const entry = (at: Date, path = '/usage'): AgoraRequestEntry => ({
  at,
  kind: 'usage',
  method: 'GET',
  path,
  fromTs: '1',
  toTs: '2',
  pageNum: '1',
  limit: null,
  customerId: null,
  apiKeyId: KEY.apiKey,
  status: 200,
  durationMs: 1.25,
  errorCode: null,
});

describe("the log of Agora's requests", () => {
  it('records every kind of Agora request with its window, page, apiKey, answer and duration', async () => {
    ctx.t.setNow('2026-03-02T10:00:00Z');
    await provision(ctx.t, 'c1', [1]);
    const d = dayStart('2026-03-01');
    expect((await ctx.t.agoraGet('/usage', { fromTs: d, toTs: d + DAY - 1, pageNum: 1, limit: 50 })).status).toBe(200);
    expect((await ctx.t.agoraGet('/bill', { fromTs: dayStart('2026-02-01'), toTs: d - 1, pageNum: 2 })).status).toBe(200);
    // No license bought: answered 404, logged as a license query all the same.
    expect((await ctx.t.agoraGet('/customers/c1/license', {})).status).toBe(404);
    // A forged signature: logged with its code, no verified apiKey.
    const forged = await ctx.t.app.request(`/usage?fromTs=${d}&toTs=${d + DAY - 1}&pageNum=1&apiKey=${KEY.apiKey}&signature=00`);
    expect(forged.status).toBe(401);

    const all = await list();
    expect(all.data.map((r: any) => [r.kind, r.method, r.path, r.status])).toEqual([
      ['usage', 'GET', '/usage', 401],
      ['license', 'GET', '/customers/c1/license', 404],
      ['bill', 'GET', '/bill', 200],
      ['usage', 'GET', '/usage', 200],
      ['provisioning', 'POST', '/customers/c1/projects/new', 200],
      ['provisioning', 'POST', '/customers/new', 200],
    ]);
    const [bad, license, bill, usage, project, customer] = all.data;
    expect(usage).toMatchObject({ at: '2026-03-02T10:00:00.000Z', query: { fromTs: d, toTs: d + DAY - 1, pageNum: 1, limit: 50, customerId: null }, apiKeyId: KEY.apiKey, errorCode: null });
    expect(typeof usage.durationMs).toBe('number');
    expect(bill.query).toMatchObject({ pageNum: 2, limit: null });
    expect(license.query.customerId).toBe('c1');
    expect(project.query.customerId).toBe('c1');
    expect(customer.query.customerId).toBe('c1');
    expect(bad).toMatchObject({ apiKeyId: null, errorCode: 'invalid_signature' });

    expect((await list('?kind=provisioning')).data).toHaveLength(2);
    expect((await list('?path=/usage')).data).toHaveLength(2);
    expect((await list('?status=401')).data.map((r: any) => r.id)).toEqual([bad.id]);
    const page1 = await list('?limit=4');
    expect(page1.next).toBe(page1.data[3].id);
    const page2 = await list(`?limit=4&after=${page1.next}`);
    expect(page2.data.map((r: any) => r.id)).toEqual([project.id, customer.id]);
    expect(page2.next).toBeNull();
    expect((await list('?from=2026-03-03T00:00:00Z')).data).toEqual([]);

    const summary = await (await ctx.t.admin('GET', '/v1/agora-requests/summary')).json();
    expect(summary.usage.last.id).toBe(bad.id);
    expect(summary.usage.lastSucceeded.id).toBe(usage.id);
    expect(summary.bill.last.id).toBe(bill.id);
    expect(summary.license.last.id).toBe(license.id);
    expect(summary.license.lastSucceeded).toBeNull();
    expect(summary.provisioning.last.id).toBe(project.id);
  });

  it('drops and counts what does not fit its buffer, never holding the request', async () => {
    const log = new AgoraRequestLog(ctx.tdb.db, { capacity: 2, retentionDays: 90, flushMs: 60_000, clock: () => new Date(), log: () => {} });
    for (let i = 0; i < 5; i++) log.record(entry(new Date()));
    expect(log.buffered).toBe(2);
    expect(log.dropped).toBe(3);
    await log.flush();
    const rows = await ctx.tdb.db.selectFrom('agora_requests').selectAll().execute();
    expect(rows).toHaveLength(2);

    // Through the app: a buffer of one, many requests, every answer as usual; what was not written
    // is counted in the metrics. (How many fit depends on when the timer writes: the sum does not.)
    await ctx.tdb.db.deleteFrom('agora_requests').execute();
    const t = buildApp(ctx.tdb.db, { AGORA_LOG_BUFFER: '1' });
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map(() => t.agoraGet('/customers/nobody/license', {})));
    expect(answers.map((a) => a.status)).toEqual([404, 404, 404, 404, 404, 404]);
    await t.app.agoraLog.flush();
    const written = (await ctx.tdb.db.selectFrom('agora_requests').select('id').execute()).length;
    expect(written + t.app.agoraLog.dropped).toBe(6);
    expect(written).toBeGreaterThan(0);
    const metrics = await (await t.app.request('/metrics')).text();
    expect(metrics).toMatch(new RegExp(`^agora_log_dropped_total ${t.app.agoraLog.dropped}$`, 'm'));
  });

  it('keeps entries AGORA_LOG_RETENTION_DAYS days, pruned as it writes', async () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const log = new AgoraRequestLog(ctx.tdb.db, { capacity: 100, retentionDays: 30, flushMs: 60_000, clock: () => now, log: () => {} });
    log.record(entry(new Date('2026-04-01T00:00:00Z'), '/old'));
    log.record(entry(new Date('2026-05-20T00:00:00Z'), '/recent'));
    await log.flush();
    const rows = await ctx.tdb.db.selectFrom('agora_requests').select('path').execute();
    expect(rows.map((r) => r.path)).toEqual(['/recent']);
  });

  it('stores any path Agora sends, even text PostgreSQL cannot hold', async () => {
    const log = new AgoraRequestLog(ctx.tdb.db, { capacity: 100, retentionDays: 30, flushMs: 60_000, clock: () => new Date(), log: () => {} });
    log.record({ ...entry(new Date(), '/customers/a\u0000b\ud800/license'), customerId: 'x\u0000' });
    log.record(entry(new Date(), '/fine'));
    await log.flush();
    expect(log.dropped).toBe(0);
    const rows = await ctx.tdb.db.selectFrom('agora_requests').select('path').orderBy('id').execute();
    expect(rows.map((r) => r.path)).toEqual(['/customers/a\ufffdb\ufffd/license', '/fine']);
  });
});
