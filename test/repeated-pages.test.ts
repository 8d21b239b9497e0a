import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RepeatedPages } from '../src/agora/repeated-pages.ts';
import { signedGetUrl } from '../src/agora/signature.ts';
import type { ExactJsonBytes } from '../src/json.ts';
import { buildApp, DAY, dayStart, KEY, KEY2, provision, type TestApp } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();

const DAY_1 = dayStart('2026-03-01');
const usageWindow = { fromTs: DAY_1, toTs: DAY_1 + DAY - 1 };
const billWindow = { fromTs: dayStart('2026-03-01'), toTs: dayStart('2026-04-01') - 1 };

/** Two customers' usage on 2026-03-01, and the clock on the day after. */
async function seed(t: TestApp) {
  t.setNow('2026-03-02T10:00:00Z');
  await provision(t, 'c1', [1, 2, 3]);
  const events = [1, 2, 3].map((p) => ({ id: `e-${p}`, projectId: p, quantity: `${p}.25`, occurredAt: DAY_1 + 60 * p }));
  const r = await t.admin('POST', '/v1/usage-events', { events });
  expect(r.status, await r.text()).toBe(200);
}

const url = (path: string, params: Record<string, string | number>, key = KEY) => signedGetUrl(path, { ...params, apiKey: key.apiKey }, key.apiSecret);

async function answer(t: TestApp, u: string, init?: RequestInit) {
  const r = await t.app.request(u, init);
  return { status: r.status, headers: [...r.headers], body: new Uint8Array(await r.arrayBuffer()) };
}

async function scrape(t: TestApp): Promise<string> {
  return (await t.app.request('/metrics')).text();
}

