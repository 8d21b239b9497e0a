import { createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { buildApp, provision } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { basicOf, certificateEnv, countingDb, customer, issue, newPem, SIGNING_PEM } from './helpers/certificates.ts';
import { projectCredentials } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ env: certificateEnv() });
const DAY = 86_400_000;
const T0 = '2027-01-10T00:00:00.000Z';
const at = (days: number) => new Date(Date.parse(T0) + days * DAY).toISOString();

async function world() {
  ctx.t.setNow(T0);
  await provision(ctx.t, 'c1', [101, 102]);
  await provision(ctx.t, 'c2', [201]);
  return {
    c1: customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '101'))),
    c1b: customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '102'))),
    c2: customer(ctx.t, basicOf(await projectCredentials(ctx.tdb.db, '201'))),
  };
}

const certificateCount = async () => Number((await ctx.tdb.db.selectFrom('license_certificates').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
const idsOf = (body: any, type: string) => (body.data.certificates as any[]).filter((c) => c.type === type).map((c) => c.id as string);

/** The package's parts, read with nothing but string operations. */
function partsOf(text: string) {
  const [magic, kid, payload, signature] = text.trim().split('.') as [string, string, string, string];
  return { magic, kid, payload, signature, json: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) };
}

describe('signing keys', () => {
  it('publishes the public key; a package verifies with crypto.verify and that key, and a changed byte does not', async () => {
    const r = await ctx.t.app.request('/.well-known/license-keys');
    expect(r.status).toBe(200);
    const doc = (await r.json()) as { current: string; keys: { kid: string; alg: string; publicKey: string; x: string }[] };
    expect(doc.keys).toHaveLength(1);
    expect(doc.keys[0]).toMatchObject({ kid: doc.current, alg: 'Ed25519' });
    // The published key is the public half of the configured key, and nothing private is published.
    const expected = createPublicKey(SIGNING_PEM).export({ format: 'pem', type: 'spki' }).toString();
    expect(doc.keys[0]!.publicKey).toBe(expected);
    expect(JSON.stringify(doc)).not.toContain('PRIVATE');

    const text = await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }]);
    const p = partsOf(text);
    expect(p.magic).toBe('LCS1');
    expect(p.kid).toBe(doc.current);
    const signed = Buffer.from(`${p.magic}.${p.kid}.${p.payload}`, 'ascii');
    expect(nodeVerify(null, signed, doc.keys[0]!.publicKey, Buffer.from(p.signature, 'base64url'))).toBe(true);
    const tampered = Buffer.from(signed);
    tampered[tampered.length - 3]! ^= 1;
    expect(nodeVerify(null, tampered, doc.keys[0]!.publicKey, Buffer.from(p.signature, 'base64url'))).toBe(false);
    expect(p.json).toMatchObject({ format: 'agora-license-certificates', version: 1, certificates: [{ customerId: 'c1', type: 'platform', mode: 'subscription', validityDays: 30 }] });
  });

  it('keeps retired public keys published after a rotation, and packages they signed still upload', async () => {
    const w = await world();
    const before = await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 10 }]);
    const newKey = newPem();
    const rotated = buildApp(ctx.tdb.db, certificateEnv({ LICENSE_SIGNING_KEY: newKey, LICENSE_RETIRED_PUBLIC_KEYS: createPublicKey(SIGNING_PEM).export({ format: 'pem', type: 'spki' }).toString() }));
    rotated.setNow(T0);
    const doc = (await (await rotated.app.request('/.well-known/license-keys')).json()) as { current: string; keys: { kid: string }[] };
    expect(doc.keys.map((k) => k.kid)).toEqual([doc.current, partsOf(before).kid]);
    const after = await issue(rotated, 'c1', [{ type: 'platform', validityDays: 10 }]);
    expect(partsOf(after).kid).toBe(doc.current);
    const c1 = customer(rotated, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    expect((await c1.upload(before)).body.data.registered).toBe(1);
    expect((await c1.upload(after)).body.data.registered).toBe(1);
    // The app on the old key alone does not know the new one.
    const refused = await w.c1.upload(await issue(rotated, 'c1', [{ type: 'platform', validityDays: 10 }]));
    expect(refused.body.error).toBe('unknown_signing_key');
  });

  it('without a signing key the certificate routes answer 503 signing_key_missing, the rest works', async () => {
    const bare = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '0' });
    const r = await bare.app.request('/.well-known/license-keys');
    expect(r.status).toBe(503);
    expect(((await r.json()) as any).error.code).toBe('signing_key_missing');
    expect((await bare.app.request('/healthz')).status).toBe(200);
  });
});

