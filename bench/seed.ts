import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';

export interface SeedOptions {
  customers: number;
  projects: number;
  /** Usage events in each seeded day. */
  eventsPerDay: number;
  /** UTC days, `YYYY-MM-DD`. */
  days: string[];
}

/**
 * Seeds straight through SQL (generate_series): customers, projects with their credentials, and a
 * day's events with the rollup ingestion would have built, so the benchmark starts from the state
 * a real day of ingestion leaves behind.
 */
export async function seed(db: Db, o: SeedOptions, progress: (msg: string) => void = () => {}): Promise<void> {
  progress(`customers: ${o.customers}, projects: ${o.projects}`);
  await sql`insert into customers (customer_id, plan_id, customer_name)
    select 'cust-' || g, 'plan-' || (g % 3), 'Customer ' || g from generate_series(1, ${o.customers}::int) g
    on conflict do nothing`.execute(db);
  await sql`insert into projects (project_id, customer_id, app_key, app_secret)
    select 100000 + g, 'cust-' || (g % ${o.customers}::int + 1), md5('k' || g) , md5('s' || g) || md5('t' || g)
    from generate_series(1, ${o.projects}::int) g
    on conflict do nothing`.execute(db);
  for (const day of o.days) {
    progress(`events for ${day}: ${o.eventsPerDay}`);
    const chunk = 200_000;
    for (let start = 0; start < o.eventsPerDay; start += chunk) {
      const end = Math.min(o.eventsPerDay, start + chunk);
      await sql`insert into usage_events (id, project_id, quantity, occurred_at, late)
        select ${day} || '-' || g, 100000 + (g % ${o.projects}::int) + 1, ((g % 97) + 1)::numeric / 8,
               ${day}::date + make_interval(secs => (g::bigint * 7919) % 86400), false
        from generate_series(${start + 1}::int, ${end}::int) g`.execute(db);
      progress(`  ${end}/${o.eventsPerDay}`);
    }
    await sql`insert into usage_day_rollup (day, project_id, quantity)
      select ${day}::date, project_id, sum(quantity) from usage_events
      where occurred_at >= ${day}::date and occurred_at < ${day}::date + 1 and not late and statement_id is null
      group by project_id
      on conflict (day, project_id) do update set quantity = excluded.quantity`.execute(db);
  }
  await sql`analyze`.execute(db);
}
