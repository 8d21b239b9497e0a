import { sql, type KyselyPlugin } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ADMIN, buildApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { licenseClient, licenseWorld } from './helpers/license.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

/** `n` whitelist entries for project 101 (customer c1), written straight in one statement. */
async function fill(n: number, projectId = '101', customerId = 'c1') {
  await sql`insert into license_pads (project_id, customer_id, license_key)
            select ${projectId}::bigint, ${customerId}, 'key-' || lpad(g::text, 7, '0') from generate_series(1, ${n}) g`.execute(ctx.tdb.db);
}

/** The database handle, counting the statements that read whitelist keys. */
function countingDb() {
  const counter = { keyReads: 0 };
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      if (args.node.kind === 'SelectQueryNode' && JSON.stringify(args.node).includes('"license_key"')) counter.keyReads++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { db: ctx.tdb.db.withPlugin(plugin), counter };
}

describe('the whitelist cap', () => {
  it('refuses an upload that would pass LICENSE_WHITELIST_MAX with 409 whitelist_full, adding nothing', async () => {
    const t = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '0', LICENSE_WHITELIST_MAX: '5' });
    const w = await licenseWorld(t, ctx.tdb.db);
    const p101 = w.admin;
    expect((await p101.upload('101', 'a\nb\nc\n')).body.data).toMatchObject({ added: 3 });
    const over = await p101.upload('101', 'c\nd\ne\nf\n'); // 3 new: 6 > 5
    expect(over.status).toBe(409);
    expect(over.body.error).toBe('whitelist_full');
    expect(over.body.message).toMatch(/at most 5/);
    expect((await p101.get('/v2/pads', { appid: '101' })).body.data.count).toBe(3);
    // Up to the cap is fine, one key past it is not; other projects have their own cap.
    expect((await p101.upload('101', 'c\nd\ne\n')).body.data).toMatchObject({ added: 2, alreadyListed: 1 });
    expect((await p101.post('/v2/pad/add', { appid: '101', licenseKey: 'g' })).body.error).toBe('whitelist_full');
    // Full, a repeat of what is listed still answers as before (a retried upload is safe).
    expect((await p101.upload('101', 'a\nb\n')).body.data).toMatchObject({ added: 0, alreadyListed: 2 });
    expect((await p101.upload('101', 'x\ny\nz\nu\nv\nw\n')).body.error).toBe('whitelist_full'); // 6 keys: more than the cap alone
    expect((await p101.post('/v2/pad/add', { appid: '102', licenseKey: 'g' })).status).toBe(200);
    // Clearing frees the room again.
    expect((await p101.post('/v2/pad/clear', { appid: '101' })).body.data).toEqual({ deleted: 5 });
    expect((await p101.upload('101', 'v\nw\nx\ny\nz\n')).status).toBe(200);
  });
});

describe('paging the whitelist', () => {
  it('counts from the maintained counter, through adds, deletes and clears', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    await fill(250);
    const count = async () => (await w.admin.get('/v2/pads', { appid: '101', size: 1 })).body.data.count;
    expect(await count()).toBe(250);
    await w.admin.upload('101', 'key-0000001\nnew-1\nnew-2\n');
    expect(await count()).toBe(252);
    expect((await w.admin.post('/v2/pad/delete', { appid: '101' }, { ids: [1, 2, 3, 999_999] })).body.data).toEqual({ deleted: 3, notFound: 1 });
    expect(await count()).toBe(249);
    expect((await w.admin.get('/v2/pads', { appid: '102' })).body.data).toEqual({ count: 0, list: [] });
    await w.admin.post('/v2/pad/clear', { appid: '101' });
    expect(await count()).toBe(0);
  });

  it('gives the same pages by page number and by `after`, in id order, to the end', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db);
    await fill(1050);
    const all = (await ctx.tdb.db.selectFrom('license_pads').select(['id', 'license_key']).orderBy('id').execute()).map((r) => r.license_key);
    const byPage: string[] = [];
    for (let page = 1; page <= 12; page++) {
      const r = await w.admin.get('/v2/pads', { appid: '101', page, size: 100 });
      expect(r.body.data.count).toBe(1050);
      byPage.push(...r.body.data.list.map((e: any) => e.licenseKey));
    }
    expect(byPage).toEqual(all);
    const byCursor: string[] = [];
    let after = '0';
    for (;;) {
      const r = await w.admin.get('/v2/pads', { appid: '101', after, size: 100 });
      const list = r.body.data.list as any[];
      byCursor.push(...list.map((e) => e.licenseKey));
      if (list.length < 100) break;
      after = String(list[list.length - 1].id);
    }
    expect(byCursor).toEqual(all);
    // Past the end: empty, with the count.
    expect((await w.admin.get('/v2/pads', { appid: '101', page: 4800, size: 100 })).body.data).toEqual({ count: 1050, list: [] });
    // A jump to a page nobody walked to, and a page after a change, are still exact.
    expect((await w.admin.get('/v2/pads', { appid: '101', page: 7, size: 50 })).body.data.list.map((e: any) => e.licenseKey)).toEqual(all.slice(300, 350));
    await w.admin.post('/v2/pad/delete', { appid: '101' }, { ids: [1] });
    expect((await w.admin.get('/v2/pads', { appid: '101', page: 2, size: 100 })).body.data.list.map((e: any) => e.licenseKey)).toEqual(all.slice(101, 201));
  });
});

