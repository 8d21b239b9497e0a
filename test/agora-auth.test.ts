import { createHmac } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { javaUrlEncode, signedGetUrl } from '../src/agora/signature.ts';
import { dayStart, KEY, KEY2, provision, sign } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Agora's signature checked through the real app: GET /usage (numeric envelope), POST /customers/new
 * and PUT /customers/{id}/deactivate (text envelope). Every rejection is paired with a control
 * request that the server accepts, so a 401 here is the signature's doing and nothing else's.
 */

const ctx = setupTestApp();

type Key = typeof KEY;
type Params = Record<string, string | number>;

/** A past one-hour window: the usage poll answers 200 with an empty statement. */
const FROM = dayStart('2021-05-02');
const UNKNOWN_KEY = { apiKey: 'AAAAbbbbCCCCddddEEEEffffGGGGhhhh', apiSecret: 'not-a-secret-of-this-server-0000' };

interface Endpoint {
  name: string;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  envelope: 'numeric' | 'text';
  params: Params;
  /** Another path of the same method whose signature must not be accepted here. */
  otherPath: string;
  changed: [string, string | number];
  added: [string, string | number];
  setup(): Promise<void>;
  /** What a success leaves behind, checked after every accepted control request. */
  succeeded(res: Response): Promise<void>;
  /** Nothing happened: checked after every rejected request. */
  untouched(): Promise<void>;
}

const customerRow = (id: string) => ctx.tdb.db.selectFrom('customers').selectAll().where('customer_id', '=', id).executeTakeFirst();

const endpoints: Endpoint[] = [
  {
    name: 'GET /usage',
    method: 'GET',
    path: '/usage',
    envelope: 'numeric',
    params: { fromTs: FROM, toTs: FROM + 3599, pageNum: 1 },
    otherPath: '/bill',
    changed: ['pageNum', 2],
    added: ['limit', 10],
    setup: async () => undefined,
    succeeded: async (res) => {
      const body = (await res.json()) as { status: unknown; data: { totalSize: number; hasNext: boolean } };
      expect(body.status).toBe(0);
      expect(body.data).toMatchObject({ totalSize: 0, hasNext: false });
    },
    // A rejected poll must not fix the window's statement.
    untouched: async () => {
      expect(await ctx.tdb.db.selectFrom('statements').select('id').execute()).toEqual([]);
    },
  },
  {
    name: 'POST /customers/new',
    method: 'POST',
    path: '/customers/new',
    envelope: 'text',
    params: { customerId: 'c-auth', planId: 'basic', customerName: 'Ann Lee' },
    otherPath: '/customers/c-auth/projects/new',
    changed: ['planId', 'premium'],
    added: ['customerEmail', 'ann@example.com'],
    setup: async () => undefined,
    succeeded: async (res) => {
      expect(await res.json()).toEqual({ status: 'success', statusReason: '' });
      expect((await customerRow('c-auth'))?.plan_id).toBe('basic');
    },
    untouched: async () => {
      expect(await customerRow('c-auth')).toBeUndefined();
    },
  },
  {
    name: 'PUT /customers/{id}/deactivate',
    method: 'PUT',
    path: '/customers/c-auth/deactivate',
    envelope: 'text',
    params: {},
    otherPath: '/customers/c-other/deactivate',
    changed: ['apiKey', KEY2.apiKey],
    added: ['reason', 'user left'],
    setup: async () => {
      await provision(ctx.t, 'c-auth', [101]);
      await provision(ctx.t, 'c-other', [102]);
    },
    succeeded: async (res) => {
      expect(await res.json()).toEqual({ status: 'success', statusReason: '' });
      expect((await customerRow('c-auth'))?.deactivated_at).toBeInstanceOf(Date);
    },
    untouched: async () => {
      expect((await customerRow('c-auth'))?.deactivated_at).toBeNull();
      expect((await customerRow('c-other'))?.deactivated_at).toBeNull();
    },
  },
];