describe('certificate packages', () => {
  it('registers each certificate once; a second upload changes nothing', async () => {
    const w = await world();
    const text = await issue(ctx.t, 'c1', [
      { type: 'platform', validityDays: 30 },
      { type: 'agent', validityDays: 90, count: 3 },
    ]);
    const first = await w.c1.upload(text);
    expect(first.status).toBe(200);
    expect(first.body.data).toMatchObject({ registered: 4, alreadyRegistered: 0, rejected: 0 });
    const rows = await ctx.tdb.db.selectFrom('license_certificates').selectAll().orderBy('id').execute();
    const second = await w.c1b.upload(text);
    expect(second.body.data).toMatchObject({ registered: 0, alreadyRegistered: 4, rejected: 0 });
    expect(await ctx.tdb.db.selectFrom('license_certificates').selectAll().orderBy('id').execute()).toEqual(rows);

    const list = await w.c1.certificates();
    expect(list.body.data.count).toBe(4);
    const byType = (type: string) => (list.body.data.list as any[]).filter((c) => c.type === type);
    expect(byType('platform')).toEqual([expect.objectContaining({ status: 'activated', validityDays: 30, activatedAt: T0, expiresAt: at(30), agentId: null })]);
    expect(byType('agent').map((c) => c.status)).toEqual(['unused', 'unused', 'unused']);
    // Another customer sees none of them.
    expect((await w.c2.certificates()).body.data.count).toBe(0);
  });

  it("refuses another customer's certificates, registering nothing of them", async () => {
    const w = await world();
    const text = await issue(ctx.t, 'c2', [{ type: 'platform', validityDays: 30, count: 2 }]);
    const r = await w.c1.upload(text);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ registered: 0, rejected: 2 });
    expect(r.body.data.certificates[0]).toMatchObject({ status: 'rejected', reason: 'issued to another customer' });
    expect(await certificateCount()).toBe(0);
    expect((await w.c1.platform()).body.data.platform).toMatchObject({ active: false, expiresAt: null });
    // Its own customer still registers them afterwards.
    expect((await w.c2.upload(text)).body.data.registered).toBe(2);
  });

  it('refuses the whole package: empty, truncated, binary, broken base64, a changed byte, an unknown key, re-signed with another key', async () => {
    const w = await world();
    const text = await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }, { type: 'agent', validityDays: 30 }]);
    const p = partsOf(text);
    const otherKey = generateKeyPairSync('ed25519').privateKey;
    const head = `${p.magic}.${p.kid}.${p.payload}`;
    const resigned = `${head}.${nodeSign(null, Buffer.from(head), otherKey).toString('base64url')}\n`;
    const otherKid = `${p.magic}.0123456789abcdef.${p.payload}`;
    const unknownKid = `${otherKid}.${nodeSign(null, Buffer.from(otherKid), otherKey).toString('base64url')}\n`;
    const flipped = Buffer.from(p.payload, 'base64url');
    flipped[10]! ^= 0x01;
    const changedByte = `${p.magic}.${p.kid}.${flipped.toString('base64url')}.${p.signature}\n`;
    const cases: [string, BlobPart, string][] = [
      ['empty', '', 'invalid_package'],
      ['truncated', text.slice(0, Math.floor(text.length / 2)), 'invalid_package'],
      // 2 characters less is still canonical base64url (84 characters): a signature of 63 bytes.
      ['truncated inside the signature', text.trim().slice(0, -2), 'package_signature_invalid'],
      ['binary', new Uint8Array([0x4c, 0x43, 0x53, 0x31, 0x2e, 0x00, 0xff, 0x10]), 'invalid_package'],
      ['not a package', 'hello world', 'invalid_package'],
      ['broken base64', `${p.magic}.${p.kid}.${p.payload.slice(0, 20)}!!${p.payload.slice(22)}.${p.signature}`, 'invalid_package'],
      ['a changed byte', changedByte, 'package_signature_invalid'],
      ['re-signed with another key', resigned, 'package_signature_invalid'],
      ['an unknown key', unknownKid, 'unknown_signing_key'],
      ['a license file', `ALF1.${p.kid}.${p.payload}.${p.signature}`, 'invalid_package'],
    ];
    for (const [name, file, code] of cases) {
      const r = await w.c1.upload(file);
      expect({ name, status: r.status, code: r.body.error }).toEqual({ name, status: 400, code });
      expect(r.body.message).toEqual(expect.any(String));
    }
    const none = await w.c1.upload(null);
    expect([none.status, none.body.error]).toEqual([400, 'missing_parameter']);
    expect(await certificateCount()).toBe(0);
    expect(await ctx.tdb.db.selectFrom('license_platforms').selectAll().execute()).toEqual([]);
    // The intact package is fine.
    expect((await w.c1.upload(text)).body.data.registered).toBe(2);
  });

  it('caps the package size (CERTIFICATE_PACKAGE_MAX_BYTES): 413, nothing registered', async () => {
    const w = await world();
    const small = buildApp(ctx.tdb.db, certificateEnv({ CERTIFICATE_PACKAGE_MAX_BYTES: '4096' }));
    const c1 = customer(small, basicOf(await projectCredentials(ctx.tdb.db, '101')));
    const big = await issue(ctx.t, 'c1', [{ type: 'agent', validityDays: 30, count: 100 }]);
    expect(big.length).toBeGreaterThan(4096);
    const r = await c1.upload(big);
    expect([r.status, r.body.error]).toEqual([413, 'payload_too_large']);
    expect(await certificateCount()).toBe(0);
    expect((await w.c1.upload(big)).body.data.registered).toBe(100);
  });

  it("issuing checks its input; only the vendor's token issues", async () => {
    for (const body of [
      { customerId: 'c1', certificates: [] },
      { customerId: 'c1', certificates: [{ type: 'gold', mode: 'x', validityDays: 1, count: 1 }] },
      { customerId: 'c1', certificates: [{ type: 'agent', mode: 'x', validityDays: 0, count: 1 }] },
      { customerId: 'c1', certificates: [{ type: 'agent', mode: 'x', validityDays: 1, count: 0 }] },
      { customerId: 'c1', certificates: [{ type: 'agent', mode: 'x y', validityDays: 1, count: 1 }] },
      { customerId: 'c1', certificates: [{ type: 'agent', mode: 'x', validityDays: 1, count: 60_000 }, { type: 'agent', mode: 'x', validityDays: 1, count: 60_000 }] },
    ]) {
      const r = await ctx.t.admin('POST', '/v1/certificate-packages', body);
      expect(r.status).toBe(400);
    }
    const r = await ctx.t.app.request('/v1/certificate-packages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(401);
  });
});

