import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { singleQueryParams } from '../src/agora/auth.ts';
import { verifySignature } from '../src/agora/signature.ts';
import { parseExactJson, JsonNumber, JsonSyntaxError } from '../src/cli/poller/exact-json.ts';
import { monthWindow, dayWindow, pollLicense, pollPaged, type Fetcher, type PagedPollResult } from '../src/cli/poller/poller.ts';
import { entriesCsv } from '../src/cli/poller/report.ts';
import { Decimal } from '../src/decimal.ts';
import { KEY } from './helpers/app.ts';

/**
 * The poller against a stub vendor server whose answers are broken on purpose: each rule of the
 * contract must be caught with its own code.
 */

const BASE = 'http://vendor.test';
const WINDOW = dayWindow('2026-10-15');

interface StubEntry {
  projectId: unknown;
  amount: string; // the raw JSON text of the amount
  description?: string;
}

/** A page's JSON written by hand, so amounts go out exactly as the test spells them. */
function pageText(o: { status?: string; totalSize: number; pageNum: number; hasNext: boolean | string; entries: StubEntry[]; extra?: string }): string {
  const entries = o.entries
    .map((e) => `{"projectId":${JSON.stringify(e.projectId)},"amount":${e.amount},"description":${JSON.stringify(e.description ?? `${e.amount} Minute × basic`)}}`)
    .join(',');
  return `{"status":${o.status ?? '0'},"statusReason":"Success getting usage data","data":{"totalSize":${o.totalSize},"pageNum":${o.pageNum},"hasNext":${JSON.stringify(o.hasNext)},"data":[${entries}]${o.extra ?? ''}}}`;
}

type Handler = (q: { pageNum: number; limit: number; path: string; attempt: number }) => Promise<Response | string> | Response | string;

/**
 * A stub server that checks each request is signed as Agora signs it, then answers with `handler`.
 * `attempts` counts requests per page, so a handler can fail the first ones.
 */