describe('the whitelist export', () => {
  it('streams in batches as the client reads, and stops reading when the client goes away', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await fill(30_000);
    const { db, counter } = countingDb();
    const t = buildApp(db, { LICENSE_RATE_LIMIT: '0' });
    const admin = { authorization: `Bearer ${ADMIN}` };
    const r = await t.app.request('/dabiz/license/v2/pads/export?appid=101', { headers: admin });
    expect(r.status).toBe(200);
    const reader = r.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value).startsWith('key-0000001\nkey-0000002\n')).toBe(true);
    await reader.cancel();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // One or two batches were read, not the 30,000 keys.
    expect(counter.keyReads).toBeGreaterThan(0);
    expect(counter.keyReads).toBeLessThanOrEqual(2);

    // Read to the end, it is the whole list.
    const whole = await (await t.app.request('/dabiz/license/v2/pads/export?appid=101', { headers: admin })).text();
    const lines = whole.split('\n');
    expect(lines).toHaveLength(30_001);
    expect(lines[29_999]).toBe('key-0030000');
    expect(lines[30_000]).toBe('');
  });

  it('is a heavy read: past the gate and its queue the answer is 503 overloaded with Retry-After', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await fill(5000);
    const t = buildApp(ctx.tdb.db, { LICENSE_RATE_LIMIT: '0', HEAVY_READ_CONCURRENCY: '1', HEAVY_READ_QUEUE: '0' });
    const admin = licenseClient(t, { admin: true });
    const headers = { authorization: `Bearer ${ADMIN}` };
    const running = await t.app.request('/dabiz/license/v2/pads/export?appid=101', { headers });
    expect(running.status).toBe(200); // its body is not read yet: it holds the one slot
    const refused = await admin.get('/v2/pads/export', { appid: '101' });
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe('overloaded');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Agora-sized reads are not heavy: a first page still answers.
    expect((await admin.get('/v2/pads', { appid: '101', page: 1 })).status).toBe(200);
    // A page of every customer's licenses counts the whole table: heavy. One customer's is not.
    const allLicenses = await t.admin('GET', '/v1/licenses');
    expect(allLicenses.status).toBe(503);
    expect(((await allLicenses.json()) as any).error.code).toBe('overloaded');
    expect((await t.admin('GET', '/v1/licenses?customerId=c1')).status).toBe(200);
    await running.body!.cancel();
    expect((await admin.get('/v2/pads/export', { appid: '101' })).status).toBe(200);
  });
});

describe.runIf(!onPostgres)('exports on the embedded database', () => {
  it('leave the process free to answer between batches: /healthz keeps answering', async () => {
    await licenseWorld(ctx.t, ctx.tdb.db);
    await fill(60_000);
    let done = false;
    const exports = Promise.all(
      [1, 2, 3].map(async () => {
        const r = await ctx.t.app.request('/dabiz/license/v2/pads/export?appid=101', { headers: { authorization: `Bearer ${ADMIN}` } });
        return (await r.text()).split('\n').length - 1;
      }),
    ).finally(() => (done = true));
    // /healthz every few milliseconds while the exports run: the longest silence between two
    // answers is how long the process was blocked. Before, one export was one query that held the
    // process for its whole length (a third of the run or more); now it is one batch. Measured as a
    // share of the run, not in milliseconds, so a slow or busy machine scales both alike.
    const started = performance.now();
    let last = started;
    let longestGap = 0;
    let answered = 0;
    while (!done) {
      expect((await ctx.t.app.request('/healthz')).status).toBe(200);
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      answered++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await exports).toEqual([60_000, 60_000, 60_000]);
    const run = performance.now() - started;
    expect(answered).toBeGreaterThanOrEqual(10);
    expect(longestGap).toBeLessThan(run / 5);
  });
});