describe('platform and agents', () => {
  it('stacks platform certificates from the current expiry; permanent never expires', async () => {
    const w = await world();
    await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }]));
    ctx.t.setNow(at(10));
    await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }]));
    expect((await w.c1.platform()).body.data.platform).toEqual({ active: true, expiresAt: at(60), permanent: false, unlimitedAgents: false });
    // After it lapses, a new one runs from now.
    ctx.t.setNow(at(100));
    expect((await w.c1.platform()).body.data.platform.active).toBe(false);
    await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 5 }]));
    expect((await w.c1.platform()).body.data.platform.expiresAt).toBe(at(105));
    const statuses = ((await w.c1.certificates()).body.data.list as any[]).map((c) => c.status).sort();
    expect(statuses).toEqual(['activated', 'expired', 'expired']);
    await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', mode: 'buyout', validityDays: null }]));
    ctx.t.setNow(at(100_000));
    expect((await w.c1.platform()).body.data.platform).toMatchObject({ active: true, expiresAt: null, permanent: true });
  });

  it('binds agent certificates for good, stacking from the agent’s expiry; refuses the wrong bindings', async () => {
    const w = await world();
    const up = await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'agent', validityDays: 30, count: 3 }, { type: 'platform', validityDays: 30 }]));
    const [a1, a2, a3] = idsOf(up.body, 'agent') as [string, string, string];
    const [platformId] = idsOf(up.body, 'platform') as [string];
    expect((await w.c1.registerAgent('bot-1')).body.data).toEqual({ agentId: 'bot-1', created: true, unlimited: false });
    expect((await w.c1.registerAgent('bot-1')).body.data.created).toBe(false);
    await w.c1.registerAgent('bot-2');

    const b1 = await w.c1.bind(a1, 'bot-1');
    expect(b1.status).toBe(200);
    expect(b1.body.data).toMatchObject({ id: a1, status: 'activated', agentId: 'bot-1', expiresAt: at(30), bound: true });
    ctx.t.setNow(at(10));
    expect((await w.c1.bind(a2, 'bot-1')).body.data.expiresAt).toBe(at(60));
    // Again to the same agent: a no-op; to another: 409.
    const again = await w.c1.bind(a1, 'bot-1');
    expect([again.status, again.body.data.bound, again.body.data.expiresAt]).toEqual([200, false, at(30)]);
    const elsewhere = await w.c1.bind(a1, 'bot-2');
    expect([elsewhere.status, elsewhere.body.error]).toEqual([409, 'certificate_bound_elsewhere']);
    const plat = await w.c1.bind(platformId, 'bot-1');
    expect([plat.status, plat.body.error]).toEqual([409, 'certificate_not_bindable']);
    const unknown = await w.c1.bind(a3, 'nobody');
    expect([unknown.status, unknown.body.error]).toEqual([404, 'unknown_agent']);
    const unknownCert = await w.c1.bind('crt_nope', 'bot-1');
    expect([unknownCert.status, unknownCert.body.error]).toEqual([404, 'unknown_certificate']);
    // Another customer cannot bind this customer's certificate.
    await w.c2.registerAgent('bot-1');
    expect((await w.c2.bind(a3, 'bot-1')).body.error).toBe('unknown_certificate');
    const long = await w.c1.registerAgent('a'.repeat(200));
    expect([long.status, long.body.error]).toEqual([400, 'invalid_parameter']);
    expect((await w.c1.bind(a3, 'a'.repeat(200))).status).toBe(400);

    const view = await w.c1.platform();
    expect(view.body.data.agents).toEqual([
      expect.objectContaining({ agentId: 'bot-1', active: true, expiresAt: at(60) }),
      expect.objectContaining({ agentId: 'bot-2', active: false, expiresAt: null }),
    ]);
    // Deleting an agent expires its certificates; its id is not reused; binding to it is refused.
    expect((await w.c1.deleteAgent('bot-1')).status).toBe(200);
    const statuses = Object.fromEntries(((await w.c1.certificates()).body.data.list as any[]).map((c) => [c.id, c.status]));
    expect([statuses[a1], statuses[a2], statuses[a3]]).toEqual(['expired', 'expired', 'unused']);
    expect((await w.c1.bind(a3, 'bot-1')).body.error).toBe('agent_deleted');
    expect((await w.c1.registerAgent('bot-1')).body.error).toBe('agent_deleted');
    expect((await w.c1.deleteAgent('nobody')).body.error).toBe('unknown_agent');
    expect((await w.c1.platform()).body.data.agents.map((a: any) => a.agentId)).toEqual(['bot-2']);
    // An unused certificate binds later, from the time it is bound.
    ctx.t.setNow(at(50));
    expect((await w.c1.bind(a3, 'bot-2')).body.data.expiresAt).toBe(at(80));
  });

  it('with platform-unlimited, agents are licensed until the platform’s expiry without a certificate', async () => {
    const w = await world();
    await w.c1.registerAgent('early');
    await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform-unlimited', validityDays: 40 }]));
    expect((await w.c1.registerAgent('late')).body.data.unlimited).toBe(true);
    const view = (await w.c1.platform()).body.data;
    expect(view.platform).toMatchObject({ active: true, expiresAt: at(40), unlimitedAgents: true });
    expect(view.agents).toEqual([
      expect.objectContaining({ agentId: 'early', active: true, expiresAt: at(40), unlimited: true }),
      expect.objectContaining({ agentId: 'late', active: true, expiresAt: at(40), unlimited: true }),
    ]);
    ctx.t.setNow(at(41));
    expect((await w.c1.registerAgent('after')).body.data.unlimited).toBe(false);
    expect((await w.c1.entitlements('late')).body.agent).toMatchObject({ active: false, expiresAt: at(40) });
  });
});

