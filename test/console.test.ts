import { describe, expect, it } from 'vitest';
import { settlePreviewTotals } from '../src/browse/preview.service.ts';
import { ConsoleSessions } from '../src/console/session.ts';
import { ADMIN, DAY, dayStart, provision } from './helpers/app.ts';
import { buy, catalogue, licenseClient, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * The console's sessions and refusals in process (the browser test walks the pages): what the
 * cookie holds, when it stops working, what a request without a session or a CSRF token gets, and
 * that errors under /console are HTML pages with the error's status and code.
 */

const ctx = setupTestApp();
const NOW = '2026-11-15T12:00:00Z';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const cookieOf = (r: Response, name: string) => r.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
const valueOf = (r: Response, name: string) => cookieOf(r, name)?.split(';')[0];

/** The sign-in page's cookie and CSRF token. */
async function signInForm(url = '/console/sign-in') {
  const r = await ctx.t.app.request(url);
  expect(r.status).toBe(200);
  const html = await r.text();
  return { cookie: valueOf(r, 'console_sign_in')!, csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]!, next: /name="next" value="([^"]*)"/.exec(html)![1]!, html };
}

async function signIn(token = ADMIN, next = '/console/statements') {
  const form = await signInForm();
  return ctx.t.app.request('/console/sign-in', {
    method: 'POST',
    headers: { ...FORM, cookie: form.cookie },
    body: new URLSearchParams({ csrf: form.csrf, token, next }).toString(),
  });
}

async function session(): Promise<string> {
  const r = await signIn();
  expect(r.status).toBe(303);
  return valueOf(r, 'console_session')!;
}

