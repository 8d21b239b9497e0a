import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/io.ts';
import type { Fetcher } from '../src/cli/poller/poller.ts';
import { runCli } from '../src/cli/run.ts';
import { buildApp, KEY, type TestApp } from './helpers/app.ts';
import { openTestDatabase, type TestDatabase } from './helpers/db.ts';
import { PROCESS_START_LIMIT_MS, ROOT } from './helpers/server-process.ts';
import { Capture } from './helpers/capture.ts';

/** The command-line tool as a new user meets it: what it prints, where, and what it leaves behind. */


let tdb: TestDatabase;
let t: TestApp;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'agora-cli-user-'));
  tdb = await openTestDatabase();
  t = buildApp(tdb.db);
});
afterAll(async () => {
  await tdb?.close();
  rmSync(work, { recursive: true, force: true });
});

async function cli(argv: string[], o: { fetch?: Fetcher; env?: Record<string, string>; now?: string } = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = {
    stdout,
    stderr,
    env: o.env ?? {},
    cwd: work,
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.now ? { now: () => new Date(o.now!) } : {}),
  };
  const status = await runCli(argv, io);
  return { status, out: stdout.text, err: stderr.text };
}

const keys = ['--key', KEY.apiKey, '--secret', KEY.apiSecret];
const appFetch: Fetcher = (url, init) => Promise.resolve(t.app.request(url, init));
const pkgVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('agora-vendor --version', () => {
  it('prints the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r).toEqual({ status: 0, out: `agora-vendor ${pkgVersion}\n`, err: '' });
    }
  });
});

describe('sign --curl', () => {
  it('aims at the server on PORT (GET and POST)', async () => {
    const env = { PORT: '9123', AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret };
    const get = await cli(['sign', '--curl', '--path', '/usage', 'fromTs=1619913600', 'toTs=1619917200', 'pageNum=1'], { env });
    expect(get.status).toBe(0);
    expect(get.out).toMatch(/^curl -sS 'http:\/\/127\.0\.0\.1:9123\/usage\?fromTs=1619913600&toTs=1619917200&pageNum=1&apiKey=[^&]+&signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D'\n$/);
    const post = await cli(['sign', '--curl', '--method', 'POST', '--path', '/customers/123456/projects/new', 'projectId:=430892'], { env });
    expect(post.out).toContain(`curl -sS -X POST http://127.0.0.1:9123/customers/123456/projects/new `);
    // Without PORT, the server's own default port.
    const dflt = await cli(['sign', '--curl', '--path', '/usage', 'pageNum=1'], { env: { AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret } });
    expect(dflt.out).toContain("'http://127.0.0.1:8080/usage?");
  });
});

describe('the key pair is named on stderr', () => {
  it('by sign and by every poll, with the apiKey and never the secret', async () => {
    const env = { AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret };
    const sign = await cli(['sign', '--path', '/usage', 'pageNum=1'], { env });
    expect(sign.err).toBe(`signing with apiKey ${KEY.apiKey} (from AGORA_API_KEY and AGORA_API_SECRET)\n`);
    const lic = await cli(['poll', 'license', '--customer', 'nobody', '--base-url', 'http://vendor.test'], { env, fetch: appFetch });
    expect(lic.err).toContain(`signing with apiKey ${KEY.apiKey} (from AGORA_API_KEY and AGORA_API_SECRET)`);
    const quiet = await cli(['poll', 'usage', '--date', '2026-10-20', '--quiet', '--base-url', 'http://vendor.test'], { env, fetch: appFetch });
    expect(quiet.err).toContain(`signing with apiKey ${KEY.apiKey}`);
    for (const r of [sign, lic, quiet]) expect(r.err + r.out).not.toContain(KEY.apiSecret);
  });
});

describe('poll license', () => {
  it("takes the server's documented 404 for a customer without licenses as keeping the contract", async () => {
    const r = await cli(['poll', 'license', '--customer', 'nobody', ...keys, '--base-url', 'http://vendor.test'], { fetch: appFetch });
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/^status {12}failed \(Customer nobody is not provisioned\), HTTP 404: no license for this customer$/m);
    expect(r.out).toContain('contract          OK');
  });

  it('still calls a 404 without the failed envelope a violation', async () => {
    const stub = new Hono().get('/customers/:id/license', (c) => c.json({ status: 'success', statusReason: '', data: { expireDate: '', residueCount: '0' } }, 404));
    const r = await cli(['poll', 'license', '--customer', 'x', ...keys, '--base-url', 'http://stub.test'], { fetch: (u, i) => Promise.resolve(stub.request(u, i)) });
    expect(r.status).toBe(1);
    expect(r.out).toContain('http_status × 1');
  });
});

