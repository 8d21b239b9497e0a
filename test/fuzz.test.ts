import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../src/agora/signature.ts';
import { ERROR_STATUS, type ErrorCode } from '../src/errors.ts';
import { ADMIN, buildApp, dayStart, KEY, provision, type TestApp } from './helpers/app.ts';
import { openTestDatabase, TABLES, type TestDatabase } from './helpers/db.ts';
import { buy, catalogue, COMMERCIAL_PID, projectCredentials, TRIAL_PID } from './helpers/license.ts';
import { certificateEnv, issue, PUBLIC_URL } from './helpers/certificates.ts';
import { fanOut } from '../src/notifications/worker.ts';

/**
 * Every route with malformed input, with valid authentication and without. Each request takes a
 * valid request of its route (one that would change something, where the route changes things)
 * and spoils it: a value of the wrong type, a NUL character, a lone surrogate, a huge or
 * non-finite number, an over-long string, a repeated query parameter, a body that is not JSON, of
 * the wrong type, nested 5,000 deep, or empty. The answer must be a 4xx in the route's error
 * envelope with a stable code, never a 5xx, and the database must not change.
 *
 * All requests are generated up front from a fixed seed and all are sent, so that one run lists
 * every distinct failure (grouped by route, poison, status and code) rather than the first one.
 * At the end, the unspoiled requests are sent once, authenticated, and must succeed: the refusals
 * were caused by the spoiling, not by a base request that was wrong to begin with.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
/** Spoiled requests per route with valid authentication, and without. */
const RUNS_AUTHENTICATED = Number(process.env.FUZZ_RUNS ?? 48);
const RUNS_UNAUTHENTICATED = Math.max(4, Math.round(RUNS_AUTHENTICATED / 4));

// ---------------------------------------------------------------------------------------------
// Requests

/** A JSON value whose text is written as is: `1e400`, `-0`, digits beyond 2^53. */
class RawJson {
  constructor(readonly text: string) {}
}
/** A query or path value already percent-encoded as it must go on the wire (`%ED%A0%80`). */
class RawUrl {
  constructor(
    readonly encoded: string,
    /** What a server that decodes it would read: used only to sign it. */
    readonly decoded: string,
  ) {}
}

type Json = null | boolean | number | string | RawJson | Json[] | { [k: string]: Json };
type UrlValue = string | RawUrl;

type Auth = 'admin' | 'basic' | 'agora' | 'none';
type Family = 'agora-numeric' | 'agora-text' | 'vendor' | 'license-api' | 'public' | 'extension';

interface Base {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI path, `{name}` for path parameters. */
  route: string;
  auth: Auth;
  path?: Record<string, string>;
  query?: Record<string, string>;
  body?: { json: { [k: string]: Json } } | { multipart: string };
}

/** A request as sent: what was spoiled in it, and the request itself. */
interface Spoiled {
  base: Base;
  /** False: sent without (or with wrong) credentials. */
  authenticated: boolean;
  auth: string;
  path: Record<string, UrlValue>;
  query: [string, UrlValue][];
  body:
    | { kind: 'json'; value: { [k: string]: Json }; contentType: string }
    | { kind: 'raw'; text: string; contentType: string | undefined }
    | { kind: 'multipart'; file: string | Uint8Array | null; contentType?: undefined }
    | { kind: 'none' };
  poisons: string[];
  /** True when a declared value or the body was spoiled: the request must then be refused. */
  mustRefuse: boolean;
}

// ---------------------------------------------------------------------------------------------
// Poisons

const LONG = 'x'.repeat(100_000);
const DEEP = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const DEEP_OBJECT = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;

/** Bad for any JSON leaf: wrong types, text Postgres cannot store, text that is not well-formed. */
const JSON_LEAF_POISONS: [string, Json][] = [
  ['NUL in a string', 'a\u0000b'],
  ['lone high surrogate', '\ud800x'],
  ['lone low surrogate', 'x\udc00'],
  ['100,000-character string', LONG],
  ['boolean', true],
  ['object', { a: 1 }],
  ['array', ['1']],
  ['nested arrays', [[[[[['1']]]]]]],
  ['arrays nested 5,000 deep', new RawJson(DEEP)],
  ['objects nested 5,000 deep', new RawJson(DEEP_OBJECT)],
];
/** Bad for a JSON number leaf too. */
const JSON_NUMBER_POISONS: [string, Json][] = [
  ['1e400', new RawJson('1e400')],
  ['-1e400', new RawJson('-1e400')],
  ['-0', new RawJson('-0')],
  ['2^53 + 1', new RawJson('9007199254740993')],
  ['30-digit number', new RawJson('123456789012345678901234567890')],
  ['-1', -1],
  ['number as non-numeric string', 'NaN'],
];
/** Bad for a string of digits (ids, counts, times) whether in JSON or in the URL. */
const NUMERIC_TEXT_POISONS: [string, string][] = [
  ['"1e400"', '1e400'],
  ['"-0"', '-0'],
  ['"NaN"', 'NaN'],
  ['"Infinity"', 'Infinity'],
  ['"-1"', '-1'],
  ['40 digits', '9'.repeat(40)],
  ['digits with a NUL', '1\u00002'],
  ['hex', '0x10'],
];
/** Bad for any value in a URL (path segment or query parameter). */
const URL_POISONS: [string, UrlValue][] = [
  ['%00', new RawUrl('a%00b', 'a\u0000b')],
  ['%00 alone', new RawUrl('%00', '\u0000')],
  ['%ED%A0%80 (a lone surrogate in UTF-8)', new RawUrl('a%ED%A0%80b', 'a\ufffdb')],
  ['%FF (not UTF-8)', new RawUrl('%FF', '\ufffd')],
  ['% (a broken escape)', new RawUrl('a%zz', 'a%zz')],
  ['100,000 characters', LONG],
];

