import { createApp, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import type { Db } from '../../src/db/database.ts';
import { sign, signedBody, signedGetUrl } from '../../src/agora/signature.ts';
import type { LogLine } from '../../src/http/context.ts';

export const KEY = { apiKey: 'pzD5XinRSlmA64tZx81fL92YcBsJK0gd', apiSecret: 'U1SXE6k57vxVRjTomgquwC2F3tH8ziOB' };
export const KEY2 = { apiKey: 'Zq81LmNopQrStUvWxYz0123456789AbC', apiSecret: 'second-secret-for-rotation-000001' };
export const ADMIN = 'test-admin-token-0123456789abcdef';

export interface TestApp {
  app: App;
  config: Config;
  logs: LogLine[];
  /** A signed GET as Agora sends it. */
  agoraGet(path: string, params: Record<string, string | number>, key?: typeof KEY): Promise<Response>;
  /** A signed POST or PUT as Agora sends it. */
  agoraSend(method: 'POST' | 'PUT', path: string, body: Record<string, unknown>, key?: typeof KEY): Promise<Response>;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** Fixes the app's clock (`AppDeps.clock`) at an instant; undefined: real time again. */
  setNow(at: Date | string | undefined): void;
}

/**
 * Every app built here that may still hold buffered writes. Tests build a new app for each test;
 * the one before keeps its buffered log of Agora's requests (written by a timer a second later),
 * which must not land in the next test's emptied tables or among the statements a test counts.
 */
const unflushed = new Set<App>();

/** Writes what every app built so far still holds (see `unflushed`); clearTables calls it first. */
export async function flushBuiltApps(): Promise<void> {
  const apps = [...unflushed];
  unflushed.clear();
  await Promise.all(apps.map((a) => a.agoraLog.flush()));
}

export function buildApp(db: Db, env: Record<string, string> = {}): TestApp {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', AGORA_DEADLINE_MS: '5000', REQUEST_DEADLINE_MS: '30000', ...env });
  const logs: LogLine[] = [];
  let now: Date | undefined;
  const clock = () => (now ? new Date(now) : new Date());
  const app = createApp({ db, config, apiKeys: [KEY, KEY2], adminToken: ADMIN, log: (l) => logs.push(l), clock });
  unflushed.add(app);
  return {
    app,
    config,
    logs,
    setNow: (at) => {
      now = at === undefined ? undefined : new Date(at);
    },
    agoraGet: async (path, params, key = KEY) => app.request(signedGetUrl(path, { ...params, apiKey: key.apiKey }, key.apiSecret)),
    agoraSend: async (method, path, body, key = KEY) =>
      app.request(path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signedBody(method, path, { ...body, apiKey: key.apiKey }, key.apiSecret)),
      }),
    admin: async (method, path, body) =>
      app.request(path, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
  };
}

export { sign };

/** Provisions a customer and its projects through Agora's own calls. */
export async function provision(t: TestApp, customerId: string, projectIds: (string | number)[], planId = 'basic'): Promise<void> {
  const r = await t.agoraSend('POST', '/customers/new', { customerId, planId, customerName: `Customer ${customerId}` });
  if (r.status !== 200) throw new Error(`provision customer: ${r.status} ${await r.text()}`);
  for (const projectId of projectIds) {
    const p = await t.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId });
    if (p.status !== 200) throw new Error(`provision project: ${p.status} ${await p.text()}`);
  }
}

export const DAY = 86_400;
/** Unix seconds of 00:00:00 UTC of a `YYYY-MM-DD` day. */
export const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
