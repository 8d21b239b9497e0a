import { recountDays } from '../src/usage/usage.repository.ts';
import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';

export interface SeedOptions {
  customers: number;
  projects: number;
  /** Usage events in each seeded day. */
  eventsPerDay: number;
  /** UTC days, `YYYY-MM-DD`, whose events are all stored as rows. */
  days: string[];
  /**
   * A whole month of usage (`YYYY-MM`): every day of it not in `days` gets the rollups that
   * ingesting `eventsPerDay` events would leave, and only the first `rawPerDay` of those events
   * as rows (a representative slice: storing 30 million rows takes far longer than the benchmark).
   */
  month?: { month: string; rawPerDay: number };
  /** Plans with prices for the seeded customers' planIds (`plan-0` … `plan-2`). */
  plans?: boolean;
  /** Progress in events: `done` of `total`, for a progress bar. */
  onProgress?: (done: number, total: number, note: string) => void;
}

const CHUNK = 200_000;

/** The days of `YYYY-MM`. */
export function monthDays(month: string): string[] {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const n = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return Array.from({ length: n }, (_, i) => `${month}-${String(i + 1).padStart(2, '0')}`);
}

/**
 * Seeds straight through SQL (generate_series): customers, projects with their credentials, and
 * days of events with the rollups ingestion would have built, so the benchmark starts from the
 * state real ingestion leaves behind. Event `g` of a day is the same wherever it is generated:
 * project `100000 + g % projects + 1`, quantity `(g % 97 + 1) / 8`, at second `g * 7919 % 86400`.
 */