/** The request as it goes on the wire. For GET, `signature` is put in the query exactly as given. */
async function send(e: Endpoint, params: Record<string, unknown>, path = e.path): Promise<Response> {
  if (e.method === 'GET') {
    const query = Object.entries(params)
      .map(([k, v]) => (k === 'signature' ? `signature=${String(v)}` : `${javaUrlEncode(k)}=${javaUrlEncode(String(v))}`))
      .join('&');
    return ctx.t.app.request(`${path}?${query}`);
  }
  return ctx.t.app.request(path, { method: e.method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
}

/** The params with apiKey and a signature made over `signedPath` and `signedParams`. */
function signed(e: Endpoint, key: Key, opts: { signedPath?: string; signedParams?: Params } = {}): Params {
  const params = { ...(opts.signedParams ?? e.params), apiKey: key.apiKey };
  return { ...params, signature: sign(e.method, opts.signedPath ?? e.path, params, key.apiSecret) };
}

async function expectError(e: Endpoint, res: Response, status: number, code: string): Promise<void> {
  const body = (await res.json()) as { status: unknown; statusReason: unknown; code: unknown };
  expect({ http: res.status, code: body.code }).toEqual({ http: status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  if (e.envelope === 'numeric') {
    expect(typeof body.status).toBe('number');
    expect(body.status).not.toBe(0);
  } else {
    expect(body.status).toBe('failed');
  }
  expect(typeof body.statusReason).toBe('string');
  expect((body.statusReason as string).length).toBeGreaterThan(0);
}

describe.each(endpoints)('$name', (e) => {
  beforeEach(async () => {
    await e.setup();
  });

  it('accepts a correctly signed request (control)', async () => {
    const res = await send(e, signed(e, KEY));
    expect(res.status).toBe(200);
    await e.succeeded(res);
  });

  it('accepts a request signed with the second active key pair (rotation)', async () => {
    const res = await send(e, signed(e, KEY2));
    expect(res.status).toBe(200);
    await e.succeeded(res);
  });

  it('rejects a missing apiKey with 401 unknown_api_key', async () => {
    const { apiKey: _omit, ...params } = signed(e, KEY);
    await expectError(e, await send(e, params), 401, 'unknown_api_key');
    await e.untouched();
  });

  it('rejects an empty apiKey with 401 unknown_api_key', async () => {
    await expectError(e, await send(e, { ...signed(e, KEY), apiKey: '' }), 401, 'unknown_api_key');
    await e.untouched();
  });

  it('rejects an apiKey the server does not know with 401 unknown_api_key', async () => {
    await expectError(e, await send(e, signed(e, UNKNOWN_KEY)), 401, 'unknown_api_key');
    await e.untouched();
  });

  it('rejects a missing signature with 401 invalid_signature', async () => {
    const { signature: _omit, ...params } = signed(e, KEY);
    await expectError(e, await send(e, params), 401, 'invalid_signature');
    await e.untouched();
  });

  it('rejects an empty signature with 401 invalid_signature', async () => {
    await expectError(e, await send(e, { ...signed(e, KEY), signature: '' }), 401, 'invalid_signature');
    await e.untouched();
  });

  it('rejects a wrong signature of the right shape', async () => {
    const params = signed(e, KEY);
    // 20 bytes of base64 that are not the HMAC of this request.
    const wrong = Buffer.alloc(20, 7).toString('base64');
    await expectError(e, await send(e, { ...params, signature: e.method === 'GET' ? javaUrlEncode(wrong) : wrong }), 401, 'invalid_signature');
    await e.untouched();
  });

  it('rejects a signature that is not base64 at all', async () => {
    await expectError(e, await send(e, { ...signed(e, KEY), signature: 'not-a-signature' }), 401, 'invalid_signature');
    await e.untouched();
  });

  it('rejects a signature made with the right apiKey but the other pair’s secret', async () => {
    const params = signed(e, { apiKey: KEY.apiKey, apiSecret: KEY2.apiSecret });
    await expectError(e, await send(e, params), 401, 'invalid_signature');
    await e.untouched();
  });

  it('rejects a signature made for another path', async () => {
    await expectError(e, await send(e, signed(e, KEY, { signedPath: e.otherPath })), 401, 'invalid_signature');
    await e.untouched();
  });

  it('rejects a parameter changed after signing', async () => {
    const [k, v] = e.changed;
    await expectError(e, await send(e, { ...signed(e, KEY), [k]: v }), 401, 'invalid_signature');
    await e.untouched();
  });

  it('rejects a parameter added after signing', async () => {
    const [k, v] = e.added;
    await expectError(e, await send(e, { ...signed(e, KEY), [k]: v }), 401, 'invalid_signature');
    await e.untouched();
  });

  it('accepts the same extra parameter when it was signed', async () => {
    const [k, v] = e.added;
    const res = await send(e, signed(e, KEY, { signedParams: { ...e.params, [k]: v } }));
    expect(res.status).toBe(200);
  });
});

describe('GET signature encodings', () => {
  const params = { fromTs: FROM, toTs: FROM + 3599, pageNum: 1, apiKey: KEY.apiKey };

  it('accepts the signature URL-encoded in the query, as signedGetUrl writes it', async () => {
    const url = signedGetUrl('/usage', params, KEY.apiSecret);
    expect(url).toMatch(/signature=[^&]*%3D$/); // the base64 padding is on the wire as %3D
    const res = await ctx.t.app.request(url);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: unknown }).status).toBe(0);
  });

  it('accepts the signature when the client encodes the already-encoded signature once more (%253D)', async () => {
    const encodedOnce = sign('GET', '/usage', params, KEY.apiSecret);
    expect(encodedOnce).toMatch(/%3D$/);
    const twice = javaUrlEncode(encodedOnce);
    expect(twice).toMatch(/%253D$/);
    const query = Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const res = await ctx.t.app.request(`/usage?${query}&signature=${twice}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: unknown }).status).toBe(0);
  });

  it('accepts Agora’s published example (spec test vector 1)', async () => {
    const res = await ctx.t.app.request(
      `/usage?fromTs=1619913600&toTs=1619917200&pageNum=1&apiKey=${KEY.apiKey}&signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D`,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: unknown; statusReason: unknown; data: unknown };
    expect(body).toEqual({
      status: 0,
      statusReason: 'Success getting usage data',
      data: { totalSize: 0, pageNum: 1, hasNext: false, data: [] },
    });
  });

  it('rejects Agora’s published example with one parameter changed', async () => {
    const res = await ctx.t.app.request(
      `/usage?fromTs=1619913600&toTs=1619917199&pageNum=1&apiKey=${KEY.apiKey}&signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D`,
    );
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: unknown }).code).toBe('invalid_signature');
  });

  it('rejects a repeated query parameter with 400 repeated_parameter', async () => {
    const url = signedGetUrl('/usage', params, KEY.apiSecret);
    const res = await ctx.t.app.request(`${url}&pageNum=1`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { status: unknown; statusReason: unknown; code: unknown };
    expect(body.code).toBe('repeated_parameter');
    expect(typeof body.status).toBe('number');
    expect(body.status).not.toBe(0);
    expect(typeof body.statusReason).toBe('string');
  });

  it('rejects a repeated signature with 400 repeated_parameter', async () => {
    const url = signedGetUrl('/usage', params, KEY.apiSecret);
    const sig = /signature=([^&]*)$/.exec(url)![1]!;
    const res = await ctx.t.app.request(`${url}&signature=${sig}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: unknown }).code).toBe('repeated_parameter');
  });
});

