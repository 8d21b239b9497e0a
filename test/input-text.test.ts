import { beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ADMIN, dayStart, KEY } from './helpers/app.ts';
import { licenseWorld, TRIAL_PID, type LicenseClient } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';
import { signedBody } from '../src/agora/signature.ts';

/**
 * Text PostgreSQL cannot store (U+0000, lone UTF-16 surrogates) is a 400 in the route's own
 * envelope wherever it enters: path, query, Basic credentials, JSON body (also as JSON escapes),
 * and never a 500. A JSON body nested thousands deep is a 400 too.
 */
const ctx = setupTestApp();
let w: { p101: LicenseClient; admin: LicenseClient };
beforeEach(async () => {
  w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
});

/** Rows in every table the requests below could write. */
async function snapshot() {
  const r = await sql<{ n: string }>`
    select (select count(*) from customers) || '/' || (select count(*) from plans) || '/' || (select count(*) from usage_events)
        || '/' || (select count(*) from licenses) || '/' || (select count(*) from license_allocations)
        || '/' || (select count(*) from license_renewals) || '/' || (select count(*) from license_skus) as n`.execute(ctx.tdb.db);
  return r.rows[0]!.n;
}

const admin = (path: string, init: RequestInit = {}) =>
  ctx.t.app.request(path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });

/** A signed POST as Agora sends it, with the body written as given (so `\u0000` escapes stay escapes). */
function agoraPost(path: string, fields: Record<string, unknown>) {
  const body = signedBody('POST', path, { ...fields, apiKey: KEY.apiKey }, KEY.apiSecret);
  return ctx.t.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function expectVendor400(r: Response, pattern: RegExp) {
  expect(r.status).toBe(400);
  const body = (await r.json()) as any;
  expect(body.error.code).toBe('invalid_parameter');
  expect(body.error.message).toMatch(pattern);
}

async function expectAgoraText400(r: Response, pattern: RegExp) {
  expect(r.status).toBe(400);
  const body = (await r.json()) as any;
  expect(body).toMatchObject({ status: 'failed', code: 'invalid_parameter' });
  expect(body.statusReason).toMatch(pattern);
}

function expectLicense400(a: { status: number; body: any }, pattern: RegExp) {
  expect(a.status).toBe(400);
  expect(a.body).toMatchObject({ code: 400, data: null, error: 'invalid_parameter' });
  expect(a.body.message).toMatch(pattern);
}

const NUL = /NUL character/;
const SURROGATE = /lone UTF-16 surrogate/;

describe('text the database cannot store', () => {
  it('in Agora provisioning bodies: planId, customerName (NUL and a lone surrogate, as JSON escapes)', async () => {
    const before = await snapshot();
    await expectAgoraText400(await agoraPost('/customers/new', { customerId: 'c9', planId: 'a\u0000b' }), NUL);
    await expectAgoraText400(await agoraPost('/customers/new', { customerId: 'c9', planId: 'basic', customerName: 'a\u0000b' }), NUL);
    await expectAgoraText400(await agoraPost('/customers/new', { customerId: 'c9', planId: 'basic', customerName: 'x\ud800' }), SURROGATE);
    // Still written as an escape on the wire.
    expect(JSON.stringify({ s: 'a\u0000\ud800' })).toBe('{"s":"a\\u0000\\ud800"}');
    expect(await snapshot()).toBe(before);
    expect((await agoraPost('/customers/new', { customerId: 'c9', planId: 'basic', customerName: 'fine' })).status).toBe(200);
  });

  it('in vendor bodies, paths and query parameters', async () => {
    const before = await snapshot();
    const plan = { planId: 'gold', effectiveFrom: '2026-01', currency: 'USD', usageUnit: 'Minute', tiers: [{ upTo: null, unitPrice: '0.01' }] };
    await expectVendor400(await admin('/v1/plans', { method: 'POST', body: JSON.stringify({ ...plan, name: 'a\u0000b' }) }), NUL);
    await expectVendor400(await admin('/v1/plans', { method: 'POST', body: JSON.stringify({ ...plan, name: '\udc00' }) }), SURROGATE);
    await expectVendor400(await admin('/v1/plans/a%00b'), NUL);
    await expectVendor400(await admin('/v1/skus/a%00b'), NUL);
    await expectVendor400(await admin('/v1/pids?sku=a%00b'), NUL);
    await expectVendor400(await admin('/v1/licenses?customerId=a%00b'), NUL);
    await expectVendor400(await admin('/v1/license-quotas?customerId=a%00b'), NUL);
    await expectVendor400(await admin('/v1/statements?a%00=1'), NUL);
    expect(await snapshot()).toBe(before);
    expect((await admin('/v1/plans', { method: 'POST', body: JSON.stringify({ ...plan, name: 'Gold' }) })).status).toBe(201);
  });

  it('in query text that is not percent-encoded UTF-8: a broken escape, a byte that is not UTF-8, a surrogate in UTF-8', async () => {
    const NOT_UTF8 = /not valid percent-encoded UTF-8/;
    await expectVendor400(await admin('/v1/purchases?customerId=a%zz'), NOT_UTF8);
    await expectVendor400(await admin('/v1/renewals?customerId=%FF'), NOT_UTF8);
    await expectVendor400(await admin('/v1/licenses?customerId=a%ED%A0%80b'), NOT_UTF8);
    await expectVendor400(await admin('/v1/plans/a%FF'), NOT_UTF8);
    // A well-formed escape of real text still reads as that text.
    expect((await admin('/v1/licenses?customerId=caf%C3%A9')).status).toBe(200);
  });

  it('in the license API: query values, bodies and Basic credentials', async () => {
    const before = await snapshot();
    expectLicense400(await w.p101.call('POST', '/v2/active', { pid: 'a\u0000b', licenseKey: 'k', appid: '101' }), NUL);
    expectLicense400(await w.p101.get('/v2/detail', { appid: '101', key: 'a\u0000b' }), NUL);
    expectLicense400(await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 1, creator: 'a\u0000b' }), NUL);
    expectLicense400(await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 1, creator: '\ud800' }), SURROGATE);
    expectLicense400(await w.p101.post('/v2/renew', { appid: '101', license: 'L', renewId: 'a\u0000b' }), NUL);
    const nulUser = await ctx.t.app.request('/dabiz/license/v2/detail?appid=101&key=k', { headers: { authorization: 'Basic YQA6Yg==' } });
    expect(Buffer.from('YQA6Yg==', 'base64').toString()).toBe('a\u0000:b');
    expect(nulUser.status).toBe(400);
    expect(((await nulUser.json()) as any).error).toBe('invalid_parameter');
    expect(await snapshot()).toBe(before);
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200);
  });

  it('in a usage event: that event is rejected, the valid ones of the batch are stored', async () => {
    const at = dayStart('2025-06-20');
    const r = await admin('/v1/usage-events', {
      method: 'POST',
      body: JSON.stringify({
        events: [
          { id: 'ok', projectId: 101, quantity: 1, occurredAt: at },
          { id: 'nul-desc', projectId: 101, quantity: 1, occurredAt: at, description: 'a\u0000b' },
          { id: 'bad-id-\ud800x', projectId: 101, quantity: 1, occurredAt: at },
          { id: 'lone-desc', projectId: 101, quantity: 1, occurredAt: at, description: '\udfff' },
          { id: 'nul\u0000id', projectId: 101, quantity: 1, occurredAt: at },
        ],
      }),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    expect(body).toMatchObject({ accepted: 1, duplicates: 0, rejected: 4 });
    expect(body.results.map((x: any) => [x.status, x.code ?? null])).toEqual([
      ['accepted', null],
      ['rejected', 'invalid_parameter'],
      ['rejected', 'invalid_parameter'],
      ['rejected', 'invalid_parameter'],
      ['rejected', 'invalid_parameter'],
    ]);
    expect(body.results[1].message).toMatch(NUL);
    expect(body.results[2].message).toMatch(SURROGATE);
    expect(body.results[3].message).toMatch(SURROGATE);
    const stored = await ctx.tdb.db.selectFrom('usage_events').select('id').execute();
    expect(stored.map((e) => e.id)).toEqual(['ok']);
  });
});

