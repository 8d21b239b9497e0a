import { sql } from 'kysely';
import { createProgress } from '../src/cli/progress.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatestOrThrow } from '../src/db/migrate.ts';
import { seedLicenses } from './license-seed.ts';
import { fmtInt } from './report.ts';
import type { Need } from './scenarios/context.ts';
import { seed } from './seed.ts';
import { seedFeeMonth } from './fee-month.ts';
import { keepLineCounts } from '../src/billing/line-counts.ts';
import { loadConfig } from '../src/config.ts';
import { extraServerEnv } from './processes.ts';
import { SMALL_MONTHS, type Calendar, type Settings } from './settings.ts';

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A fresh database of its own: nothing else's data, nothing left over from a previous run (unless
 * `--existing-db`). Answers the server's version. No statement timeout: dropping and creating a
 * database waits for a checkpoint on a busy server.
 */
export async function freshDatabase(s: Settings): Promise<string> {
  const admin = await openDatabase({ databaseUrl: s.pgUrl, poolSize: 1, statementTimeoutMs: 0 });
  try {
    const postgresVersion = (await sql<{ v: string }>`select version() as v`.execute(admin.db)).rows[0]!.v;
    if (!s.existingDb) {
      await sql.raw(`drop database if exists ${s.dbName} with (force)`).execute(admin.db);
      await sql.raw(`create database ${s.dbName}`).execute(admin.db);
    }
    return postgresVersion;
  } finally {
    await admin.close();
  }
}

/** Drops the benchmark's database, unless kept. */
export async function dropDatabase(s: Settings, say: (line: string) => void): Promise<void> {
  if (s.keep) return;
  const cleanup = await openDatabase({ databaseUrl: s.pgUrl, poolSize: 1 });
  await sql.raw(`drop database if exists ${s.dbName} with (force)`).execute(cleanup.db).catch((err: Error) => say(`could not drop ${s.dbName}: ${err.message}`));
  await cleanup.close();
}

/** Seeds only what the chosen scenarios read (customers, projects and plans always); answers the note for the table and the figures for the JSON. */
export async function seedFor(s: Settings, cal: Calendar, dbUrl: string, needs: ReadonlySet<Need>, say: (line: string) => void): Promise<{ note: string; result: Record<string, unknown> }> {
  const needUsage = needs.has('usage');
  const seedStarted = performance.now();
  const database = await openDatabase({ databaseUrl: dbUrl, poolSize: 2, statementTimeoutMs: 0 });
  try {
    await migrateToLatestOrThrow(database.db);
    const bar = createProgress('seed', { unit: 'events', plainEveryMs: 5000 });
    await seed(
      database.db,
      {
        customers: s.customers,
        projects: s.projects,
        eventsPerDay: s.events,
        days: needUsage ? [cal.rawDay] : [],
        ...(needUsage ? { month: { month: cal.month, rawPerDay: s.monthRawPerDay } } : {}),
        plans: true,
        onProgress: (done, total, note) => bar.update(done, total, note),
      },
      (msg) => bar.log(msg),
    );
    bar.stop();
    // Three more months, as the benchmark month for its first smallMonthProjects projects only: the
    // first page of a bill at two scales, in the same run, on the same machine load.
    if (needUsage) {
      for (const small of SMALL_MONTHS) {
        await sql`insert into usage_month_rollup (month, project_id, quantity)
          select ${`${small}-01`}::date, project_id, quantity from usage_month_rollup
          where month = ${`${cal.month}-01`}::date order by project_id limit ${s.smallMonthProjects}::int`.execute(database.db);
      }
      // The current month with a fee on every plan (bench/fee-month.ts).
      await seedFeeMonth(database.db, cal.month);
      // The months' bill line counts kept (src/billing/line-counts.ts), as a server that has run
      // since the months began has them: its rows assigned as they arrived, not in one pass over
      // millions of rows, written back by the server in the middle of the scenarios.
      say('bill line counts kept');
      const config = loadConfig({ NODE_ENV: 'development', ...extraServerEnv() });
      await keepLineCounts(database.db, { defaultPlanId: config.defaultPlanId, billDecimals: config.billDecimals });
    }
    // Issued licenses spread over the projects, and quota for 5 more per customer: the license
    // query has licenses to sum up for every customer, and activations have quota to take.
    if (needs.has('licenses')) await seedLicenses(database.db, { licenses: s.licenses, sparePerCustomer: 5, progress: (m) => bar.log(m) });
    // Leave no work for later: without this, autovacuum of the fresh rows and the checkpoint of
    // the seed's writes run in the middle of the scenarios.
    say('vacuum analyze and checkpoint after seeding');
    await sql`vacuum analyze`.execute(database.db);
    await sql`checkpoint`.execute(database.db).catch((err: Error) => say(`checkpoint skipped: ${err.message}`));
  } finally {
    await database.close();
  }
  const otherDays = cal.days.length - 1;
  const rawRows = s.events + otherDays * Math.min(s.monthRawPerDay, s.events);
  let note =
    `Seeded ${fmtInt(s.projects)} projects of ${fmtInt(s.customers)} customers on 3 priced plans, and a month (${cal.month}) of ` +
    `${fmtInt(s.events)} usage events a day: ${cal.rawDay} stored as ${fmtInt(s.events)} event rows; each of the other ${otherDays} days ` +
    `as the day and month rollups ingesting ${fmtInt(s.events)} events leaves behind, with only the first ${fmtInt(Math.min(s.monthRawPerDay, s.events))} ` +
    `of them stored as event rows (${fmtInt(s.events * cal.days.length)} events in the rollups, ${fmtInt(rawRows)} event rows): storing every ` +
    `event of a month takes far longer than the benchmark, and no scenario reads a whole day of rows.` +
    ` Licensing: ${fmtInt(s.licenses)} licenses activated over the projects, and quota for 5 more per customer.`;
  const result = { seconds: (performance.now() - seedStarted) / 1000, eventsInRollups: s.events * cal.days.length, eventRows: rawRows, month: cal.month, rawDay: cal.rawDay };
  const seedS = (performance.now() - seedStarted) / 1000;
  say(`seeded in ${seedS.toFixed(0)} s`);
  note += ` Seeding took ${seedS.toFixed(0)} s.`;
  return { note, result };
}