/** The value of one series in Prometheus text (0: not there). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const fromMemory = async (t: TestApp, kind: 'usage' | 'bill') => value(await scrape(t), `agora_pages_from_memory_total{kind="${kind}"}`);

async function agoraLog(t: TestApp) {
  await t.app.agoraLog.flush();
  const r = await t.admin('GET', '/v1/agora-requests?limit=100');
  const body = (await r.json()) as { data: Record<string, unknown>[] };
  return body.data;
}

describe("Agora's repeated page polls, answered from memory by their URL", () => {
  it('answer the same bytes and headers, and are logged, measured and recorded like the first', async () => {
    const t = ctx.t;
    await seed(t);
    const u = url('/usage', { ...usageWindow, pageNum: 1, limit: 2 });
    const first = await answer(t, u);
    expect(first.status).toBe(200);
    expect(await fromMemory(t, 'usage')).toBe(0);
    const again = await answer(t, u);
    expect(await fromMemory(t, 'usage')).toBe(1);
    expect(again).toEqual(first);
    expect(JSON.parse(new TextDecoder().decode(again.body))).toMatchObject({ status: 0, data: { totalSize: 3, pageNum: 1, hasNext: true } });

    const text = await scrape(t);
    expect(value(text, 'http_request_duration_seconds_count{method="GET",route="/usage",status="200"}')).toBe(2);
    expect(value(text, 'agora_requests_total{kind="usage",status="200"}')).toBe(2);

    const lines = t.logs.filter((l) => l.path === '/usage');
    expect(lines).toHaveLength(2);
    expect(lines.map(({ at: _at, ms: _ms, ...rest }) => rest)).toEqual([
      { method: 'GET', path: '/usage', status: 200 },
      { method: 'GET', path: '/usage', status: 200 },
    ]);
    expect(lines.every((l) => typeof l.ms === 'number' && typeof l.at === 'string')).toBe(true);

    const entries = await agoraLog(t);
    const usage = entries.filter((e) => e.kind === 'usage');
    expect(usage).toHaveLength(2);
    const asked = (e: Record<string, unknown>) => ({ method: e.method, path: e.path, query: e.query, apiKeyId: e.apiKeyId, status: e.status, errorCode: e.errorCode });
    expect(asked(usage[0]!)).toEqual(asked(usage[1]!));
    expect(asked(usage[0]!)).toEqual({
      method: 'GET',
      path: '/usage',
      query: { fromTs: usageWindow.fromTs, toTs: usageWindow.toTs, pageNum: 1, limit: 2, customerId: null },
      apiKeyId: KEY.apiKey,
      status: 200,
      errorCode: null,
    });
  });

  it('serve the bill poll the same way', async () => {
    const t = ctx.t;
    await seed(t);
    t.setNow('2026-04-02T10:00:00Z');
    const u = url('/bill', { ...billWindow, pageNum: 1 });
    const first = await answer(t, u);
    expect(first.status).toBe(200);
    expect(await answer(t, u)).toEqual(first);
    expect(await fromMemory(t, 'bill')).toBe(1);
    expect((await agoraLog(t)).filter((e) => e.kind === 'bill' && e.status === 200)).toHaveLength(2);
  });

  it('never remember an answer other than 200, nor one the clock could change', async () => {
    const t = ctx.t;
    await seed(t);
    // A forged signature: refused every time, by the signature check.
    const forged = `/usage?fromTs=${usageWindow.fromTs}&toTs=${usageWindow.toTs}&pageNum=1&apiKey=${KEY.apiKey}&signature=0000`;
    for (let i = 0; i < 2; i++) expect((await answer(t, forged)).status).toBe(401);
    // A day not over yet is refused; once it is over the same URL is answered, then from memory.
    const today = dayStart('2026-03-02');
    const early = url('/usage', { fromTs: today, toTs: today + DAY - 1, pageNum: 1 });
    for (let i = 0; i < 2; i++) {
      const r = await answer(t, early);
      expect(r.status).toBe(400);
      expect(JSON.parse(new TextDecoder().decode(r.body)).code).toBe('invalid_window');
    }
    expect(await fromMemory(t, 'usage')).toBe(0);
    t.setNow('2026-03-03T00:00:01Z');
    expect((await answer(t, early)).status).toBe(200);
    expect((await answer(t, early)).status).toBe(200);
    expect(await fromMemory(t, 'usage')).toBe(1);
    // Another Host: the same URL, the same answer from memory (a Host cannot multiply the entries).
    const elsewhere = await answer(t, `http://another.example${early}`);
    expect(elsewhere.status).toBe(200);
    expect(await fromMemory(t, 'usage')).toBe(2);
    // Basic credentials the database cannot store are refused on these routes too: a request with
    // an Authorization header runs the app.
    const withNul = await answer(t, early, { headers: { authorization: 'Basic AA==' } });
    expect(withNul.status).toBe(400);
    expect(JSON.parse(new TextDecoder().decode(withNul.body)).code).toBe('invalid_parameter');
    expect(await fromMemory(t, 'usage')).toBe(2);
    // HEAD of a remembered URL runs the app (which refuses it: the signature names the method).
    expect((await t.app.request(early, { method: 'HEAD' })).status).toBeGreaterThanOrEqual(400);
    expect(await fromMemory(t, 'usage')).toBe(2);
  });

  it('answer another apiKey, or any URL that differs, as an app that never saw the first would', async () => {
    await seed(ctx.t);
    const warmed = ctx.t;
    const base = url('/usage', { ...usageWindow, pageNum: 1, limit: 2 });
    expect((await answer(warmed, base)).status).toBe(200);
    expect((await answer(warmed, base)).status).toBe(200);
    // The same page signed with the other key: its own URL, its own apiKey in the log.
    const other = url('/usage', { ...usageWindow, pageNum: 1, limit: 2 }, KEY2);
    expect((await answer(warmed, other)).status).toBe(200);
    const logged = (await agoraLog(warmed)).filter((e) => e.kind === 'usage').map((e) => e.apiKeyId);
    expect(logged).toEqual([KEY2.apiKey, KEY.apiKey, KEY.apiKey]);

    const [path, query] = base.split('?') as [string, string];
    const parts = query.split('&');
    const mutation = fc.oneof(
      // One character of the query changed (a forged signature, another page, a broken number).
      fc.tuple(fc.nat({ max: query.length - 1 }), fc.constantFrom('0', '1', 'a', 'F', '%', '&', '=', '+')).map(([at, ch]) => `${path}?${query.slice(0, at)}${ch}${query.slice(at + 1)}`),
      // A parameter left out, repeated, or one more.
      fc.nat({ max: parts.length - 1 }).map((i) => `${path}?${parts.filter((_, j) => j !== i).join('&')}`),
      fc.nat({ max: parts.length - 1 }).map((i) => `${base}&${parts[i]}`),
      fc.constantFrom(`${base}&extra=1`, `${base}&`, `${path}/?${query}`, `${path}?${parts.reverse().join('&')}`),
    );
    const fresh = buildApp(ctx.tdb.db);
    fresh.setNow('2026-03-02T10:00:00Z');
    await fc.assert(
      fc.asyncProperty(mutation, async (u) => {
        const [a, b] = [await answer(warmed, u), await answer(fresh, u)];
        expect(a, u).toEqual(b);
      }),
      { numRuns: 60 },
    );
    await fresh.app.agoraLog.flush();
  });
});

describe('RepeatedPages', () => {
  it('keeps at most its budget of pages, dropping the least recently used first', () => {
    const page = (n: number) => new Uint8Array(1000).fill(n) as ExactJsonBytes<unknown>;
    const asked = { kind: 'usage' as const, method: 'GET', path: '/usage', fromTs: null, toTs: null, pageNum: null, limit: null, customerId: null, apiKeyId: null };
    // Each entry costs its bytes, twice its URL's length and 512 bytes: two fit in 4,000.
    const pages = new RepeatedPages(4000);
    pages.remember('http://h/a', { body: page(1), route: '/usage', asked });
    pages.remember('http://h/b', { body: page(2), route: '/usage', asked });
    expect(pages.get('http://h/a')?.body[0]).toBe(1);
    pages.remember('http://h/c', { body: page(3), route: '/usage', asked });
    expect(pages.size).toBe(2);
    expect(pages.get('http://h/b')).toBeUndefined();
    expect(pages.get('http://h/a')?.body[0]).toBe(1);
    expect(pages.get('http://h/c')?.body[0]).toBe(3);
  });
});
