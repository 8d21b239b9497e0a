import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonNumber, parseExactJson, type ExactJson } from '../src/cli/poller/exact-json.ts';
import { ADMIN, buildApp, DAY, dayStart, provision, type TestApp } from './helpers/app.ts';
import { openTestDatabase, type TestDatabase } from './helpers/db.ts';
import { buy, catalogue, licenseClient, projectCredentials, TRIAL_PID } from './helpers/license.ts';
import { basicOf, customer as certificateCustomer, issue, SIGNING_PEM } from './helpers/certificates.ts';
import { extClient } from './helpers/ext.ts';
import { startReceiver, waitFor, type Receiver } from './helpers/receiver.ts';
import { DeliveryWorker } from '../src/notifications/worker.ts';
import { settlePreviewTotals } from '../src/browse/preview.service.ts';

/**
 * The vendor console in a real browser (Debian's Chromium), with every request off this machine
 * refused: sign in with the admin token, every page with data seeded through the public API (Agora's
 * calls and the vendor API), the figures shown equal to what the vendor API answers, the
 * reconciliation month picker and its CSV download, sign-out; and the refusals: no session, a
 * forged or expired cookie, a POST without its CSRF token. It takes the README's screenshot of the
 * overview (docs/console-overview.png). Without a browser at CHROMIUM_PATH the file is skipped.
 */

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`console-browser.test.ts skipped: no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const SCREENSHOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'console-overview.png');
const NOW = '2026-11-15T12:00:00Z';

/** The vendor API's answer with every number as the exact text it was written with. */
function exact(v: ExactJson): unknown {
  if (v instanceof JsonNumber) return v.text;
  if (Array.isArray(v)) return v.map(exact);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, exact(x)]));
  return v;
}

describe.skipIf(!haveChromium)('the console in a browser, offline', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let server: ServerType;
  let base: string;
  let browser: Browser;
  let failingReceiver: Receiver;
  const refused: string[] = [];

  const api = async (path: string): Promise<any> => {
    const r = await t.admin('GET', path);
    const text = await r.text();
    expect(r.status, `${path}: ${text}`).toBe(200);
    return exact(parseExactJson(text));
  };

  async function offlineContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !LOOPBACK.has(url.hostname)) {
        refused.push(url.href);
        await route.abort('internetdisconnected');
      } else {
        await route.continue();
      }
    });
    return context;
  }

  async function signIn(page: Page, then = '/console'): Promise<void> {
    await page.goto(`${base}${then}`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.fill('input[name=token]', ADMIN);
    await Promise.all([page.waitForURL((u) => u.pathname === new URL(`${base}${then}`).pathname), page.click('button[type=submit]')]);
  }

  const texts = (page: Page, selector: string) => page.locator(selector).allTextContents().then((all) => all.map((s) => s.trim()));

  beforeAll(async () => {
    tdb = await openTestDatabase();
    // A signing key, so that acme can upload a certificate package.
    t = buildApp(tdb.db, { LICENSE_SIGNING_KEY: SIGNING_PEM });
    // Everything happens on a fixed day: the console asks the app's clock, as every service does.
    t.setNow('2026-08-20T10:00:00Z');
    await provision(t, 'acme', [1001, 1002]);
    await provision(t, 'globex', [2001]);
    // A trial license activated in August expires in November, within the overview's 45 days.
    await catalogue(t);
    await buy(t, 'acme', TRIAL_PID, 5);
    const licensing = licenseClient(t, { admin: true });
    const activated = await licensing.activate('1001', TRIAL_PID, 'device-0001');
    expect(activated.status, JSON.stringify(activated.body)).toBe(200);

    t.setNow(NOW);
    const events = [
      { id: 'oct-1', projectId: 1001, quantity: '12.5', occurredAt: '2026-10-05T08:00:00Z' },
      { id: 'oct-2', projectId: 2001, quantity: '7.25', occurredAt: '2026-10-20T09:30:00Z' },
      { id: 'nov-13-a', projectId: 1001, quantity: '30.125', occurredAt: '2026-11-13T10:00:00Z' },
      { id: 'nov-13-b', projectId: 2001, quantity: '4', occurredAt: '2026-11-13T11:00:00Z' },
      { id: 'nov-14-a', projectId: 1001, quantity: '41.000001', occurredAt: '2026-11-14T10:00:00Z' },
    ];
    const sent = await t.admin('POST', '/v1/usage-events', { events });
    expect(((await sent.json()) as { accepted: number }).accepted).toBe(events.length);
    // Agora asks for October's bill and for the usage of 13 November: both are fixed.
    const bill = await t.agoraGet('/bill', { fromTs: dayStart('2026-10-01'), toTs: dayStart('2026-11-01') - 1, pageNum: 1 });
    expect(bill.status).toBe(200);
    const usage = await t.agoraGet('/usage', { fromTs: dayStart('2026-11-13'), toTs: dayStart('2026-11-13') + DAY - 1, pageNum: 1 });
    expect(usage.status).toBe(200);
    // Late usage: of the day already reported (a usage correction) and of the month already billed.
    const late = await t.admin('POST', '/v1/usage-events', {
      events: [
        { id: 'late-nov-13', projectId: 2001, quantity: '2.5', occurredAt: '2026-11-13T15:00:00Z' },
        { id: 'late-oct-30', projectId: 1001, quantity: '1.75', occurredAt: '2026-10-30T10:00:00Z' },
      ],
    });
    expect(((await late.json()) as { accepted: number }).accepted).toBe(2);
    expect((await t.agoraSend('PUT', '/customers/acme/projects/1002/deactivate', {})).status).toBe(200);
    expect((await t.agoraGet('/customers/acme/license', {})).status).toBe(200);

    // Licenses at run time: two devices of acme's project 1001 join, one leaves; PCU limits set.
    expect((await licensing.activate('1001', TRIAL_PID, 'device-0002')).status).toBe(200);
    const licensed = await api('/v1/licenses?customerId=acme');
    const ext = await extClient(() => t, tdb.db, '1001');
    const joined: string[] = [];
    for (const l of licensed.data as { license: string; licenseKey: string }[]) {
      const j = await ext.join({ license: l.license, licenseKey: l.licenseKey, media: 'audio+video', platform: 'android' });
      expect(j.status, JSON.stringify(j.body)).toBe(201);
      joined.push(j.body.sessionId);
    }
    expect(joined).toHaveLength(2);
    expect((await ext.leave(joined[0]!)).status).toBeLessThan(300);
    expect((await t.admin('PUT', '/v1/customers/acme/limits', { pcu: 5 })).status).toBe(200);
    expect((await t.admin('PUT', '/v1/projects/1001/limits', { pcu: 2 })).status).toBe(200);

    // Certificates: acme uploads a package (two agent certificates, one platform), binds one to its agent.
    const acmeSide = certificateCustomer(t, basicOf(await projectCredentials(tdb.db, '1001')));
    const uploaded = await acmeSide.upload(await issue(t, 'acme', [{ type: 'agent', validityDays: 30, count: 2 }, { type: 'platform', validityDays: 90 }]));
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(200);
    expect((await acmeSide.registerAgent('support-bot-1')).status).toBe(200);
    const agentCertificate = uploaded.body.data.certificates.find((x: { type: string }) => x.type === 'agent').id;
    expect((await acmeSide.bind(agentCertificate, 'support-bot-1')).status).toBe(200);

    // Webhooks: an endpoint whose receiver answers 500 to everything (its deliveries fail for good,
    // after one retry), and one disabled by hand.
    failingReceiver = await startReceiver((_n, _req, res) => {
      res.statusCode = 500;
      res.end('down for maintenance');
    });
    const hook = async (url: string) => {
      const r = await t.admin('POST', '/v1/webhook-endpoints', { url, events: ['customer.provisioned'] });
      expect(r.status).toBe(201);
      return ((await r.json()) as { id: string }).id;
    };
    await hook(failingReceiver.url);
    const off = await hook('http://127.0.0.1:9/never');
    expect((await t.admin('PATCH', `/v1/webhook-endpoints/${off}`, { enabled: false })).status).toBe(200);
    const worker = new DeliveryWorker(tdb.db, { clock: () => new Date(NOW), log: () => {}, retryScheduleMs: [0], timeoutMs: 5000, concurrency: 4, pollMs: 20, allowPrivate: true });
    worker.start();
    try {
      // acme's and globex's customer.provisioned: two deliveries, each failed twice.
      await waitFor(async () => (await api('/v1/webhook-deliveries?status=failed')).data.length === 2, 60_000, 'two failed deliveries');
    } finally {
      await worker.stop();
    }

    await new Promise<void>((resolve) => {
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await failingReceiver?.close();
    await tdb?.close();
  });

  it('signs in, shows every page with the API’s figures, downloads a CSV, signs out', async () => {
    const context = await offlineContext();
    try {
      const page = await context.newPage();
      await signIn(page);
      const session = (await context.cookies()).find((c) => c.name === 'console_session');
      expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
      expect(session?.value).not.toContain(ADMIN);

      // Overview: yesterday against the day before, Agora's last polls, expiring licenses.
      const daily = await api('/v1/usage/daily?from=2026-11-13&to=2026-11-14');
      const day = (d: string) => daily.data.find((x: { day: string }) => x.day === d);
      expect(await page.locator('#usage-yesterday .figure').textContent()).toBe(day('2026-11-14').quantity);
      expect(await page.locator('#usage-day-before .figure').textContent()).toBe(day('2026-11-13').quantity);
      expect(await page.locator('#usage-change .figure').textContent()).toBe('+6.875001');
      const expiring = await api('/v1/licenses/expiring?days=45');
      expect(expiring.data).toHaveLength(1);
      expect(await page.locator('#expiring-count').textContent()).toBe(expiring.count);
      expect(await page.locator('#expiring').textContent()).toContain(expiring.data[0].license);
      const pending = await api('/v1/usage/pending-corrections');
      expect(pending.usage.quantity).toBe('2.5');
      expect(pending.bill.quantity).toBe('1.75');
      expect(await page.locator('#pending-usage .figure').textContent()).toBe(pending.usage.quantity);
      expect(await page.locator('#pending-bill .figure').textContent()).toBe(pending.bill.quantity);
      // Agora's last request of each kind, as the log has it (the usage and bill polls above).
      const summary = await api('/v1/agora-requests/summary');
      expect(summary.usage.last.path).toBe('/usage');
      const pollRows = await texts(page, '#polls tbody tr');
      expect(pollRows[0]).toContain(`usage ok`);
      expect(pollRows[0]).toContain(summary.usage.last.at.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC'));
      expect(pollRows[1]).toContain('/bill');
      expect(pollRows[2]).toContain('/customers/acme/license');
      // Failing webhooks: the endpoints failing or disabled, and the deliveries failed for good.
      const endpoints = await api('/v1/webhook-endpoints');
      const failingEps = endpoints.data.filter((e: { enabled: boolean; failingSince: string | null }) => e.enabled && e.failingSince !== null);
      const disabledEps = endpoints.data.filter((e: { enabled: boolean }) => !e.enabled);
      expect([failingEps.length, disabledEps.length]).toEqual([1, 1]);
      expect(await page.locator('#webhooks-failing .figure').textContent()).toBe(String(failingEps.length));
      expect(await page.locator('#webhooks-disabled .figure').textContent()).toBe(String(disabledEps.length));
      const failedDeliveries = await api('/v1/webhook-deliveries?status=failed');
      expect(await page.locator('#webhooks-failed .figure').textContent()).toBe(String(failedDeliveries.data.length));
      expect(await texts(page, '#failing-endpoints tbody td:nth-child(1)')).toEqual([...disabledEps, ...failingEps].map((e: { id: string }) => e.id));
      expect(await texts(page, '#failed-deliveries tbody td:nth-child(1)')).toEqual(failedDeliveries.data.map((d: { id: string }) => d.id));
      expect(await texts(page, '#failed-deliveries tbody td:nth-child(4)')).toEqual(failedDeliveries.data.map((d: { attempts: string }) => d.attempts));
      expect(await page.locator('#failed-deliveries').textContent()).toContain(' · 500');
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // Every request Agora made, newest first.
      await page.click('text=Every request Agora made');
      const requests = await api('/v1/agora-requests?limit=100');
      expect(requests.data.length).toBeGreaterThanOrEqual(2);
      expect(await texts(page, '#agora-requests tbody td:nth-child(4)')).toEqual(requests.data.map((r: { path: string }) => r.path));
      expect(await texts(page, '#agora-requests tbody td:nth-child(7)')).toEqual(requests.data.map((r: { status: string }) => r.status));

      // Usage: 90 days as a chart (drawn from the table) and a table; drill down to a project's day.
      await page.click('nav >> text=Usage');
      await page.waitForSelector('.chart canvas', { timeout: 30_000 });
      const ninety = await api('/v1/usage/daily?from=2026-08-18&to=2026-11-15');
      expect(await texts(page, '#daily tbody td:nth-child(2)')).toEqual(ninety.data.map((d: { quantity: string }) => d.quantity));
      await page.fill('input[name=projectId]', '1001');
      await Promise.all([page.waitForURL(/projectId=1001/), page.click('form.filters button')]);
      await page.click('#daily tr:has(td:text-is("2026-11-14")) a');
      const events = await api('/v1/usage-events?projectId=1001&from=2026-11-14T00:00:00.000Z&to=2026-11-15T00:00:00.000Z');
      expect(await texts(page, '#events tbody td:nth-child(1)')).toEqual(events.data.map((e: { id: string }) => e.id));
      expect(await texts(page, '#events tbody td:nth-child(3)')).toEqual(['41.000001']);
      // Search an event by id.
      await page.goto(`${base}/console/usage`);
      await page.fill('input[name=id]', 'oct-2');
      await Promise.all([page.waitForURL(/usage\/event\?id=oct-2/), page.click('text=Find event')]);
      expect(await texts(page, '#events tbody td:nth-child(3)')).toEqual(['7.25']);

      // Statements and bills: what Agora was told, lines, CSV.
      await page.click('nav >> text=Statements and bills');
      const statements = await api('/v1/statements?limit=50');
      expect(await texts(page, '#statements tbody td:nth-child(6)')).toEqual(statements.data.map((s: { totalAmount: string }) => s.totalAmount));
      const billStatement = statements.data.find((s: { kind: string }) => s.kind === 'bill');
      await page.click(`#statements a[href="/console/statements/${billStatement.id}"]`);
      const lines = await api(`/v1/statements/${billStatement.id}/lines?limit=100`);
      expect(await texts(page, '#lines tbody td:nth-child(5)')).toEqual(lines.data.map((l: { amount: string }) => l.amount));
      const [linesCsv] = await Promise.all([page.waitForEvent('download'), page.click('text=download CSV')]);
      const expectedLines = await (await t.app.request(`/v1/statements/${billStatement.id}/lines`, { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } })).text();
      expect(readFileSync(await linesCsv.path(), 'utf8')).toBe(expectedLines);

      // What Agora would be told now, fixing nothing: the preview of this month's bill and today.
      await page.goto(`${base}/console/statements`);
      await page.click('text=what Agora would be told now');
      // A bill's total prices every project: computed after the first answer (which may say
      // "pending"), shown by the page once it is.
      await settlePreviewTotals(tdb.db);
      await page.reload();
      const previewBill = await api('/v1/preview/bill?month=2026-11');
      const previewUsage = await api('/v1/preview/usage?day=2026-11-15');
      expect(previewBill.total.status).toBe('ready');
      expect(await page.locator('#preview-bill-total').textContent()).toBe(previewBill.total.amount);
      expect(await page.locator('#preview-usage-total').textContent()).toBe(previewUsage.total.amount);
      expect(await texts(page, '#preview-bill tbody td:nth-child(4)')).toEqual(previewBill.lines.map((l: { amount: string }) => l.amount));
      expect(previewBill.fixed).toBe(false);

      // Reconciliation: the month picker, then the CSV of the month picked.
      await page.click('nav >> text=Reconciliation');
      await page.fill('input[name=month]', '2026-10');
      await Promise.all([page.waitForURL(/month=2026-10/), page.click('text=Reconcile')]);
      expect(await page.locator('h1').textContent()).toBe('Reconciliation of 2026-10');
      const october = await api('/v1/reconciliation?month=2026-10');
      expect(await texts(page, '#totals tbody td')).toEqual(
        ['ingested', 'dailyReported', 'dailyPending', 'dailyDifference', 'billedQuantity', 'billPending', 'billDifference', 'billedAmount', 'correctionsInAmount', 'correctionsOutAmount'].map(
          (k) => october.totals[k],
        ),
      );
      await page.check('input[name=all]');
      await Promise.all([page.waitForURL(/all=1/), page.click('text=Reconcile')]);
      expect(await texts(page, '#projects tbody td:nth-child(1)')).toEqual(october.projects.map((p: { projectId: string }) => p.projectId));
      const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#reconciliation-csv')]);
      expect(csv.suggestedFilename()).toBe('reconciliation-2026-10.csv');
      const expectedCsv = await (await t.app.request('/v1/reconciliation?month=2026-10', { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } })).text();
      expect(readFileSync(await csv.path(), 'utf8')).toBe(expectedCsv);

      // Customers and projects: status, plan, deactivation history, appKey masked.
      await page.click('nav >> text=Customers and projects');
      const customers = await api('/v1/customers?limit=50');
      expect(await texts(page, '#customers tbody td:nth-child(1)')).toEqual(customers.data.map((c: { customerId: string }) => c.customerId));
      await page.click('#customers a:text-is("acme")');
      const acme = await api('/v1/customers/acme');
      expect(await texts(page, '#projects tbody td:nth-child(3)')).toEqual(acme.projects.map((p: { appKeyMasked: string }) => p.appKeyMasked));
      expect(await page.locator('#deactivations').textContent()).toContain('project 1002');

      // Licenses: catalogue, pools, activations, expiring calendar.
      await page.click('nav >> text=Licenses');
      expect(await texts(page, '#skus tbody td:nth-child(1)')).toEqual(['iot-av']);
      await page.fill('input[name=customerId]', 'acme');
      await Promise.all([page.waitForURL(/customerId=acme/), page.click('form.filters >> text=Show')]);
      const quota = await api('/v1/license-quotas?customerId=acme');
      expect(await texts(page, '#pools tbody td:nth-child(2)')).toEqual(quota.data.map((q: { total: string }) => q.total));
      expect(await texts(page, '#pools tbody td:nth-child(3)')).toEqual(quota.data.map((q: { used: string }) => q.used));
      const activations = await api('/v1/licenses?customerId=acme');
      expect(await texts(page, '#activations tbody td:nth-child(1)')).toEqual(activations.data.map((l: { license: string }) => l.license));
      expect(await page.locator('#expiring').textContent()).toContain('2026-11-20');
      // Sessions and PCU in use, per customer and per project, as the runtime's API has them.
      const acmePcu = await api('/v1/customers/acme/limits');
      expect(acmePcu).toMatchObject({ live: '1', pcu: '5' });
      const projectPcu = await Promise.all(['1001', '1002'].map((p) => api(`/v1/projects/${p}/limits`)));
      expect(await texts(page, '#pcu tbody td:nth-child(1)')).toEqual(['customer acme', 'project 1001', 'project 1002']);
      expect(await texts(page, '#pcu tbody td:nth-child(2)')).toEqual([acmePcu.live, ...projectPcu.map((p) => p.live)]);
      expect(await texts(page, '#pcu tbody td:nth-child(3)')).toEqual([acmePcu.pcu, ...projectPcu.map((p) => p.pcu ?? 'no limit')]);
      expect(projectPcu.map((p) => p.pcu)).toEqual(['2', null]);
      // Certificates, platform and agents, as the vendor's read of them has it.
      const certs = await api('/v1/customers/acme/certificates');
      expect(certs.data).toHaveLength(3);
      expect(await page.locator('#certificate-count').textContent()).toBe(certs.count);
      expect(await texts(page, '#certificates tbody td:nth-child(1)')).toEqual(certs.data.map((x: { id: string }) => x.id));
      expect(await texts(page, '#certificates tbody td:nth-child(5)')).toEqual(certs.data.map((x: { status: string }) => x.status));
      expect(await texts(page, '#certificates tbody td:nth-child(8)')).toEqual(certs.data.map((x: { expiresAt: string | null }) => (x.expiresAt === null ? '' : x.expiresAt.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC'))));
      expect(await texts(page, '#agents tbody td:nth-child(1)')).toEqual(['support-bot-1']);
      expect(await page.locator('#agents').textContent()).toContain(certs.agents[0].expiresAt.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC'));
      expect(await page.locator('#platform').textContent()).toContain(certs.platform.active ? 'active' : 'inactive');
      const liveSessions = await api('/v1/sessions?customerId=acme&live=true');
      expect(liveSessions.data).toHaveLength(1);
      expect(await page.locator('#live-count').textContent()).toBe(liveSessions.count);
      expect(await texts(page, '#live-sessions tbody td:nth-child(1)')).toEqual(liveSessions.data.map((x: { sessionId: string }) => x.sessionId));
      expect(await texts(page, '#live-sessions tbody td:nth-child(9)')).toEqual(liveSessions.data.map((x: { minutes: string }) => x.minutes));

      // Sign out: the session is gone, and the next page asks to sign in again.
      await Promise.all([page.waitForURL((u) => u.pathname === '/console/sign-in'), page.click('text=Sign out')]);
      await page.goto(`${base}/console/licenses`);
      expect(new URL(page.url()).pathname).toBe('/console/sign-in');
      expect(refused).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('sends a visitor without a session to the sign-in page, and back where they were going', async () => {
    const context = await offlineContext();
    try {
      const page = await context.newPage();
      await page.goto(`${base}/console/reconciliation?month=2026-10`);
      expect(new URL(page.url()).pathname).toBe('/console/sign-in');
      await page.fill('input[name=token]', 'not-the-admin-token-at-all');
      await page.click('button[type=submit]');
      expect(await page.locator('[role=alert]').textContent()).toContain('not the admin token');
      await page.fill('input[name=token]', ADMIN);
      await Promise.all([page.waitForURL(/\/console\/reconciliation\?month=2026-10$/), page.click('button[type=submit]')]);
      expect(await page.locator('h1').textContent()).toBe('Reconciliation of 2026-10');
    } finally {
      await context.close();
    }
  });

  it('refuses a forged cookie and an expired one', async () => {
    const context = await offlineContext();
    try {
      const page = await context.newPage();
      await signIn(page);
      const real = (await context.cookies()).find((c) => c.name === 'console_session')!;
      // Same shape, a later expiry, the signature of the real one: refused.
      const [kind, expiresAt, id, mac] = real.value.split('.');
      for (const value of [`${kind}.${Number(expiresAt) + 86_400}.${id}.${mac}`, `s.9999999999.${'A'.repeat(24)}.${'B'.repeat(43)}`, ADMIN]) {
        await context.addCookies([{ ...real, value }]);
        await page.goto(`${base}/console/statements`);
        expect(new URL(page.url()).pathname, value).toBe('/console/sign-in');
      }
      // The real one works until the app's clock passes its expiry (12 hours by default).
      await context.addCookies([real]);
      await page.goto(`${base}/console/statements`);
      expect(new URL(page.url()).pathname).toBe('/console/statements');
      t.setNow(new Date(Date.parse(NOW) + 12 * 3600_000 + 1000));
      try {
        await page.goto(`${base}/console/statements`);
        expect(new URL(page.url()).pathname).toBe('/console/sign-in');
      } finally {
        t.setNow(NOW);
      }
    } finally {
      await context.close();
    }
  });

  it('refuses a POST without the CSRF token', async () => {
    const context = await offlineContext();
    try {
      const page = await context.newPage();
      await signIn(page);
      // The browser's cookies go with these requests: only the token is missing or wrong.
      for (const form of [{}, { csrf: 'forged-token' }] as Record<string, string>[]) {
        const out = await page.request.post(`${base}/console/sign-out`, { form, maxRedirects: 0 });
        expect(out.status()).toBe(403);
        expect(await out.text()).toContain('CSRF');
      }
      const signInWithout = await page.request.post(`${base}/console/sign-in`, { form: { token: ADMIN }, maxRedirects: 0 });
      expect(signInWithout.status()).toBe(403);
      // Still signed in: the refused sign-out did nothing.
      await page.goto(`${base}/console/statements`);
      expect(new URL(page.url()).pathname).toBe('/console/statements');
    } finally {
      await context.close();
    }
  });
});
