import { CompiledQuery, sql, type KyselyPlugin } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ADMIN, buildApp, type TestApp } from './helpers/app.ts';
import { COMMERCIAL_PID, licenseClient, licenseWorld, TRIAL_PID } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';
import { migrator } from '../src/db/migrate.ts';
import * as listings from '../src/licensing/listings.repository.ts';

const LISTING_COUNTS = '20261123070000-listing-counts';

const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

/** The app's clock in these tests: licenses below expire from 2030-01-01 on, one day after another. */
const NOW = new Date('2030-06-01T00:00:00Z');

/**
 * `n` licenses written straight in one statement: 4 of 5 for customer c1 (projects 101 and 102),
 * 1 of 5 for c2 (201), both PIDs, expiring over 700 days from 2030-01-01 (so ~150 days' worth are
 * expired at NOW, and many share an expiry: the order's tie-break by id matters).
 */
async function seedLicenses(n: number, from = 1) {
  await sql`
    insert into licenses (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
    select 'L-' || g, case when g % 5 = 0 then 'c2' else 'c1' end,
           case when g % 5 = 0 then 201 when g % 3 = 0 then 102 else 101 end,
           case when g % 2 = 0 then ${TRIAL_PID} else ${COMMERCIAL_PID} end,
           'key-' || g, '2029-12-01T00:00:00Z'::timestamptz, '2030-01-01T01:00:00Z'::timestamptz + (g % 700) * interval '1 day'
    from generate_series(${from}::int, ${from + n - 1}::int) g`.execute(ctx.tdb.db);
}

async function seedOrders(n: number, from = 1) {
  const db = ctx.tdb.db;
  await sql`
    insert into license_purchases (customer_id, pid, count)
    select case when g % 4 = 0 then 'c2' else 'c1' end, case when g % 3 = 0 then ${TRIAL_PID} else ${COMMERCIAL_PID} end, 1
    from generate_series(${from}::int, ${from + n - 1}::int) g`.execute(db);
  // Many orders share a created_at; renewIds sort in another order than creation.
  await sql`
    insert into license_renewals (renew_id, customer_id, pid, capacity, created_at)
    select 'R-' || md5(g::text), case when g % 4 = 0 then 'c2' else 'c1' end, case when g % 3 = 0 then ${TRIAL_PID} else ${COMMERCIAL_PID} end, 1,
           '2030-01-01T00:00:00Z'::timestamptz + (g % 97) * interval '1 minute'
    from generate_series(${from}::int, ${from + n - 1}::int) g`.execute(db);
  await sql`
    insert into license_allocations (customer_id, project_id, pid, count, creator)
    select 'c1', case when g % 7 = 0 then 102 else 101 end, case when g % 3 = 0 then ${TRIAL_PID} else ${COMMERCIAL_PID} end, 1, 'ops-' || g
    from generate_series(${from}::int, ${from + n - 1}::int) g`.execute(db);
}

async function adminGet(t: TestApp, path: string, params: Record<string, string | number | undefined>) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, String(v));
  const r = await t.admin('GET', `${path}?${q}`);
  return { status: r.status, body: (await r.json()) as any };
}

/** What OFFSET would answer: the keys of rows `offset`… of the reference query, and its count(*). */
async function reference(query: string, params: unknown[], offset: number, limit: number) {
  const rows = await ctx.tdb.db.executeQuery<{ k: string }>(CompiledQuery.raw(`${query} offset ${offset} limit ${limit}`, params));
  return rows.rows.map((r) => r.k);
}
async function referenceCount(query: string, params: unknown[]) {
  const rows = await ctx.tdb.db.executeQuery<{ n: string }>(CompiledQuery.raw(`select count(*) as n from (${query}) x`, params));
  return Number(rows.rows[0]!.n);
}

interface Case {
  name: string;
  path: string;
  params: Record<string, string | number>;
  /** The key of an answered row, as the reference query's `k`. */
  key: (row: any) => string;
  /** Rows of the answer. */
  rows: (body: any) => any[];
  counted: (body: any) => number;
  next: (body: any) => string | null;
  sql: string;
  sqlParams: unknown[];
  license?: boolean;
}