describe('GET /v1/customers/{customerId}/certificates (the vendor)', () => {
  it("reads what the customer's license API lists: certificates by id, the platform, the agents", async () => {
    const w = await world();
    expect((await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'agent', validityDays: 30, count: 2 }, { type: 'platform', validityDays: 90 }]))).status).toBe(200);
    expect((await w.c1.registerAgent('bot-1')).status).toBe(200);
    const own = await w.c1.certificates();
    await w.c1.bind(own.body.data.list.find((c: { type: string }) => c.type === 'agent').id, 'bot-1');
    const get = async (path: string) => {
      const r = await ctx.t.admin('GET', path);
      return { status: r.status, body: (await r.json()) as any };
    };
    const vendor = await get('/v1/customers/c1/certificates');
    expect(vendor.status).toBe(200);
    const customerSide = await w.c1.certificates();
    const platform = await w.c1.platform();
    expect(vendor.body.count).toBe(3);
    expect(vendor.body.data).toEqual(customerSide.body.data.list);
    expect(vendor.body.platform).toEqual(platform.body.data.platform);
    expect(vendor.body.agents).toEqual(platform.body.data.agents);
    expect(vendor.body.agentsMore).toBe(false);
    // Keyset pages by id; another customer's are not there.
    const first = await get('/v1/customers/c1/certificates?size=2');
    expect(first.body.data).toEqual(vendor.body.data.slice(0, 2));
    const second = await get(`/v1/customers/c1/certificates?size=2&after=${first.body.next}`);
    expect(second.body.data).toEqual(vendor.body.data.slice(2));
    expect((await get('/v1/customers/c2/certificates')).body).toMatchObject({ count: 0, data: [], agents: [], platform: { active: false } });
    expect((await get('/v1/customers/nobody/certificates')).body.error.code).toBe('unknown_customer');
    expect((await ctx.t.app.request('/v1/customers/c1/certificates')).status).toBe(401);
  });
});

