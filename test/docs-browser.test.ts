import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './helpers/app.ts';
import { openTestDatabase, type TestDatabase } from './helpers/db.ts';

/**
 * `/docs` in a real browser with every request off this machine refused: the page must render
 * Swagger UI's operations from what the server itself serves (no CDN), as on a host without internet.
 * CI installs Debian's chromium (.ci/run); elsewhere, without it, this file is skipped.
 */

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`docs-browser.test.ts skipped: no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

describe.skipIf(!haveChromium)('/docs in a browser, offline', () => {
  let tdb: TestDatabase;
  let server: ServerType;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    tdb = await openTestDatabase();
    const t = buildApp(tdb.db);
    await new Promise<void>((resolve) => {
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await tdb?.close();
  });

  for (const path of ['/docs', '/docs/']) {
    it(`renders the operations at ${path} with nothing fetched from off this machine`, async () => {
      const context = await browser.newContext();
      const refused: string[] = [];
      await context.route('**/*', async (route) => {
        const url = new URL(route.request().url());
        if ((url.protocol === 'http:' || url.protocol === 'https:') && !LOOPBACK.has(url.hostname)) {
          refused.push(url.href);
          await route.abort('internetdisconnected');
        } else {
          await route.continue();
        }
      });
      try {
        const page = await context.newPage();
        const response = await page.goto(`${base}${path}`);
        expect(response?.status()).toBe(200);
        await page.waitForSelector('.opblock', { timeout: 60_000 });
        const paths = await page.locator('.opblock-summary-path').allTextContents();
        expect(paths.map((p) => p.replace(/\u200b/g, ''))).toEqual(expect.arrayContaining(['/usage', '/bill', '/v1/usage-events']));
        expect(await page.locator('.info .title').first().textContent()).toContain('Agora extension vendor server');
        expect(refused).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }
});