const vendor = (c: Omit<Case, 'rows' | 'counted' | 'next'>): Case => ({ ...c, rows: (b) => b.data, counted: (b) => b.count, next: (b) => b.next });
const licenseApi = (c: Omit<Case, 'rows' | 'counted' | 'next'>): Case => ({
  ...c,
  license: true,
  rows: (b) => b.data.list,
  counted: (b) => b.data.count,
  next: (b) => b.data.next,
});

const CASES: Case[] = [
  vendor({ name: 'licenses of a customer', path: '/v1/licenses', params: { customerId: 'c1' }, key: (r) => r.license, sql: `select license as k from licenses where customer_id = $1 order by id`, sqlParams: ['c1'] }),
  vendor({ name: 'licenses of a project and PID', path: '/v1/licenses', params: { projectId: '101', pid: TRIAL_PID }, key: (r) => r.license, sql: `select license as k from licenses where project_id = 101 and pid = $1 order by id`, sqlParams: [TRIAL_PID] }),
  vendor({ name: 'active licenses of a customer', path: '/v1/licenses', params: { customerId: 'c1', status: 'active' }, key: (r) => r.license, sql: `select license as k from licenses where customer_id = $1 and expires_at > $2 order by id`, sqlParams: ['c1', NOW] }),
  vendor({ name: 'every license', path: '/v1/licenses', params: {}, key: (r) => r.license, sql: `select license as k from licenses order by id`, sqlParams: [] }),
  vendor({ name: 'purchases of a customer', path: '/v1/purchases', params: { customerId: 'c1' }, key: (r) => r.id, sql: `select id::text as k from license_purchases where customer_id = $1 order by id`, sqlParams: ['c1'] }),
  vendor({ name: 'purchases of a PID', path: '/v1/purchases', params: { pid: TRIAL_PID }, key: (r) => r.id, sql: `select id::text as k from license_purchases where pid = $1 order by id`, sqlParams: [TRIAL_PID] }),
  vendor({ name: 'renewals of a customer', path: '/v1/renewals', params: { customerId: 'c1' }, key: (r) => r.renewId, sql: `select renew_id as k from license_renewals where customer_id = $1 order by created_at, renew_id`, sqlParams: ['c1'] }),
  vendor({ name: 'renewals of a customer and PID', path: '/v1/renewals', params: { customerId: 'c1', pid: COMMERCIAL_PID }, key: (r) => r.renewId, sql: `select renew_id as k from license_renewals where customer_id = $1 and pid = $2 order by created_at, renew_id`, sqlParams: ['c1', COMMERCIAL_PID] }),
  licenseApi({ name: 'allocations of a project', path: '/dabiz/license/v2/product/allocations', params: { appid: '101' }, key: (r) => r.creator, sql: `select creator as k from license_allocations where project_id = 101 order by id desc`, sqlParams: [] }),
  licenseApi({ name: 'allocations of a project and PID', path: '/dabiz/license/v2/product/allocations', params: { appid: '101', pid: TRIAL_PID }, key: (r) => r.creator, sql: `select creator as k from license_allocations where project_id = 101 and pid = $1 order by id desc`, sqlParams: [TRIAL_PID] }),
  licenseApi({
    name: 'licenses expiring within 120 days',
    path: `/dabiz/license/v3/projects/101/pids/${COMMERCIAL_PID}/expiringLicenses`,
    params: { expiringDay: 120 },
    key: (r) => r.license,
    sql: `select license as k from licenses where project_id = 101 and pid = $1 and expires_at > $2 and expires_at <= $3 order by expires_at, id`,
    sqlParams: [COMMERCIAL_PID, NOW, new Date(NOW.getTime() + 120 * 86_400_000)],
  }),
];

