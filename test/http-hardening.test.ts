import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { KyselyPlugin } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ADMIN, buildApp, provision } from './helpers/app.ts';
import { licenseWorld, projectCredentials } from './helpers/license.ts';
import { FailureBudget } from '../src/licensing/rate-limit.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

/** The database handle, counting every statement sent through it. */
function countingDb() {
  const counter = { queries: 0 };
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      counter.queries++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { db: ctx.tdb.db.withPlugin(plugin), counter };
}

describe('the request log', () => {
  it('names the stable code of a failed request, and only of a failed one', async () => {
    const t = buildApp(ctx.tdb.db, { LOG_LEVEL: 'info' });
    expect((await t.app.request('/v1/plans')).status).toBe(401);
    expect((await t.app.request('/no/such/route')).status).toBe(404);
    expect((await t.admin('GET', '/v1/plans')).status).toBe(200);
    const lines = t.logs.filter((l) => 'status' in l);
    expect(lines.map((l) => [l.path, l.status, l.code])).toEqual([
      ['/v1/plans', 401, 'unauthorized'],
      ['/no/such/route', 404, 'not_found'],
      ['/v1/plans', 200, undefined],
    ]);
    // The code, never the message (it may quote what the caller sent).
    for (const l of lines) expect(Object.keys(l).sort()).toEqual(expect.arrayContaining(['at', 'method', 'path', 'status', 'ms']));
    expect(JSON.stringify(lines)).not.toMatch(/Bearer|token is not valid/);
  });
});

describe('wrong credentials on the license API', () => {
  it('are counted per source; past the budget the source gets 429 before any database lookup', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const creds = await projectCredentials(ctx.tdb.db, '101');
    const { db, counter } = countingDb();
    const t = buildApp(db, { LICENSE_RATE_LIMIT: '0', AUTH_FAILURES_PER_MINUTE: '5' });
    const wrong = `Basic ${Buffer.from(`${creds.appKey}:not-the-secret`).toString('base64')}`;
    const right = `Basic ${Buffer.from(`${creds.appKey}:${creds.appSecret}`).toString('base64')}`;
    // As the node server sees them: each request's socket names its source.
    const from = (address: string, authorization: string) =>
      t.app.request('/dabiz/license/v2/pads?appid=101', { headers: { authorization } }, { incoming: { socket: { remoteAddress: address } } });

    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await from('203.0.113.7', wrong)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const queriesAfterBudget = counter.queries;

    for (let i = 0; i < 50; i++) {
      const r = await from('203.0.113.7', wrong);
      expect(r.status).toBe(429);
      expect(((await r.json()) as any).error).toBe('rate_limited');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // The right credentials from that source wait too; nothing reached the database.
    expect((await from('203.0.113.7', right)).status).toBe(429);
    expect(counter.queries).toBe(queriesAfterBudget);

    // Another source is not affected.
    expect((await from('198.51.100.2', right)).status).toBe(200);
    expect((await from('198.51.100.2', wrong)).status).toBe(401);
  });

  it('wrong admin tokens count too', async () => {
    const t = buildApp(ctx.tdb.db, { AUTH_FAILURES_PER_MINUTE: '2' });
    const call = () => t.app.request('/dabiz/license/v2/pads?appid=101', { headers: { authorization: 'Bearer not-the-admin-token-000' } });
    expect([(await call()).status, (await call()).status, (await call()).status]).toEqual([401, 401, 429]);
  });
});

describe('a body that is too large, through a real server', () => {
  it('answers 413 with Connection: close, so the client does not reuse a socket the server closes', async () => {
    await provision(ctx.t, 'c1', [1]);
    const server = serve({ fetch: ctx.t.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const { port } = server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const post = (path: string, body: string, authorization?: string) =>
        new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(authorization ? { authorization } : {}) } }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body: text }));
          });
          req.on('error', reject);
          req.end(body);
        });
      const big = JSON.stringify({ customerId: 'c9', planId: 'p', customerName: 'x'.repeat(200_000) });
      const provisioning = await post('/customers/new', big);
      expect(provisioning.status).toBe(413);
      expect(JSON.parse(provisioning.body).code).toBe('payload_too_large');
      expect(provisioning.connection).toBe('close');

      const ingest = await post('/v1/usage-events', 'x'.repeat(5 * 1024 * 1024), `Bearer ${ADMIN}`);
      expect(ingest.status).toBe(413);
      expect(ingest.connection).toBe('close');

      // A request of normal size on the same agent still works (on a new socket).
      const ok = await new Promise<number>((resolve, reject) =>
        http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        }).on('error', reject),
      );
      expect(ok).toBe(200);
    } finally {
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the body limit decided from the headers, through a real server', () => {
  it('counts a chunked body (no Content-Length) as it streams, and lets a declared small body and a bodiless request through', async () => {
    await provision(ctx.t, 'c1', [1]);
    const server = serve({ fetch: ctx.t.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const { port } = server.address() as AddressInfo;
    const send = (path: string, method: string, chunks: string[], headers: Record<string, string | number>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path, method, headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}`, ...headers } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        for (const c of chunks) req.write(c);
        req.end();
      });
    try {
      // Written in pieces with no length: Node sends it chunked (Transfer-Encoding), 5 MiB in all.
      const piece = 'x'.repeat(1024 * 1024);
      const chunked = await send('/v1/usage-events', 'POST', [piece, piece, piece, piece, piece], {});
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body).error.code).toBe('payload_too_large');
      // A small chunked body is read whole and answered by the route (here: not a valid batch).
      const smallChunked = await send('/v1/usage-events', 'POST', ['{"events":', '[]}'], {});
      expect(smallChunked.status).toBe(400);
      const declared = JSON.stringify({ events: [{ id: 'e-1', projectId: '1', quantity: '2.5', occurredAt: '2026-11-02T10:00:00Z' }] });
      const accepted = await send('/v1/usage-events', 'POST', [declared], { 'content-length': Buffer.byteLength(declared) });
      expect([accepted.status, JSON.parse(accepted.body).accepted]).toEqual([200, 1]);
      const bodiless = await send('/v1/customers', 'GET', [], {});
      expect(bodiless.status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the failure budget', () => {
  it('refuses a source for a minute after its failures, and forgets idle sources first when full', () => {
    let now = 0;
    const budget = new FailureBudget(3, () => now, 2);
    for (let i = 0; i < 3; i++) {
      expect(budget.blockedFor('a')).toBe(0);
      budget.fail('a');
      now += 1000;
    }
    expect(budget.blockedFor('a')).toBe(57_000); // until the first failure is a minute old
    now = 60_000;
    expect(budget.blockedFor('a')).toBe(0);
    // Bounded: a third source pushes out one with no recent failure, never grows past maxKeys.
    budget.fail('b');
    now = 130_000;
    budget.fail('c');
    budget.fail('d');
    expect(budget.blockedFor('b')).toBe(0);
  });
});