describe('GET /ext/v1/entitlements', () => {
  it("answers the platform's and the agent's licence to the project's credentials", async () => {
    const w = await world();
    const up = await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }, { type: 'agent', validityDays: 10 }]));
    await w.c1.registerAgent('bot-1');
    await w.c1.bind(idsOf(up.body, 'agent')[0]!, 'bot-1');
    const r = await w.c1.entitlements('bot-1');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      customerId: 'c1',
      platform: { active: true, expiresAt: at(30), permanent: false },
      agent: { agentId: 'bot-1', registered: true, active: true, expiresAt: at(10), permanent: false },
      checkedAt: T0,
    });
    expect((await w.c1.entitlements()).body.agent).toBeNull();
    expect((await w.c1.entitlements('ghost')).body.agent).toEqual({ agentId: 'ghost', registered: false, active: false, expiresAt: null, permanent: false });
    ctx.t.setNow(at(20));
    expect((await w.c1.entitlements('bot-1')).body).toMatchObject({ platform: { active: true }, agent: { active: false } });
    ctx.t.setNow(at(31));
    expect((await w.c1.entitlements('bot-1')).body.platform.active).toBe(false);
    // Another customer's project sees its own (empty) platform.
    expect((await w.c2.entitlements('bot-1')).body).toMatchObject({ customerId: 'c2', platform: { active: false }, agent: { registered: false } });
    for (const auth of ['', 'Basic Zm9vOmJhcg==', `Bearer test-admin-token-0123456789abcdef`]) {
      const bad = await ctx.t.app.request('/ext/v1/entitlements?agentId=bot-1', { headers: auth ? { authorization: auth } : {} });
      expect(bad.status).toBe(401);
      expect(((await bad.json()) as any).error).toBe('unauthorized'); // the extension audience's envelope
    }
    expect((await w.c1.entitlements('a'.repeat(200))).status).toBe(400);
  });
});