describe('listing pages', () => {
  it('by number, by cursor and by jumping are exactly what OFFSET gives, and the counts are count(*)', { timeout: 300_000 }, async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await seedLicenses(4000);
    await seedOrders(2500);
    const t = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '0' });
    t.setNow(NOW);
    for (const c of CASES) {
      const get = (params: Record<string, string | number | undefined>) =>
        c.license ? licenseClient(t, { admin: true }).get(c.path.replace('/dabiz/license', ''), { ...c.params, ...params }) : adminGet(t, c.path, { ...c.params, ...params });
      const total = await referenceCount(c.sql, c.sqlParams);
      expect(total, c.name).toBeGreaterThan(150);
      const size = 97;
      const pages = Math.ceil(total / size) + 1; // and one past the end
      // A walk by page number (pages 2… continue from the remembered end of the page before).
      let cursor: string | undefined;
      for (let page = 1; page <= pages; page++) {
        const byNumber = await get({ page, size });
        expect(byNumber.status, c.name).toBe(200);
        const expected = await reference(c.sql, c.sqlParams, (page - 1) * size, size);
        expect(c.rows(byNumber.body).map(c.key), `${c.name}, page ${page}`).toEqual(expected);
        expect(c.counted(byNumber.body), c.name).toBe(total);
        // The same page after the previous page's cursor.
        if (page > 1 && cursor !== undefined) {
          const byCursor = await get({ after: cursor, size });
          expect(c.rows(byCursor.body).map(c.key), `${c.name}, after page ${page - 1}`).toEqual(expected);
          expect(c.next(byCursor.body)).toBe(c.next(byNumber.body));
        }
        const next = c.next(byNumber.body);
        expect(next === null, `${c.name}, page ${page}: next`).toBe(expected.length < size);
        cursor = next ?? undefined;
      }
      // Jumps nobody walked to, on a fresh instance (no remembered page ends).
      const fresh = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '0' });
      fresh.setNow(NOW);
      for (const page of [7, 3, Math.ceil(total / 50)]) {
        const r = c.license
          ? await licenseClient(fresh, { admin: true }).get(c.path.replace('/dabiz/license', ''), { ...c.params, page, size: 50 })
          : await adminGet(fresh, c.path, { ...c.params, page, size: 50 });
        expect(c.rows(r.body).map(c.key), `${c.name}, jump to ${page}`).toEqual(await reference(c.sql, c.sqlParams, (page - 1) * 50, 50));
      }
    }
  });

  it('re-reads by offset when the list changed between two pages of a walk', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await seedLicenses(500);
    const t = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '0' });
    const q = `select license as k from licenses where customer_id = 'c1' order by id`;
    expect((await adminGet(t, '/v1/licenses', { customerId: 'c1', page: 1, size: 50 })).status).toBe(200);
    // Licenses of page 1 go away: page 2 by the remembered end would skip 10 rows.
    await sql`delete from licenses where id in (select id from licenses where customer_id = 'c1' order by id limit 10)`.execute(ctx.tdb.db);
    const page2 = await adminGet(t, '/v1/licenses', { customerId: 'c1', page: 2, size: 50 });
    expect(page2.body.data.map((r: any) => r.license)).toEqual(await reference(q, [], 50, 50));
    expect(page2.body.count).toBe(await referenceCount(q, []));
  });
});

