import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/io.ts';
import { runCli } from '../src/cli/run.ts';
import { parsePrivateKey, signingKeysOf } from '../src/certificates/keys.ts';
import { sealSigned } from '../src/certificates/signed.ts';
import { provision } from './helpers/app.ts';
import { Capture } from './helpers/capture.ts';
import { basicOf, certificateEnv, customer, newPem, PUBLIC_URL, SIGNING_PEM } from './helpers/certificates.ts';
import { projectCredentials } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ env: certificateEnv() });
const dir = mkdtempSync(join(tmpdir(), 'w12-cli-'));
const pubFile = join(dir, 'public.pem');
writeFileSync(pubFile, createPublicKey(SIGNING_PEM).export({ format: 'pem', type: 'spki' }).toString());
const keyFile = join(dir, 'signing.pem');
writeFileSync(keyFile, SIGNING_PEM);

async function cli(argv: string[], extra: Partial<CliIo> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const status = await runCli(argv, { stdout, stderr, env: {}, cwd: dir, ...extra });
  return { status, out: stdout.text, err: stderr.text };
}

/** The server's key document, fetched through the app in process (no port). */
const appFetch: CliIo['fetch'] = (url: string) => Promise.resolve(ctx.t.app.request(new URL(url).pathname));

describe('agora-vendor certificates', () => {
  it('issues a package offline that the server accepts, and inspects it', async () => {
    await provision(ctx.t, 'c1', [101]);
    const issued = await cli(['certificates', 'issue', '--customer', 'c1', '--cert', 'platform:subscription:365', '--cert', 'agent:test:30:3', '--out', 'p.lcs', '--key', keyFile]);
    expect(issued.status).toBe(0);
    expect(issued.err).toMatch(/^4 certificates for customer c1 in p\.lcs/);
    const text = readFileSync(join(dir, 'p.lcs'), 'utf8');
    const c1 = customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    expect((await c1.upload(text)).body.data.registered).toBe(4);

    const inspected = await cli(['certificates', 'inspect', 'p.lcs', '--keys', pubFile]);
    expect(inspected.status).toBe(0);
    expect(inspected.out).toContain(`signature: verified (keys from ${pubFile})`);
    expect(inspected.out).toContain('1 × c1  platform  subscription  365 days');
    expect(inspected.out).toContain('3 × c1  agent  test  30 days');
    // With the server's published keys, by URL.
    expect((await cli(['certificates', 'inspect', 'p.lcs', '--keys', `${PUBLIC_URL}/.well-known/license-keys`], { fetch: appFetch })).status).toBe(0);
    // With the key from the environment, and a permanent certificate.
    const env = await cli(['certificates', 'issue', '--customer', 'c1', '--cert', 'platform-unlimited:buyout:permanent'], { env: { LICENSE_SIGNING_KEY: SIGNING_PEM } });
    expect(env.out).toMatch(/^LCS1\./);
  });

  it('inspect refuses a changed package and one of another key; issue refuses bad --cert', async () => {
    await cli(['certificates', 'issue', '--customer', 'c1', '--cert', 'agent:subscription:30', '--out', 'q.lcs', '--key', keyFile]);
    const text = readFileSync(join(dir, 'q.lcs'), 'utf8');
    const i = text.indexOf('.', 5) + 30;
    writeFileSync(join(dir, 'changed.lcs'), text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1));
    const changed = await cli(['certificates', 'inspect', 'changed.lcs', '--keys', pubFile]);
    expect(changed.status).toBe(1);
    expect(changed.out).toMatch(/REFUSED \(package_signature_invalid\)/);
    const other = join(dir, 'other.pem');
    writeFileSync(other, newPem());
    await cli(['certificates', 'issue', '--customer', 'c1', '--cert', 'agent:subscription:30', '--out', 'r.lcs', '--key', other]);
    expect((await cli(['certificates', 'inspect', 'r.lcs', '--keys', pubFile])).out).toMatch(/REFUSED \(unknown_signing_key\)/);
    const unchecked = await cli(['certificates', 'inspect', 'q.lcs']);
    expect([unchecked.status, /NOT CHECKED/.test(unchecked.out)]).toEqual([1, true]);
    for (const cert of ['gold:x:1', 'agent:x:0', 'agent:x y:1', 'agent:x:1:0', 'agent:x']) {
      expect((await cli(['certificates', 'issue', '--customer', 'c1', '--cert', cert, '--key', keyFile])).status).toBe(2);
    }
    expect((await cli(['certificates', 'issue', '--customer', 'c1', '--cert', 'agent:x:1'])).status).toBe(2);
  });
});

