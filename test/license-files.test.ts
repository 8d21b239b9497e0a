import { verify } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { buildApp, provision, type TestApp } from './helpers/app.ts';
import { basicOf, certificateEnv, countingDb, customer, issue, PUBLIC_URL } from './helpers/certificates.ts';
import { licenseWorld, projectCredentials, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ env: certificateEnv() });
const T0 = '2027-03-01T00:00:00.000Z';
const DAY = 86_400_000;
const at = (days: number) => new Date(Date.parse(T0) + days * DAY).toISOString();

async function licenseUrl(t: TestApp, customerId: string, projectId: number): Promise<string | undefined> {
  const r = await t.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId });
  expect(r.status).toBe(200);
  return ((await r.json()) as any).data.licenseUrl;
}

const pathOf = (url: string) => url.slice(PUBLIC_URL.length);

/**
 * A device's check, written only with Node's crypto and the published key document: what
 * docs/certificates.md shows. Not the server's code.
 */
async function deviceVerify(t: TestApp, file: string) {
  const keys = (await (await t.app.request('/.well-known/license-keys')).json()) as { keys: { kid: string; publicKey: string }[] };
  const [magic, kid, payload, signature] = file.trim().split('.');
  const key = keys.keys.find((k) => k.kid === kid);
  const ok = magic === 'ALF1' && key !== undefined && verify(null, Buffer.from(`${magic}.${kid}.${payload}`), key.publicKey, Buffer.from(signature!, 'base64url'));
  return { ok, content: JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) };
}

async function fetchFile(t: TestApp, url: string) {
  const r = await t.app.request(pathOf(url));
  return { status: r.status, text: await r.text(), type: r.headers.get('content-type') };
}

describe('licenseUrl in provisioning', () => {
  it('is answered with LICENSE_FILES=on and PUBLIC_URL, the same on every repeat', async () => {
    ctx.t.setNow(T0);
    await provision(ctx.t, 'c1', []);
    const first = await licenseUrl(ctx.t, 'c1', 101);
    expect(first).toMatch(new RegExp(`^${PUBLIC_URL}/license-files/[A-Za-z0-9_-]{43}$`));
    expect(await licenseUrl(ctx.t, 'c1', 101)).toBe(first);
    expect(await licenseUrl(ctx.t, 'c1', 102)).not.toBe(first);
  });

  it('is absent, and the answer unchanged, when the feature is off', async () => {
    const off = buildApp(ctx.tdb.db, certificateEnv({ LICENSE_FILES: 'off' }));
    await provision(off, 'c1', []);
    const r = await off.agoraSend('POST', '/customers/c1/projects/new', { projectId: 101 });
    const body = (await r.json()) as any;
    expect(Object.keys(body.data).sort()).toEqual(['appKey', 'appSecret']);
    expect(await ctx.tdb.db.selectFrom('license_file_tokens').selectAll().execute()).toEqual([]);
  });
});