describe('listing counts', () => {
  it('follow inserts, deletes and activations, per customer, project and PID', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 50 });
    const t = ctx.t;
    const count = async (params: Record<string, string>) => (await adminGet(t, '/v1/licenses', { ...params, size: 1 })).body.count;
    await seedLicenses(300);
    const check = async () => {
      for (const [params, where] of [
        [{ customerId: 'c1' }, `customer_id = 'c1'`],
        [{ customerId: 'c2' }, `customer_id = 'c2'`],
        [{ projectId: '102' }, `project_id = 102`],
        [{ customerId: 'c1', pid: TRIAL_PID }, `customer_id = 'c1' and pid = '${TRIAL_PID}'`],
        [{ pid: COMMERCIAL_PID }, `pid = '${COMMERCIAL_PID}'`],
        [{}, `true`],
      ] as const) {
        const exact = await referenceCount(`select 1 from licenses where ${where}`, []);
        expect(await count(params), JSON.stringify(params)).toBe(exact);
      }
    };
    await check();
    for (let i = 0; i < 5; i++) expect((await w.p101.activate('101', TRIAL_PID, `dev-${i}`)).status).toBe(200);
    await w.p101.activate('101', TRIAL_PID, 'dev-1'); // a repeat adds nothing
    expect(await count({ projectId: '101', pid: TRIAL_PID })).toBe(await referenceCount(`select 1 from licenses where project_id = 101 and pid = '${TRIAL_PID}'`, []));
    await check();
    await sql`delete from licenses where id % 7 = 0`.execute(ctx.tdb.db);
    await check();
    // Purchases, renewals and allocations too.
    await seedOrders(40);
    expect((await adminGet(t, '/v1/purchases', { customerId: 'c1' })).body.count).toBe(await referenceCount(`select 1 from license_purchases where customer_id = 'c1'`, []));
    expect((await adminGet(t, '/v1/renewals', { customerId: 'c2', pid: TRIAL_PID })).body.count).toBe(
      await referenceCount(`select 1 from license_renewals where customer_id = 'c2' and pid = '${TRIAL_PID}'`, []),
    );
    await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 3 });
    const allocations = await w.p101.get('/v2/product/allocations', { appid: '101', size: 1 });
    expect(allocations.body.data.count).toBe(await referenceCount(`select 1 from license_allocations where project_id = 101`, []));
  });

  it('stay exact under concurrent activations', { timeout: 120_000 }, async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 200 });
    const answers = await Promise.all(
      Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? w.p101 : w.p102).activate(i % 2 === 0 ? '101' : '102', TRIAL_PID, `dev-${i}`)),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const exact = await referenceCount(`select 1 from licenses where customer_id = 'c1'`, []);
    expect(exact).toBe(120);
    expect((await adminGet(ctx.t, '/v1/licenses', { customerId: 'c1' })).body.count).toBe(exact);
    expect((await adminGet(ctx.t, '/v1/licenses', { projectId: '101' })).body.count).toBe(await referenceCount(`select 1 from licenses where project_id = 101`, []));
  });

  it('with a status, which the clock changes, count up to 10,000 and say when there are more', { timeout: 120_000 }, async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await seedLicenses(18_000);
    ctx.t.setNow(NOW);
    const exactActive = await referenceCount(`select 1 from licenses where customer_id = 'c1' and expires_at > $1`, [NOW]);
    const exactExpired = await referenceCount(`select 1 from licenses where customer_id = 'c1' and expires_at <= $1`, [NOW]);
    expect(exactActive).toBeGreaterThan(listings.COUNT_CAP);
    expect(exactExpired).toBeLessThan(listings.COUNT_CAP);
    expect((await adminGet(ctx.t, '/v1/licenses', { customerId: 'c1', status: 'active' })).body).toMatchObject({ count: listings.COUNT_CAP, countExact: false });
    expect((await adminGet(ctx.t, '/v1/licenses', { customerId: 'c1', status: 'expired' })).body).toMatchObject({ count: exactExpired, countExact: true });
    // Later, more of them have expired.
    ctx.t.setNow(new Date('2031-06-01T00:00:00Z'));
    const later = await referenceCount(`select 1 from licenses where customer_id = 'c1' and expires_at <= '2031-06-01T00:00:00Z'`, []);
    expect((await adminGet(ctx.t, '/v1/licenses', { customerId: 'c1', status: 'expired' })).body).toMatchObject({ count: Math.min(later, listings.COUNT_CAP) });
    expect((await adminGet(ctx.t, '/v1/licenses', { customerId: 'c1' })).body).toMatchObject({ count: await referenceCount(`select 1 from licenses where customer_id = 'c1'`, []), countExact: true });
  });
});

