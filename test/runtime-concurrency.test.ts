import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { buildApp, provision, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { extClient, skuAndPid } from './helpers/ext.ts';
import { buy, licenseClient, projectCredentials } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';
import { openThroughProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

/**
 * PCU limits under concurrency, on two instances of one Postgres database: whatever the order the
 * joins commit in, never more live sessions than the limit, and exactly the limit when more try.
 * And the extension API with its database gone (refusing connections) or hanging: 503 within its
 * deadline.
 */
const ENV = { LICENSE_RATE_LIMIT: '0', EXT_DEADLINE_MS: '60000' };
const ctx = setupTestApp({ env: ENV });
let other: Database;
let t2: TestApp;
const s0 = Date.parse('2027-05-05T10:00:00Z') / 1000;

beforeAll(async () => {
  if (!onPostgres) return;
  other = await ctx.tdb.openAnother();
});
afterAll(async () => {
  await other?.close();
});

async function liveSessions(customerId: string) {
  const r = await ctx.tdb.db
    .selectFrom('ext_sessions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('customer_id', '=', customerId)
    .where('ended_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

describe.skipIf(!onPostgres)('PCU limits on two instances (Postgres)', () => {
  it('500 parallel joins against a limit of 50: exactly 50 sessions', async () => {
    t2 = buildApp(other.db, ENV);
    for (const t of [ctx.t, t2]) t.setNow(new Date(s0 * 1000));
    await provision(ctx.t, 'c1', [101, 102]);
    expect((await ctx.t.agoraSend('PUT', '/license/customers/c1/activate', { platform: 'android', expire: `${s0 - 60}-${s0 + 86_400}` })).status).toBe(200);
    expect((await ctx.t.admin('PUT', '/v1/customers/c1/limits', { pcu: 50 })).status).toBe(200);
    const clients = [
      await extClient(() => ctx.t, ctx.tdb.db, '101'),
      await extClient(() => t2, ctx.tdb.db, '102'),
      await extClient(() => t2, ctx.tdb.db, '101'),
      await extClient(() => ctx.t, ctx.tdb.db, '102'),
    ];
    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) => clients[i % 4]!.join({ licenseKey: `dev-${i}`, media: 'audio', platform: 'android' })),
    );
    const statuses = answers.map((a) => `${a.status}${a.status === 403 ? `:${a.body.reason}` : ''}`);
    expect(statuses.filter((s) => s === '201')).toHaveLength(50);
    expect(statuses.filter((s) => s === '403:6')).toHaveLength(450);
    expect(await liveSessions('c1')).toBe(50);
    const limits = await ctx.t.admin('GET', '/v1/customers/c1/limits');
    expect(await limits.json()).toEqual({ customerId: 'c1', pcu: 50, live: 50 });

    // Leaves on one instance and joins on the other, at once: still never more than 50.
    // Each left through the other instance's client of its project (0 and 2 are 101, 1 and 3 are 102).
    const ids = answers.flatMap((a, i) => (a.status === 201 ? [{ id: a.body.sessionId as string, via: clients[(i % 4 + 2) % 4]! }] : []));
    const mixed = await Promise.all([
      ...ids.slice(0, 20).map((s) => s.via.leave(s.id)),
      ...Array.from({ length: 100 }, (_, i) => clients[1 + (i % 2)]!.join({ licenseKey: `late-${i}`, media: 'audio', platform: 'android' })),
    ]);
    const joined = mixed.slice(20).filter((a) => a.status === 201).length;
    expect(mixed.slice(0, 20).every((a) => a.status === 200)).toBe(true);
    expect(joined).toBeLessThanOrEqual(20);
    expect(await liveSessions('c1')).toBe(30 + joined);
    expect(await liveSessions('c1')).toBeLessThanOrEqual(50);
    const after = (await (await ctx.t.admin('GET', '/v1/customers/c1/limits')).json()) as { live: number };
    expect(after.live).toBe(30 + joined);
  }, 180_000);
});

describe.skipIf(!onPostgres)('a project PCU limit on two instances (Postgres)', () => {
  it('500 parallel license joins against a project limit of 50: exactly 50 sessions', async () => {
    const t1 = ctx.t;
    const t2 = buildApp(other.db, ENV);
    for (const t of [t1, t2]) t.setNow(new Date(s0 * 1000));
    await provision(t1, 'c3', [301, 302]);
    const pid = await skuAndPid(t1, 'race', { mediaType: 3, minutes: 100_000 });
    await buy(t1, 'c3', pid, 1);
    const activated = await licenseClient(t1, { basic: await projectCredentials(ctx.tdb.db, '301') }).activate('301', pid, 'dev-1');
    expect(activated.status).toBe(200);
    const license = activated.body.data.license as string;
    expect((await t1.admin('PUT', '/v1/projects/301/limits', { pcu: 50 })).status).toBe(200);
    // A license join takes the one-round-trip path (ext_join), the seats included.
    for (const t of [t1, t2]) t.setNow(new Date((s0 + 60) * 1000));
    const clients = [await extClient(() => t1, ctx.tdb.db, '301'), await extClient(() => t2, ctx.tdb.db, '301')];
    const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => clients[i % 2]!.join({ license, licenseKey: 'dev-1', media: 'audio', platform: 'ios' })));
    const statuses = answers.map((a) => `${a.status}${a.status === 403 ? `:${a.body.reason}` : ''}`);
    expect(statuses.filter((s) => s === '201')).toHaveLength(50);
    expect(statuses.filter((s) => s === '403:6')).toHaveLength(450);
    expect(await liveSessions('c3')).toBe(50);
    expect(await (await t1.admin('GET', '/v1/projects/301/limits')).json()).toMatchObject({ pcu: 50, live: 50 });
    // The customer's other project is not held by 301's limit (it joins under an Agora grant).
    expect((await t1.agoraSend('PUT', '/license/customers/c3/activate', { platform: 'ios', expire: `${s0 - 60}-${s0 + 86_400}` })).status).toBe(200);
    expect((await (await extClient(() => t2, ctx.tdb.db, '302')).join({ licenseKey: 'x', media: 'audio', platform: 'ios' })).status).toBe(201);
    expect(await liveSessions('c3')).toBe(51);
  }, 180_000);
});