describe('deeply nested JSON', () => {
  const deep = (n: number) => `{"customerId":"c9","planId":"basic","x":${'['.repeat(n)}${']'.repeat(n)}}`;

  it('answers 400 on an unsigned POST /customers/new, not a stack overflow', async () => {
    const r = await ctx.t.app.request('/customers/new', { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep(5000) });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ status: 'failed', code: 'invalid_json' });
  });

  it('answers 400 on vendor and license API bodies', async () => {
    const v = await admin('/v1/plans', { method: 'POST', body: deep(5000) });
    expect(v.status).toBe(400);
    expect(((await v.json()) as any).error.code).toBe('invalid_json');
    const e = await admin('/v1/usage-events', { method: 'POST', body: `{"events":[{"id":"a","x":${'['.repeat(5000)}${']'.repeat(5000)}}]}` });
    expect(e.status).toBe(400);
    expect(((await e.json()) as any).error.code).toBe('invalid_json');
    const l = await ctx.t.app.request('/dabiz/license/v2/allocate?appid=101', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: `{"pid":"${TRIAL_PID}","count":1,"creator":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    });
    expect(l.status).toBe(400);
    expect(((await l.json()) as any).error).toBe('invalid_json');
  });

  it('keeps bodies of ordinary depth working', async () => {
    const ok = await agoraPost('/customers/new', { customerId: 'c9', planId: 'basic' });
    expect(ok.status).toBe(200);
  });
});