/** Whole-body poisons of a JSON route: text, content type. */
const BODY_POISONS: [string, { text: string; contentType: string | undefined }][] = [
  ['empty body', { text: '', contentType: 'application/json' }],
  ['not JSON', { text: '{"a":', contentType: 'application/json' }],
  ['JSON nested 5,000 deep (arrays)', { text: DEEP, contentType: 'application/json' }],
  ['JSON nested 5,000 deep (objects)', { text: DEEP_OBJECT, contentType: 'application/json' }],
  ['a JSON array', { text: '[]', contentType: 'application/json' }],
  ['JSON null', { text: 'null', contentType: 'application/json' }],
  ['a JSON number 1e400', { text: '1e400', contentType: 'application/json' }],
  ['a JSON string with a lone surrogate', { text: '"\\ud800"', contentType: 'application/json' }],
  ['a NUL byte in the JSON text', { text: '{"a":"\u0000"}', contentType: 'application/json' }],
  ['no content type', { text: '{}', contentType: undefined }],
];
// (A `+json` type such as application/merge-patch+json is JSON and may be accepted: not listed.)
const WRONG_CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml'];

// ---------------------------------------------------------------------------------------------
// The app under test and its data

let tdb: TestDatabase;
let t: TestApp;
let basic: string;
let basicOfOther: string;

/**
 * Windows the world has already polled: a poll is a GET that fixes a statement the first time, so
 * a request that is valid apart from an ignored unknown parameter may fix it; a repeat never changes it.
 */
const WINDOW = { fromTs: String(dayStart('2025-05-01')), toTs: String(dayStart('2025-05-01') + 86_399) };
const BILL_WINDOW = { fromTs: String(dayStart('2025-05-01')), toTs: String(dayStart('2025-05-31') + 86_399) };

/** Filled by the world: ids only known once it is made. */
const known = { license: '', padId: '', renewId: 'fz-renewal-order', statementId: '1', certificatePackage: '', agentCertificate: '', licenseFileToken: '', endpointId: '', deliveryId: '', sessionId: '' };