describe('POST/PUT signature: independent vectors', () => {
  const hmac = (source: string) => createHmac('sha1', `${KEY.apiSecret}&`).update(source, 'utf8').digest('base64');

  it('accepts spec test vector 3 (POST /customers/123456/projects/new) and rejects the one Agora’s page prints', async () => {
    await provision(ctx.t, '123456', []);
    const body = { projectId: 430892, apiKey: KEY.apiKey };
    const source = `POST&%2Fcustomers%2F123456%2Fprojects%2Fnew&apiKey%3D${KEY.apiKey}%26projectId%3D430892`;
    expect(hmac(source)).toBe('QRJDBm3gGmlFb5ZF9XBqm7u4EkI=');

    const bad = await ctx.t.app.request('/customers/123456/projects/new', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, signature: 'YZOl2v5q3I7o0x3F13tpnkq5aDI=' }),
    });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { code: unknown }).code).toBe('invalid_signature');
    expect(await ctx.tdb.db.selectFrom('projects').select('project_id').execute()).toEqual([]);

    const good = await ctx.t.app.request('/customers/123456/projects/new', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, signature: 'QRJDBm3gGmlFb5ZF9XBqm7u4EkI=' }),
    });
    expect(good.status).toBe(200);
    expect(await ctx.tdb.db.selectFrom('projects').select('project_id').execute()).toEqual([{ project_id: '430892' }]);
  });

  it.each([
    ['Java form (space as +)', 'Ann+Lee'],
    ['RFC 3986 form (space as %20)', 'Ann%20Lee'],
  ])('accepts a POST signed over the %s of a value with a space', async (_name, encodedName) => {
    const source = `POST&%2Fcustomers%2Fnew&apiKey%3D${KEY.apiKey}%26customerId%3Dc-sp%26customerName%3D${encodedName}%26planId%3Dbasic`;
    const res = await ctx.t.app.request('/customers/new', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'c-sp', customerName: 'Ann Lee', planId: 'basic', apiKey: KEY.apiKey, signature: hmac(source) }),
    });
    expect(res.status).toBe(200);
    expect((await customerRow('c-sp'))?.customer_name).toBe('Ann Lee');
  });
});