function stub(handler: Handler, prefix = '') {
  const app = new Hono();
  const attempts = new Map<string, number>();
  const signatures: boolean[] = [];
  app.get('*', async (c) => {
    const params = singleQueryParams(c.req.url);
    const path = decodeURIComponent(new URL(c.req.url).pathname);
    signatures.push(verifySignature('GET', path, params, KEY.apiSecret, params.signature ?? ''));
    const key = `${path}|${params.pageNum ?? ''}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const answer = await handler({ pageNum: Number(params.pageNum), limit: Number(params.limit ?? 100), path: path.slice(prefix.length), attempt });
    return typeof answer === 'string' ? c.body(answer, 200, { 'content-type': 'application/json' }) : answer;
  });
  const fetcher: Fetcher = (url, init) => Promise.resolve(app.request(url, init));
  return { fetcher, signatures };
}

/** A well-behaved list of `n` projects served `limit` a page. */
function pages(entries: StubEntry[], pageNum: number, limit: number) {
  const slice = entries.slice((pageNum - 1) * limit, pageNum * limit);
  return pageText({ totalSize: entries.length, pageNum, hasNext: pageNum * limit < entries.length, entries: slice });
}

const list = (n: number, amount = (i: number) => `${i + 1}.5`): StubEntry[] =>
  Array.from({ length: n }, (_, i) => ({ projectId: String(1000 + i), amount: amount(i) }));

const poll = (handler: Handler, extra: { limit?: number; timeoutMs?: number; kind?: 'usage' | 'bill' } = {}) => {
  const s = stub(handler);
  return pollPaged(extra.kind ?? 'usage', WINDOW, {
    baseUrl: BASE,
    apiKey: KEY.apiKey,
    apiSecret: KEY.apiSecret,
    fetch: s.fetcher,
    ...(extra.limit !== undefined ? { limit: extra.limit } : {}),
    ...(extra.timeoutMs !== undefined ? { timeoutMs: extra.timeoutMs } : {}),
  });
};

const codes = (r: PagedPollResult) => Object.keys(r.violationCounts).sort();

describe('exact JSON', () => {
  it('keeps numbers as written and decodes everything else as JSON.parse does', () => {
    const v = parseExactJson(' {"a":[1,-0.10,2.5e-3,true,null,"x\\u00e9\\n"],"b":{},"__proto__":7} ') as Record<string, unknown>;
    const a = v.a as unknown[];
    expect(a.map((x) => (x instanceof JsonNumber ? x.text : x))).toEqual(['1', '-0.10', '2.5e-3', true, null, 'xé\n']);
    expect((a[2] as JsonNumber).isPlainDecimal).toBe(false);
    expect(Object.keys(v)).toEqual(['a', 'b', '__proto__']);
    expect((v.__proto__ as JsonNumber).text).toBe('7');
  });

  it('rejects what is not JSON', () => {
    for (const bad of ['', '{', '{"a":1,}', '[01]', '1.', "{'a':1}", '{"a":1} x', 'NaN', '"\t"', '<html>']) {
      expect(() => parseExactJson(bad), bad).toThrow(JsonSyntaxError);
    }
  });
});

describe('the poller against well-behaved answers', () => {
  it('walks every page, signs as Agora does, and adds the amounts up exactly', async () => {
    const entries: StubEntry[] = [
      { projectId: '1', amount: '0.1' },
      { projectId: '2', amount: '0.2' },
      { projectId: '3', amount: '12.000001' },
      { projectId: '4', amount: '123456789012345678.123456789' },
      { projectId: '5', amount: '250' },
    ];
    const s = stub(({ pageNum, limit }) => pages(entries, pageNum, limit));
    const r = await pollPaged('usage', WINDOW, { baseUrl: BASE, apiKey: KEY.apiKey, apiSecret: KEY.apiSecret, fetch: s.fetcher, limit: 2 });
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.pages).toBe(3);
    expect(r.entries.map((e) => e.projectId)).toEqual(['1', '2', '3', '4', '5']);
    // 0.1 + 0.2 is 0.3 here, not 0.30000000000000004.
    expect(r.total.toFixed()).toBe('123456789012345940.423457789');
    expect(r.totalRoundedUp.toFixed()).toBe('123456789012345941');
    expect(r.retries).toBe(0);
    expect(r.requests).toBe(3);
    expect(s.signatures).toEqual([true, true, true]);
  });

  it('learns the page size from the first page when it sends no limit, as Agora', async () => {
    const entries = list(250);
    const r = await poll(({ pageNum }) => pages(entries, pageNum, 100));
    expect(r.ok).toBe(true);
    expect(r.pages).toBe(3);
    expect(r.pageSize).toBe(100);
    expect(r.entries).toHaveLength(250);
  });

  it('signs a base URL path prefix as part of the path', async () => {
    const s = stub(({ pageNum }) => pages(list(1), pageNum, 100), '/agora');
    const r = await pollPaged('usage', WINDOW, { baseUrl: `${BASE}/agora/`, apiKey: KEY.apiKey, apiSecret: KEY.apiSecret, fetch: s.fetcher });
    expect(r.ok).toBe(true);
    expect(r.url.startsWith(`${BASE}/agora/usage?`)).toBe(true);
    expect(s.signatures).toEqual([true]);
  });

  it('polls a bill month from its first to its last second', async () => {
    const seen: string[] = [];
    const r = await poll(({ pageNum, path }) => {
      seen.push(path);
      return pages(list(3), pageNum, 100);
    }, { kind: 'bill' });
    expect(seen).toEqual(['/bill']);
    expect(r.kind).toBe('bill');
    expect(monthWindow('2026-02')).toEqual({ fromTs: Date.UTC(2026, 1, 1) / 1000, toTs: Date.UTC(2026, 2, 1) / 1000 - 1 });
    expect(r.ok).toBe(true);
  });

  it('an empty window is one page with no entries', async () => {
    const r = await poll(({ pageNum }) => pages([], pageNum, 100));
    expect(r.ok).toBe(true);
    expect(r.pages).toBe(1);
    expect(r.total.toFixed()).toBe('0');
  });
});

describe('each broken rule of the contract is caught', () => {
  it('pageNum not echoed', async () => {
    const entries = list(4);
    const r = await poll(({ pageNum, limit }) => pages(entries, pageNum, limit).replace(`"pageNum":${pageNum}`, '"pageNum":1'), { limit: 2 });
    expect(codes(r)).toEqual(['page_num']);
    expect(r.violations[0]).toMatchObject({ code: 'page_num', pageNum: 2 });
  });

  it('hasNext false while pages remain', async () => {
    const entries = list(5);
    const r = await poll(({ pageNum, limit }) => pages(entries, pageNum, limit).replace('"hasNext":true', '"hasNext":false'), { limit: 2 });
    expect(codes(r)).toEqual(['has_next', 'total_size']);
    expect(r.pages).toBe(1);
  });

  it('hasNext false on the first page of a server whose page size is unknown', async () => {
    const r = await poll(({ pageNum }) => pageText({ totalSize: 7, pageNum, hasNext: false, entries: list(3) }));
    expect(codes(r)).toContain('has_next');
  });

  it('hasNext true on the last page: reported, and the walk stops', async () => {
    const entries = list(4);
    const r = await poll(({ pageNum, limit }) => pages(entries, pageNum, limit).replace('"hasNext":false', '"hasNext":true'), { limit: 2 });
    expect(codes(r)).toEqual(['has_next', 'too_many_pages']);
    expect(r.pages).toBe(2);
  });

  it('empty projectId', async () => {
    const r = await poll(({ pageNum }) => pageText({ totalSize: 2, pageNum, hasNext: false, entries: [{ projectId: '', amount: '1' }, { projectId: '7', amount: '2' }] }));
    expect(codes(r)).toEqual(['empty_project_id']);
  });

  it('projectId not a string', async () => {
    const r = await poll(({ pageNum }) => pageText({ totalSize: 1, pageNum, hasNext: false, entries: [{ projectId: 430892, amount: '1' }] }));
    expect(codes(r)).toEqual(['project_id_type']);
  });

  it('zero amount, however it is written', async () => {
    const r = await poll(({ pageNum }) =>
      pageText({ totalSize: 3, pageNum, hasNext: false, entries: [{ projectId: '1', amount: '0' }, { projectId: '2', amount: '0.000' }, { projectId: '3', amount: '-0' }] }),
    );
    expect(r.violationCounts).toEqual({ zero_amount: 3 });
  });

  it('negative amount', async () => {
    const r = await poll(({ pageNum }) => pageText({ totalSize: 1, pageNum, hasNext: false, entries: [{ projectId: '1', amount: '-2.5' }] }));
    expect(codes(r)).toEqual(['negative_amount']);
  });

  it('a project twice, on different pages', async () => {
    const entries = [...list(3), { projectId: '1001', amount: '9' }];
    const r = await poll(({ pageNum, limit }) => pages(entries, pageNum, limit), { limit: 2 });
    expect(codes(r)).toEqual(['duplicate_project']);
    expect(r.violations[0]!.message).toContain('1001');
  });

  it('amount in exponent notation', async () => {
    const r = await poll(({ pageNum }) => pageText({ totalSize: 2, pageNum, hasNext: false, entries: [{ projectId: '1', amount: '1.5E-7' }, { projectId: '2', amount: '2e3' }] }));
    expect(r.violationCounts).toEqual({ amount_exponent: 2 });
  });

  it('amount as a string', async () => {
    const r = await poll(({ pageNum }) => pageText({ totalSize: 1, pageNum, hasNext: false, entries: [{ projectId: '1', amount: '"12.5"' }] }));
    expect(codes(r)).toEqual(['amount_type']);
    expect(r.total.toFixed()).toBe('0');
  });

  it('an answer that is not JSON', async () => {
    const r = await poll(() => new Response('<html>502 Bad Gateway</html>', { status: 200, headers: { 'content-type': 'text/html' } }));
    expect(codes(r)).toEqual(['not_json']);
  });

  it('a broken envelope', async () => {
    const r1 = await poll(({ pageNum }) => pageText({ totalSize: 1, pageNum, hasNext: 'false', entries: list(1) }));
    expect(codes(r1)).toEqual(['envelope']);
    const r2 = await poll(() => '{"status":0,"data":{"totalSize":0,"pageNum":1,"hasNext":false,"data":[]}}');
    expect(r2.violations[0]!.message).toContain('statusReason');
    const r3 = await poll(() => '{"status":"0","statusReason":"","totalSize":0,"pageNum":1,"hasNext":false,"data":[]}');
    expect(codes(r3)).toEqual(['envelope']);
    const r4 = await poll(({ pageNum }) => pageText({ totalSize: 1, pageNum, hasNext: false, entries: list(1) }).replace(',"description":"1.5 Minute × basic"', ''));
    expect(codes(r4)).toEqual(['envelope']);
  });

  it('a failure status or an HTTP error', async () => {
    const r1 = await poll(() => new Response('{"status":401,"statusReason":"The signature does not match the request","code":"invalid_signature"}', { status: 401 }));
    expect(codes(r1)).toEqual(['http_status']);
    expect(r1.retries).toBe(0);
    const r2 = await poll(() => '{"status":1,"statusReason":"no","data":null}');
    expect(codes(r2)).toEqual(['status']);
  });

  it('totalSize that changes between pages, and pages of the wrong size', async () => {
    const entries = list(4);
    const r1 = await poll(({ pageNum, limit }) => pages(entries, pageNum, limit).replace('"totalSize":4', pageNum === 2 ? '"totalSize":3' : '"totalSize":4'), { limit: 2 });
    expect(codes(r1)).toContain('total_size');
    const r2 = await poll(({ pageNum }) => pageText({ totalSize: 4, pageNum, hasNext: pageNum < 2, entries: pageNum === 1 ? list(3) : list(1, () => '7').map((e) => ({ ...e, projectId: '9' })) }), { limit: 2 });
    expect(codes(r2)).toEqual(['page_size']);
  });

  it('a timeout is re-sent at most twice, and the retries are counted', async () => {
    const entries = list(3);
    // Page 2 answers only on its third attempt.
    const slow = await poll(
      async ({ pageNum, limit, attempt }) => {
        if (pageNum === 2 && attempt < 3) await new Promise((r) => setTimeout(r, 400));
        return pages(entries, pageNum, limit);
      },
      { limit: 2, timeoutMs: 100 },
    );
    expect(slow.ok).toBe(true);
    expect(slow.retries).toBe(2);
    expect(slow.retryReasons).toEqual({ timeout: 2, network: 0, http_5xx: 0 });
    expect(slow.requests).toBe(4);
    expect(slow.entries).toHaveLength(3);

    // Never in time: three attempts, then a violation and the walk ends.
    const dead = await poll(
      async ({ pageNum, limit }) => {
        await new Promise((r) => setTimeout(r, 400));
        return pages(entries, pageNum, limit);
      },
      { limit: 2, timeoutMs: 100 },
    );
    expect(codes(dead)).toEqual(['timeout']);
    expect(dead.requests).toBe(3);
    expect(dead.retries).toBe(2);
    expect(dead.pages).toBe(0);
  });

  it('a 503 is re-sent like a timeout', async () => {
    const r = await poll(({ pageNum, limit, attempt }) =>
      attempt === 1 ? new Response('{"status":503,"statusReason":"busy","code":"database_unavailable"}', { status: 503 }) : pages(list(1), pageNum, limit),
    );
    expect(r.ok).toBe(true);
    expect(r.retryReasons.http_5xx).toBe(1);
  });

  it('a connection that fails is re-sent, then reported', async () => {
    const r = await pollPaged('usage', WINDOW, {
      baseUrl: 'http://127.0.0.1:9',
      apiKey: KEY.apiKey,
      apiSecret: KEY.apiSecret,
    });
    expect(codes(r)).toEqual(['network']);
    expect(r.requests).toBe(3);
  });
});

describe('poll license', () => {
  const license = (body: string, status = 200) => {
    const s = stub(() => new Response(body, { status, headers: { 'content-type': 'application/json' } }));
    return pollLicense('1234567', { baseUrl: BASE, apiKey: KEY.apiKey, apiSecret: KEY.apiSecret, fetch: s.fetcher }).then((r) => ({ r, s }));
  };

  it('reads the documented answer, signed as the spec vector', async () => {
    const { r, s } = await license('{ "status": "success", "statusReason": "", "data": { "expireDate": "2025-10-01", "residueCount": "100" } }');
    expect(r.ok).toBe(true);
    expect(r.license).toMatchObject({ status: 'success', expireDate: '2025-10-01', residueCountText: '100' });
    expect(r.url).toBe(`${BASE}/customers/1234567/license?apiKey=${KEY.apiKey}&signature=BrRMMU3XbvdsyPDoTXkwYBEOkyE%3D`);
    expect(s.signatures).toEqual([true]);
  });

  it('accepts an empty expireDate (nothing activated yet) and the documented 404; catches a failed status, a bad date, a numeric residueCount and a numeric status', async () => {
    // The contract's answer for a customer that is unknown or has no license.
    const notFound = await license('{"status":"failed","statusReason":"unknown customer","code":"unknown_customer"}', 404);
    expect(notFound.r.ok).toBe(true);
    expect(notFound.r.httpStatus).toBe(404);
    const failed = await license('{"status":"failed","statusReason":"broken"}', 200);
    expect(Object.keys(failed.r.violationCounts)).toEqual(['status']);
    const rejected = await license('{"status":"failed","statusReason":"bad signature"}', 401);
    expect(Object.keys(rejected.r.violationCounts).sort()).toEqual(['http_status', 'status']);
    const none = await license('{"status":"success","statusReason":"","data":{"expireDate":"","residueCount":"5"}}');
    expect(none.r.ok).toBe(true);
    const date = await license('{"status":"success","statusReason":"","data":{"expireDate":"2025-02-30","residueCount":"1"}}');
    expect(Object.keys(date.r.violationCounts)).toEqual(['expire_date']);
    const residue = await license('{"status":"success","statusReason":"","data":{"expireDate":"2025-02-28","residueCount":100}}');
    expect(Object.keys(residue.r.violationCounts)).toEqual(['residue_count']);
    const numeric = await license('{"status":0,"statusReason":"","data":{"expireDate":"2025-02-28","residueCount":"1"}}');
    expect(Object.keys(numeric.r.violationCounts)).toEqual(['envelope']);
  });
});

describe('the poller CSV', () => {
  it('goes through the one CSV writer: formulas neutralized, quoting, amounts with their digits', () => {
    const csv = entriesCsv([
      { projectId: '1', amount: new Decimal('-0.50'), description: '=HYPERLINK("http://x")' },
      { projectId: '2', amount: new Decimal('12.000001'), description: 'a, "b"' },
    ]);
    expect(csv).toBe('projectId,amount,description\r\n1,-0.5,"\'=HYPERLINK(""http://x"")"\r\n2,12.000001,"a, ""b"""\r\n');
  });
});