async function world(): Promise<void> {
  await catalogue(t);
  await provision(t, 'c1', [101, 102]);
  await provision(t, 'c2', [201]);
  await buy(t, 'c1', TRIAL_PID, 50);
  await buy(t, 'c2', TRIAL_PID, 5);
  const admin = (method: string, path: string, body?: unknown) => t.admin(method, path, body).then(async (r) => ({ status: r.status, body: await r.json() }));
  const plan = await admin('POST', '/v1/plans', {
    planId: 'basic',
    name: 'Basic',
    currency: 'USD',
    usageUnit: 'Minute',
    effectiveFrom: '2025-01',
    monthlyFee: '0',
    tiers: [{ upTo: null, unitPrice: '0.001' }],
  });
  if (plan.status !== 201) throw new Error(`plan: ${JSON.stringify(plan)}`);
  const renewal = await admin('POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 5, renewId: known.renewId });
  if (renewal.status !== 201) throw new Error(`renewal: ${JSON.stringify(renewal)}`);
  basic = `Basic ${Buffer.from(Object.values(await projectCredentials(tdb.db, '101')).join(':')).toString('base64')}`;
  basicOfOther = `Basic ${Buffer.from(Object.values(await projectCredentials(tdb.db, '201')).join(':')).toString('base64')}`;
  const license = (await licenseCall('POST', `/dabiz/license/v2/active?pid=${TRIAL_PID}&licenseKey=dev-1&appid=101`)).body;
  if (!license?.data?.license) throw new Error(`activation: ${JSON.stringify(license)}`);
  known.license = license.data.license;
  const pad = await licenseCall('POST', '/dabiz/license/v2/pad/add?licenseKey=dev-2&appid=101');
  if (pad.status !== 200) throw new Error(`pad: ${JSON.stringify(pad.body)}`);
  const found = await licenseCall('GET', '/dabiz/license/v2/pads/search?licenseKey=dev-2&appid=101');
  known.padId = String(found.body.data[0].id);
  const events = await admin('POST', '/v1/usage-events', {
    events: [{ id: 'seed-1', projectId: '101', quantity: '3', occurredAt: '2025-05-01T10:00:00Z' }],
  });
  if (events.body.accepted !== 1) throw new Error(`usage: ${JSON.stringify(events)}`);
  // Fixed statements, so the statement routes have something to read.
  for (const [path, window] of [['/usage', WINDOW], ['/bill', BILL_WINDOW]] as const) {
    const poll = await t.agoraGet(path, { ...window, pageNum: 1 });
    if (poll.status !== 200) throw new Error(`poll ${path}: ${poll.status}`);
  }
  known.statementId = String((await tdb.db.selectFrom('statements').select('id').executeTakeFirstOrThrow()).id);
  // Certificates: a package uploaded, agents registered, the license file's token.
  known.certificatePackage = await issue(t, 'c1', [{ type: 'agent', validityDays: 30, count: 2 }, { type: 'platform', validityDays: 30 }]);
  const form = new FormData();
  form.append('file', new Blob([known.certificatePackage]), 'package.lcs');
  const uploaded = await t.app.request('/dabiz/license/v2/certificates/upload', { method: 'POST', headers: { authorization: basic }, body: form });
  const certificates = ((await uploaded.json()) as { data: { certificates: { id: string; type: string }[] } }).data.certificates;
  known.agentCertificate = certificates.find((c) => c.type === 'agent')!.id;
  for (const agentId of ['fz-agent-1', 'fz-agent-del']) {
    const r = await t.app.request('/dabiz/license/v2/agents', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/json' }, body: JSON.stringify({ agentId }) });
    if (r.status !== 200) throw new Error(`agent: ${r.status} ${await r.text()}`);
  }
  const project = await t.agoraSend('POST', '/customers/c1/projects/new', { projectId: 101 });
  known.licenseFileToken = (((await project.json()) as { data: { licenseUrl: string } }).data.licenseUrl).slice(`${PUBLIC_URL}/license-files/`.length);
  // A webhook endpoint with one delivery (the worker's fan-out, run once here).
  const endpoint = await admin('POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hook', events: ['*'] });
  if (endpoint.status !== 201) throw new Error(`endpoint: ${JSON.stringify(endpoint)}`);
  known.endpointId = endpoint.body.id;
  await fanOut(tdb.db, new Date());
  known.deliveryId = String((await tdb.db.selectFrom('webhook_deliveries').select('id').executeTakeFirstOrThrow()).id);
  const session = await t.app.request('/ext/v1/sessions', {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/json' },
    body: JSON.stringify({ license: known.license, licenseKey: 'dev-1', media: 'audio', platform: 'android' }),
  });
  if (session.status !== 201) throw new Error(`session: ${session.status} ${await session.text()}`);
  known.sessionId = ((await session.json()) as { sessionId: string }).sessionId;
}

async function licenseCall(method: string, url: string) {
  const r = await t.app.request(url, { method, headers: { authorization: basic } });
  return { status: r.status, body: await r.json() };
}

/**
 * The valid request of every route. Each would change the database where its route changes
 * anything; the spoiling must stop it. Kept in the order they are sent unspoiled at the end.
 */
function bases(): Base[] {
  const event = { id: 'fz-event-1', projectId: '101', quantity: '2.5', occurredAt: '2025-06-01T10:00:00Z', description: 'a call' };
  // Declared fields only: a field a route does not read is ignored, and spoiling it spoils nothing.
  const version = { currency: 'USD', usageUnit: 'Minute', effectiveFrom: '2030-01', monthlyFee: '1.5', tiers: [{ upTo: '1000', unitPrice: '0.002' }, { upTo: null, unitPrice: '0.0015' }] };
  return [
    { method: 'GET', route: '/healthz', auth: 'none' },
    { method: 'GET', route: '/readyz', auth: 'none' },
    { method: 'GET', route: '/openapi.json', auth: 'none' },
    { method: 'GET', route: '/docs', auth: 'none' },
    { method: 'GET', route: '/usage', auth: 'agora', query: { ...WINDOW, pageNum: '1', limit: '100' } },
    { method: 'GET', route: '/bill', auth: 'agora', query: { ...BILL_WINDOW, pageNum: '1', limit: '100' } },
    {
      method: 'POST',
      route: '/customers/new',
      auth: 'agora',
      body: { json: { customerId: 'c9', planId: 'basic', customerName: 'Customer nine', customerEmail: 'c9@example.com', customerPhone: '+1 555 0100' } },
    },
    { method: 'POST', route: '/customers/{customerId}/projects/new', auth: 'agora', path: { customerId: 'c1' }, body: { json: { projectId: 109 } } },
    { method: 'PUT', route: '/customers/{customerId}/projects/{projectId}/deactivate', auth: 'agora', path: { customerId: 'c1', projectId: '102' }, body: { json: {} } },
    { method: 'GET', route: '/customers/{customerId}/license', auth: 'agora', path: { customerId: 'c1' } },
    { method: 'POST', route: '/v1/usage-events', auth: 'admin', body: { json: { events: [event] } } },
    { method: 'GET', route: '/v1/statements', auth: 'admin', query: { kind: 'usage', from: '2025-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z', limit: '50', before: '1000' } },
    { method: 'GET', route: '/v1/statements/{id}', auth: 'admin', path: { id: known.statementId } },
    { method: 'GET', route: '/v1/statements/{id}/lines', auth: 'admin', path: { id: known.statementId }, query: { pageNum: '1', limit: '100' } },
    { method: 'GET', route: '/v1/plans', auth: 'admin' },
    { method: 'POST', route: '/v1/plans', auth: 'admin', body: { json: { planId: 'gold', name: 'Gold', ...version } } },
    { method: 'GET', route: '/v1/plans/{planId}', auth: 'admin', path: { planId: 'basic' } },
    { method: 'POST', route: '/v1/plans/{planId}/versions', auth: 'admin', path: { planId: 'basic' }, body: { json: version } },
    { method: 'GET', route: '/v1/reconciliation', auth: 'admin', query: { month: '2025-05' } },
    { method: 'POST', route: '/v1/skus', auth: 'admin', body: { json: { id: 'fz-sku', product: 1, name: 'Fuzz', mediaType: 2, minutes: 60, period: '08:00~20:00' } } },
    { method: 'GET', route: '/v1/skus', auth: 'admin' },
    { method: 'GET', route: '/v1/skus/{id}', auth: 'admin', path: { id: 'iot-av' } },
    { method: 'POST', route: '/v1/pids', auth: 'admin', body: { json: { pid: 'FZPID0000000000000000000000000001', sku: 'iot-av', category: 'account', type: 'trial', validityMonths: 6 } } },
    { method: 'GET', route: '/v1/pids', auth: 'admin', query: { sku: 'iot-av' } },
    { method: 'GET', route: '/v1/pids/{pid}', auth: 'admin', path: { pid: TRIAL_PID } },
    { method: 'POST', route: '/v1/purchases', auth: 'admin', body: { json: { customerId: 'c1', pid: COMMERCIAL_PID, count: 7, orderId: 'fz-order-1' } } },
    { method: 'GET', route: '/v1/purchases', auth: 'admin', query: { customerId: 'c1', pid: TRIAL_PID, page: '1', size: '10' } },
    { method: 'POST', route: '/v1/renewals', auth: 'admin', body: { json: { customerId: 'c1', pid: TRIAL_PID, count: 2, renewId: 'fz-renew-2' } } },
    { method: 'GET', route: '/v1/renewals', auth: 'admin', query: { customerId: 'c1', pid: TRIAL_PID, page: '1', size: '10' } },
    { method: 'GET', route: '/v1/licenses', auth: 'admin', query: { customerId: 'c1', projectId: '101', pid: TRIAL_PID, status: 'active', page: '1', size: '10' } },
    { method: 'GET', route: '/v1/license-quotas', auth: 'admin', query: { customerId: 'c1' } },
    { method: 'GET', route: '/v1/usage/pending-corrections', auth: 'admin' },
    { method: 'GET', route: '/v1/licenses/expiring', auth: 'admin', query: { customerId: 'c1', days: '45', size: '10' } },
    { method: 'GET', route: '/v1/customers', auth: 'admin', query: { status: 'active', after: 'c0', limit: '10' } },
    { method: 'GET', route: '/v1/customers/{customerId}', auth: 'admin', path: { customerId: 'c1' } },
    { method: 'GET', route: '/v1/projects', auth: 'admin', query: { customerId: 'c1', active: 'true', after: '100', limit: '10' } },
    { method: 'GET', route: '/v1/usage-events', auth: 'admin', query: { projectId: '101', from: '2025-05-01T00:00:00Z', to: '1746144000', after: 'seed-0', limit: '10' } },
    { method: 'GET', route: '/v1/usage-events/{id}', auth: 'admin', path: { id: 'seed-1' } },
    { method: 'GET', route: '/v1/usage/daily', auth: 'admin', query: { from: '2025-05-01', to: '2025-05-31', customerId: 'c1' } },
    { method: 'GET', route: '/v1/preview/usage', auth: 'admin', query: { day: '2025-05-02', page: '1', limit: '100' } },
    { method: 'GET', route: '/v1/preview/bill', auth: 'admin', query: { month: '2025-06', page: '1', limit: '100' } },
    { method: 'GET', route: '/v1/agora-requests', auth: 'admin', query: { path: '/usage', kind: 'usage', status: '200', from: '2025-01-01T00:00:00Z', to: '2100000000', after: '1000000', limit: '10' } },
    { method: 'GET', route: '/v1/agora-requests/summary', auth: 'admin' },
    { method: 'GET', route: '/metrics', auth: 'none' },
    { method: 'POST', route: '/dabiz/license/v2/active', auth: 'basic', query: { pid: TRIAL_PID, licenseKey: 'fz-device', appid: '101' } },
    { method: 'GET', route: '/dabiz/license/v2/detail', auth: 'basic', query: { appid: '101', key: 'dev-1' } },
    { method: 'POST', route: '/dabiz/license/v2/allocate', auth: 'basic', query: { appid: '101' }, body: { json: { pid: TRIAL_PID, count: 2, creator: 'fuzz' } } },
    { method: 'GET', route: '/dabiz/license/v2/product/allocations', auth: 'basic', query: { appid: '101', pid: TRIAL_PID, page: '1', size: '10' } },
    { method: 'POST', route: '/dabiz/license/v2/renew', auth: 'basic', query: { appid: '101', license: known.license, renewId: known.renewId } },
    { method: 'POST', route: '/dabiz/license/v2/pad/add', auth: 'basic', query: { licenseKey: 'fz-pad-1', appid: '101' } },
    { method: 'POST', route: '/dabiz/license/v2/pad/upload', auth: 'basic', query: { appid: '101' }, body: { multipart: 'fz-pad-2\nfz-pad-3\n' } },
    { method: 'GET', route: '/dabiz/license/v2/pads/search', auth: 'basic', query: { licenseKey: 'dev-2', appid: '101' } },
    { method: 'GET', route: '/dabiz/license/v2/pads', auth: 'basic', query: { appid: '101', page: '1', size: '10' } },
    { method: 'GET', route: '/dabiz/license/v2/pads/export', auth: 'basic', query: { appid: '101' } },
    { method: 'GET', route: '/dabiz/license/v3/projects/{appId}/pids/{pid}/expiringLicenses', auth: 'basic', path: { appId: '101', pid: TRIAL_PID }, query: { expiringDay: '3650', page: '1', size: '10' } },
    { method: 'POST', route: '/dabiz/license/v2/pad/delete', auth: 'basic', query: { appid: '101' }, body: { json: { ids: [known.padId] } } },
    { method: 'POST', route: '/dabiz/license/v2/vendor/pad/switch', auth: 'basic', query: { appid: '101', enabled: 'true' } },
    { method: 'POST', route: '/dabiz/license/v2/pad/clear', auth: 'basic', query: { appid: '101' } },
    { method: 'GET', route: '/.well-known/license-keys', auth: 'none' },
    { method: 'POST', route: '/v1/certificate-packages', auth: 'admin', body: { json: { customerId: 'c1', certificates: [{ type: 'agent', mode: 'subscription', validityDays: 30, count: 2 }] } } },
    { method: 'GET', route: '/license-files/{token}', auth: 'none', path: { token: known.licenseFileToken } },
    { method: 'POST', route: '/v1/projects/{projectId}/license-file/rotate', auth: 'admin', path: { projectId: '102' } },
    { method: 'GET', route: '/ext/v1/entitlements', auth: 'basic', query: { agentId: 'fz-agent-1' } },
    { method: 'POST', route: '/dabiz/license/v2/certificates/upload', auth: 'basic', body: { multipart: known.certificatePackage } },
    { method: 'GET', route: '/dabiz/license/v2/certificates', auth: 'basic', query: { after: 'crt_', size: '10' } },
    { method: 'POST', route: '/dabiz/license/v2/agents', auth: 'basic', body: { json: { agentId: 'fz-agent-2' } } },
    { method: 'POST', route: '/dabiz/license/v2/certificates/{id}/bind', auth: 'basic', path: { id: known.agentCertificate }, body: { json: { agentId: 'fz-agent-1' } } },
    { method: 'GET', route: '/dabiz/license/v2/platform', auth: 'basic', query: { after: 'a', size: '10' } },
    { method: 'DELETE', route: '/dabiz/license/v2/agents/{agentId}', auth: 'basic', path: { agentId: 'fz-agent-del' } },
    { method: 'GET', route: '/v1/customers/{customerId}/certificates', auth: 'admin', path: { customerId: 'c1' }, query: { after: 'crt_', size: '10' } },
    // Licenses at run time (src/runtime): the extension API, Agora's license grants, the vendor's view.
    { method: 'POST', route: '/ext/v1/sessions', auth: 'basic', body: { json: { license: known.license, licenseKey: 'dev-1', media: 'audio+video', platform: 'ios', channel: 'room', userId: 'u1' } } },
    { method: 'POST', route: '/ext/v1/sessions/{sessionId}/heartbeat', auth: 'basic', path: { sessionId: known.sessionId } },
    { method: 'DELETE', route: '/ext/v1/sessions/{sessionId}', auth: 'basic', path: { sessionId: known.sessionId } },
    { method: 'PUT', route: '/license/customers/{customerId}/activate', auth: 'agora', path: { customerId: 'c1' }, body: { json: { platform: 'android|ios', expire: '1798761600-1830297600', type: 'prepaid' } } },
    { method: 'POST', route: '/license/customers/{customerId}/activate', auth: 'agora', path: { customerId: 'c1' }, body: { json: { platform: 'web', expire: '1798761600-1830297600' } } },
    { method: 'PUT', route: '/v1/customers/{customerId}/limits', auth: 'admin', path: { customerId: 'c1' }, body: { json: { pcu: 5 } } },
    { method: 'GET', route: '/v1/customers/{customerId}/limits', auth: 'admin', path: { customerId: 'c1' } },
    { method: 'PUT', route: '/v1/projects/{projectId}/limits', auth: 'admin', path: { projectId: '101' }, body: { json: { pcu: 7 } } },
    { method: 'GET', route: '/v1/projects/{projectId}/limits', auth: 'admin', path: { projectId: '101' } },
    { method: 'PUT', route: '/v1/pids/{pid}/overage', auth: 'admin', path: { pid: TRIAL_PID }, body: { json: { overage: 'bill' } } },
    { method: 'GET', route: '/v1/licenses/{license}/minutes', auth: 'admin', path: { license: known.license } },
    { method: 'GET', route: '/v1/sessions', auth: 'admin', query: { customerId: 'c1', projectId: '101', license: known.license, live: 'true', page: '1', size: '10' } },
    { method: 'PUT', route: '/customers/{customerId}/deactivate', auth: 'agora', path: { customerId: 'c2' }, body: { json: {} } },
    { method: 'POST', route: '/v1/webhook-endpoints', auth: 'admin', body: { json: { url: 'https://example.com/hook', events: ['license.expiring', 'quota.low'], description: 'fuzz' } } },
    { method: 'GET', route: '/v1/webhook-endpoints', auth: 'admin' },
    { method: 'PATCH', route: '/v1/webhook-endpoints/{id}', auth: 'admin', path: { id: known.endpointId }, body: { json: { url: 'http://127.0.0.1:10/hook', events: ['*'], description: 'changed', enabled: true } } },
    { method: 'POST', route: '/v1/webhook-endpoints/{id}/rotate-secret', auth: 'admin', path: { id: known.endpointId } },
    { method: 'GET', route: '/v1/webhook-deliveries', auth: 'admin', query: { endpoint: known.endpointId, type: 'customer.provisioned', status: 'pending', after: '1000', limit: '10' } },
    { method: 'POST', route: '/v1/webhook-deliveries/{id}/retry', auth: 'admin', path: { id: known.deliveryId } },
    { method: 'DELETE', route: '/v1/webhook-endpoints/{id}', auth: 'admin', path: { id: known.endpointId } },
  ];
}

/** Routes served but not in /openapi.json (found in src/app.ts). */
const UNDOCUMENTED = ['GET /openapi.json', 'GET /docs'];

const familyOf = (route: string): Family =>
  route === '/usage' || route === '/bill'
    ? 'agora-numeric'
    : route.startsWith('/customers/') || route.startsWith('/license/customers/')
      ? 'agora-text'
      : route.startsWith('/ext/v1/')
        ? 'extension'
      : route.startsWith('/dabiz/license/')
        ? 'license-api'
        : route.startsWith('/v1/')
          ? 'vendor'
          : 'public';

// ---------------------------------------------------------------------------------------------
// Spoiling

const isDigits = (s: string) => /^\d+(\.\d+)?$/.test(s);

/** Every leaf of a JSON value, by its path of keys and indexes. */
function leaves(value: Json, at: (string | number)[] = []): { path: (string | number)[]; value: Json }[] {
  if (Array.isArray(value)) return value.length === 0 ? [{ path: at, value }] : value.flatMap((v, i) => leaves(v, [...at, i]));
  if (value !== null && typeof value === 'object' && !(value instanceof RawJson)) {
    const entries = Object.entries(value);
    return entries.length === 0 && at.length > 0 ? [{ path: at, value }] : entries.flatMap(([k, v]) => leaves(v, [...at, k]));
  }
  return [{ path: at, value }];
}

function setAt(root: { [k: string]: Json }, path: (string | number)[], value: Json): { [k: string]: Json } {
  const copy = structuredCloneJson(root) as { [k: string]: Json };
  let node: Json = copy;
  for (const key of path.slice(0, -1)) node = (node as Record<string, Json>)[key as string]!;
  (node as Record<string, Json>)[path[path.length - 1] as string] = value;
  return copy;
}

function structuredCloneJson(v: Json): Json {
  if (v instanceof RawJson || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(structuredCloneJson);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structuredCloneJson(x)]));
}