describe.runIf(onPostgres)('the extension API with its database unreachable', () => {
  let proxy: TcpProxy;
  let viaProxy: Database;
  let t: TestApp;
  beforeAll(async () => {
    ({ proxy, viaProxy } = await openThroughProxy(ctx.tdb));
  });
  afterAll(async () => {
    proxy?.thaw();
    await viaProxy?.close().catch(() => undefined);
    await proxy?.stop();
  });

  /** An app on the proxied database (a 1 s deadline) and a session joined under an Agora grant. */
  async function joinThroughProxy() {
    t = buildApp(viaProxy.db, { LICENSE_RATE_LIMIT: '0', EXT_DEADLINE_MS: '1000', LOG_LEVEL: 'info' });
    t.setNow(new Date(s0 * 1000));
    await provision(t, 'c1', [101]);
    expect((await t.agoraSend('PUT', '/license/customers/c1/activate', { platform: 'web', expire: `${s0 - 60}-${s0 + 86_400}` })).status).toBe(200);
    const ext = await extClient(() => t, ctx.tdb.db, '101');
    const joined = await ext.join({ licenseKey: 'dev', media: 'video', platform: 'web' });
    expect(joined.status).toBe(201);
    return { ext, joined };
  }

  it('answers 503 within its deadline, frozen or down, and works again once it is back', async () => {
    const { ext, joined } = await joinThroughProxy();

    proxy.freeze();
    const thawLater = setTimeout(() => proxy.thaw(), 15_000);
    try {
      const started = performance.now();
      const [j, h] = await Promise.all([ext.join({ licenseKey: 'dev2', media: 'video', platform: 'web' }), ext.heartbeat(joined.body.sessionId)]);
      const elapsed = performance.now() - started;
      for (const r of [j, h]) {
        expect(r.status).toBe(503);
        expect(r.body).toMatchObject({ code: 503, reason: null, error: 'deadline_exceeded' });
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      expect(elapsed).toBeLessThan(5000); // a 1 s deadline, generous for a busy machine
    } finally {
      clearTimeout(thawLater);
      proxy.thaw();
    }
    // Back: the heartbeat counts again.
    let again = await ext.heartbeat(joined.body.sessionId);
    for (let i = 0; again.status !== 200 && i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      again = await ext.heartbeat(joined.body.sessionId);
    }
    expect(again.status).toBe(200);
  }, 60_000);

  it('answers 503 within its deadline when the database refuses connections, and works again once it listens', async () => {
    const { ext, joined } = await joinThroughProxy();

    // Nothing listens on the proxy's port any more and its open connections are closed: every
    // connection the pool opens is refused (ECONNREFUSED), as with a database that is down.
    await proxy.stop();
    try {
      for (let round = 0; round < 2; round++) {
        const started = performance.now();
        const [j, h, l] = await Promise.all([ext.join({ licenseKey: 'dev2', media: 'video', platform: 'web' }), ext.heartbeat(joined.body.sessionId), ext.leave(joined.body.sessionId)]);
        const elapsed = performance.now() - started;
        for (const r of [j, h, l]) {
          expect(r.status).toBe(503);
          expect(r.body).toMatchObject({ code: 503, reason: null });
          expect(['database_unavailable', 'deadline_exceeded']).toContain(r.body.error);
          expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        }
        expect(elapsed).toBeLessThan(5000); // a 1 s deadline, generous for a busy machine
      }
    } finally {
      await proxy.start(proxy.port);
    }
    let again = await ext.heartbeat(joined.body.sessionId);
    for (let i = 0; again.status !== 200 && i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      again = await ext.heartbeat(joined.body.sessionId);
    }
    expect(again.status).toBe(200);
    expect(await liveSessions('c1')).toBe(1);
  }, 60_000);
});
