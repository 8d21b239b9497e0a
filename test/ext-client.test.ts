import { describe, expect, it } from 'vitest';
import { ExtensionClient, type Stop } from '../examples/ext-client.ts';
import { provision } from './helpers/app.ts';
import { projectCredentials } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

/** The example client of docs/extension-api.md against the real app: the `end` answer, retries, fail-open and fail-closed. */
const ctx = setupTestApp({ env: { EXT_HEARTBEAT_SECONDS: '1' } });

async function setUp(grantSeconds: number) {
  await provision(ctx.t, 'c1', [101]);
  const s0 = Math.floor(Date.now() / 1000);
  const g = await ctx.t.agoraSend('PUT', '/license/customers/c1/activate', { platform: 'web', expire: `${s0 - 60}-${s0 + grantSeconds}` });
  expect(g.status).toBe(200);
  return projectCredentials(ctx.tdb.db, '101');
}

/** fetch into the app in process; `down` makes it fail like a network error. */
function appFetch(state: { down: boolean; calls: number }): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    state.calls++;
    if (state.down) throw new TypeError('fetch failed');
    return ctx.t.app.request(String(input).replace('http://server', ''), init);
  }) as typeof fetch;
}

describe('examples/ext-client.ts', () => {
  it('joins, heartbeats, and stops on the end answer when the grant runs out', async () => {
    const creds = await setUp(3);
    const state = { down: false, calls: 0 };
    const client = new ExtensionClient({ baseUrl: 'http://server', ...creds, fetch: appFetch(state) });
    const stopped = new Promise<Stop>((resolve) => {
      void client.join({ licenseKey: 'tab-1', media: 'video', platform: 'web' }, resolve).then((r) => expect(r.ok).toBe(true));
    });
    const stop = await stopped;
    expect(stop).toMatchObject({ reason: 2, error: 'EXPIRE' });
  }, 30_000);

  it('answers a refusal without retrying it', async () => {
    const creds = await setUp(600);
    const state = { down: false, calls: 0 };
    const client = new ExtensionClient({ baseUrl: 'http://server', ...creds, fetch: appFetch(state) });
    const r = await client.join({ licenseKey: 'tab-1', media: 'video', platform: 'ios' }, () => {});
    expect(r).toMatchObject({ ok: false, stop: { reason: 8, error: 'PLATFORM_NOT_LICENSED' } });
    expect(state.calls).toBe(1);
  });

  it('unreachable: fail-closed refuses the join after its retries; fail-open runs for the grace only', async () => {
    const creds = await setUp(600);
    const state = { down: true, calls: 0 };
    const closed = new ExtensionClient({ baseUrl: 'http://server', ...creds, fetch: appFetch(state), whenUnreachable: 'fail-closed', attempts: 2 });
    expect(await closed.join({ licenseKey: 'tab-1', media: 'video', platform: 'web' }, () => {})).toMatchObject({ ok: false, stop: { error: 'UNREACHABLE' } });
    expect(state.calls).toBe(2);
    const open = new ExtensionClient({ baseUrl: 'http://server', ...creds, fetch: appFetch(state), graceSeconds: 1, attempts: 1 });
    const started = Date.now();
    const stop = await new Promise<Stop>((resolve) => void open.join({ licenseKey: 'tab-1', media: 'video', platform: 'web' }, resolve));
    expect(stop.error).toBe('UNREACHABLE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  }, 30_000);
});