/** The poisons that make a leaf of this base value invalid whatever the field. */
function jsonPoisonsFor(value: Json): [string, Json][] {
  if (typeof value === 'number') return [...JSON_LEAF_POISONS, ...JSON_NUMBER_POISONS];
  if (typeof value === 'string' && isDigits(value)) return [...JSON_LEAF_POISONS, ...NUMERIC_TEXT_POISONS];
  if (value === null) return [...JSON_LEAF_POISONS.filter(([name]) => !name.includes('string')), ...JSON_NUMBER_POISONS.slice(0, 3), ['not a number', 'abc']];
  return JSON_LEAF_POISONS;
}

function urlPoisonsFor(value: string): [string, UrlValue][] {
  return isDigits(value) ? [...URL_POISONS, ...NUMERIC_TEXT_POISONS] : URL_POISONS;
}

/** One way to spoil a request: a function of the request so far, naming what it did. */
type Mutation = (s: Spoiled) => void;

function mutationsOf(base: Base): { name: string; apply: Mutation; declared: boolean }[] {
  const out: { name: string; apply: Mutation; declared: boolean }[] = [];
  for (const [k, v] of Object.entries(base.path ?? {})) {
    for (const [name, poison] of urlPoisonsFor(v)) {
      out.push({ name: `path ${k}: ${name}`, declared: true, apply: (s) => void (s.path[k] = poison) });
    }
  }
  for (const [k, v] of Object.entries(base.query ?? {})) {
    for (const [name, poison] of urlPoisonsFor(v)) {
      out.push({
        name: `query ${k}: ${name}`,
        declared: true,
        apply: (s) => void (s.query = s.query.map(([qk, qv]) => [qk, qk === k ? poison : qv])),
      });
    }
    out.push({ name: `query ${k} given twice`, declared: true, apply: (s) => void s.query.push([k, v === '1' ? '2' : '1']) });
    out.push({ name: `query ${k} given twice, same value`, declared: true, apply: (s) => void s.query.push([k, v]) });
  }
  if (base.method === 'GET') {
    // Parameters nobody declared may be ignored, but never answered with a 5xx.
    for (const [name, poison] of URL_POISONS) out.push({ name: `unknown query parameter: ${name}`, declared: false, apply: (s) => void s.query.push(['zz', poison]) });
    out.push({ name: 'unknown query parameter given twice', declared: false, apply: (s) => void s.query.push(['zz', '1'], ['zz', '2']) });
  }
  const body = base.body;
  if (body && 'json' in body) {
    for (const leaf of leaves(body.json)) {
      if (leaf.path.length === 0) continue;
      for (const [name, poison] of jsonPoisonsFor(leaf.value)) {
        out.push({
          name: `body ${leaf.path.join('.')}: ${name}`,
          declared: true,
          apply: (s) => {
            if (s.body.kind === 'json') s.body.value = setAt(s.body.value, leaf.path, poison);
          },
        });
      }
    }
    for (const [name, raw] of BODY_POISONS) {
      out.push({ name: `body: ${name}`, declared: true, apply: (s) => void (s.body = { kind: 'raw', text: raw.text, contentType: raw.contentType }) });
    }
    for (const type of WRONG_CONTENT_TYPES) {
      out.push({
        name: `content type ${type}`,
        declared: true,
        apply: (s) => {
          if (s.body.kind === 'json') s.body.contentType = type;
        },
      });
    }
  }
  if (body && 'multipart' in body) {
    const bytes = (...parts: (string | number[])[]) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p)] : p)));
    for (const [name, file] of [
      ['a NUL in a line', `fz-pad-4\na\u0000b\n`],
      // As bytes: a JS string would be encoded with the surrogate replaced by U+FFFD, which is text.
      ['a lone surrogate (ED A0 80) in a line', bytes('fz-pad-4\nx', [0xed, 0xa0, 0x80], '\n')],
      ['a byte that is not UTF-8 (FF) in a line', bytes('fz-pad-4\nx', [0xff], '\n')],
      ['a 100,000-character line', `fz-pad-4\n${LONG}\n`],
    ] as const) {
      out.push({ name: `file: ${name}`, declared: true, apply: (s) => void (s.body = { kind: 'multipart', file }) });
    }
    out.push({ name: 'body: a form without its boundary', declared: true, apply: (s) => void (s.body = { kind: 'raw', text: 'x', contentType: 'multipart/form-data; boundary=b' }) });
    out.push({ name: 'no file field', declared: true, apply: (s) => void (s.body = { kind: 'multipart', file: null }) });
    out.push({ name: 'body: JSON instead of a form', declared: true, apply: (s) => void (s.body = { kind: 'raw', text: '{"file":"fz-pad-5"}', contentType: 'application/json' }) });
    out.push({ name: 'body: empty', declared: true, apply: (s) => void (s.body = { kind: 'raw', text: '', contentType: undefined }) });
  }
  return out;
}

