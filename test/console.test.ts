import { describe, expect, it } from 'vitest';
import { ConsoleSessions } from '../src/console/session.ts';
import { ADMIN, provision } from './helpers/app.ts';
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
    for (const next of ['https://evil.example/', '//evil.example/console', '/consolefoo', '/console\\@evil']) {
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