describe('POST/PUT bodies', () => {
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    ctx.t.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  async function expectFailed(res: Response, status: number, code: string | RegExp) {
    expect(res.status).toBe(status);
    const body = (await res.json()) as { status: unknown; statusReason: unknown; code: unknown };
    expect(body.status).toBe('failed');
    expect(typeof body.statusReason).toBe('string');
    expect((body.statusReason as string).length).toBeGreaterThan(0);
    expect(body.code).toMatch(code);
  }

  it('rejects a body that is not JSON with 400 invalid_json', async () => {
    await expectFailed(await post('/customers/new', 'customerId=c1&planId=basic'), 400, /^invalid_json$/);
    await expectFailed(await post('/customers/new', '{"customerId":"c1",'), 400, /^invalid_json$/);
    await expectFailed(await post('/customers/new', ''), 400, /^invalid_json$/);
    expect(await customerRow('c1')).toBeUndefined();
  });

  it('rejects a non-JSON body on PUT deactivate with 400 invalid_json', async () => {
    await provision(ctx.t, 'c1', []);
    const res = await ctx.t.app.request('/customers/c1/deactivate', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: 'nope' });
    await expectFailed(res, 400, /^invalid_json$/);
    expect((await customerRow('c1'))?.deactivated_at).toBeNull();
  });

  it.each([
    ['an array', JSON.stringify([{ customerId: 'c1', planId: 'basic', apiKey: KEY.apiKey }])],
    ['null', 'null'],
    ['a string', '"customerId=c1"'],
    ['a number', '42'],
  ])('rejects a JSON body that is %s with 400', async (_name, body) => {
    await expectFailed(await post('/customers/new', body), 400, /^invalid_json$/);
  });

  it('rejects a body over 64 KiB with 413 payload_too_large in the failed envelope (no content-length)', async () => {
    const params = { customerId: 'c-big', planId: 'basic', pad: 'x'.repeat(70 * 1024) };
    const body = JSON.stringify({ ...params, apiKey: KEY.apiKey, signature: sign('POST', '/customers/new', { ...params, apiKey: KEY.apiKey }, KEY.apiSecret) });
    await expectFailed(await post('/customers/new', body), 413, /^payload_too_large$/);
    expect(await customerRow('c-big')).toBeUndefined();
  });

  it('rejects a body over 64 KiB with 413 payload_too_large when content-length announces it', async () => {
    const body = JSON.stringify({ customerId: 'c-big', planId: 'basic', pad: 'x'.repeat(70 * 1024) });
    await expectFailed(await post('/customers/new', body, { 'content-length': String(Buffer.byteLength(body)) }), 413, /^payload_too_large$/);
  });

  it('rejects an oversized body on PUT deactivate with 413', async () => {
    await provision(ctx.t, 'c1', []);
    const res = await ctx.t.app.request('/customers/c1/deactivate', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'y'.repeat(65 * 1024) }),
    });
    await expectFailed(res, 413, /^payload_too_large$/);
  });

  it('accepts a signed body just under 64 KiB (control for the limit)', async () => {
    const params = { customerId: 'c-big', planId: 'basic', pad: 'x'.repeat(60 * 1024), apiKey: KEY.apiKey };
    const body = JSON.stringify({ ...params, signature: sign('POST', '/customers/new', params, KEY.apiSecret) });
    expect(Buffer.byteLength(body)).toBeLessThan(64 * 1024);
    const res = await post('/customers/new', body);
    expect(res.status).toBe(200);
    expect((await customerRow('c-big'))?.plan_id).toBe('basic');
  });
});

