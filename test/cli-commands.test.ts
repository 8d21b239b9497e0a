import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.ts';
import type { CliIo } from '../src/cli/io.ts';
import type { Fetcher } from '../src/cli/poller/poller.ts';
import { openTestDatabase, type TestDatabase } from './helpers/db.ts';
import { buildApp, dayStart, KEY, provision, type TestApp } from './helpers/app.ts';
import { PROCESS_START_LIMIT_MS } from './helpers/server-process.ts';
import { Capture } from './helpers/capture.ts';


let tdb: TestDatabase;
let t: TestApp;
let work: string;
const D = dayStart('2026-10-20');

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'agora-cli-'));
  tdb = await openTestDatabase();
  t = buildApp(tdb.db);
  await provision(t, 'cli-1', [11, 12, 13], 'basic');
  const events = [
    { id: 'a', projectId: 11, quantity: '0.1', occurredAt: D + 10 },
    { id: 'b', projectId: 11, quantity: '0.2', occurredAt: D + 20 },
    { id: 'c', projectId: 12, quantity: '2.5', occurredAt: D + 30 },
    { id: 'd', projectId: 13, quantity: '7', occurredAt: D + 40 },
  ];
  expect((await t.admin('POST', '/v1/usage-events', { events })).status).toBe(200);
});
afterAll(async () => {
  await tdb?.close();
  rmSync(work, { recursive: true, force: true });
});

async function cli(argv: string[], o: { fetch?: Fetcher; env?: Record<string, string> } = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, env: o.env ?? {}, cwd: work, ...(o.fetch ? { fetch: o.fetch } : {}) };
  const status = await runCli(argv, io);
  return { status, out: stdout.text, err: stderr.text };
}

const keys = ['--key', KEY.apiKey, '--secret', KEY.apiSecret];
const appFetch: Fetcher = (url, init) => Promise.resolve(t.app.request(url, init));

describe('agora-vendor poll', () => {
  it('polls a day of the real server, prints the summary, writes the entries as CSV', async () => {
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://vendor.test', '--limit', '2', '--out', 'day.csv'], { fetch: appFetch });
    expect(r.status, r.err + r.out).toBe(0);
    expect(r.out).toMatch(/^pages {13}2 of 2 entries$/m);
    expect(r.out).toMatch(/^entries {11}3 \(totalSize 3\)$/m);
    expect(r.out).toMatch(/^total {13}9\.8$/m);
    expect(r.out).toMatch(/^total rounded up {2}10 /m);
    expect(r.out).toMatch(/^requests {10}2 \(retries: 0\)$/m);
    expect(r.out).toMatch(/^slowest request {3}[\d.]+ ms \(page [12]\)$/m);
    expect(r.out).toContain('contract          OK');
    // Not a terminal: plain progress lines on stderr.
    expect(r.err).toContain('poll usage: 2/2 pages');
    expect(readFileSync(join(work, 'day.csv'), 'utf8')).toBe(
      'projectId,amount,description\r\n11,0.3,0.3 Minute × basic\r\n12,2.5,2.5 Minute × basic\r\n13,7,7 Minute × basic\r\n',
    );
  });

  it('writes JSON with exact amounts, and a JSON summary', async () => {
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://vendor.test', '--out', 'day.json', '--summary', 'json', '--quiet'], { fetch: appFetch });
    expect(r.status).toBe(0);
    // --quiet: no progress, only the key pair that signed.
    expect(r.err).toBe(`polling http://vendor.test as Agora, signing with apiKey ${KEY.apiKey} (from the --key and --secret flags)\n`);
    const text = readFileSync(join(work, 'day.json'), 'utf8');
    expect(text).toContain('{"projectId":"11","amount":0.3,"description":"0.3 Minute × basic"}');
    expect(JSON.parse(text)).toHaveLength(3);
    const summary = JSON.parse(r.out);
    expect(summary).toMatchObject({ kind: 'usage', ok: true, pages: 1, entries: 3, total: 9.8, totalRoundedUp: 10, retries: 0, violationCounts: {} });
    expect(summary.url).toContain('signature=…');
  });

  it('--out - writes the entries to stdout and the summary to stderr', async () => {
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://vendor.test', '--out', '-', '--quiet'], { fetch: appFetch });
    expect(r.status).toBe(0);
    expect(r.out.split('\r\n')[0]).toBe('projectId,amount,description');
    expect(r.err).toContain('poll usage');
  });

  it('exits 1 on a violation and names it', async () => {
    const stub = new Hono().get('/usage', (c) =>
      c.body('{"status":0,"statusReason":"","data":{"totalSize":1,"pageNum":1,"hasNext":false,"data":[{"projectId":"1","amount":0,"description":"x"}]}}', 200),
    );
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://stub.test', '--quiet'], {
      fetch: (url, init) => Promise.resolve(stub.request(url, init)),
    });
    expect(r.status).toBe(1);
    expect(r.out).toContain('contract          VIOLATED: 1 violation');
    expect(r.out).toContain('zero_amount × 1');
  });

  it('polls a bill month and a license through the same command', async () => {
    const seen: string[] = [];
    const stub = new Hono()
      .get('/bill', (c) => {
        seen.push(c.req.url);
        return c.body('{"status":0,"statusReason":"","data":{"totalSize":1,"pageNum":1,"hasNext":false,"data":[{"projectId":"1","amount":12.000001,"description":"x"}]}}', 200);
      })
      .get('/customers/:id/license', (c) => c.json({ status: 'success', statusReason: '', data: { expireDate: '2027-01-31', residueCount: '100.5' } }));
    const fetch: Fetcher = (url, init) => Promise.resolve(stub.request(url, init));
    const bill = await cli(['poll', 'bill', '--month', '2026-02', ...keys, '--base-url', 'http://stub.test', '--quiet'], { fetch });
    expect(bill.status).toBe(0);
    expect(bill.out).toMatch(/^total rounded up {2}13 /m);
    expect(seen[0]).toContain(`fromTs=${Date.UTC(2026, 1, 1) / 1000}&toTs=${Date.UTC(2026, 2, 1) / 1000 - 1}&pageNum=1`);
    const lic = await cli(['poll', 'license', '--customer', 'cust-9', ...keys, '--base-url', 'http://stub.test'], { fetch });
    expect(lic.status).toBe(0);
    expect(lic.out).toMatch(/^expireDate {8}2027-01-31$/m);
    expect(lic.out).toMatch(/^residueCount {6}100\.5$/m);
  });

  it('answers a usage mistake with exit status 2', async () => {
    for (const argv of [
      ['poll'],
      ['poll', 'invoices'],
      ['poll', 'usage', ...keys],
      ['poll', 'usage', '--date', '2026-02-30', ...keys],
      ['poll', 'usage', '--month', '2026-02', ...keys],
      ['poll', 'bill', '--month', '2026-13', ...keys],
      ['poll', 'usage', '--date', '2026-10-20', '--limit', '0', ...keys],
      ['poll', 'usage', '--date', '2026-10-20', '--limit', '1001', ...keys],
      ['poll', 'usage', '--from-ts', '1761004800', ...keys],
      ['poll', 'license', ...keys],
      ['poll', 'license', '--customer', 'x', '--date', '2026-10-20', ...keys],
      ['poll', 'usage', '--date', '2026-10-20', '--format', 'xml', ...keys],
      ['poll', 'usage', '--date', '2026-10-20', '--base-url', 'not a url', ...keys],
    ]) {
      const r = await cli(argv);
      expect(r.status, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toContain('Usage:');
    }
  });
});