describe("Agora's license query", () => {
  it('counts the platform expiry like a license, by LICENSE_EXPIRE_RULE', async () => {
    const w = await world();
    const q = async (t = ctx.t) => (await (await t.agoraGet('/customers/c1/license', {})).json()) as any;
    expect((await q()).code).toBe('no_license');
    await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }]));
    expect((await q()).data).toEqual({ expireDate: at(30).slice(0, 10), residueCount: '0' });
    // A device license expiring earlier: latest keeps the platform's, earliest names the license.
    await ctx.tdb.db.insertInto('license_skus').values({ sku_id: 's', product: 2, name: 'x', media_type: 1, minutes: null, period: null }).execute();
    await ctx.tdb.db.insertInto('license_pids').values({ pid: 'P1', sku_id: 's', category: 'device', type: 'trial', validity_months: 3 }).execute();
    await ctx.tdb.db
      .insertInto('licenses')
      .values({ license: 'L1', customer_id: 'c1', project_id: '101', pid: 'P1', license_key: 'k1', activated_at: new Date(T0), expires_at: new Date(at(5)) })
      .execute();
    expect((await q()).data.expireDate).toBe(at(30).slice(0, 10));
    const earliest = buildApp(ctx.tdb.db, certificateEnv({ LICENSE_EXPIRE_RULE: 'earliest' }));
    earliest.setNow(T0);
    expect((await q(earliest)).data.expireDate).toBe(at(5).slice(0, 10));
    earliest.setNow(at(6));
    expect((await q(earliest)).data.expireDate).toBe(at(30).slice(0, 10));
  });
});

describe.runIf(onPostgres)('concurrency (Postgres)', () => {
  it('concurrent uploads of one package register each certificate once', async () => {
    const w = await world();
    const text = await issue(ctx.t, 'c1', [{ type: 'platform', validityDays: 30 }, { type: 'agent', validityDays: 30, count: 20 }]);
    const answers = await Promise.all([w.c1.upload(text), w.c1b.upload(text), w.c1.upload(text), w.c1b.upload(text)]);
    expect(answers.map((a: { status: number }) => a.status)).toEqual([200, 200, 200, 200]);
    expect(answers.map((a: { body: any }) => a.body.data.registered).sort()).toEqual([0, 0, 0, 21]);
    expect(await certificateCount()).toBe(21);
    // The platform was extended once, not four times.
    expect((await w.c1.platform()).body.data.platform.expiresAt).toBe(at(30));
  });

  it('concurrent binds of one certificate to two agents: one wins', async () => {
    const w = await world();
    const up = await w.c1.upload(await issue(ctx.t, 'c1', [{ type: 'agent', validityDays: 30 }]));
    const [id] = idsOf(up.body, 'agent') as [string];
    await w.c1.registerAgent('x');
    await w.c1.registerAgent('y');
    const answers = await Promise.all([w.c1.bind(id, 'x'), w.c1b.bind(id, 'y')]);
    expect(answers.map((a: { status: number }) => a.status).sort()).toEqual([200, 409]);
    const loser = answers.find((a: { status: number }) => a.status === 409)!;
    expect(loser.body.error).toBe('certificate_bound_elsewhere');
    const agents = (await w.c1.platform()).body.data.agents as any[];
    expect(agents.filter((a) => a.active)).toHaveLength(1);
  });
});

describe('speed', () => {
  it('uploads a package of 10,000 certificates in under 2 s, in a fixed number of statements', async () => {
    await world();
    const counting = countingDb(ctx.tdb.db);
    const c1 = customer(buildApp(counting.db, certificateEnv()), basicOf(await projectCredentials(ctx.tdb.db, '101')));
    const statementsFor = async (agents: number) => {
      await sql`delete from license_certificates`.execute(ctx.tdb.db);
      const text = await issue(ctx.t, 'c1', [{ type: 'agent', validityDays: 30, count: agents }, { type: 'platform', validityDays: 30 }]);
      counting.reset();
      const started = performance.now();
      const r = await c1.upload(text);
      const ms = performance.now() - started;
      expect(r.body.data.registered).toBe(agents + 1);
      return { statements: counting.statements(), ms };
    };
    const small = await statementsFor(9);
    const large = await statementsFor(9_999);
    expect(await certificateCount()).toBe(10_000);
    // The time is printed, not asserted (a busy machine is no evidence either way): what is asserted
    // is the cost's shape, one multi-row insert rather than a round trip per certificate.
    console.log(`upload of 10,000 certificates: ${large.ms.toFixed(0)} ms, ${large.statements} statements (10 certificates: ${small.statements})`);
    expect(large.statements).toBe(small.statements);
  }, 120_000);
});
