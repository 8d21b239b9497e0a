import fc from 'fast-check';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { countSmallUsage } from '../src/billing/bill.repository.ts';
import { Decimal } from '../src/decimal.ts';
import { LOCK } from '../src/db/locks.ts';
import { migrator } from '../src/db/migrate.ts';
import { ingestBatch } from '../src/usage/usage.repository.ts';
import type { UsageEventInput } from '../src/usage/usage-event.ts';
import { provision } from './helpers/app.ts';
import { clearTables } from './helpers/db.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Migration 20261205100000: `usage_ingest_batch` (one row of answers) and the month rollup's size
 * class (a lower bound of the quantity's class, which the bill's deferred fix reads small
 * quantities through).
 */
const ctx = setupTestApp();
beforeEach(async () => {
  await provision(ctx.t, 'c1', [1, 2, 3]);
});

const D = Date.parse('2025-06-20T00:00:00Z');
const at = (s: number) => new Date(D + s * 1000);
const ev = (id: string, projectId: string, quantity: string, s: number, description: string | null = null): UsageEventInput => ({
  id,
  projectId,
  quantity,
  occurredAt: at(s),
  description,
});

/** What `usage_ingest` (migration 20261204090000, a row per event) answers for `events`, in a transaction rolled back. */
async function oldAnswers(events: UsageEventInput[]) {
  const rolledBack = new Error('rolled back');
  let answers: { event_ord: number; verdict: string; off_from: Date | null; off_until: Date | null }[] = [];
  await ctx.tdb.db
    .transaction()
    .execute(async (trx) => {
      const r = await sql<{ event_ord: number; verdict: string; off_from: Date | null; off_until: Date | null }>`
        select event_ord, verdict, off_from, off_until from usage_ingest(
          ${events.map((e) => e.id)}::text[], ${events.map((e) => e.projectId)}::bigint[], ${events.map((e) => e.quantity)}::numeric[],
          ${events.map((e) => e.occurredAt.toISOString())}::timestamptz[], ${events.map((e) => e.description)}::text[],
          ${LOCK.MONTH}::int, ${LOCK.DAY}::int, 8)`.execute(trx);
      answers = r.rows;
      throw rolledBack;
    })
    .catch((err: unknown) => {
      if (err !== rolledBack) throw err;
    });
  return answers
    .map((a) => ({ at: Number(a.event_ord) - 1, verdict: a.verdict, from: a.off_from, until: a.off_until }))
    .sort((a, b) => a.at - b.at)
    .map(({ verdict, from, until }) => (verdict === 'project_deactivated' ? { verdict, from, until } : { verdict }));
}

const monthRow = async (projectId: string) =>
  (
    await sql<{ quantity: string; size_class: number; exact: number }>`
      select trim_scale(quantity)::text as quantity, size_class, usage_size_class(quantity) as exact from usage_month_rollup
      where month = '2025-06-01' and project_id = ${projectId}::bigint`.execute(ctx.tdb.db)
  ).rows[0];

describe('usage_ingest_batch', () => {
  it('answers every event as usage_ingest did: accepted, same, different, unknown project, deactivated with its period', async () => {
    await sql`insert into deactivations (customer_id, project_id, deactivated_at, reactivated_at)
      values ('c1', 3, ${at(100).toISOString()}::timestamptz, ${at(200).toISOString()}::timestamptz)`.execute(ctx.tdb.db);
    expect(await ingestBatch(ctx.tdb.db, [ev('kept', '1', '2', 10, 'first'), ev('other', '2', '1', 20)])).toEqual([{ verdict: 'accepted' }, { verdict: 'accepted' }]);

    const batch = [
      ev('a', '1', '1.5', 30, 'with a "quoted", {braced} NULL description'),
      ev('kept', '1', '2.00', 10, 'first'),
      ev('off', '3', '1', 150),
      ev('other', '2', '5', 20),
      ev('nobody', '999', '1', 40),
      ev('back', '3', '4', 250),
      ev('before', '3', '0.25', 50),
    ];
    const before = await oldAnswers(batch);
    const after = await ingestBatch(ctx.tdb.db, batch);
    expect(after).toEqual(before);
    expect(after.map((v) => v.verdict)).toEqual(['accepted', 'same', 'project_deactivated', 'different', 'unknown_project', 'accepted', 'accepted']);
    expect(after[2]).toEqual({ verdict: 'project_deactivated', from: at(100), until: at(200) });
    const stored = await ctx.tdb.db.selectFrom('usage_events').select(['id', 'description']).orderBy('id').execute();
    expect(stored).toEqual([
      { id: 'a', description: 'with a "quoted", {braced} NULL description' },
      { id: 'back', description: null },
      { id: 'before', description: null },
      { id: 'kept', description: 'first' },
      { id: 'other', description: null },
    ]);
    const days = await ctx.tdb.db.selectFrom('usage_day_rollup').select(['project_id', 'quantity']).orderBy('project_id').execute();
    expect(days).toEqual([
      { project_id: '1', quantity: '3.5' },
      { project_id: '2', quantity: '1' },
      { project_id: '3', quantity: '4.25' },
    ]);
  });

  it('a batch none of whose events has a description sends one null, and every event is stored without one', async () => {
    const batch = Array.from({ length: 50 }, (_, i) => ev(`n${i}`, String(1 + (i % 3)), '1', i));
    expect((await ingestBatch(ctx.tdb.db, batch)).every((v) => v.verdict === 'accepted')).toBe(true);
    const r = await sql<{ n: string; described: string }>`
      select count(*)::text as n, count(description)::text as described from usage_events`.execute(ctx.tdb.db);
    expect(r.rows[0]).toEqual({ n: '50', described: '0' });
  });

  it('refuses arrays of different lengths', async () => {
    await expect(
      sql`select * from usage_ingest_batch('{a,b}'::text[], '{1}'::bigint[], '{1,1}'::numeric[], '{2025-06-20Z,2025-06-20Z}'::timestamptz[], null, 1, 2, 8)`.execute(ctx.tdb.db),
    ).rejects.toThrow(/differ in length/);
  });
});