describe('deep pages', () => {
  it('a jump nobody walked to is a heavy read; a walk and a cursor are not', { timeout: 180_000 }, async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await seedLicenses(13_000);
    await sql`insert into license_pads (project_id, customer_id, license_key) select 101, 'c1', 'pad-' || g from generate_series(1, 5000) g`.execute(ctx.tdb.db);
    const t = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '0', HEAVY_READ_CONCURRENCY: '1', HEAVY_READ_QUEUE: '0' });
    // An export holds the one heavy-read slot while its body is not read.
    const running = await t.app.request('/dabiz/license/v2/pads/export?appid=101', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(running.status).toBe(200);
    const deep = await adminGet(t, '/v1/licenses', { customerId: 'c1', page: 102, size: 100 }); // offset 10,100
    expect(deep.status).toBe(503);
    expect(deep.body.error.code).toBe('overloaded');
    // Walking there reads by keyset all the way, and needs no slot.
    let next: string | null = null;
    for (let page = 1; page <= 102; page++) {
      const r = await adminGet(t, '/v1/licenses', { customerId: 'c1', page, size: 100 });
      expect(r.status, `page ${page}`).toBe(200);
      next = r.body.next;
    }
    expect((await adminGet(t, '/v1/licenses', { customerId: 'c1', page: 102, size: 100 })).status).toBe(200);
    expect((await adminGet(t, '/v1/licenses', { customerId: 'c1', after: next!, size: 100 })).status).toBe(200);
    // A page past the end is answered from the counter, without reading the index.
    expect((await adminGet(t, '/v1/licenses', { customerId: 'c1', page: 5000, size: 100 })).body).toMatchObject({ data: [], next: null });
    await running.body!.cancel();
    expect((await adminGet(t, '/v1/licenses', { customerId: 'c1', page: 103, size: 100 })).status).toBe(200);
  });

  it('page N of a walk is an index range read of `size` rows, not a scan of the N×size rows before it', { timeout: 180_000 }, async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await seedLicenses(20_000);
    await sql`analyze licenses`.execute(ctx.tdb.db);
    // The app on a handle that records each statement it runs, to explain the one that read a page.
    const statements: CompiledQuery[] = [];
    const plugin: KyselyPlugin = {
      transformQuery: (args) => {
        statements.push(ctx.tdb.db.getExecutor().compileQuery(args.node, args.queryId));
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const t = buildApp(ctx.tdb.db.withPlugin(plugin), { LICENSE_RATE_LIMIT: '0' });
    /** Index entries of `licenses` the statement that read this page visits, from EXPLAIN ANALYZE. */
    const rowsRead = async (params: Record<string, string | number>) => {
      statements.length = 0;
      const r = await adminGet(t, '/v1/licenses', { customerId: 'c1', size: 100, ...params });
      expect(r.body.data).toHaveLength(100);
      const statement = statements.find((s) => /from "licenses"/.test(s.sql) && /limit/.test(s.sql))!;
      const plan = await ctx.tdb.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(`explain (analyze, format json) ${statement.sql}`, [...statement.parameters]));
      const nodes: any[] = [];
      const walk = (n: any) => {
        nodes.push(n);
        for (const c of n.Plans ?? []) walk(c);
      };
      const json = Object.values(plan.rows[0]!)[0];
      walk((typeof json === 'string' ? JSON.parse(json) : json)[0].Plan);
      const onLicenses = nodes.filter((n) => n['Relation Name'] === 'licenses');
      expect(onLicenses.map((n) => n['Node Type'])).not.toContain('Seq Scan');
      return onLicenses.reduce((sum, n) => sum + n['Actual Rows'] * (n['Actual Loops'] ?? 1), 0);
    };
    expect(await rowsRead({ page: 1 })).toBeLessThanOrEqual(101);
    let next = '';
    for (let page = 2; page <= 150; page++) next = (await adminGet(t, '/v1/licenses', { customerId: 'c1', size: 100, page })).body.next;
    expect(await rowsRead({ page: 151 })).toBeLessThanOrEqual(101);
    expect(await rowsRead({ after: next })).toBeLessThanOrEqual(101);
  });
});