describe('agora-vendor migrate and help', () => {
  it('lists pending migrations, applies them, then lists them applied (embedded database)', async () => {
    const dataDir = join(work, 'data');
    const before = await cli(['migrate', 'status', '--data-dir', dataDir]);
    expect(before.status).toBe(1);
    expect(before.out).toMatch(/^ {2}pending +20261123000000-initial$/m);
    const up = await cli(['migrate', 'up', '--data-dir', dataDir]);
    expect(up.status, up.err).toBe(0);
    expect(up.out).toContain('applied 20261123000000-initial');
    const after = await cli(['migrate', 'status', '--data-dir', dataDir]);
    expect(after.status).toBe(0);
    expect(after.out).toMatch(/^ {2}applied \d{4}-\d\d-\d\dT[\d:.]+Z {2}20261123000000-initial$/m);
    expect(after.out).toMatch(/^\d+ applied, 0 pending$/m);
    expect((await cli(['migrate', '--data-dir', dataDir])).out).toContain('already up to date');
    expect((await cli(['migrate', 'sideways'])).status).toBe(2);
  }, 60_000);

  it('prints help, and refuses an unknown command', async () => {
    const help = await cli(['--help']);
    expect(help.status).toBe(0);
    expect(help.out).toContain('poll usage --date YYYY-MM-DD');
    expect((await cli(['help', 'poll'])).out).toContain('agora-vendor poll license --customer ID');
    expect((await cli(['poll', '--help'])).out).toContain('--timeout-ms N');
    const unknown = await cli(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.err).toContain('unknown command "frobnicate"');
    expect((await cli([])).status).toBe(2);
  });
});

describe('the installed command', () => {
  it('bin/agora-vendor.js runs the TypeScript CLI through tsx', async () => {
    const bin = new URL('../bin/agora-vendor.js', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [
      bin,
      'sign',
      ...keys,
      '--path',
      '/usage',
      'fromTs=1619913600',
      'toTs=1619917200',
      'pageNum=1',
    ]);
    expect(stdout).toContain('signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D');
    const failed = await promisify(execFile)(process.execPath, [bin, 'nope']).catch((err: { code: number; stderr: string }) => err);
    expect((failed as { code: number }).code).toBe(2);
  }, 2 * PROCESS_START_LIMIT_MS);
});