describe('agora-vendor license-file verify', () => {
  it('verifies a file from the server, says when it has expired, and refuses a changed one', async () => {
    ctx.t.setNow('2027-05-01T00:00:00Z');
    await provision(ctx.t, 'c1', []);
    const r = await ctx.t.agoraSend('POST', '/customers/c1/projects/new', { projectId: 101 });
    const url = ((await r.json()) as any).data.licenseUrl as string;
    const file = await (await ctx.t.app.request(url.slice(PUBLIC_URL.length))).text();
    writeFileSync(join(dir, 'device.lic'), file);
    const now = () => new Date('2027-05-02T00:00:00Z');
    const ok = await cli(['license-file', 'verify', 'device.lic', '--keys', `${PUBLIC_URL}/.well-known/license-keys`], { fetch: appFetch, now });
    expect(ok.status).toBe(0);
    expect(ok.out).toContain('signature: verified');
    expect(ok.out).toContain('valid until 2027-05-31T00:00:00.000Z: current');
    expect(ok.out).toContain('0 device licenses');
    const late = await cli(['license-file', 'verify', 'device.lic', '--keys', pubFile], { now: () => new Date('2027-06-01T00:00:00Z') });
    expect([late.status, /EXPIRED/.test(late.out)]).toEqual([1, true]);
    writeFileSync(join(dir, 'bad.lic'), file.replace(/\.(.)/, (_, ch: string) => `.${ch === 'a' ? 'b' : 'a'}`));
    expect((await cli(['license-file', 'verify', 'bad.lic', '--keys', pubFile], { now })).status).toBe(1);
    // A package is not a license file.
    await cli(['certificates', 'issue', '--customer', 'c1', '--cert', 'agent:subscription:30', '--out', 'pkg.lcs', '--key', keyFile]);
    expect((await cli(['license-file', 'verify', 'pkg.lcs', '--keys', pubFile], { now })).out).toMatch(/REFUSED \(invalid_package\)/);
  });

  it('answers in words, not a crash, for a payload signed by our key that is not a license file', async () => {
    const keys = signingKeysOf(parsePrivateKey(SIGNING_PEM, 'test'), []);
    const now = () => new Date('2027-05-02T00:00:00Z');
    const base = { projectId: '101', customerId: 'c1', issuedAt: '2027-05-01T00:00:00.000Z', validUntil: '2027-05-31T00:00:00.000Z' };
    const verify = async (payload: unknown) => {
      writeFileSync(join(dir, 'odd.lic'), sealSigned('ALF1', keys, JSON.stringify(payload)));
      return cli(['license-file', 'verify', 'odd.lic', '--keys', pubFile], { now });
    };
    for (const [payload, where] of [
      [{ ...base, licenses: 'not a list' }, 'licenses'],
      [{ ...base, licenses: [{ licenseKey: 'k', pid: 'P' }] }, 'licenses.0.expiresAt'],
      [{ ...base, agents: [{ agentId: 7, expiresAt: null, permanent: true }] }, 'agents.0.agentId'],
      [{ ...base, platform: { permanent: 'yes' } }, 'platform'],
      [['an', 'array'], 'payload'],
    ] as const) {
      const r = await verify(payload);
      expect(r.status).toBe(1);
      expect(r.out).toMatch(new RegExp(`^signature: verified, but the payload is not a license file this version reads \\(${where.replace(/\./g, '\\.')}[.:]`));
    }
    // The same shape with its members right is read, and a source added later is counted by name.
    const good = await verify({ ...base, licenses: [{ licenseKey: 'k', pid: 'P', expiresAt: null }], platform: null, agents: [], certificates: [], grants: [{}, {}] });
    expect(good.status).toBe(0);
    expect(good.out).toContain('1 device licenses\n  k  P  until no end');
    expect(good.out).toContain('2 grants');
  });
});