/**
 * Routes that act for the caller's own customer (no appid names a project): another customer's
 * project credentials are a valid caller there, answered for that customer, not wrong credentials.
 */
const CALLER_SCOPED = new Set(['/ext/v1/entitlements', '/dabiz/license/v2/certificates/upload', '/dabiz/license/v2/certificates', '/dabiz/license/v2/agents', '/dabiz/license/v2/certificates/{id}/bind', '/dabiz/license/v2/platform', '/dabiz/license/v2/agents/{agentId}']);

/** Wrong credentials for a route family. */
function badAuthOf(base: Base): [string, string][] {
  switch (base.auth) {
    case 'admin':
      return [
        ['no credentials', ''],
        ['wrong bearer token', 'Bearer wrong-token-0123456789abcdef'],
        ['Basic instead of Bearer', basic],
      ];
    case 'basic':
      return [
        ['no credentials', ''],
        ['Basic user a\\0 (YQA6Yg==)', 'Basic YQA6Yg=='],
        ['Basic of a lone surrogate user (7aCAOmI=)', 'Basic 7aCAOmI='],
        ['Basic with wrong secret', `Basic ${Buffer.from('nobody:nothing').toString('base64')}`],
        ['Basic that is not base64', 'Basic %%%'],
        ...(CALLER_SCOPED.has(base.route) ? [] : ([['another customer’s project', basicOfOther]] as [string, string][])),
        ['wrong bearer token', 'Bearer wrong-token-0123456789abcdef'],
      ];
    case 'agora':
      return [
        ['no signature', 'unsigned'],
        ['wrong signature', 'wrong-signature'],
        ['unknown apiKey', 'unknown-key'],
      ];
    case 'none':
      return [];
  }
}