describe('the license file', () => {
  it('lists the licenses and certificates in force, validUntil = issuedAt + TTL, signed: a device verifies it with crypto.verify', async () => {
    ctx.t.setNow(T0);
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    const url = (await licenseUrl(ctx.t, 'c1', 101))!;
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200);
    expect((await w.p102.activate('102', TRIAL_PID, 'dev-other-project')).status).toBe(200);
    const c1 = customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    const up = await c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 60 }, { type: 'agent', validityDays: 10 }]));
    await c1.registerAgent('bot');
    await c1.bind(up.body.data.certificates.find((c: any) => c.type === 'agent').id, 'bot');

    const f = await fetchFile(ctx.t, url);
    expect(f.status).toBe(200);
    expect(f.type).toMatch(/^text\/plain/);
    const v = await deviceVerify(ctx.t, f.text);
    expect(v.ok).toBe(true);
    expect(v.content).toMatchObject({ format: 'agora-license-file', version: 1, projectId: '101', customerId: 'c1', issuedAt: T0, validUntil: at(30) });
    expect(v.content.licenses).toEqual([expect.objectContaining({ licenseKey: 'dev-1', pid: TRIAL_PID })]);
    expect(v.content.platform).toEqual({ expiresAt: at(60), permanent: false });
    expect(v.content.agents).toEqual([{ agentId: 'bot', expiresAt: at(10), permanent: false }]);
    expect(v.content.certificates.map((c: any) => c.type).sort()).toEqual(['agent', 'platform']);
    // A changed byte does not verify.
    const i = f.text.indexOf('.', 5) + 20;
    const changed = f.text.slice(0, i) + (f.text[i] === 'A' ? 'B' : 'A') + f.text.slice(i + 1);
    expect((await deviceVerify(ctx.t, changed)).ok).toBe(false);

    // The TTL is configurable; an agent past its days drops out of the file.
    const ttl = buildApp(ctx.tdb.db, certificateEnv({ LICENSE_FILE_TTL_DAYS: '7' }));
    ttl.setNow(at(11));
    const later = await deviceVerify(ttl, (await fetchFile(ttl, url)).text);
    expect(later.content).toMatchObject({ issuedAt: at(11), validUntil: at(18) });
    expect(later.content.certificates.map((c: any) => c.type)).toEqual(['platform']);
  });

  it('is cached until something in it changes: an activation, a renewal, a certificate', async () => {
    ctx.t.setNow(T0);
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    const url = (await licenseUrl(ctx.t, 'c1', 101))!;
    const a = await fetchFile(ctx.t, url);
    ctx.t.setNow(at(0.01));
    const b = await fetchFile(ctx.t, url);
    expect(b.text).toBe(a.text);
    const act = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    const c = await fetchFile(ctx.t, url);
    expect(c.text).not.toBe(b.text);
    expect((await deviceVerify(ctx.t, c.text)).content.licenses).toHaveLength(1);
    // A renewal (an UPDATE of the license) changes the file too.
    await ctx.t.admin('POST', '/v1/renewals', { customerId: 'c1', pid: TRIAL_PID, count: 1, renewId: 'r1' });
    const renewed = await w.p101.post('/v2/renew', { appid: '101', license: act.body.data.license, renewId: 'r1' });
    expect(renewed.status).toBe(200);
    const d = await fetchFile(ctx.t, url);
    expect((await deviceVerify(ctx.t, d.text)).content.licenses[0].expiresAt).toBe(new Date(renewed.body.data.expireTime * 1000).toISOString());
    const c1 = customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    await c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 60 }]));
    const e = await fetchFile(ctx.t, url);
    expect((await deviceVerify(ctx.t, e.text)).content.platform).not.toBeNull();
    // Made again after an hour, with a fresh issuedAt, even when nothing changed.
    ctx.t.setNow(at(1));
    expect((await deviceVerify(ctx.t, (await fetchFile(ctx.t, url)).text)).content.issuedAt).toBe(at(1));
  });

  it('a wrong, malformed or rotated token answers 404; rotation gives a new URL that provisioning answers', async () => {
    ctx.t.setNow(T0);
    await provision(ctx.t, 'c1', []);
    const url = (await licenseUrl(ctx.t, 'c1', 101))!;
    const token = url.split('/').pop()!;
    const wrong = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    for (const path of [`/license-files/${wrong}`, '/license-files/x', `/license-files/${'A'.repeat(43)}`, `/license-files/${token}%00`]) {
      const r = await ctx.t.app.request(path);
      expect(r.status).toBe(path.includes('%00') ? 400 : 404);
    }
    // A wrong token costs what a right one costs up to the answer: one lookup by its hash.
    const counting = countingDb(ctx.tdb.db);
    const t = buildApp(counting.db, certificateEnv());
    counting.reset();
    expect((await t.app.request(`/license-files/${wrong}`)).status).toBe(404);
    expect(counting.statements()).toBe(1);
    const rotated = await ctx.t.admin('POST', '/v1/projects/101/license-file/rotate');
    expect(rotated.status).toBe(200);
    const next = ((await rotated.json()) as any).licenseUrl as string;
    expect(next).not.toBe(url);
    expect((await fetchFile(ctx.t, url)).status).toBe(404);
    expect((await fetchFile(ctx.t, next)).status).toBe(200);
    expect(await licenseUrl(ctx.t, 'c1', 101)).toBe(next);
    expect((await ctx.t.admin('POST', '/v1/projects/999/license-file/rotate')).status).toBe(404);
    // A deactivated project's file is gone too; the feature off answers 404 for every token.
    const off = buildApp(ctx.tdb.db, certificateEnv({ LICENSE_FILES: 'off' }));
    expect((await off.app.request(pathOf(next))).status).toBe(404);
    await ctx.t.agoraSend('PUT', '/customers/c1/projects/101/deactivate', {});
    expect((await fetchFile(ctx.t, next)).status).toBe(404);
  });

  it('a file for a project with 10,000 licenses is made in under 200 ms, in a fixed number of statements, and served from cache after', async () => {
    ctx.t.setNow(T0);
    await licenseWorld(ctx.t, ctx.tdb.db);
    const url = (await licenseUrl(ctx.t, 'c1', 101))!;
    const other = (await licenseUrl(ctx.t, 'c1', 102))!;
    await sql`
      insert into licenses (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
      select 'L-' || g, 'c1', 101, ${TRIAL_PID}, 'key-' || g, ${T0}::timestamptz, ${T0}::timestamptz + interval '90 days'
      from generate_series(1, 10000) g`.execute(ctx.tdb.db);
    const counting = countingDb(ctx.tdb.db);
    const t = buildApp(counting.db, certificateEnv());
    const timed = async (u: string) => {
      counting.reset();
      const started = performance.now();
      const f = await fetchFile(t, u);
      return { f, ms: performance.now() - started, statements: counting.statements() };
    };
    t.setNow(T0);
    // The first request of an app compiles its route: on the project without licenses.
    const empty = await timed(other);
    // The best of three: each run over an hour after the previous one, so the file is made again.
    const made: Awaited<ReturnType<typeof timed>>[] = [];
    for (let run = 0; run < 3; run++) {
      t.setNow(at(run * 0.05));
      made.push(await timed(url));
      expect((await deviceVerify(t, made[run]!.f.text)).content.issuedAt).toBe(at(run * 0.05));
    }
    const cached = await timed(url);
    const best = Math.min(...made.map((m) => m.ms));
    console.log(
      `license file of 10,000 licenses (${made[2]!.f.text.length} bytes): made in ${made.map((m) => m.ms.toFixed(0)).join(', ')} ms (best ${best.toFixed(0)} ms; printed, not asserted), ` +
        `${made[2]!.statements} statements (no licenses: ${empty.statements}); from cache in ${cached.ms.toFixed(0)} ms, ${cached.statements} statements`,
    );
    expect(cached.f.text).toBe(made[2]!.f.text);
    expect((await deviceVerify(t, cached.f.text)).content.licenses).toHaveLength(10_000);
    expect(made[2]!.statements).toBe(empty.statements);
    expect(cached.statements).toBeLessThan(made[2]!.statements);
  }, 60_000);
});