describe('request log', () => {
  it('has one line per request with method, path, status and duration, and never the signature, apiKey or query', async () => {
    await provision(ctx.t, 'c-log', [7]);
    ctx.t.logs.length = 0;
    const usageParams = { fromTs: FROM, toTs: FROM + 3599, pageNum: 1, apiKey: KEY.apiKey };
    const url = signedGetUrl('/usage', usageParams, KEY.apiSecret);
    const postBody = { customerId: 'c-log', planId: 'gold', apiKey: KEY2.apiKey };
    const postSig = sign('POST', '/customers/new', postBody, KEY2.apiSecret);
    const putSig = sign('PUT', '/customers/c-log/projects/7/deactivate', { apiKey: KEY.apiKey }, KEY.apiSecret);

    const statuses = [
      (await ctx.t.app.request(url)).status,
      (await ctx.t.app.request(`${url}&pageNum=2`)).status,
      (await ctx.t.app.request(url.replace(/signature=.*$/, 'signature=AAAA'))).status,
      (
        await ctx.t.app.request('/customers/new', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...postBody, signature: postSig }),
        })
      ).status,
      (
        await ctx.t.app.request('/customers/c-log/projects/7/deactivate', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ apiKey: KEY.apiKey, signature: putSig }),
        })
      ).status,
    ];
    expect(statuses).toEqual([200, 400, 401, 200, 200]);

    expect(ctx.t.logs).toHaveLength(5);
    expect(ctx.t.logs.map((l) => [l.method, l.path, l.status])).toEqual([
      ['GET', '/usage', 200],
      ['GET', '/usage', 400],
      ['GET', '/usage', 401],
      ['POST', '/customers/new', 200],
      ['PUT', '/customers/c-log/projects/7/deactivate', 200],
    ]);
    for (const line of ctx.t.logs) expect(typeof line.ms).toBe('number');
    // A failed request names its stable code (a fixed word such as invalid_signature, never input).
    expect(ctx.t.logs.map((l) => l.code)).toEqual([undefined, 'repeated_parameter', 'invalid_signature', undefined, undefined]);

    const text = JSON.stringify(ctx.t.logs.map(({ code: _code, ...rest }) => rest));
    const getSig = decodeURIComponent(/signature=([^&]*)$/.exec(url)![1]!);
    for (const secret of [KEY.apiKey, KEY2.apiKey, KEY.apiSecret, KEY2.apiSecret, getSig, javaUrlEncode(getSig), postSig, putSig]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain('?');
    expect(text).not.toMatch(/fromTs|toTs|pageNum|signature|apiKey/);
  });
});
