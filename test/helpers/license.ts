import type { Db } from '../../src/db/database.ts';
import type { TestApp } from './app.ts';
import { ADMIN, provision } from './app.ts';

export const TRIAL_PID = 'TRIAL0000000000000000000000000001';
export const COMMERCIAL_PID = 'COMM00000000000000000000000000001';

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

export type Auth = { basic: { appKey: string; appSecret: string } } | { admin: true } | { header: string } | { none: true };

function authHeader(auth: Auth): Record<string, string> {
  if ('admin' in auth) return { authorization: `Bearer ${ADMIN}` };
  if ('header' in auth) return { authorization: auth.header };
  if ('none' in auth) return {};
  return { authorization: `Basic ${Buffer.from(`${auth.basic.appKey}:${auth.basic.appSecret}`).toString('base64')}` };
}

const query = (params: Record<string, string | number | undefined>) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};

/** The customer-facing license API as a script would call it. */
export function licenseClient(t: TestApp, auth: Auth) {
  const call = async (method: string, path: string, params: Record<string, string | number | undefined>, init: RequestInit = {}): Promise<Answer> => {
    const r = await t.app.request(`/dabiz/license${path}${query(params)}`, { method, ...init, headers: { ...authHeader(auth), ...(init.headers as Record<string, string>) } });
    const text = await r.text();
    let body: any = text;
    if ((r.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
    return { status: r.status, body, headers: r.headers };
  };
  return {
    call,
    get: (path: string, params: Record<string, string | number | undefined> = {}) => call('GET', path, params),
    post: (path: string, params: Record<string, string | number | undefined> = {}, json?: unknown) =>
      call('POST', path, params, json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
    upload: (appid: string, file: BlobPart | null, filename = 'keys.txt') => {
      const form = new FormData();
      if (file !== null) form.append('file', new Blob([file], { type: 'text/plain' }), filename);
      return call('POST', '/v2/pad/upload', { appid }, { body: form });
    },
    activate: (appid: string, pid: string, licenseKey: string) => call('POST', '/v2/active', { pid, licenseKey, appid }),
  };
}

export type LicenseClient = ReturnType<typeof licenseClient>;

export async function projectCredentials(db: Db, projectId: string): Promise<{ appKey: string; appSecret: string }> {
  const p = await db.selectFrom('projects').select(['app_key', 'app_secret']).where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return { appKey: p.app_key, appSecret: p.app_secret };
}

async function adminJson(t: TestApp, method: string, path: string, body?: unknown): Promise<Answer> {
  const r = await t.admin(method, path, body);
  const text = await r.text();
  return { status: r.status, body: (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text, headers: r.headers };
}

/** A SKU with a trial PID (3 months) and a commercial PID (1 year). */
export async function catalogue(t: TestApp): Promise<void> {
  const sku = await adminJson(t, 'POST', '/v1/skus', { id: 'iot-av', product: 2, name: 'IoT audio+video', mediaType: 3, minutes: 1000, period: '00:00~23:59' });
  if (sku.status !== 201) throw new Error(`sku: ${sku.status} ${JSON.stringify(sku.body)}`);
  for (const body of [
    { pid: TRIAL_PID, sku: 'iot-av', category: 'device', type: 'trial', validityMonths: 3 },
    { pid: COMMERCIAL_PID, sku: 'iot-av', category: 'device', type: 'commercial', validityYears: 1 },
  ]) {
    const r = await adminJson(t, 'POST', '/v1/pids', body);
    if (r.status !== 201) throw new Error(`pid: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

export async function buy(t: TestApp, customerId: string, pid: string, count: number): Promise<void> {
  const r = await adminJson(t, 'POST', '/v1/purchases', { customerId, pid, count });
  if (r.status !== 201) throw new Error(`purchase: ${r.status} ${JSON.stringify(r.body)}`);
}

/**
 * A catalogue, customer `c1` with projects 101 and 102, customer `c2` with project 201, and
 * licenses bought: `trial` of the trial PID for c1 (and for c2, 5).
 */
export async function licenseWorld(t: TestApp, db: Db, opts: { trial?: number; commercial?: number } = {}) {
  await catalogue(t);
  await provision(t, 'c1', [101, 102]);
  await provision(t, 'c2', [201]);
  if (opts.trial) await buy(t, 'c1', TRIAL_PID, opts.trial);
  if (opts.commercial) await buy(t, 'c1', COMMERCIAL_PID, opts.commercial);
  await buy(t, 'c2', TRIAL_PID, 5);
  return {
    p101: licenseClient(t, { basic: await projectCredentials(db, '101') }),
    p102: licenseClient(t, { basic: await projectCredentials(db, '102') }),
    p201: licenseClient(t, { basic: await projectCredentials(db, '201') }),
    admin: licenseClient(t, { admin: true }),
  };
}

export { adminJson };