describe('console sessions', () => {
  it('signs in to an HttpOnly, SameSite=Strict cookie that holds a signed session, not the token', async () => {
    ctx.t.setNow(NOW);
    const r = await signIn();
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/console/statements');
    const cookie = cookieOf(r, 'console_session')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/console/);
    expect(cookie).toMatch(/Max-Age=43200/);
    expect(cookie).not.toMatch(/Secure/);
    expect(cookie).not.toContain(ADMIN);
    const page = await ctx.t.app.request('/console/statements', { headers: { cookie: valueOf(r, 'console_session')! } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  it('marks the cookie Secure behind HTTPS', async () => {
    const form = await signInForm();
    const r = await ctx.t.app.request('https://console.example/console/sign-in', {
      method: 'POST',
      headers: { ...FORM, cookie: form.cookie },
      body: new URLSearchParams({ csrf: form.csrf, token: ADMIN }).toString(),
    });
    expect(r.status).toBe(303);
    expect(cookieOf(r, 'console_session')).toMatch(/Secure/);
  });

  it('sends a page without a session to sign-in with where it was going, and refuses other methods', async () => {
    const r = await ctx.t.app.request('/console/reconciliation?month=2026-10');
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/console/sign-in?next=%2Fconsole%2Freconciliation%3Fmonth%3D2026-10');
    const post = await ctx.t.app.request('/console/sign-out', { method: 'POST', headers: FORM, body: '' });
    expect(post.status).toBe(401);
    expect(await post.text()).toContain('<code>unauthorized</code>');
  });

  it('never sends a signed-in vendor to another site', async () => {
    for (const next of ['https://evil.example/', '//evil.example/console', '/consolefoo', '/console\\@evil', '/console/\r\nSet-Cookie: x=1', '/console/ü']) {
      const r = await signIn(ADMIN, next);
      expect(r.headers.get('location'), next).toBe('/console');
    }
    expect((await signInForm('/console/sign-in?next=//evil.example')).next).toBe('/console');
  });

  it('answers a wrong token 401 with the form again, and sets no session', async () => {
    const r = await signIn('wrong-token-0123456789');
    expect(r.status).toBe(401);
    expect(cookieOf(r, 'console_session')).toBeUndefined();
    expect(await r.text()).toContain('That is not the admin token');
  });

  it('answers 429 after AUTH_FAILURES_PER_MINUTE wrong tokens from one address, even to the right one', async () => {
    for (let i = 0; i < 30; i++) expect((await signIn(`wrong-token-${i}-0123456789`)).status).toBe(401);
    const blocked = await signIn();
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(cookieOf(blocked, 'console_session')).toBeUndefined();
    expect(await blocked.text()).toContain('<code>rate_limited</code>');
  });

  it('refuses a sign-in without the form’s CSRF token or cookie', async () => {
    const form = await signInForm();
    for (const [cookie, csrf] of [
      [form.cookie, ''],
      [form.cookie, 'x'.repeat(43)],
      ['', form.csrf],
    ] as const) {
      const r = await ctx.t.app.request('/console/sign-in', {
        method: 'POST',
        headers: { ...FORM, cookie },
        body: new URLSearchParams({ csrf, token: ADMIN }).toString(),
      });
      expect(r.status).toBe(403);
      expect(cookieOf(r, 'console_session')).toBeUndefined();
    }
  });

  it('refuses a forged, tampered or expired cookie and clears it', async () => {
    ctx.t.setNow(NOW);
    const good = await session();
    const [, expiresAt, id, mac] = good.replace('console_session=', '').split('.');
    for (const value of [`s.${Number(expiresAt) + 1}.${id}.${mac}`, `p.${expiresAt}.${id}.${mac}`, `s.${expiresAt}.${id}.${'A'.repeat(43)}`, ADMIN]) {
      const r = await ctx.t.app.request('/console/statements', { headers: { cookie: `console_session=${value}` } });
      expect(r.status, value).toBe(303);
      expect(r.headers.get('location')).toMatch(/^\/console\/sign-in/);
      expect(cookieOf(r, 'console_session')).toMatch(/Max-Age=0/);
    }
    ctx.t.setNow(new Date(Date.parse(NOW) + 12 * 3600_000 - 1000));
    expect((await ctx.t.app.request('/console/statements', { headers: { cookie: good } })).status).toBe(200);
    ctx.t.setNow(new Date(Date.parse(NOW) + 12 * 3600_000));
    expect((await ctx.t.app.request('/console/statements', { headers: { cookie: good } })).status).toBe(303);
  });

  it('a cookie signed under another admin token is refused', async () => {
    ctx.t.setNow(NOW);
    const other = new ConsoleSessions('another-admin-token-0123456789', 3600, () => new Date(NOW)).issue('s');
    const r = await ctx.t.app.request('/console/statements', { headers: { cookie: `console_session=${other.value}` } });
    expect(r.status).toBe(303);
  });

  it('signs out only with the CSRF token, and the session is refused after', async () => {
    ctx.t.setNow(NOW);
    const cookie = await session();
    const page = await (await ctx.t.app.request('/console/statements', { headers: { cookie } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    for (const body of ['', 'csrf=', `csrf=${csrf}x`]) {
      const r = await ctx.t.app.request('/console/sign-out', { method: 'POST', headers: { ...FORM, cookie }, body });
      expect(r.status, body).toBe(403);
    }
    const out = await ctx.t.app.request('/console/sign-out', { method: 'POST', headers: { ...FORM, cookie }, body: `csrf=${encodeURIComponent(csrf)}` });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/console/sign-in');
    expect(cookieOf(out, 'console_session')).toMatch(/Max-Age=0/);
    expect((await ctx.t.app.request('/console/statements', { headers: { cookie } })).status).toBe(303);
  });
});

describe('console pages', () => {
  it('answers errors as HTML pages with their status and code', async () => {
    ctx.t.setNow(NOW);
    const cookie = await session();
    const missing = await ctx.t.app.request('/console/no-such-page', { headers: { cookie } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/text\/html/);
    expect(await missing.text()).toContain('<code>not_found</code>');
    const bad = await ctx.t.app.request('/console/reconciliation?month=2026-13', { headers: { cookie } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('<code>invalid_parameter</code>');
    const unknownStatement = await ctx.t.app.request('/console/statements/999', { headers: { cookie } });
    expect(unknownStatement.status).toBe(404);
  });

  it('serves its assets without a session, and nothing else of the package folder', async () => {
    for (const [file, type] of [
      ['uPlot.iife.min.js', 'text/javascript'],
      ['uPlot.min.css', 'text/css'],
      ['console.js', 'text/javascript'],
      ['console.css', 'text/css'],
    ]) {
      const r = await ctx.t.app.request(`/console/assets/${file}`);
      expect(r.status, file).toBe(200);
      expect(r.headers.get('content-type')).toContain(type);
    }
    expect((await ctx.t.app.request('/console/assets/package.json')).status).toBe(404);
    expect((await ctx.t.app.request('/console/assets/..%2Fpackage.json')).status).toBe(404);
  });

  it('renders pages readable without JavaScript: the figures are in the HTML', async () => {
    ctx.t.setNow(NOW);
    await provision(ctx.t, 'acme', [1001]);
    await ctx.t.admin('POST', '/v1/usage-events', { events: [{ id: 'e1', projectId: 1001, quantity: '12.000001', occurredAt: '2026-10-05T08:00:00Z' }] });
    const cookie = await session();
    const r = await ctx.t.app.request('/console/reconciliation?month=2026-10&all=1', { headers: { cookie } });
    const html = await r.text();
    expect(r.status).toBe(200);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<td class="num">12.000001</td>');
    expect(html).not.toContain('<script');
  });
});

describe('the statements preview page', () => {
  it("shows a bill preview's total as pending on the first answer, then the total the API computed", async () => {
    ctx.t.setNow(NOW);
    const plan = { planId: 'basic', currency: 'USD', usageUnit: 'Minute', effectiveFrom: '2026-01', tiers: [{ upTo: null, unitPrice: '0.25' }] };
    expect((await ctx.t.admin('POST', '/v1/plans', plan)).status).toBe(201);
    await provision(ctx.t, 'acme', [1001, 1002]);
    await ctx.t.admin('POST', '/v1/usage-events', {
      events: [
        { id: 'p1', projectId: 1001, quantity: '10', occurredAt: '2026-11-05T08:00:00Z' },
        { id: 'p2', projectId: 1002, quantity: '3', occurredAt: '2026-11-15T08:00:00Z' },
      ],
    });
    const cookie = await session();
    const url = '/console/statements/preview?day=2026-11-15&month=2026-11';
    const first = await (await ctx.t.app.request(url, { headers: { cookie } })).text();
    expect(first).toContain('id="preview-bill-total">pending</strong>');
    expect(first).toContain(`href="${url.replace('&', '&amp;')}">reload</a>`);
    // The day's usage total is known at once (the counters ingestion keeps).
    expect(first).toContain('id="preview-usage-total">3</strong> over 1 lines');
    await settlePreviewTotals(ctx.tdb.db);
    const api = (await (await ctx.t.admin('GET', '/v1/preview/bill?month=2026-11')).json()) as any;
    expect(api.total).toEqual({ status: 'ready', amount: '3.250000', lineCount: 2, asOf: '2026-11-15T12:00:00.000Z' });
    const later = await (await ctx.t.app.request(url, { headers: { cookie } })).text();
    expect(later).toContain('id="preview-bill-total">3.250000</strong> over 2 lines');
  });
});

describe('the API the console adds', () => {
  it('lists licenses expiring within the days asked, soonest first, of one customer or all', async () => {
    await provision(ctx.t, 'acme', [1001]);
    await provision(ctx.t, 'globex', [2001]);
    await catalogue(ctx.t);
    await buy(ctx.t, 'acme', TRIAL_PID, 5);
    await buy(ctx.t, 'globex', TRIAL_PID, 5);
    const licensing = licenseClient(ctx.t, { admin: true });
    // Trial licenses last 3 months from activation.
    const activations = [
      ['2026-10-20T00:00:00Z', '1001', 'k-2027-01-20'],
      ['2026-09-01T00:00:00Z', '2001', 'k-2026-12-01'],
      ['2026-08-20T00:00:00Z', '1001', 'k-2026-11-20'],
      ['2026-08-10T00:00:00Z', '2001', 'k-expired'],
    ] as const;
    const licenseOf = new Map<string, string>();
    for (const [at, project, key] of activations) {
      ctx.t.setNow(at);
      const r = await licensing.activate(project, TRIAL_PID, key);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const listed = (await (await ctx.t.admin('GET', `/v1/licenses?projectId=${project}`)).json()) as { data: { license: string; licenseKey: string }[] };
      licenseOf.set(key, listed.data.find((l) => l.licenseKey === key)!.license);
    }
    ctx.t.setNow(NOW);
    const page = async (query: string) => {
      const r = await ctx.t.admin('GET', `/v1/licenses/expiring${query}`);
      expect(r.status).toBe(200);
      return (await r.json()) as { count: number; countExact: boolean; next: string | null; data: { license: string; expiresAt: string; status: string }[] };
    };
    const all = await page('?days=45');
    expect(all.data.map((l) => l.license)).toEqual([licenseOf.get('k-2026-11-20'), licenseOf.get('k-2026-12-01')]);
    expect(all.count).toBe(2);
    expect(all.data.every((l) => l.status === 'active')).toBe(true);
    expect((await page('?days=45&customerId=acme')).data.map((l) => l.license)).toEqual([licenseOf.get('k-2026-11-20')]);
    expect((await page('?days=90')).data).toHaveLength(3);
    const first = await page('?days=90&size=1');
    expect(first.next).toBe(licenseOf.get('k-2026-11-20'));
    expect((await page(`?days=90&size=2&after=${first.next}`)).data.map((l) => l.license)).toEqual([licenseOf.get('k-2026-12-01'), licenseOf.get('k-2027-01-20')]);
    expect((await ctx.t.admin('GET', '/v1/licenses/expiring?days=0')).status).toBe(400);
  });

  it('sums the late usage waiting to be carried into the next statement and the next bill', async () => {
    ctx.t.setNow(NOW);
    await provision(ctx.t, 'acme', [1001, 1002]);
    const none = await (await ctx.t.admin('GET', '/v1/usage/pending-corrections')).json();
    expect(none).toEqual({ usage: { events: '0', quantity: '0', projects: '0' }, bill: { events: '0', quantity: '0', projects: '0' } });
    await ctx.t.admin('POST', '/v1/usage-events', { events: [{ id: 'on-time', projectId: 1001, quantity: '1', occurredAt: '2026-11-13T10:00:00Z' }] });
    expect((await ctx.t.agoraGet('/usage', { fromTs: dayStart('2026-11-13'), toTs: dayStart('2026-11-13') + DAY - 1, pageNum: 1 })).status).toBe(200);
    expect((await ctx.t.agoraGet('/bill', { fromTs: dayStart('2026-10-01'), toTs: dayStart('2026-11-01') - 1, pageNum: 1 })).status).toBe(200);
    await ctx.t.admin('POST', '/v1/usage-events', {
      events: [
        { id: 'late-1', projectId: 1001, quantity: '0.1', occurredAt: '2026-11-13T11:00:00Z' },
        { id: 'late-2', projectId: 1002, quantity: '0.2', occurredAt: '2026-11-13T12:00:00Z' },
        { id: 'late-bill', projectId: 1002, quantity: '7.000001', occurredAt: '2026-10-30T12:00:00Z' },
      ],
    });
    const pending = await (await ctx.t.admin('GET', '/v1/usage/pending-corrections')).text();
    expect(JSON.parse(pending)).toEqual({ usage: { events: '2', quantity: '0.3', projects: '2' }, bill: { events: '1', quantity: '7.000001', projects: '1' } });
    // The next usage statement carries them: nothing is pending for it any more.
    expect((await ctx.t.agoraGet('/usage', { fromTs: dayStart('2026-11-14'), toTs: dayStart('2026-11-14') + DAY - 1, pageNum: 1 })).status).toBe(200);
    const after = (await (await ctx.t.admin('GET', '/v1/usage/pending-corrections')).json()) as { usage: { events: string } };
    expect(after.usage.events).toBe('0');
  });
});