describe('poll --out after a failure', () => {
  const failing = new Hono().get('/usage', (c) => c.json({ status: 503, statusReason: 'database unavailable' }, 503));
  const failFetch: Fetcher = (u, i) => Promise.resolve(failing.request(u, i));

  it('leaves no file, and says the entries were not written', async () => {
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://stub.test', '--retries', '0', '--out', 'failed.csv'], { fetch: failFetch });
    expect(r.status).toBe(1);
    expect(existsSync(join(work, 'failed.csv'))).toBe(false);
    expect(r.out).toContain('entries not written to failed.csv: the poll failed');
    expect(readdirSync(work).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('writes nothing to stdout with --out -', async () => {
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://stub.test', '--retries', '0', '--out', '-', '--quiet'], { fetch: failFetch });
    expect(r.status).toBe(1);
    expect(r.out).toBe('');
  });

  it('leaves an earlier file as it was', async () => {
    writeFileSync(join(work, 'earlier.csv'), 'earlier\n');
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://stub.test', '--retries', '0', '--out', 'earlier.csv'], { fetch: failFetch });
    expect(r.status).toBe(1);
    expect(readFileSync(join(work, 'earlier.csv'), 'utf8')).toBe('earlier\n');
  });

  it('writes the file when the poll succeeds', async () => {
    const r = await cli(['poll', 'usage', '--date', '2026-10-20', ...keys, '--base-url', 'http://vendor.test', '--out', 'ok.csv'], { fetch: appFetch });
    expect(r.status, r.out).toBe(0);
    expect(readFileSync(join(work, 'ok.csv'), 'utf8')).toBe('projectId,amount,description\r\n');
    expect(readdirSync(work).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('poll bill of a month not over', () => {
  const stub = new Hono().get('/bill', (c) =>
    c.body('{"status":0,"statusReason":"","data":{"totalSize":0,"pageNum":1,"hasNext":false,"data":[]}}', 200),
  );
  const fetch: Fetcher = (u, i) => Promise.resolve(stub.request(u, i));

  it('is refused without --force, naming why', async () => {
    const r = await cli(['poll', 'bill', '--month', '2026-02', ...keys, '--base-url', 'http://stub.test'], { fetch, now: '2026-02-27T12:00:00Z' });
    expect(r.status).toBe(2);
    expect(r.err).toContain('2026-02 has not ended yet');
    expect(r.err).toContain('--force');
    // The window given as timestamps is the same month.
    const ts = await cli(['poll', 'bill', '--from-ts', '1769904000', '--to-ts', '1769990399', ...keys, '--base-url', 'http://stub.test'], { fetch, now: '2026-02-27T12:00:00Z' });
    expect(ts.status).toBe(2);
  });

  it('is polled with --force, with a warning on stderr', async () => {
    const r = await cli(['poll', 'bill', '--month', '2026-02', '--force', ...keys, '--base-url', 'http://stub.test'], { fetch, now: '2026-02-27T12:00:00Z' });
    expect(r.status, r.err).toBe(0);
    expect(r.err).toContain('warning: 2026-02 has not ended yet; --force: its bill is fixed now');
  });

  it('is polled without a word once the month is over', async () => {
    const r = await cli(['poll', 'bill', '--month', '2026-02', ...keys, '--base-url', 'http://stub.test'], { fetch, now: '2026-03-01T00:00:00Z' });
    expect(r.status).toBe(0);
    expect(r.err).not.toContain('warning');
    expect((await cli(['poll', 'usage', '--date', '2026-10-20', '--force', ...keys])).status).toBe(2);
  });
});

describe('npx agora-vendor in the clone', () => {
  it('writes only the command’s own output to stdout (no npm banner)', async () => {
    const { stdout } = await promisify(execFile)('npx', ['agora-vendor', 'sign', ...keys, '--path', '/usage', 'fromTs=1619913600', 'toTs=1619917200', 'pageNum=1'], {
      cwd: ROOT,
      timeout: PROCESS_START_LIMIT_MS,
    });
    expect(stdout).toBe(`/usage?fromTs=1619913600&toTs=1619917200&pageNum=1&apiKey=${KEY.apiKey}&signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D\n`);
    const version = await promisify(execFile)('npx', ['agora-vendor', '--version'], { cwd: ROOT, timeout: PROCESS_START_LIMIT_MS });
    expect(version.stdout).toBe(`agora-vendor ${pkgVersion}\n`);
  }, 3 * PROCESS_START_LIMIT_MS);
});
