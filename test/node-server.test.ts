import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { errnoCode } from '../src/errors.ts';
import { closeIdleConnections, keepConnectionsForLoadBalancers } from '../src/http/node-server.ts';

/** The Node HTTP server's settings the real server applies (src/server.ts), on a real listening server. */
describe('the Node HTTP server', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function listening() {
    const app = new Hono().get('/', (c) => c.text('ok'));
    const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve({ server: s, port: info.port }));
    });
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return { server, port };
  }

  it('keeps idle keep-alive connections past a load balancer’s 60 s, where Node’s default is 5 s', async () => {
    const { server } = await listening();
    expect(server).toBeInstanceOf(http.Server);
    if (!(server instanceof http.Server)) return;
    expect(server.keepAliveTimeout).toBe(5_000);
    keepConnectionsForLoadBalancers(server);
    expect(server.keepAliveTimeout).toBe(65_000);
    expect(server.headersTimeout).toBeGreaterThan(server.keepAliveTimeout);
  });

  it('closes an idle keep-alive connection at once when told to (a stopping server)', async () => {
    const { server, port } = await listening();
    keepConnectionsForLoadBalancers(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    closers.push(async () => agent.destroy());
    let closed = false;
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('socket', (socket) => socket.once('close', () => (closed = true)));
      req.on('error', reject);
    });
    const socketClosed = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (closed) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
    // The response is over, the connection idle in the agent: closing idle connections ends it.
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false);
    closeIdleConnections(server);
    await socketClosed;
    expect(closed).toBe(true);
  });
});

describe('errnoCode', () => {
  it('answers the code of a Node system error and undefined for anything else thrown', () => {
    const dir = mkdtempSync(join(tmpdir(), 'errno-'));
    try {
      const file = join(dir, 'f');
      writeFileSync(file, 'a', { flag: 'wx' });
      let thrown: unknown;
      try {
        writeFileSync(file, 'b', { flag: 'wx' });
      } catch (err) {
        thrown = err;
      }
      expect(errnoCode(thrown)).toBe('EEXIST');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(errnoCode(new Error('plain'))).toBeUndefined();
    expect(errnoCode({ code: 'EEXIST' })).toBeUndefined();
    expect(errnoCode('EEXIST')).toBeUndefined();
    expect(errnoCode(Object.assign(new Error('odd'), { code: 42 }))).toBeUndefined();
  });
});