function initial(base: Base, authenticated: boolean, auth: string): Spoiled {
  return {
    base,
    authenticated,
    auth,
    path: { ...(base.path ?? {}) },
    query: Object.entries(base.query ?? {}),
    body:
      base.body === undefined
        ? { kind: 'none' }
        : 'json' in base.body
          ? { kind: 'json', value: structuredCloneJson(base.body.json) as { [k: string]: Json }, contentType: 'application/json' }
          : { kind: 'multipart', file: base.body.multipart },
    poisons: [],
    mustRefuse: false,
  };
}

/** Every spoiled request of a route, drawn with fast-check from the fixed seed. */
function spoiledRequests(base: Base, seed: number): Spoiled[] {
  const mutations = mutationsOf(base);
  const badAuth = badAuthOf(base);
  const out: Spoiled[] = [];
  if (mutations.length > 0) {
    const pick = fc.uniqueArray(fc.nat({ max: mutations.length - 1 }), { minLength: 1, maxLength: Math.min(3, mutations.length) });
    // Each mutation at least once (where there are fewer than the runs), then random combinations.
    const singles = mutations.map((_, i) => [i]);
    const combos = fc.sample(pick, { seed, numRuns: Math.max(RUNS_AUTHENTICATED - singles.length, Math.ceil(RUNS_AUTHENTICATED / 3)) });
    const chosen = singles.length <= RUNS_AUTHENTICATED ? [...singles, ...combos] : fc.sample(pick, { seed, numRuns: RUNS_AUTHENTICATED });
    for (const indexes of chosen) {
      const s = initial(base, true, 'valid');
      for (const i of indexes) {
        mutations[i]!.apply(s);
        s.poisons.push(mutations[i]!.name);
        s.mustRefuse ||= mutations[i]!.declared;
      }
      out.push(s);
    }
  }
  if (badAuth.length > 0) {
    const withPoison = fc.sample(fc.tuple(fc.nat({ max: badAuth.length - 1 }), fc.option(fc.nat({ max: Math.max(0, mutations.length - 1) }))), {
      seed: seed + 1,
      numRuns: RUNS_UNAUTHENTICATED,
    });
    // Every kind of bad credentials once on the unspoiled request, then with spoiled ones.
    const all: [number, number | null][] = [...badAuth.map((_, i) => [i, null] as [number, null]), ...withPoison];
    for (const [a, m] of all) {
      const s = initial(base, false, badAuth[a]![1]);
      s.poisons.push(`auth: ${badAuth[a]![0]}`);
      s.mustRefuse = true;
      if (m !== null && mutations.length > 0) {
        mutations[m]!.apply(s);
        s.poisons.push(mutations[m]!.name);
      }
      out.push(s);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sending

function writeJson(v: Json): string {
  if (v instanceof RawJson) return v.text;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(writeJson).join(',')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${JSON.stringify(k)}:${writeJson(x)}`)
    .join(',')}}`;
}

const encodeUrl = (v: UrlValue) => (v instanceof RawUrl ? v.encoded : encodeURIComponent(v));
const decodedUrl = (v: UrlValue) => (v instanceof RawUrl ? v.decoded : v);

function requestOf(s: Spoiled): { url: string; init: RequestInit } {
  const { base } = s;
  const path = base.route.replace(/\{(\w+)\}/g, (_, k: string) => encodeUrl(s.path[k]!));
  const signedPath = base.route.replace(/\{(\w+)\}/g, (_, k: string) => decodedUrl(s.path[k]!));
  const headers: Record<string, string> = {};
  const query = [...s.query];
  let body: BodyInit | undefined;

  if (base.auth === 'agora' && base.method === 'GET') {
    const params: Record<string, string> = { apiKey: s.auth === 'unknown-key' ? 'unknown-api-key-0000000000000000' : KEY.apiKey };
    for (const [k, v] of query) params[k] = decodedUrl(v);
    query.push(['apiKey', params.apiKey!]);
    if (s.auth !== 'unsigned') {
      const signature = s.auth === 'wrong-signature' ? 'AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D' : sign('GET', signedPath, params, KEY.apiSecret);
      query.push(['signature', new RawUrl(signature, signature)]);
    }
  } else if (base.auth === 'admin' || base.auth === 'basic') {
    const value = s.authenticated ? (base.auth === 'admin' ? `Bearer ${ADMIN}` : basic) : s.auth;
    if (value) headers.authorization = value;
  }

  if (s.body.kind === 'json') {
    let value = s.body.value;
    if (base.auth === 'agora') {
      const fields: Record<string, unknown> = { ...(JSON.parse(writeJson(value)) as Record<string, unknown>), apiKey: s.auth === 'unknown-key' ? 'unknown-api-key-0000000000000000' : KEY.apiKey };
      value = { ...value, apiKey: fields.apiKey as string };
      if (s.auth !== 'unsigned') value.signature = s.auth === 'wrong-signature' ? 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' : signOrNot(base.method, signedPath, fields);
    }
    body = writeJson(value);
    headers['content-type'] = s.body.contentType;
  } else if (s.body.kind === 'raw') {
    body = s.body.text;
    if (s.body.contentType !== undefined) headers['content-type'] = s.body.contentType;
  } else if (s.body.kind === 'multipart') {
    const form = new FormData();
    if (s.body.file !== null) form.append('file', new Blob([s.body.file as BlobPart], { type: 'text/plain' }), 'keys.txt');
    body = form;
  }
  const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeUrl(v)}`).join('&');
  return { url: `${path}${qs ? `?${qs}` : ''}`, init: { method: base.method, headers, ...(body === undefined ? {} : { body }) } };
}

/**
 * Agora's signature over the fields, or a wrong one when they cannot be signed: a value nested
 * 5,000 deep overflows JSON.stringify's stack here. The server must refuse it either way.
 */
function signOrNot(method: string, path: string, fields: Record<string, unknown>): string {
  try {
    return sign(method, path, fields, KEY.apiSecret);
  } catch (err) {
    if (err instanceof RangeError) return 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=';
    throw err;
  }
}

/** What is wrong with an error answer's body for its route family, or undefined. */
function envelopeProblem(family: Family, status: number, body: unknown): string | undefined {
  const b = body as Record<string, any> | null;
  // One of the codes of src/errors.ts, with the status that code has.
  const stable = (code: unknown) => typeof code === 'string' && Object.hasOwn(ERROR_STATUS, code) && ERROR_STATUS[code as ErrorCode] === status;
  if (b === null || typeof b !== 'object') return 'not a JSON object';
  switch (family) {
    case 'agora-numeric':
      return typeof b.status === 'number' && b.status !== 0 && typeof b.statusReason === 'string' && stable(b.code) ? undefined : 'not {status≠0, statusReason, code}';
    case 'agora-text':
      return b.status === 'failed' && typeof b.statusReason === 'string' && stable(b.code) ? undefined : 'not {status:"failed", statusReason, code}';
    case 'license-api':
      return b.code === status && typeof b.message === 'string' && b.data === null && stable(b.error) ? undefined : 'not {code:<status>, message, data:null, error}';
    case 'extension':
      // A refusal names its reason's stable name (LICENSE_INVALID …) rather than an error code.
      return b.code === status && typeof b.message === 'string' && (stable(b.error) || (status === 403 && typeof b.reason === 'number' && /^[A-Z_]+$/.test(String(b.error))))
        ? undefined
        : 'not {code:<status>, reason, error, message}';
    case 'vendor':
    case 'public':
      return typeof b.error === 'object' && b.error !== null && stable(b.error.code) && typeof b.error.message === 'string' ? undefined : 'not {error:{code, message}}';
  }
}

const codeOf = (body: any): string => String(body?.code && typeof body.code === 'string' ? body.code : (body?.error?.code ?? body?.error ?? '-'));

/** The log of Agora's requests records every one, refused or not: that is its purpose. */
const WATCHED = TABLES.filter((table) => table !== 'agora_requests');

/** Count and content of every table, in one statement. */
async function snapshot(): Promise<Record<string, string>> {
  const parts = WATCHED.map((table) => sql`select ${table} as t, count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text)), '') as v from ${sql.table(table)} x`);
  const { rows } = await sql<{ t: string; v: string }>`${sql.join(parts, sql` union all `)}`.execute(tdb.db);
  return Object.fromEntries(rows.map((r) => [r.t, r.v]));
}

interface Failure {
  route: string;
  request: string;
  poisons: string[];
  status: number;
  problem: string;
  code: string;
}

function describeRequest(url: string, init: RequestInit): string {
  const body = typeof init.body === 'string' ? init.body : init.body instanceof FormData ? '<form>' : '';
  const short = (s: string) => (s.length > 160 ? `${s.slice(0, 160)}…(${s.length})` : s);
  return `${init.method} ${short(url)}${body ? ` ${short(body)}` : ''}`;
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  tdb = await openTestDatabase();
  // No per-customer limit and no failure budget per address: a fuzz run is many requests a second,
  // many with spoiled credentials, all from one source, and 429s would hide the answers.
  // A session lives through the run (EXT_HEARTBEAT_SECONDS); certificates need a signing key.
  t = buildApp(tdb.db, certificateEnv({ LICENSE_RATE_LIMIT: '0', AUTH_FAILURES_PER_MINUTE: '0', EXT_HEARTBEAT_SECONDS: '3600' }));
  await world();
}, 120_000);
afterAll(async () => {
  await tdb?.close();
});

describe('fuzz: malformed input on every route', () => {
  it('covers every route the app serves', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    const covered = bases().map((b) => `${b.method} ${b.route}`);
    expect(new Set(covered)).toEqual(new Set([...documented, ...UNDOCUMENTED]));
  });

  it(`answers 4xx in the route's envelope and changes nothing (seed ${SEED})`, async () => {
    console.log(`fuzz seed ${SEED} (FUZZ_SEED to change it), ${RUNS_AUTHENTICATED} authenticated runs per route (FUZZ_RUNS)`);
    const failures: Failure[] = [];
    let before = await snapshot();
    let sent = 0;
    for (const [i, base] of bases().entries()) {
      for (const s of spoiledRequests(base, SEED + i * 7919)) {
        const { url, init } = requestOf(s);
        const fail = (status: number, problem: string, code: string) =>
          failures.push({ route: `${base.method} ${base.route}`, request: describeRequest(url, init), poisons: s.poisons, status, problem, code });
        let status = 0;
        let body: unknown;
        let text = '';
        try {
          const r = await t.app.request(url, init);
          status = r.status;
          text = await r.text();
          body = (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
        } catch (err) {
          fail(0, `threw: ${(err as Error).message}`, '-');
          continue;
        }
        sent++;
        const code = codeOf(body);
        if (status >= 500) fail(status, `5xx: ${text.slice(0, 200)}`, code);
        else if (status >= 400) {
          const problem = envelopeProblem(familyOf(base.route), status, body);
          if (problem) fail(status, `error body ${problem}: ${text.slice(0, 200)}`, code);
        } else if (s.mustRefuse && !refusedInBody(base, body)) fail(status, `accepted: ${text.slice(0, 200)}`, code);
        const after = await snapshot();
        const changed = WATCHED.filter((table) => after[table] !== before[table]);
        if (changed.length > 0) {
          fail(status, `changed ${changed.join(', ')}`, code);
          before = after;
        }
      }
    }
    const report = groupFailures(failures);
    if (failures.length > 0) console.log(`fuzz: ${failures.length} failures of ${sent} requests\n${report}`);
    expect(report).toBe('');
  }, 600_000);

  it('the unspoiled requests, authenticated, succeed: the refusals came from the spoiling', async () => {
    const wrong: string[] = [];
    for (const base of bases()) {
      const { url, init } = requestOf(initial(base, true, 'valid'));
      const r = await t.app.request(url, init);
      if (r.status >= 300) wrong.push(`${base.method} ${base.route}: ${r.status} ${(await r.text()).slice(0, 200)}`);
    }
    expect(wrong).toEqual([]);
  }, 120_000);
});

