import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSettings, settleBuilds } from '../src/statements/store.ts';
import { buildApp, DAY, dayStart, provision, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * The edge cases of statements fixed without copying their lines (src/statements/store.ts): the
 * first page answered from the fix, the rest numbered afterwards by a background job, a page or
 * another instance; interrupted, concurrent, and with plans changing in between.
 */
const ctx = setupTestApp();

const PROJECTS = 250; // three blocks of 100 lines
const D = dayStart('2025-06-18');
const NEXT = dayStart('2025-06-19');
const wholeDay = (d: number) => ({ fromTs: d, toTs: d + DAY - 1 });
const defaults = { ...buildSettings };

/** Customer c1 (plan basic) with projects 1…PROJECTS; one event per project, quantity = projectId / 4. */
beforeEach(async () => {
  Object.assign(buildSettings, defaults, { chunkLines: 100, background: false });
  await provision(ctx.t, 'c1', [1], 'basic');
  await sql`insert into projects (project_id, customer_id, app_key, app_secret)
    select g, 'c1', md5('k' || g), md5('s' || g) from generate_series(2, ${PROJECTS}::int) g`.execute(ctx.tdb.db);
  for (let from = 1; from <= PROJECTS; from += 100) {
    const events = [];
    for (let p = from; p < Math.min(from + 100, PROJECTS + 1); p++) events.push({ id: `e${p}`, projectId: p, quantity: String(p / 4), occurredAt: D + p });
    expect((await ctx.t.admin('POST', '/v1/usage-events', { events })).status).toBe(200);
  }
});

afterEach(async () => {
  Object.assign(buildSettings, defaults, { background: false });
  await settleBuilds(ctx.tdb.db);
  Object.assign(buildSettings, defaults);
});

const expected = (extra: Record<number, number> = {}, plan = 'basic') =>
  Array.from({ length: PROJECTS }, (_, i) => {
    const p = i + 1;
    const amount = p / 4 + (extra[p] ?? 0);
    const base = `${amount} Minute × ${plan}`;
    return { projectId: String(p), amount, description: extra[p] ? `${base} (includes a correction of ${extra[p]} Minute that arrived after its window was reported)` : base };
  });

async function page(app: TestApp, window: { fromTs: number; toTs: number }, pageNum: number, limit = 100) {
  const r = await app.agoraGet('/usage', { ...window, pageNum, limit });
  const text = await r.text();
  return { status: r.status, text, body: r.status === 200 ? JSON.parse(text) : null };
}

async function allPages(app: TestApp, window: { fromTs: number; toTs: number }, limit: number) {
  const entries = [];
  for (let n = 1; ; n++) {
    const p = await page(app, window, n, limit);
    expect(p.status, p.text).toBe(200);
    entries.push(...p.body.data.data);
    if (!p.body.data.hasNext) return entries;
  }
}

/** The statement of day D. */
const statementRow = async () =>
  ctx.tdb.db.selectFrom('statements').selectAll().where('window_start', '=', new Date(D * 1000)).where('window_end', '=', new Date((D + DAY) * 1000)).executeTakeFirstOrThrow();
const blockCount = async () => Number((await sql<{ n: string }>`select count(*)::text as n from statement_blocks`.execute(ctx.tdb.db)).rows[0]!.n);

describe('a whole day fixed without copying its lines', () => {
  it('answers the first page and the full count and totals from the fix, with one block written', async () => {
    const first = await page(ctx.t, wholeDay(D), 1);
    expect(first.status).toBe(200);
    expect(first.body.data).toMatchObject({ totalSize: PROJECTS, pageNum: 1, hasNext: true });
    expect(first.body.data.data).toEqual(expected().slice(0, 100));
    const st = await statementRow();
    expect(st).toMatchObject({ building: true, line_count: PROJECTS, total_amount: String((PROJECTS * (PROJECTS + 1)) / 2 / 4), correction_amount: '0' });
    expect(await blockCount()).toBe(1);
    // The later pages number their lines as they are asked for, and the statement completes.
    expect(await allPages(ctx.t, wholeDay(D), 100)).toEqual(expected());
    expect(await blockCount()).toBe(3);
    expect((await statementRow()).building).toBe(false);
  });

  it('a numbering interrupted half-way is finished by the next request, with the same lines', async () => {
    const first = await page(ctx.t, wholeDay(D), 1);
    expect(first.status).toBe(200);
    // The numbering of lines 101 on dies (a process stopping, a failing database): the page
    // needing them is not answered, and nothing of the statement changes.
    buildSettings.beforeChunk = (_id, fromLine) => {
      if (fromLine >= 100) throw new Error('numbering stopped');
    };
    expect((await page(ctx.t, wholeDay(D), 2)).status).toBe(500);
    expect((await page(ctx.t, wholeDay(D), 3)).status).toBe(500);
    expect(await blockCount()).toBe(1);
    buildSettings.beforeChunk = null;
    // A fresh app (another process after a restart) asks for the last page first.
    const restarted = buildApp(ctx.tdb.db);
    const last = await page(restarted, wholeDay(D), 3);
    expect(last.status).toBe(200);
    expect(last.body.data.data).toEqual(expected().slice(200));
    expect(await allPages(restarted, wholeDay(D), 100)).toEqual(expected());
    // And the first page, read again, is byte for byte what was answered.
    expect((await page(restarted, wholeDay(D), 1)).text).toBe(first.text);
    expect((await statementRow()).building).toBe(false);
  });

  it('pages read while the background job numbers the lines agree with the final blocks', async () => {
    buildSettings.background = true;
    buildSettings.chunkLines = 100;
    let slow = 0;
    buildSettings.beforeChunk = async () => {
      slow++;
      await new Promise((r) => setTimeout(r, 20));
    };
    const first = await page(ctx.t, wholeDay(D), 1, 7);
    expect(first.status).toBe(200);
    // Many pages at once, of several sizes, while the job runs; then every line once it is done.
    const sizes = [7, 50, 100, 33];
    const concurrent = await Promise.all(
      sizes.flatMap((limit) => Array.from({ length: Math.ceil(PROJECTS / limit) }, (_, i) => page(ctx.t, wholeDay(D), i + 1, limit).then((p) => ({ limit, n: i + 1, p })))),
    );
    await settleBuilds(ctx.tdb.db);
    expect(slow).toBeGreaterThan(0);
    expect((await statementRow()).building).toBe(false);
    const all = expected();
    for (const { limit, n, p } of concurrent) {
      expect(p.status, p.text).toBe(200);
      expect(p.body.data.data).toEqual(all.slice((n - 1) * limit, n * limit));
      expect(p.body.data.totalSize).toBe(PROJECTS);
    }
    // The vendor's view reads the same blocks.
    const lines = (await (await ctx.t.admin('GET', `/v1/statements/${(await statementRow()).id}/lines?limit=1000`)).json()) as any;
    expect(lines.data.map((l: any) => [l.lineNo, l.projectId, l.amount])).toEqual(all.map((l, i) => [i + 1, l.projectId, l.amount]));
  });

  it('lines numbered after a plan change name the plan the customer had when the statement was fixed', async () => {
    expect((await page(ctx.t, wholeDay(D), 1)).status).toBe(200);
    // The customer moves to gold before lines 101 on are numbered.
    const r = await ctx.t.agoraSend('POST', '/customers/new', { customerId: 'c1', planId: 'gold' });
    expect(r.status).toBe(200);
    expect(await allPages(ctx.t, wholeDay(D), 100)).toEqual(expected());
    // A day fixed after the change names the new plan.
    expect((await ctx.t.admin('POST', '/v1/usage-events', { events: [{ id: 'n1', projectId: 3, quantity: '2', occurredAt: NEXT + 5 }] })).status).toBe(200);
    expect((await page(ctx.t, wholeDay(NEXT), 1)).body.data.data).toEqual([{ projectId: '3', amount: 2, description: '2 Minute × gold' }]);
  });

  it('carries late usage into its lines, and usage arriving while lines are numbered into the next statement', async () => {
    // Late usage of an earlier reported day, for a project of the day and for one with no usage that day.
    const EARLY = dayStart('2025-06-10');
    expect((await ctx.t.agoraGet('/usage', { ...wholeDay(EARLY), pageNum: 1 })).status).toBe(200);
    await sql`insert into projects (project_id, customer_id, app_key, app_secret) values (300, 'c1', 'k300', 's300')`.execute(ctx.tdb.db);
    const late = [
      { id: 'late-150', projectId: 150, quantity: '1', occurredAt: EARLY + 10 },
      { id: 'late-300', projectId: 300, quantity: '2', occurredAt: EARLY + 20 },
    ];
    expect((await ctx.t.admin('POST', '/v1/usage-events', { events: late })).status).toBe(200);
    const first = await page(ctx.t, wholeDay(D), 1);
    expect(first.body.data.totalSize).toBe(PROJECTS + 1);
    // Usage of the reported day arriving now is late: it changes no line of this statement.
    expect((await ctx.t.admin('POST', '/v1/usage-events', { events: [{ id: 'after', projectId: 200, quantity: '5', occurredAt: D + 50 }] })).status).toBe(200);
    const entries = await allPages(ctx.t, wholeDay(D), 100);
    expect(entries).toEqual([
      ...expected({ 150: 1 }),
      { projectId: '300', amount: 2, description: '2 Minute × basic (includes a correction of 2 Minute that arrived after its window was reported)' },
    ]);
    expect(await statementRow()).toMatchObject({ correction_amount: '3' });
    const next = await page(ctx.t, wholeDay(NEXT), 1);
    expect(next.body.data.data).toEqual([
      { projectId: '200', amount: 5, description: '5 Minute × basic (includes a correction of 5 Minute that arrived after its window was reported)' },
    ]);
  });

  it('never answers a line the blocks would refuse: a corrupted row deep in the day fails its page, not the others', async () => {
    await sql`update usage_day_rollup set quantity = 0 where project_id = 230`.execute(ctx.tdb.db);
    expect((await page(ctx.t, wholeDay(D), 1)).status).toBe(200);
    expect((await page(ctx.t, wholeDay(D), 2)).status).toBe(200);
    expect((await page(ctx.t, wholeDay(D), 3)).status).toBe(500);
    const amounts = await sql<{ a: string }>`select unnest(amounts)::text as a from statement_blocks`.execute(ctx.tdb.db);
    expect(amounts.rows.every((r) => Number(r.a) > 0)).toBe(true);
    // Repaired, the page is answered as it should have been.
    await sql`update usage_day_rollup set quantity = 57.5 where project_id = 230`.execute(ctx.tdb.db);
    expect((await page(ctx.t, wholeDay(D), 3)).body.data.data).toEqual(expected().slice(200));
  });

  it('a count that was wrong leaves the statement as answered, says so, and completes', async () => {
    // One project too few in the counts (a bug, or a hand-made change): Agora is told 249 lines.
    await sql`update usage_day_counts set projects = projects - 1 where day = '2025-06-18' and projects > 0`.execute(ctx.tdb.db);
    const reported: string[] = [];
    buildSettings.report = (err) => reported.push(err instanceof Error ? err.message : String(err));
    const entries = await allPages(ctx.t, wholeDay(D), 100);
    expect(entries).toEqual(expected().slice(0, PROJECTS - 1));
    expect(reported).toEqual([`more lines than the count ${PROJECTS - 1} it was fixed with`]);
    expect((await statementRow()).building).toBe(false);
    // Reconciliation shows the project left out.
    const rec = (await (await ctx.t.admin('GET', '/v1/reconciliation?month=2025-06')).json()) as any;
    const flagged = (rec.lines ?? rec.data ?? rec.projects).filter((l: any) => l.flags.includes('difference')).map((l: any) => l.projectId);
    expect(flagged).toEqual([String(PROJECTS)]);
  });

  it('a shorter window, then the whole day: written whole, as before', async () => {
    const hour = { fromTs: D, toTs: D + 3599 };
    expect((await page(ctx.t, hour, 1)).body.data.totalSize).toBe(PROJECTS);
    const day = await page(ctx.t, wholeDay(D), 1);
    expect(day.body.data).toMatchObject({ totalSize: 0, data: [] });
    expect((await statementRow()).building).toBe(false);
  });
});

describe.skipIf(!onPostgres)('two instances (Postgres)', () => {
  it('one fixes, both number and read: the same lines, each block written once', async () => {
    const other = await ctx.tdb.openAnother();
    try {
      const second = buildApp(other.db);
      const first = await page(ctx.t, wholeDay(D), 1);
      expect(first.status).toBe(200);
      // Both ask for the last page at once, and for every page after.
      const [a, b] = await Promise.all([page(ctx.t, wholeDay(D), 3), page(second, wholeDay(D), 3)]);
      expect(a.text).toBe(b.text);
      expect(a.body.data.data).toEqual(expected().slice(200));
      const [all1, all2] = await Promise.all([allPages(ctx.t, wholeDay(D), 30), allPages(second, wholeDay(D), 100)]);
      expect(all1).toEqual(expected());
      expect(all2).toEqual(expected());
      expect(await blockCount()).toBe(3);
    } finally {
      await other.close();
    }
  });

  it('two instances fixing the same day at once agree, with their background jobs racing', async () => {
    Object.assign(buildSettings, { background: true, chunkLines: 100 });
    const other = await ctx.tdb.openAnother();
    try {
      const second = buildApp(other.db);
      const [a, b] = await Promise.all([page(ctx.t, wholeDay(D), 1), page(second, wholeDay(D), 1)]);
      expect(a.text).toBe(b.text);
      await Promise.all([settleBuilds(ctx.tdb.db), settleBuilds(other.db)]);
      expect(await blockCount()).toBe(3);
      expect(await allPages(second, wholeDay(D), 100)).toEqual(expected());
      expect((await ctx.tdb.db.selectFrom('statements').select('id').execute()).length).toBe(1);
    } finally {
      await other.close();
    }
  });
});

describe('the day counts ingestion keeps', () => {
  const counts = async () =>
    (await sql<{ day: string; projects: number; quantity: string; rollup_projects: string; rollup_quantity: string }>`
      select to_char(c.day, 'YYYY-MM-DD') as day, c.projects, c.quantity::text,
             (select count(*) from usage_day_rollup r where r.day = c.day)::text as rollup_projects,
             (select sum(quantity) from usage_day_rollup r where r.day = c.day)::text as rollup_quantity
      from (select day, sum(projects)::int as projects, sum(quantity) as quantity from usage_day_counts group by day) c order by c.day`.execute(ctx.tdb.db)).rows;

  it('count each project once per day and sum the on-time quantity, duplicates and late events left out', async () => {
    const events = [
      { id: 'e1', projectId: 1, quantity: '0.25', occurredAt: D + 1 }, // a duplicate of e1
      { id: 'x1', projectId: 1, quantity: '1', occurredAt: NEXT + 1 },
      { id: 'x2', projectId: 2, quantity: '2', occurredAt: NEXT + 2 },
      { id: 'x3', projectId: 2, quantity: '3', occurredAt: NEXT + 3 },
    ];
    expect((await ctx.t.admin('POST', '/v1/usage-events', { events })).status).toBe(200);
    expect((await page(ctx.t, wholeDay(NEXT), 1)).status).toBe(200);
    // Late for NEXT now: neither its rollup nor its count moves.
    expect((await ctx.t.admin('POST', '/v1/usage-events', { events: [{ id: 'x4', projectId: 7, quantity: '1', occurredAt: NEXT + 4 }] })).status).toBe(200);
    const rows = await counts();
    expect(rows).toEqual([
      { day: '2025-06-18', projects: PROJECTS, quantity: String((PROJECTS * (PROJECTS + 1)) / 2 / 4), rollup_projects: String(PROJECTS), rollup_quantity: String((PROJECTS * (PROJECTS + 1)) / 2 / 4) },
      { day: '2025-06-19', projects: 2, quantity: '6', rollup_projects: '2', rollup_quantity: '6' },
    ]);
  });

  it.skipIf(!onPostgres)('stay equal to the rollup under concurrent batches of two instances (Postgres)', async () => {
    const other = await ctx.tdb.openAnother();
    try {
      const second = buildApp(other.db);
      const batch = (k: number) =>
        Array.from({ length: 500 }, (_, i) => ({ id: `c${k}-${i}`, projectId: 1 + ((i * 7 + k) % PROJECTS), quantity: '0.5', occurredAt: NEXT + ((i * 13 + k) % DAY) }));
      const answers = await Promise.all(Array.from({ length: 8 }, (_, k) => (k % 2 ? second : ctx.t).admin('POST', '/v1/usage-events', { events: batch(k % 4) })));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
      for (const r of await counts()) {
        expect(String(r.projects)).toBe(r.rollup_projects);
        expect(r.quantity).toBe(r.rollup_quantity);
      }
    } finally {
      await other.close();
    }
  });
});