describe("the month rollup's size class", () => {
  it('is exact for a new row, stays while the quantity grows by less than two classes, and is exact again once it reaches two classes up', async () => {
    const c = Number((await sql<{ c: number }>`select usage_size_class(1) as c`.execute(ctx.tdb.db)).rows[0]!.c);
    await ingestBatch(ctx.tdb.db, [ev('g1', '1', '1', 1)]);
    expect(await monthRow('1')).toEqual({ quantity: '1', size_class: c, exact: c });
    // 2.5 is one class up (2 ≤ 2.5 < 5): the index entry is left as it was.
    await ingestBatch(ctx.tdb.db, [ev('g2', '1', '1.5', 2)]);
    expect(await monthRow('1')).toEqual({ quantity: '2.5', size_class: c, exact: c + 1 });
    // 5 is two classes up: the exact class.
    await ingestBatch(ctx.tdb.db, [ev('g3', '1', '2.5', 3)]);
    expect(await monthRow('1')).toEqual({ quantity: '5', size_class: c + 2, exact: c + 2 });
    // The other path (an id already stored: on conflict) keeps the class the same way.
    await ingestBatch(ctx.tdb.db, [ev('g3', '1', '2.5', 3), ev('g4', '1', '6', 4)]);
    expect(await monthRow('1')).toEqual({ quantity: '11', size_class: c + 2, exact: c + 3 });
    await ingestBatch(ctx.tdb.db, [ev('g4', '1', '6', 4), ev('g5', '1', '9', 5)]);
    expect(await monthRow('1')).toEqual({ quantity: '20', size_class: c + 4, exact: c + 4 });
  });

  it('stays a lower bound whatever else writes the rollup: a row inserted without a class, a quantity lowered or a class raised by hand', async () => {
    await sql`insert into usage_month_rollup (month, project_id, quantity) values ('2025-06-01', 2, 7)`.execute(ctx.tdb.db);
    const exact7 = (await monthRow('2'))!.exact;
    expect(await monthRow('2')).toMatchObject({ size_class: exact7 });
    await sql`update usage_month_rollup set quantity = 0.3 where project_id = 2`.execute(ctx.tdb.db);
    const low = (await monthRow('2'))!;
    expect(low.size_class).toBe(low.exact);
    await sql`update usage_month_rollup set size_class = 100 where project_id = 2`.execute(ctx.tdb.db);
    expect((await monthRow('2'))!.size_class).toBe(low.exact);
    // Lowering the class is always allowed (it is only read as a bound).
    await sql`update usage_month_rollup set size_class = 1 where project_id = 2`.execute(ctx.tdb.db);
    expect((await monthRow('2'))!.size_class).toBe(1);
  });

  it("the bill's small quantities are exactly those below the bound, whatever each row's class lags by (property)", async () => {
    const quantity = fc
      .tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 4 }))
      .filter(([m]) => m > 0)
      .map(([m, scale]) => new Decimal(m).div(new Decimal(10).pow(scale)).toFixed());
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(quantity, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 40 }),
        quantity,
        async (rows, below) => {
          await clearTables(ctx.tdb.db);
          // Each row's class below its exact one by 0 to 3 (at least 1: 0 is "compute it").
          await sql`
            insert into usage_month_rollup (month, project_id, quantity, size_class)
            select '2025-06-01', g, q, greatest(1, usage_size_class(q) - lag)
            from unnest(${rows.map(([q]) => q)}::numeric[], ${rows.map(([, lag]) => lag)}::int[]) with ordinality as u(q, lag, g)`.execute(ctx.tdb.db);
          const expected = rows.filter(([q]) => new Decimal(q).lt(below)).length;
          expect(await countSmallUsage(ctx.tdb.db, '2025-06-01', below, 1000)).toBe(expected);
          expect(await countSmallUsage(ctx.tdb.db, '2025-06-01', below, 0)).toBe(Math.min(expected, 1));
        },
      ),
      { numRuns: 25 },
    );
  });

  it("is read through usage_month_rollup_size_idx, not the month's rows", async () => {
    await sql`
      insert into usage_month_rollup (month, project_id, quantity)
      select '2025-06-01', g, case when g % 1000 = 0 then 0.25 else 100 + g % 50 end from generate_series(1, 30000) g`.execute(ctx.tdb.db);
    await sql`analyze usage_month_rollup`.execute(ctx.tdb.db);
    // The query of src/billing/bill.repository.ts `countSmallUsage`, as it is written there.
    const { rows } = await sql<{ 'QUERY PLAN': string }>`
      explain select count(*)::int as n from (
        select project_id from usage_month_rollup
        where month = ${'2025-06-01'}::date and size_class <= usage_size_class(${'0.5'}::numeric) and quantity < ${'0.5'}::numeric
        limit ${2001}::int) x`.execute(ctx.tdb.db);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('usage_month_rollup_size_idx');
    expect(plan).not.toMatch(/Seq Scan/);
    expect(await countSmallUsage(ctx.tdb.db, '2025-06-01', '0.5', 2000)).toBe(30);
  });
});