describe('the listing-counts migration', () => {
  it('backfills the counters from existing rows, and migrates down and up again', { timeout: 120_000 }, async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await seedLicenses(300);
    await seedOrders(50);
    const m = await migrator(ctx.tdb.db);
    const names = (await m.getMigrations()).map((x) => x.name);
    const down = await m.migrateTo(names[names.indexOf(LISTING_COUNTS) - 1]!);
    expect(down.error).toBeUndefined();
    expect(down.results).toContainEqual({ migrationName: LISTING_COUNTS, direction: 'Down', status: 'Success' });
    expect(await sql<{ t: string | null }>`select to_regclass('listing_counts')::text as t`.execute(ctx.tdb.db).then((r) => r.rows[0]!.t)).toBeNull();
    // Rows written while there are no triggers are counted by the backfill.
    await seedLicenses(200, 1000);
    await sql`delete from licenses where id % 9 = 0`.execute(ctx.tdb.db);
    const up = await m.migrateToLatest();
    expect(up.error).toBeUndefined();
    const counted = async () =>
      (
        await sql<{ listing: string; n: string }>`select listing || ':' || customer_id || ':' || project_id || ':' || pid as listing, n::text from listing_counts where n > 0 order by 1`.execute(ctx.tdb.db)
      ).rows;
    const exact = async () =>
      (
        await sql<{ listing: string; n: string }>`
          select * from (
            select 'licenses:' || customer_id || ':' || project_id || ':' || pid as listing, count(*)::text as n from licenses group by 1
            union all select 'allocations:' || customer_id || ':' || project_id || ':' || pid, count(*)::text from license_allocations group by 1
            union all select 'purchases:' || customer_id || ':0:' || pid, count(*)::text from license_purchases group by 1
            union all select 'renewals:' || customer_id || ':0:' || pid, count(*)::text from license_renewals group by 1
          ) x order by 1`.execute(ctx.tdb.db)
      ).rows;
    expect(await counted()).toEqual(await exact());
    await seedLicenses(10, 5000);
    await seedOrders(5, 1000);
    expect(await counted()).toEqual(await exact());
  });
});

describe('cursors', () => {
  it('a cursor that no row can have is a 400 naming `after`; an unknown renewId reads as past the end', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    for (const after of ['9223372036854775808', '99999999999999999999', 'abc', '-1', '']) {
      for (const path of ['/v1/licenses', '/v1/purchases']) {
        const r = await adminGet(ctx.t, path, { after });
        expect(r.status, `${path} after=${after}`).toBe(400);
        expect(JSON.stringify(r.body)).toMatch(/after/);
      }
      const a = await w.p101.get('/v2/product/allocations', { appid: '101', after });
      expect(a.status, `allocations after=${after}`).toBe(400);
      expect(a.body.message).toMatch(/after/);
    }
    expect((await adminGet(ctx.t, '/v1/licenses', { after: '9223372036854775807' })).body).toMatchObject({ data: [], next: null });
    expect((await adminGet(ctx.t, '/v1/renewals', { after: 'no-such-order' })).body).toMatchObject({ data: [], next: null });
    const expiring = await w.p101.get(`/v3/projects/101/pids/${TRIAL_PID}/expiringLicenses`, { expiringDay: 30, after: 'no-such-license' });
    expect(expiring.body.data).toMatchObject({ list: [], next: null });
    expect((await w.p101.get(`/v3/projects/101/pids/${TRIAL_PID}/expiringLicenses`, { expiringDay: 30, after: 'a\u0000b' })).status).toBe(400);
  });
});

describe('the API description', () => {
  it('documents `after` on every listing', async () => {
    const doc = (await (await ctx.t.app.request('/openapi.json')).json()) as any;
    for (const path of ['/v1/licenses', '/v1/purchases', '/v1/renewals', '/dabiz/license/v2/product/allocations', '/dabiz/license/v2/pads', '/dabiz/license/v3/projects/{appId}/pids/{pid}/expiringLicenses']) {
      const names = (doc.paths[path]?.get?.parameters ?? []).map((p: any) => p.name);
      expect(names, path).toContain('after');
    }
  });
});
