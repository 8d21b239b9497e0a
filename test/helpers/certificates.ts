import { generateKeyPairSync } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import type { Db } from '../../src/db/database.ts';
import type { TestApp } from './app.ts';
import { ADMIN } from './app.ts';

/** Ed25519 private keys as PKCS#8 PEM, made with Node's own crypto (not the server's code). */
export const newPem = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

export const SIGNING_PEM = newPem();
export const PUBLIC_URL = 'https://vendor.example.com';

export function certificateEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { LICENSE_RATE_LIMIT: '0', AUTH_FAILURES_PER_MINUTE: '0', LICENSE_SIGNING_KEY: SIGNING_PEM, LICENSE_FILES: 'on', PUBLIC_URL, ...extra };
}

export interface IssueLine {
  type: 'platform' | 'agent' | 'platform-unlimited';
  mode?: string;
  validityDays: number | null;
  count?: number;
}

/** A package issued through the vendor API: the `.lcs` text. */
export async function issue(t: TestApp, customerId: string, lines: IssueLine[]): Promise<string> {
  const r = await t.admin('POST', '/v1/certificate-packages', {
    customerId,
    certificates: lines.map((l) => ({ type: l.type, mode: l.mode ?? 'subscription', validityDays: l.validityDays, count: l.count ?? 1 })),
  });
  if (r.status !== 200) throw new Error(`issue: ${r.status} ${await r.text()}`);
  return r.text();
}

export const basicOf = (c: { appKey: string; appSecret: string }) => `Basic ${Buffer.from(`${c.appKey}:${c.appSecret}`).toString('base64')}`;

export interface Json {
  status: number;
  body: any;
}

async function answer(r: Response): Promise<Json> {
  const text = await r.text();
  return { status: r.status, body: (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}

/** The customer's side: a project's credentials against the license API and the extension route. */
export function customer(t: TestApp, auth: string) {
  const call = async (method: string, path: string, init: RequestInit = {}) =>
    answer(await t.app.request(path, { method, ...init, headers: { authorization: auth, ...(init.headers as Record<string, string>) } }));
  const jsonBody = (body: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return {
    upload: (file: BlobPart | null) => {
      const form = new FormData();
      if (file !== null) form.append('file', new Blob([file]), 'package.lcs');
      return call('POST', '/dabiz/license/v2/certificates/upload', { body: form });
    },
    certificates: (query = '') => call('GET', `/dabiz/license/v2/certificates${query}`),
    registerAgent: (agentId: string) => call('POST', '/dabiz/license/v2/agents', jsonBody({ agentId })),
    deleteAgent: (agentId: string) => call('DELETE', `/dabiz/license/v2/agents/${encodeURIComponent(agentId)}`),
    bind: (id: string, agentId: string) => call('POST', `/dabiz/license/v2/certificates/${encodeURIComponent(id)}/bind`, jsonBody({ agentId })),
    platform: (query = '') => call('GET', `/dabiz/license/v2/platform${query}`),
    entitlements: (agentId?: string) => call('GET', `/ext/v1/entitlements${agentId === undefined ? '' : `?agentId=${encodeURIComponent(agentId)}`}`),
  };
}

export const adminHeader = { authorization: `Bearer ${ADMIN}` };

/** A handle on the same database that counts the statements sent through it. */
export function countingDb(db: Db): { db: Db; statements: () => number; reset: () => void } {
  let n = 0;
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      n++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { db: db.withPlugin(plugin), statements: () => n, reset: () => void (n = 0) };
}