describe('migration 20261205100000', () => {
  it('goes down to the quantity index and back up to exact classes, keeping the rollups', async () => {
    await ingestBatch(ctx.tdb.db, [ev('m1', '1', '1', 1), ev('m2', '2', '300', 2)]);
    await ingestBatch(ctx.tdb.db, [ev('m3', '1', '2', 3)]);
    const m = await migrator(ctx.tdb.db);
    try {
      const down = await m.migrateTo('20261204090000-ingest-fast-path');
      expect(down.error).toBeUndefined();
      const indexes = async () =>
        (await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'usage_month_rollup' and schemaname = current_schema() order by 1`.execute(ctx.tdb.db)).rows.map(
          (r) => r.indexname,
        );
      expect(await indexes()).toEqual(['usage_month_rollup_pkey', 'usage_month_rollup_quantity_idx']);
      // The previous function still ingests.
      const r = await sql<{ verdict: string }>`
        select verdict from usage_ingest('{m4}'::text[], '{1}'::bigint[], '{4}'::numeric[], ${`{${at(4).toISOString()}}`}::timestamptz[], '{NULL}'::text[],
                                         ${LOCK.MONTH}::int, ${LOCK.DAY}::int, 8)`.execute(ctx.tdb.db);
      expect(r.rows).toEqual([{ verdict: 'accepted' }]);
      // And a batch with a stored id takes the previous "on conflict" path (usage_insert_events).
      const again = await sql<{ event_ord: number; verdict: string }>`
        select event_ord, verdict from usage_ingest('{m4,m5}'::text[], '{1,1}'::bigint[], '{4,5}'::numeric[],
                                         ${`{${at(4).toISOString()},${at(5).toISOString()}}`}::timestamptz[], '{NULL,NULL}'::text[],
                                         ${LOCK.MONTH}::int, ${LOCK.DAY}::int, 8) order by event_ord`.execute(ctx.tdb.db);
      expect(again.rows).toEqual([
        { event_ord: 1, verdict: 'same' },
        { event_ord: 2, verdict: 'accepted' },
      ]);
    } finally {
      const up = await m.migrateToLatest();
      expect(up.error).toBeUndefined();
    }
    // Project 1: 1 + 2 before, 4 and 5 through the previous functions.
    for (const [project, quantity] of [['1', '12'], ['2', '300']] as const) {
      const row = (await monthRow(project))!;
      expect(row).toEqual({ quantity, size_class: row.exact, exact: row.exact });
    }
  });
});
