import type { Db } from '../../src/db/database.ts';
import type { TestApp } from './app.ts';
import { adminJson, projectCredentials, type Answer } from './license.ts';

/** The extension API as an extension calls it, with one project's appKey:appSecret. */
export async function extClient(t: () => TestApp, db: Db, projectId: string) {
  const creds = await projectCredentials(db, projectId);
  const auth = `Basic ${Buffer.from(`${creds.appKey}:${creds.appSecret}`).toString('base64')}`;
  const call = async (method: string, path: string, body?: unknown, header = auth): Promise<Answer> => {
    const r = await t().app.request(`/ext/v1${path}`, {
      method,
      headers: { authorization: header, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text, headers: r.headers };
  };
  return {
    call,
    join: (body: Record<string, unknown>) => call('POST', '/sessions', body),
    heartbeat: (id: string) => call('POST', `/sessions/${id}/heartbeat`),
    leave: (id: string) => call('DELETE', `/sessions/${id}`),
  };
}

export type ExtClient = Awaited<ReturnType<typeof extClient>>;

/** A SKU with its own media, cap and period, and a commercial device PID of it. */
export async function skuAndPid(t: TestApp, id: string, sku: { mediaType: number; minutes?: number | null; period?: string | null }): Promise<string> {
  const s = await adminJson(t, 'POST', '/v1/skus', { id, product: 2, name: id, mediaType: sku.mediaType, minutes: sku.minutes ?? null, period: sku.period ?? null });
  if (s.status !== 201) throw new Error(`sku: ${s.status} ${JSON.stringify(s.body)}`);
  const pid = `PID-${id}`;
  const p = await adminJson(t, 'POST', '/v1/pids', { pid, sku: id, category: 'device', type: 'commercial', validityYears: 1 });
  if (p.status !== 201) throw new Error(`pid: ${p.status} ${JSON.stringify(p.body)}`);
  return pid;
}
