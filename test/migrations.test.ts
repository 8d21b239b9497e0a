import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrator } from '../src/db/migrate.ts';
import { clearTables, openTestDatabase, type TestDatabase } from './helpers/db.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await openTestDatabase();
});
afterAll(async () => {
  await tdb?.close();
});
beforeEach(async () => {
  await clearTables(tdb.db);
});

const HARDENING = '20261123050000-hardening';

/** Migrates to just before the hardening migration (undoing any later one first), or back up. */
async function aroundHardening() {
  const m = await migrator(tdb.db);
  const names = (await m.getMigrations()).map((x) => x.name);
  const before = names[names.indexOf(HARDENING) - 1]!;
  return {
    down: () => m.migrateTo(before),
    up: () => m.migrateToLatest(),
  };
}

/** The SQLSTATE a statement fails with, or 'ok'. */
async function outcome(statement: string): Promise<string> {
  try {
    await sql.raw(statement).execute(tdb.db);
    return 'ok';
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
}

/** A customer `c` with project 1, a PID `p`, one license (id 1: identities restart with the tables) and a renewal order `r`. */
async function world(): Promise<void> {
  for (const statement of [
    `insert into customers (customer_id, plan_id) values ('c', 'basic')`,
    `insert into projects (project_id, customer_id, app_key, app_secret) values (1, 'c', 'k', 's')`,
    `insert into license_skus (sku_id, product, name, media_type) values ('s', 1, 'n', 1)`,
    `insert into license_pids (pid, sku_id, category, type, validity_months) values ('p', 's', 'device', 'trial', 3)`,
    `insert into licenses (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
      values ('L1', 'c', 1, 'p', 'k1', '2026-01-01Z', '2026-04-01Z')`,
    `insert into license_renewals (renew_id, customer_id, pid, capacity) values ('r', 'c', 'p', 10)`,
  ]) {
    await sql.raw(statement).execute(tdb.db);
  }
}

const FK_VIOLATION = '23503';

/** For each foreign key: a row that names nothing, and the same row naming what exists. */
const ORPHANS: [string, string, string][] = [
  ['license_pools.customer_id', `insert into license_pools (customer_id, pid, project_id, capacity) values ('x', 'p', null, 1)`, `insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'p', null, 1)`],
  ['license_pools.pid', `insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'x', 1, 1)`, `insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'p', 1, 1)`],
  ['license_pools.project_id', `insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'p', 9, 1)`, `insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'p', 1, 2)`],
  ['license_allocations.customer_id', `insert into license_allocations (customer_id, project_id, pid, count) values ('x', 1, 'p', 1)`, `insert into license_allocations (customer_id, project_id, pid, count) values ('c', 1, 'p', 1)`],
  ['license_allocations.project_id', `insert into license_allocations (customer_id, project_id, pid, count) values ('c', 9, 'p', 1)`, `insert into license_allocations (customer_id, project_id, pid, count) values ('c', 1, 'p', 2)`],
  ['license_allocations.pid', `insert into license_allocations (customer_id, project_id, pid, count) values ('c', 1, 'x', 1)`, `insert into license_allocations (customer_id, project_id, pid, count) values ('c', 1, 'p', 3)`],
  ['licenses.customer_id', license('x', 1, 'p', 'L2'), license('c', 1, 'p', 'L2')],
  ['licenses.project_id', license('c', 9, 'p', 'L3'), license('c', 1, 'p', 'L3')],
  ['licenses.pid', license('c', 1, 'x', 'L4'), license('c', 1, 'p', 'L4')],
  ['license_renewal_log.license_id', renewalLog(999, 'r'), renewalLog(1, 'r')],
  ['license_renewal_log.renew_id', renewalLog(1, 'x'), renewalLog(1, 'r')],
  ['license_pad_settings.project_id', `insert into license_pad_settings (project_id, enabled) values (9, true)`, `insert into license_pad_settings (project_id, enabled) values (1, true)`],
  ['license_pads.project_id', `insert into license_pads (project_id, customer_id, license_key) values (9, 'c', 'k')`, `insert into license_pads (project_id, customer_id, license_key) values (1, 'c', 'k')`],
  ['license_pads.customer_id', `insert into license_pads (project_id, customer_id, license_key) values (1, 'x', 'k2')`, `insert into license_pads (project_id, customer_id, license_key) values (1, 'c', 'k2')`],
];

function license(customer: string, project: number, pid: string, value: string): string {
  return `insert into licenses (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
    values ('${value}', '${customer}', ${project}, '${pid}', '${value}', '2026-01-01Z', '2026-04-01Z')`;
}

function renewalLog(licenseId: number, renewId: string): string {
  return `insert into license_renewal_log (license_id, renew_id, previous_expires_at, expires_at, renewed_at)
    values (${licenseId}, '${renewId}', '2026-04-01Z', '2026-07-01Z', '2026-02-01Z')`;
}

describe('the hardening migration', () => {
  it.each(ORPHANS)('a foreign key on %s rejects a row that names nothing', async (_column, orphan, valid) => {
    await world();
    expect(await outcome(orphan)).toBe(FK_VIOLATION);
    expect(await outcome(valid)).toBe('ok');
  });

  it('license_pools has a primary key, keeps one row per customer, PID and project, and counts past 2^31', async () => {
    await world();
    const { rows } = await sql<{ columns: string }>`
      select string_agg(a.attname, ',') as columns from pg_constraint k
      join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any (k.conkey)
      where k.conrelid = 'license_pools'::regclass and k.contype = 'p'`.execute(tdb.db);
    expect(rows).toEqual([{ columns: 'id' }]);
    expect(await outcome(`insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'p', null, 3000000000)`)).toBe('ok');
    expect(await outcome(`insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'p', null, 1)`)).toBe('23505');
    expect(await outcome(`update license_pools set used = 2147483648`)).toBe('ok');
    expect(await outcome(`update license_pools set used = capacity + 1`)).toBe('23514');
  });

  it("rejects a statement block whose arrays differ in length, and a bill block missing one of the bill's arrays", async () => {
    await sql`insert into statements (id, kind, window_start, window_end, unit) values (1, 'usage', '2026-01-01Z', '2026-01-02Z', 'Minute')`.execute(tdb.db);
    const block = (n: number, cols: string, values: string) =>
      `insert into statement_blocks (statement_id, block_no, project_ids, plan_ids, amounts, corrections${cols}) values (1, ${n}, ${values})`;
    expect(await outcome(block(0, '', `'{1,2}', '{a,b}', '{1,2}', '{0,0}'`))).toBe('ok');
    expect(await outcome(block(1, '', `'{1,2}', '{a}', '{1,2}', '{0,0}'`))).toBe('23514');
    expect(await outcome(block(2, '', `'{1,2}', '{a,b}', '{1,2,3}', '{0,0}'`))).toBe('23514');
    expect(await outcome(block(3, '', `'{1,2}', '{a,b}', '{1,2}', '{0}'`))).toBe('23514');
    const bill = `, quantities, version_ids, fees`;
    expect(await outcome(block(4, bill, `'{1}', '{a}', '{1}', '{0}', '{5}', '{7}', '{0}'`))).toBe('ok');
    expect(await outcome(block(5, bill, `'{1}', '{a}', '{1}', '{0}', '{5,6}', '{7}', '{0}'`))).toBe('23514');
    expect(await outcome(block(6, bill, `'{1}', '{a}', '{1}', '{0}', '{5}', null, '{0}'`))).toBe('23514');
    // Null elements are lines without a version (a bill priced with no plan), not a shorter array.
    expect(await outcome(block(7, bill, `'{1,2}', '{a,b}', '{1,2}', '{0,0}', '{5,6}', '{7,null}', '{0,0}'`))).toBe('ok');
  });

  it('drops the unused tiered_price function', async () => {
    expect(await outcome(`select tiered_price(1, 1)`)).toBe('42883');
  });

  it("reconciliation's month of events is read through an index on the moment, not a scan of every event", async () => {
    await world();
    // Two years of events, one every 20 minutes, some late and some carried: a month is 1/24 of them.
    await sql`
      insert into usage_events (id, project_id, quantity, occurred_at, late, statement_id)
      select 'e' || g, 1, 1, timestamptz '2025-01-01Z' + g * interval '20 minutes', g % 7 = 0, case when g % 14 = 0 then 1 end
      from generate_series(0, 52559) g`.execute(tdb.db);
    await sql`analyze usage_events`.execute(tdb.db);
    // The first step of src/billing/reconciliation.repository.ts, as it is written there.
    const { rows } = await sql<{ 'QUERY PLAN': string }>`
      explain select project_id, quantity, occurred_at, late, statement_id, bill_late, bill_statement_id
      from usage_events where occurred_at >= ${'2026-03-01T00:00:00.000Z'}::timestamptz and occurred_at < ${'2026-04-01T00:00:00.000Z'}::timestamptz`.execute(tdb.db);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('usage_events_occurred_idx');
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it('migrates down and up again, keeping the data, and refuses to add the keys over an orphan, naming it', async () => {
    await world();
    await sql`insert into license_pools (customer_id, pid, project_id, capacity, used) values ('c', 'p', null, 7, 2), ('c', 'p', 1, 3, 1)`.execute(tdb.db);
    const m = await aroundHardening();

    const down = await m.down();
    expect(down.error).toBeUndefined();
    expect(down.results).toContainEqual({ migrationName: HARDENING, direction: 'Down', status: 'Success' });
    expect(await outcome(`select tiered_price(1, 1)`)).toBe('ok');
    // Without the keys an orphan goes in: what the migration must then refuse to paper over.
    expect(await outcome(license('c', 42, 'p', 'orphan'))).toBe('ok');

    const refused = await m.up();
    expect(refused.error).toBeInstanceOf(Error);
    expect(String((refused.error as Error).message)).toMatch(/^licenses\.project_id: 1 rows name a projects\.project_id that does not exist \(for example 42\)/);
    // All or nothing: the migration left no key behind.
    expect(await outcome(license('c', 43, 'p', 'orphan2'))).toBe('ok');

    await sql`delete from licenses where license in ('orphan', 'orphan2')`.execute(tdb.db);
    const up = await m.up();
    expect(up.error).toBeUndefined();
    expect(up.results).toContainEqual({ migrationName: HARDENING, direction: 'Up', status: 'Success' });
    const pools = await sql<{ capacity: string; used: string }>`select capacity, used from license_pools order by project_id nulls first`.execute(tdb.db);
    expect(pools.rows).toEqual([
      { capacity: '7', used: '2' },
      { capacity: '3', used: '1' },
    ]);
    expect(await outcome(license('c', 42, 'p', 'orphan'))).toBe(FK_VIOLATION);
    expect(await outcome(`select tiered_price(1, 1)`)).toBe('42883');
  });

  it('refuses to migrate down when a pool holds more than an integer, changing nothing', async () => {
    await world();
    await sql`insert into license_pools (customer_id, pid, project_id, capacity) values ('c', 'p', null, 3000000000)`.execute(tdb.db);
    const down = await (await aroundHardening()).down();
    expect(down.error).toBeInstanceOf(Error);
    expect(String((down.error as Error).message)).toMatch(/out of range/);
    expect(await outcome(`select tiered_price(1, 1)`)).toBe('42883');
    expect(await outcome(license('c', 42, 'p', 'orphan'))).toBe(FK_VIOLATION);
    const { rows } = await sql<{ name: string }>`select name from kysely_migration where name = ${HARDENING}`.execute(tdb.db);
    expect(rows).toEqual([{ name: HARDENING }]);
    // Any later migration undone before the failure is applied again.
    expect((await (await aroundHardening()).up()).error).toBeUndefined();
  });
});