/** POST /v1/usage-events answers 200 with per-event results: a refused event is rejected there. */
function refusedInBody(base: Base, body: unknown): boolean {
  if (base.route !== '/v1/usage-events') return false;
  const b = body as { accepted?: unknown; results?: { status?: unknown }[] };
  return b.accepted === 0 && Array.isArray(b.results) && b.results.every((r) => r.status === 'rejected');
}

/**
 * Failures grouped by route, problem kind, status and code; under each, every distinct spoiling
 * that failed so (auth and poisons), with one example request.
 */
function groupFailures(failures: Failure[]): string {
  const groups = new Map<string, Map<string, Failure>>();
  for (const f of failures) {
    const kind = f.problem.replace(/:.*$/s, '');
    const key = `${f.route} | ${kind} | ${f.status} ${f.code}`;
    const distinct = groups.get(key) ?? new Map<string, Failure>();
    const spoiling = [...f.poisons].sort().join('; ');
    if (!distinct.has(spoiling)) distinct.set(spoiling, f);
    groups.set(key, distinct);
  }
  return [...groups]
    .map(([key, distinct]) => `${key}\n${[...distinct]
      .map(([spoiling, f]) => `    [${spoiling}] ${f.request}\n      → ${f.problem.slice(0, 200)}`)
      .join('\n')}`)
    .join('\n');
}
