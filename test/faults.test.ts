import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { onPostgres, openTestDatabase, type TestDatabase } from './helpers/db.ts';
import { buildApp, dayStart, DAY, provision, type TestApp } from './helpers/app.ts';
import { openThroughProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

/** The database goes away and comes back; the server answers 503 fast and then recovers. */
describe.runIf(onPostgres)('with the database down', () => {
  let tdb: TestDatabase;
  let proxy: TcpProxy;
  let viaProxy: Database;
  let t: TestApp;

  beforeAll(async () => {
    tdb = await openTestDatabase(); // migrated schema, reached directly
    ({ proxy, viaProxy } = await openThroughProxy(tdb));
    t = buildApp(viaProxy.db, { AGORA_DEADLINE_MS: '450' });
    await provision(t, 'c1', [1]);
  });
  afterAll(async () => {
    await viaProxy?.close().catch(() => undefined);
    await proxy?.stop();
    await tdb?.close();
  });

  const D = dayStart('2025-06-10');

  it('answers 503 in each envelope within 500 ms, stays up, and resumes when it returns', async () => {
    const before = await t.agoraGet('/usage', { fromTs: D, toTs: D + DAY - 1, pageNum: 1 });
    expect(before.status).toBe(200);

    await proxy.stop();
    const started = performance.now();
    const usage = await t.agoraGet('/usage', { fromTs: D + DAY, toTs: D + 2 * DAY - 1, pageNum: 1 });
    const elapsed = performance.now() - started;
    expect(usage.status).toBe(503);
    expect(elapsed).toBeLessThan(500);
    const body = (await usage.json()) as any;
    expect(body.code).toBe('database_unavailable');
    expect(typeof body.status).toBe('number');
    expect(body.status).not.toBe(0);

    const prov = await t.agoraSend('POST', '/customers/new', { customerId: 'c2', planId: 'p' });
    expect(prov.status).toBe(503);
    expect(((await prov.json()) as any).status).toBe('failed');

    const ingest = await t.admin('POST', '/v1/usage-events', { events: [{ id: 'x', projectId: 1, quantity: 1, occurredAt: D }] });
    expect(ingest.status).toBe(503);
    expect(((await ingest.json()) as any).error.code).toBe('database_unavailable');

    expect((await t.app.request('/readyz')).status).toBe(503);
    expect((await t.app.request('/healthz')).status).toBe(200);

    await proxy.start(proxy.port);
    const after = await t.agoraGet('/usage', { fromTs: D + DAY, toTs: D + 2 * DAY - 1, pageNum: 1 });
    expect(after.status).toBe(200);
    expect((await t.app.request('/readyz')).status).toBe(200);
  });
});