export async function seed(db: Db, o: SeedOptions, progress: (msg: string) => void = () => {}): Promise<void> {
  const rollupOnly = o.month ? monthDays(o.month.month).filter((d) => !o.days.includes(d)) : [];
  const rawPerRollupDay = Math.min(o.month?.rawPerDay ?? 0, o.eventsPerDay);
  const total = o.days.length * o.eventsPerDay + rollupOnly.length * (o.eventsPerDay + rawPerRollupDay);
  let done = 0;
  const step = (n: number, note: string) => {
    done += n;
    o.onProgress?.(done, total, note);
  };

  progress(`customers: ${o.customers}, projects: ${o.projects}`);
  await sql`insert into customers (customer_id, plan_id, customer_name)
    select 'cust-' || g, 'plan-' || (g % 3), 'Customer ' || g from generate_series(1, ${o.customers}::int) g
    on conflict do nothing`.execute(db);
  await sql`insert into projects (project_id, customer_id, app_key, app_secret)
    select 100000 + g, 'cust-' || (g % ${o.customers}::int + 1), md5('k' || g) , md5('s' || g) || md5('t' || g)
    from generate_series(1, ${o.projects}::int) g
    on conflict do nothing`.execute(db);
  if (o.plans) await seedPlans(db);

  const insertEvents = async (day: string, from: number, to: number) => {
    await sql`insert into usage_events (id, project_id, quantity, occurred_at, late)
      select ${day} || '-' || g, 100000 + (g % ${o.projects}::int) + 1, ((g % 97) + 1)::numeric / 8,
             ${day}::date + make_interval(secs => (g::bigint * 7919) % 86400), false
      from generate_series(${from}::int, ${to}::int) g`.execute(db);
  };

  for (const day of o.days) {
    progress(`events for ${day}: ${o.eventsPerDay}`);
    for (let start = 0; start < o.eventsPerDay; start += CHUNK) {
      const end = Math.min(o.eventsPerDay, start + CHUNK);
      await insertEvents(day, start + 1, end);
      step(end - start, `events of ${day}`);
    }
    await sql`insert into usage_day_rollup (day, project_id, quantity)
      select ${day}::date, project_id, sum(quantity) from usage_events
      where occurred_at >= ${day}::date and occurred_at < ${day}::date + 1 and not late and statement_id is null
      group by project_id
      on conflict (day, project_id) do update set quantity = excluded.quantity`.execute(db);
  }

  if (o.month) progress(`month ${o.month.month}: rollups of ${o.eventsPerDay} events for each of ${rollupOnly.length} more days, ${rawPerRollupDay} of them stored as rows`);
  // Every such day has the same events (event `g` depends only on `g`), so the same sums: added
  // up once, then copied into each day. At 1,000,000 projects that is 30 copies of 1,000,000 rows
  // instead of 30 aggregations of 1,000,000 generated events.
  if (rollupOnly.length > 0) {
    // A table of its own (the pool's connections differ: no temporary table), dropped below.
    await sql`drop table if exists bench_day_sums`.execute(db);
    await sql`create unlogged table bench_day_sums (project_id bigint primary key, quantity numeric not null)`.execute(db);
    await sql`insert into bench_day_sums (project_id, quantity)
      select 100000 + (g % ${o.projects}::int) + 1, sum(((g % 97) + 1)::numeric / 8)
      from generate_series(1, ${o.eventsPerDay}::int) g
      group by 1`.execute(db);
  }
  // The day rollup's indexes other than its key, dropped while the rollup-only days load and built
  // again from their own definitions afterwards: each day's rows arrive in (day, project) order,
  // so an index in (project, day) order took a random leaf page per row (most of the seed's time at
  // 1,000,000 projects), where building it once is one sorted pass. The schema ends as migrated.
  const rebuilt =
    rollupOnly.length > 0
      ? (
          await sql<{ name: string; definition: string }>`
            select i.indexname as name, i.indexdef as definition from pg_indexes i
            where i.schemaname = current_schema() and i.tablename = 'usage_day_rollup'
              and not exists (select 1 from pg_constraint c where c.conname = i.indexname and c.conrelid = 'usage_day_rollup'::regclass)`.execute(db)
        ).rows
      : [];
  for (const index of rebuilt) await sql`drop index ${sql.id(index.name)}`.execute(db);
  // Two days at a time, one per connection of the pool: the machine has more than one core.
  const lanes = [rollupOnly.filter((_, i) => i % 2 === 0), rollupOnly.filter((_, i) => i % 2 === 1)];
  await Promise.all(
    lanes.map(async (days) => {
      for (const day of days) {
        // The day's events summed without storing them: the rollup ingestion would have left.
        await sql`insert into usage_day_rollup (day, project_id, quantity)
          select ${day}::date, project_id, quantity from bench_day_sums
          on conflict (day, project_id) do update set quantity = excluded.quantity`.execute(db);
        step(o.eventsPerDay, `rollup of ${day}`);
        if (rawPerRollupDay > 0) {
          await insertEvents(day, 1, rawPerRollupDay);
          step(rawPerRollupDay, `event rows of ${day}`);
        }
      }
    }),
  );
  for (const index of rebuilt) await sql.raw(index.definition).execute(db);

  await sql`drop table if exists bench_day_sums`.execute(db);

  // The month rollup ingestion keeps beside the day rollup: the sum of the month's days.
  const months = [...new Set([...o.days, ...rollupOnly].map((d) => `${d.slice(0, 7)}-01`))];
  for (const month of months) {
    await sql`insert into usage_month_rollup (month, project_id, quantity)
      select ${month}::date, project_id, sum(quantity) from usage_day_rollup
      where day >= ${month}::date and day < ${month}::date + interval '1 month'
      group by project_id
      on conflict (month, project_id) do update set quantity = excluded.quantity`.execute(db);
  }
  // The per-day counts ingestion keeps beside the day rollup (first pages of a day read them).
  await recountDays(db);
  await sql`analyze`.execute(db);
}

/** plan-0 … plan-2, in force since 2020: a flat price, two tiers, three tiers with a monthly fee. */
async function seedPlans(db: Db): Promise<void> {
  const plans: { id: string; fee: string; tiers: [string, string | null, string][] }[] = [
    { id: 'plan-0', fee: '0', tiers: [['0', null, '0.002']] },
    { id: 'plan-1', fee: '0', tiers: [['0', '1000', '0.002'], ['1000', null, '0.0015']] },
    { id: 'plan-2', fee: '5', tiers: [['0', '100', '0'], ['100', '10000', '0.001'], ['10000', null, '0.0008']] },
  ];
  for (const p of plans) {
    await sql`insert into plans (plan_id, name) values (${p.id}, ${p.id}) on conflict do nothing`.execute(db);
    const { rows } = await sql<{ id: string }>`
      insert into plan_versions (plan_id, effective_month, currency, usage_unit, monthly_fee)
      values (${p.id}, '2020-01-01', 'USD', 'Minute', ${p.fee}::numeric)
      on conflict (plan_id, effective_month) do update set currency = excluded.currency
      returning id`.execute(db);
    const versionId = rows[0]!.id;
    let n = 0;
    for (const [from, upTo, price] of p.tiers) {
      await sql`insert into plan_tiers (plan_version_id, tier_no, from_qty, up_to, unit_price)
        values (${versionId}::bigint, ${++n}, ${from}::numeric, ${upTo}::numeric, ${price}::numeric)
        on conflict do nothing`.execute(db);
    }
  }
}
