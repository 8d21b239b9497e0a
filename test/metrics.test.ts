import { describe, expect, it } from 'vitest';
import { LOCK, lockExclusive } from '../src/db/locks.ts';
import { settleBuilds } from '../src/statements/store.ts';
import { buildApp, DAY, dayStart, KEY, provision } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { buy, catalogue, licenseClient, projectCredentials, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';
import { extClient, skuAndPid } from './helpers/ext.ts';
import { startReceiver, waitFor } from './helpers/receiver.ts';
import { DeliveryWorker } from '../src/notifications/worker.ts';
import { AppMetrics } from '../src/ops/metrics.ts';

const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

/** The value of one series in Prometheus text (undefined: not there). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(t = ctx.t, headers: Record<string, string> = {}) {
  const r = await t.app.request('/metrics', { headers });
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
}

describe('GET /metrics', () => {
  it('counts known traffic: requests by route, polls, fixes, signature failures, events and activations', async () => {
    await provision(ctx.t, 'c1', [1]);
    const d = dayStart('2025-06-18');
    const send = (events: unknown[]) => ctx.t.admin('POST', '/v1/usage-events', { events });
    await send([
      { id: 'm-1', projectId: 1, quantity: '2', occurredAt: d + 10 },
      { id: 'm-2', projectId: 1, quantity: '3', occurredAt: d + 20 },
    ]);
    await send([
      { id: 'm-1', projectId: 1, quantity: '2', occurredAt: d + 10 },
      { id: 'm-3', projectId: 999, quantity: '1', occurredAt: d + 30 },
    ]);
    const window = { fromTs: d, toTs: d + DAY - 1 };
    expect((await ctx.t.agoraGet('/usage', { ...window, pageNum: 1 })).status).toBe(200);
    expect((await ctx.t.agoraGet('/usage', { ...window, pageNum: 1 })).status).toBe(200);
    expect((await ctx.t.agoraGet('/bill', { fromTs: dayStart('2025-06-01'), toTs: dayStart('2025-07-01') - 1, pageNum: 1 })).status).toBe(200);
    expect((await ctx.t.app.request(`/usage?fromTs=${d}&toTs=${d + DAY - 1}&pageNum=1&apiKey=${KEY.apiKey}&signature=00`)).status).toBe(401);
    expect((await ctx.t.app.request(`/usage?fromTs=${d}&toTs=${d + DAY - 1}&pageNum=1&apiKey=nobody&signature=00`)).status).toBe(401);
    await catalogue(ctx.t);
    await buy(ctx.t, 'c1', TRIAL_PID, 1);
    const p1 = licenseClient(ctx.t, { basic: await projectCredentials(ctx.tdb.db, '1') });
    expect((await p1.activate('1', TRIAL_PID, 'device-1')).status).toBe(200);
    expect((await p1.activate('1', TRIAL_PID, 'device-2')).body.error).toBe('quota_exhausted');

    const m = await scrape();
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = m.text;
    expect(value(text, 'http_request_duration_seconds_count{method="GET",route="/usage",status="200"}'), text).toBe(2);
    expect(value(text, 'http_request_duration_seconds_count{method="GET",route="/usage",status="401"}')).toBe(2);
    expect(value(text, 'http_request_duration_seconds_count{method="POST",route="/v1/usage-events",status="200"}')).toBe(2);
    expect(value(text, 'agora_requests_total{kind="usage",status="200"}')).toBe(2);
    expect(value(text, 'agora_requests_total{kind="provisioning",status="200"}')).toBe(2);
    expect(value(text, 'agora_requests_total{kind="bill",status="200"}')).toBe(1);
    expect(value(text, 'statements_fixed_total{kind="usage"}')).toBe(1);
    expect(value(text, 'statements_fixed_total{kind="bill"}')).toBe(1);
    expect(value(text, 'statement_fix_duration_seconds_count{kind="usage"}')).toBe(1);
    expect(value(text, 'agora_signature_failures_total{reason="invalid_signature"}')).toBe(1);
    expect(value(text, 'agora_signature_failures_total{reason="unknown_api_key"}')).toBe(1);
    expect(value(text, 'usage_events_total{outcome="accepted"}')).toBe(2);
    expect(value(text, 'usage_events_total{outcome="duplicate"}')).toBe(1);
    expect(value(text, 'usage_events_total{outcome="rejected"}')).toBe(1);
    expect(value(text, 'license_activations_total{outcome="ok"}')).toBe(1);
    expect(value(text, 'license_activations_total{outcome="quota_exhausted"}')).toBe(1);
    expect(value(text, 'agora_log_dropped_total')).toBe(0);
    // The process's own metrics are there (their value is CPU time since this app's registry was
    // made, which a fast scrape can see as 0).
    expect(value(text, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    if (onPostgres) {
      expect(value(text, 'db_pool_connections_in_use')).toBeGreaterThanOrEqual(0);
      expect(value(text, 'db_pool_requests_waiting')).toBe(0);
    }
    // Another app in the same process counts its own requests only.
    const other = await scrape(buildApp(ctx.tdb.db));
    expect(value(other.text, 'statements_fixed_total{kind="usage"}')).toBeUndefined();
  });

  it.runIf(onPostgres)("counts Agora's requests that overran their deadline", async () => {
    const t = buildApp(ctx.tdb.db, { AGORA_DEADLINE_MS: '200' });
    await provision(t, 'c1', [1]);
    const d = dayStart('2025-06-18');
    // The day is being fixed elsewhere: the poll waits for its lock past the deadline.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = ctx.tdb.db.transaction().execute(async (trx) => {
      await lockExclusive(trx, LOCK.DAY, Math.floor(d / DAY));
      locked();
      await held;
    });
    await isLocked;
    const r = await t.agoraGet('/usage', { fromTs: d, toTs: d + DAY - 1, pageNum: 1 });
    release();
    await holder;
    expect(r.status).toBe(503);
    const text = (await scrape(t)).text;
    expect(value(text, 'agora_deadline_overruns_total{kind="usage"}')).toBe(1);
    // The poll's work goes on after its 503 (it fixes the day): let it end before the tables are emptied.
    const fixed = () => ctx.tdb.db.selectFrom('statements').select('id').where('kind', '=', 'usage').executeTakeFirst();
    for (let i = 0; i < 600 && !(await fixed()); i++) await new Promise((r) => setTimeout(r, 50));
    await settleBuilds(ctx.tdb.db);
    await t.app.agoraLog.flush();
  });

  it('asks for METRICS_TOKEN when it is set', async () => {
    const token = 'metrics-token-0123456789';
    const t = buildApp(ctx.tdb.db, { METRICS_TOKEN: token });
    const none = await scrape(t);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.text).error.code).toBe('unauthorized');
    expect((await scrape(t, { authorization: 'Bearer wrong-token-000000000' })).status).toBe(401);
    expect((await scrape(t, { authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('reports webhook deliveries by outcome, and live extension sessions from the runtime counters', async () => {
    const t = ctx.t;
    // One receiver fails its first attempt then answers 200; the other always fails (one retry, then failed for good).
    const flaky = await startReceiver((n, _req, res) => {
      res.statusCode = n === 1 ? 500 : 200;
      res.end();
    });
    const down = await startReceiver((_n, _req, res) => {
      res.statusCode = 503;
      res.end();
    });
    try {
      for (const url of [flaky.url, down.url]) expect((await t.admin('POST', '/v1/webhook-endpoints', { url, events: ['customer.provisioned'] })).status).toBe(201);
      await t.agoraSend('POST', '/customers/new', { customerId: 'c-hook', planId: 'basic' });
      const w = new DeliveryWorker(ctx.tdb.db, {
        clock: () => new Date(),
        log: () => {},
        retryScheduleMs: [50],
        timeoutMs: 5000,
        concurrency: 4,
        pollMs: 20,
        allowPrivate: true,
        onAttempt: (o) => t.app.metrics.webhookDelivery(o),
      });
      w.start();
      try {
        const count = async (outcome: string) => value((await scrape()).text, `webhook_deliveries_total{outcome="${outcome}"}`) ?? 0;
        await waitFor(async () => (await count('delivered')) === 1 && (await count('failed')) === 1, 60_000, 'both deliveries settled');
      } finally {
        await w.stop();
      }
      const text = (await scrape()).text;
      expect(value(text, 'webhook_deliveries_total{outcome="delivered"}')).toBe(1);
      expect(value(text, 'webhook_deliveries_total{outcome="retry"}')).toBe(2);
      expect(value(text, 'webhook_deliveries_total{outcome="failed"}')).toBe(1);
      // The API agrees: one delivered, one failed.
      const list = (await (await t.admin('GET', '/v1/webhook-deliveries')).json()) as { data: { status: string }[] };
      expect(list.data.map((d) => d.status).sort()).toEqual(['delivered', 'failed']);
    } finally {
      await flaky.close();
      await down.close();
    }

    t.setNow(new Date('2027-03-10T12:00:00Z'));
    await provision(t, 'c1', [101, 102]);
    const pid = await skuAndPid(t, 'av', { mediaType: 3 });
    await buy(t, 'c1', pid, 3);
    const api = licenseClient(t, { basic: await projectCredentials(ctx.tdb.db, '101') });
    const licenses: string[] = [];
    for (const device of ['dev-1', 'dev-2', 'dev-3']) licenses.push((await api.activate('101', pid, device)).body.data.license);
    const ext = await extClient(() => ctx.t, ctx.tdb.db, '101');
    const ids: string[] = [];
    for (const [i, license] of licenses.entries()) {
      const j = await ext.join({ license, licenseKey: `dev-${i + 1}`, media: 'audio+video', platform: 'android' });
      expect(j.status, JSON.stringify(j.body)).toBe(201);
      ids.push(j.body.sessionId);
    }
    expect(value((await scrape()).text, 'ext_sessions_live')).toBe(3);
    expect((await ext.leave(ids[0]!)).status).toBeLessThan(300);
    expect(value((await scrape()).text, 'ext_sessions_live')).toBe(2);
  });

  it('answers the scrape when the live-session count fails or hangs, keeping its last value', async () => {
    let answer: () => Promise<number> = async () => 4;
    const m = new AppMetrics({ liveSessions: () => answer() });
    expect(value((await m.scrape()).text, 'ext_sessions_live')).toBe(4);
    answer = () => Promise.reject(new Error('database down'));
    m.webhookDelivery('failed');
    const failed = (await m.scrape()).text;
    expect(value(failed, 'ext_sessions_live')).toBe(4);
    expect(value(failed, 'webhook_deliveries_total{outcome="failed"}')).toBe(1);
    answer = () => new Promise<number>(() => {});
    expect(value((await m.scrape()).text, 'ext_sessions_live')).toBe(4);
  });
});
