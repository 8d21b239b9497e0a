import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { agoraGetUrl, dayWindow, monthWindow, pollPaged, type PagedPollResult } from '../src/cli/poller/poller.ts';
import { createProgress } from '../src/cli/progress.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatestOrThrow } from '../src/db/migrate.ts';
import { SEED_PID, seedLicenses } from './license-seed.ts';
// @ts-expect-error: plain JavaScript (it runs before anything is built), without types.
import { ensureBuilt } from '../bin/build.js';
import { abuse, type AbuseResult } from './abuse.ts';
import { load, paced, type PacedRequest, type PacedResult } from './load.ts';
import { memoryOf, ROOT, startService, type Service } from './processes.ts';
import { fmtInt, fmtMb, fmtMs, machine, machineLine, renderTable, type Row, type Verdict } from './report.ts';
import { monthDays, seed } from './seed.ts';
import { measureStart, type StartResult } from './start.ts';
import { feeMonth, feeMonthRows, seedFeeMonth } from './fee-month.ts';

/** The month of the second, smaller bill (no other scenario uses it; the seeded plans are in force from 2020). */
const SMALL_MONTH = '2021-01';

/** The scenarios, in the order they run; `--only` picks some. */
const SCENARIOS = ['start', 'console', 'first-pages', 'polls', 'steady', 'activation', 'abuse', 'throughput', 'console-pages', 'ingestion'] as const;
type Scenario = (typeof SCENARIOS)[number];

const HELP = `npm run bench [-- options]      the benchmark (see docs/benchmark.md)
npm run bench:gate               the CI load gate: a small scale, exit 1 when a gate fails

Seeds a fresh database on the given PostgreSQL server, starts the server as its own process and
runs every scenario against it, prints one table and writes bench/results/<time>-<mode>.json.

Options (each also as an environment variable, e.g. BENCH_PROJECTS=5000)
  --projects N               projects (default 100000; gate 5000)
  --customers N              customers (default projects / 10)
  --events N                 usage events in one day (default 1000000; gate 50000)
  --month-raw-per-day N      event rows stored for each other day of the month (default events / 50)
  --small-month-projects N   projects with usage in a second month (${SMALL_MONTH}), whose first bill page is
                             measured beside the benchmark month's: the ratio of the two (default projects / 10)
  --steady-seconds N         each steady 100 req/s run (default 30; gate 15)
  --rate N                   the steady rate (default 100)
  --throughput-seconds N     each maximum-throughput run (default 15; gate 5)
  --connections N            connections of the throughput runs (default 10)
  --ingest-batches N         batches of 1,000 events for the ingestion run (default 200; gate 20)
  --ingest-concurrency N     batches in flight at once (default 4)
  --licenses N               activated licenses seeded (default 1000000; gate 20000)
  --whitelist N              whitelist entries of the abusing customer's project (default 100000,
                             the default LICENSE_WHITELIST_MAX; gate 20000)
  --abuse-seconds N          Agora's steady poll while one customer exports that whitelist 8 times a
                             second and jumps to deep pages (default: --steady-seconds; 0 skips it)
  --pg-url URL               a PostgreSQL server to create the bench database on
                             (default BENCH_PG_URL, else postgres://postgres@127.0.0.1:5432/postgres)
  --db-name NAME             the database to create (dropped first if it exists; default agora_bench)
  --keep                     keep the database afterwards
  --existing-db              seed the database --db-name as it is (it must exist and be empty; not
                             dropped, created or dropped afterwards: a shared server where creating
                             a database waits minutes for its checkpoint)
  --out-dir DIR              where the results JSON goes (default bench/results)
  --only LIST                run only these scenarios, comma-separated, of: ${SCENARIOS.join(', ')}
                             (e.g. --only first-pages,start); only the data they need is seeded
  --gate                     the CI gate: small defaults, and exit 1 when a steady run on /usage or
                             /bill, or Agora's poll during the abuse run, has any error or a p99 of
                             500 ms or more`;

const KEY = { apiKey: 'BenchKey0123456789abcdefghijklmn', apiSecret: 'bench-secret-not-for-production-0001' };
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
const GATE_P99_MS = 500;

interface Settings {
  gate: boolean;
  projects: number;
  customers: number;
  events: number;
  monthRawPerDay: number;
  smallMonthProjects: number;
  steadySeconds: number;
  rate: number;
  throughputSeconds: number;
  connections: number;
  ingestBatches: number;
  ingestConcurrency: number;
  licenses: number;
  whitelist: number;
  abuseSeconds: number;
  pgUrl: string;
  dbName: string;
  keep: boolean;
  existingDb: boolean;
  outDir: string;
  /** Null: every scenario. */
  only: Set<Scenario> | null;
}

function settings(argv: string[], env: NodeJS.ProcessEnv): Settings {
  const names = [
    'projects',
    'customers',
    'events',
    'month-raw-per-day',
    'small-month-projects',
    'steady-seconds',
    'rate',
    'throughput-seconds',
    'connections',
    'ingest-batches',
    'ingest-concurrency',
    'licenses',
    'whitelist',
    'abuse-seconds',
    'pg-url',
    'db-name',
    'out-dir',
    'only',
  ] as const;
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])),
      gate: { type: 'boolean' },
      keep: { type: 'boolean' },
      'existing-db': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const given = values as Record<string, string | boolean | undefined>;
  const get = (name: (typeof names)[number]) => (given[name] as string | undefined) ?? env[`BENCH_${name.replace(/-/g, '_').toUpperCase()}`];
  const gate = values.gate === true || env.BENCH_GATE === '1';
  const int = (name: (typeof names)[number], fallback: number, min = 1) => {
    const text = get(name);
    if (text === undefined || text === '') return fallback;
    if (!/^\d+$/.test(text) || Number(text) < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
    return Number(text);
  };
  const projects = int('projects', gate ? 5_000 : 100_000);
  const steadySeconds = int('steady-seconds', gate ? 15 : 30);
  const onlyText = get('only');
  let only: Set<Scenario> | null = null;
  if (onlyText) {
    const names = onlyText.split(',').map((n) => n.trim()).filter((n) => n !== '');
    const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
    if (unknown.length > 0 || names.length === 0) throw new Error(`--only takes scenarios of: ${SCENARIOS.join(', ')} (unknown: ${unknown.join(', ') || 'none given'})`);
    only = new Set(names as Scenario[]);
  }
  const events = int('events', gate ? 50_000 : 1_000_000);
  return {
    gate,
    projects,
    customers: int('customers', Math.max(1, Math.floor(projects / 10))),
    events,
    monthRawPerDay: int('month-raw-per-day', Math.floor(events / 50), 0),
    smallMonthProjects: int('small-month-projects', Math.max(1, Math.floor(projects / 10))),
    steadySeconds,
    rate: int('rate', 100),
    throughputSeconds: int('throughput-seconds', gate ? 5 : 15),
    connections: int('connections', 10),
    ingestBatches: int('ingest-batches', gate ? 20 : 200),
    ingestConcurrency: int('ingest-concurrency', 4),
    licenses: int('licenses', gate ? 20_000 : 1_000_000),
    whitelist: int('whitelist', gate ? 20_000 : 100_000, 0),
    abuseSeconds: int('abuse-seconds', steadySeconds, 0),
    pgUrl: get('pg-url') || 'postgres://postgres@127.0.0.1:5432/postgres',
    dbName: get('db-name') || (gate ? 'agora_bench_gate' : 'agora_bench'),
    keep: values.keep === true || values['existing-db'] === true,
    existingDb: values['existing-db'] === true,
    outDir: resolve(ROOT, get('out-dir') || 'bench/results'),
    only,
  };
}

const ymd = (d: Date) => d.toISOString().slice(0, 10);

/**
 * The last whole month before now; in it a day with every event stored, another for the poller's
 * full day and one for the warm-up; and a day of the month before for ingestion.
 */
function calendar(now = new Date()) {
  const month = ymd(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1))).slice(0, 7);
  const days = monthDays(month);
  return {
    month,
    rawDay: days[14]!,
    pollDay: days[15]!,
    warmDay: days[16]!,
    ingestDay: ymd(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1))),
    days,
  };
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function main(): Promise<number> {
  const s = settings(process.argv.slice(2), process.env);
  const cal = calendar();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  if (!/^[a-z_][a-z0-9_]*$/.test(s.dbName)) throw new Error('--db-name must be a plain lower-case identifier');

  // A fresh database of its own: nothing else's data, nothing left over from a previous run.
  // No statement timeout: dropping and creating a database waits for a checkpoint on a busy server.
  const admin = await openDatabase({ databaseUrl: s.pgUrl, poolSize: 1, statementTimeoutMs: 0 });
  let postgresVersion: string;
  try {
    postgresVersion = (await sql<{ v: string }>`select version() as v`.execute(admin.db)).rows[0]!.v;
    if (!s.existingDb) {
      await sql.raw(`drop database if exists ${s.dbName} with (force)`).execute(admin.db);
      await sql.raw(`create database ${s.dbName}`).execute(admin.db);
    }
  } finally {
    await admin.close();
  }
  const dbUrl = withDatabase(s.pgUrl, s.dbName);
  const info = machine(postgresVersion, ROOT);
  say(`machine: ${machineLine(info)}`);
  say(`scale: ${fmtInt(s.projects)} projects, ${fmtInt(s.customers)} customers, ${fmtInt(s.events)} events a day, month ${cal.month}${s.gate ? ' (gate)' : ''}`);

  const services: Service[] = [];
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  const gateFailures: string[] = [];
  let seedNote = '';
  const want = (name: Scenario) => s.only === null || s.only.has(name);
  const needUsage = (['console', 'first-pages', 'polls', 'steady', 'abuse', 'throughput', 'console-pages'] as const).some(want);
  const needLicenses = (['steady', 'activation', 'abuse'] as const).some(want);
  try {
    // 1. Seed: only what the chosen scenarios read (customers and projects always).
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
      // A second month, as the benchmark month for its first smallMonthProjects projects only: the
      // first page of a bill at two scales, in the same run, on the same machine load.
      if (needUsage) {
        await sql`insert into usage_month_rollup (month, project_id, quantity)
          select ${`${SMALL_MONTH}-01`}::date, project_id, quantity from usage_month_rollup
          where month = ${`${cal.month}-01`}::date order by project_id limit ${s.smallMonthProjects}::int`.execute(database.db);
      }
      if (needUsage) await seedFeeMonth(database.db, cal.month);
      // Issued licenses spread over the projects, and quota for 5 more per customer: the license
      // query has licenses to sum up for every customer, and activations have quota to take.
      if (needLicenses) await seedLicenses(database.db, { licenses: s.licenses, sparePerCustomer: 5, progress: (m) => bar.log(m) });
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
    seedNote =
      `Seeded ${fmtInt(s.projects)} projects of ${fmtInt(s.customers)} customers on 3 priced plans, and a month (${cal.month}) of ` +
      `${fmtInt(s.events)} usage events a day: ${cal.rawDay} stored as ${fmtInt(s.events)} event rows; each of the other ${otherDays} days ` +
      `as the day and month rollups ingesting ${fmtInt(s.events)} events leaves behind, with only the first ${fmtInt(Math.min(s.monthRawPerDay, s.events))} ` +
      `of them stored as event rows (${fmtInt(s.events * cal.days.length)} events in the rollups, ${fmtInt(rawRows)} event rows): storing every ` +
      `event of a month takes far longer than the benchmark, and no scenario reads a whole day of rows.` +
      ` Licensing: ${fmtInt(s.licenses)} licenses activated over the projects, and quota for 5 more per customer.`;
    results.seed = { seconds: (performance.now() - seedStarted) / 1000, eventsInRollups: s.events * cal.days.length, eventRows: rawRows, month: cal.month, rawDay: cal.rawDay };
    const seedS = (performance.now() - seedStarted) / 1000;
    say(`seeded in ${seedS.toFixed(0)} s`);
    seedNote += ` Seeding took ${seedS.toFixed(0)} s.`;

    // 1b. Starts, each a fresh process from `npm start`, before anything else runs: on this
    // PostgreSQL database (seeded and migrated), and on the embedded database in a new folder:
    // its first start creates the database, the next opens it, as every later start does.
    if (want('start')) {
      ensureBuilt();
      const startEnv = { AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret, ADMIN_TOKEN };
      const pgStarts: StartResult[] = [];
      for (let i = 0; i < 3; i++) pgStarts.push(await measureStart({ ...startEnv, DATABASE_URL: dbUrl }));
      const dataDir = mkdtempSync(join(tmpdir(), 'agora-bench-embedded-'));
      let embeddedFirst: StartResult;
      const embeddedStarts: StartResult[] = [];
      try {
        embeddedFirst = await measureStart({ ...startEnv, DATA_DIR: dataDir });
        for (let i = 0; i < 3; i++) embeddedStarts.push(await measureStart({ ...startEnv, DATA_DIR: dataDir }));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
      results.start = { postgres: pgStarts, embeddedFirst, embedded: embeddedStarts };
      const startRow = (label: string, runs: StartResult[], limitMs: number, limitMb: number): Row => {
        // The median of the runs: one start is at the mercy of whatever else the machine does.
        const median = [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)]!;
        const rss = Math.max(...runs.map((r) => r.rss ?? Infinity));
        return {
          scenario: label,
          result: `${fmtMs(median.ms)} (median of ${runs.length}: ${runs.map((r) => fmtMs(r.ms)).join(', ')}); RSS ${Number.isFinite(rss) ? fmtMb(rss) : 'n/a'}`,
          target: `< ${fmtMs(limitMs)} / < ${limitMb} MB`,
          verdict: median.ms < limitMs && rss < limitMb * 1024 * 1024 ? 'ok' : 'MISSED',
        };
      };
      rows.push(startRow('start: `npm start` to the first /healthz, and the server process RSS 1 s later, on PostgreSQL', pgStarts, 1000, 120));
      rows.push(startRow('the same, embedded database (an existing folder)', embeddedStarts, 3000, 300));
      rows.push({
        scenario: 'the same, embedded database, first start (creates the database)',
        result: `${fmtMs(embeddedFirst.ms)}; RSS ${embeddedFirst.rss === null ? 'n/a' : fmtMb(embeddedFirst.rss)}`,
        target: '',
        verdict: '',
      });
    }
    const later = SCENARIOS.filter((n) => n !== 'start').some(want);
    if (later) {

      // 2. The server under test, its own process, as in production.
      const server = await startService(
        'bin/start.js',
        { DATABASE_URL: dbUrl, NODE_ENV: 'production', AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret, ADMIN_TOKEN, LOG_LEVEL: 'info' },
        '/readyz',
      );
      services.push(server);
      const signed = (path: string, params: Record<string, number>) => agoraGetUrl(server.url, path, { ...params, apiKey: KEY.apiKey }, KEY.apiSecret);
      const pathOf = (url: string) => {
        const u = new URL(url);
        return `${u.pathname}${u.search}`;
      };
      const timedGet = async (url: string) => {
        const t0 = performance.now();
        const r = await fetch(url);
        const text = await r.text();
        return { status: r.status, text, ms: performance.now() - t0 };
      };

      // Warm-up, as a server that has been up for a while is: the code paths and the pool, on
      // windows no scenario uses (another day of the month, and empty months for /bill).
      for (let i = 0; i < 20; i++) await timedGet(`${server.url}/readyz`);
      const warmDay = dayWindow(cal.warmDay);
      for (let p = 1; p <= 100; p++) await timedGet(signed('/usage', { ...warmDay, pageNum: p }));
      for (let i = 1; i <= 5; i++) await timedGet(signed('/bill', { ...monthWindow(`2001-0${i}`), pageNum: 1 }));

      // 2b. The vendor console's reads (issue 14), before anything is fixed: previews of a day and
      // the month nobody asked for yet are the heavy case. Each the median of 5, after one warm-up.
      if (want('console')) {
        const adminGet = async (path: string) => {
          const t0 = performance.now();
          const r = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
          await r.text();
          return { status: r.status, ms: performance.now() - t0 };
        };
        const [first, last] = [cal.days[0]!, cal.days[cal.days.length - 1]!];
        const nextDay = new Date(Date.parse(`${cal.rawDay}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
        const yearBack = new Date(Date.parse(`${last}T00:00:00Z`) - 365 * 86_400_000).toISOString().slice(0, 10);
        const paths = [
          '/v1/customers?limit=100',
          '/v1/customers?status=deactivated&limit=100',
          '/v1/customers/cust-1',
          '/v1/projects?limit=1000',
          '/v1/projects?customerId=cust-1',
          '/v1/projects?active=false',
          `/v1/usage-events?projectId=100001&from=${cal.rawDay}&to=${nextDay}&limit=1000`,
          `/v1/usage-events/${cal.rawDay}-1`,
          `/v1/usage/daily?from=${first}&to=${last}`,
          `/v1/usage/daily?from=${yearBack}&to=${last}&customerId=cust-1`,
          `/v1/usage/daily?from=${yearBack}&to=${last}&projectId=100001`,
          `/v1/preview/usage?day=${cal.pollDay}&limit=1000`,
          `/v1/preview/usage?day=${cal.pollDay}&page=50&limit=1000`,
          `/v1/preview/bill?month=${cal.month}&limit=1000`,
          `/v1/preview/bill?month=${cal.month}&page=50&limit=1000`,
          '/v1/agora-requests?limit=1000',
          '/v1/agora-requests/summary',
          '/metrics',
        ];
        const timings: Record<string, number[]> = {};
        for (const path of paths) {
          const warm = await adminGet(path);
          if (warm.status !== 200) throw new Error(`console: ${path} answered ${warm.status}`);
          const ms: number[] = [];
          for (let i = 0; i < 5; i++) ms.push((await adminGet(path)).ms);
          ms.sort((a, b) => a - b);
          timings[path] = ms;
          // The first request is shown too: a bill preview prices every project once, then its
          // pages come from that computation for 30 s (src/browse/preview.service.ts).
          rows.push({ scenario: `console: GET ${path}`, result: `${fmtMs(ms[2]!)} (median of 5, slowest ${fmtMs(ms[4]!)}; the first ${fmtMs(warm.ms)})`, target: '< 300 ms', verdict: ms[2]! < 300 ? 'ok' : 'MISSED' });
        }
        results.console = timings;
      }

      // 3. The first page of windows nobody asked for, asked as Agora asks: it waits 500 ms, and
      // re-sends at most twice after a timeout or a 5xx (the server answers 503 past its deadline,
      // finishing the work so that the retry finds it done).
      const firstPage = async (kind: 'usage' | 'bill', window: { fromTs: number; toTs: number }) => {
        const url = signed(`/${kind}`, { ...window, pageNum: 1 });
        const attempts: { status: number | 'timeout'; ms: number }[] = [];
        const t0 = performance.now();
        let answer: { status: number; text: string } | null = null;
        for (let attempt = 0; attempt < 3 && !answer; attempt++) {
          const a0 = performance.now();
          try {
            const r = await fetch(url, { signal: AbortSignal.timeout(500) });
            const text = await r.text();
            attempts.push({ status: r.status, ms: performance.now() - a0 });
            if (r.status < 500) answer = { status: r.status, text };
          } catch {
            attempts.push({ status: 'timeout', ms: performance.now() - a0 });
          }
        }
        const totalMs = performance.now() - t0;
        const body = answer?.status === 200 ? (JSON.parse(answer.text) as { data: { totalSize: number } }) : null;
        return { ms: attempts[0]!.ms, totalMs, attempts, status: answer?.status ?? null, totalSize: body?.data.totalSize ?? null, error: answer && answer.status !== 200 ? answer.text.slice(0, 200) : null };
      };
      const dayW = dayWindow(cal.rawDay);
      const monthW = monthWindow(cal.month);
      // Each first page on a quiet server: the lines of the statement fixed before are numbered in
      // the background (a few seconds at 100,000 lines), which would otherwise share the 2 cores.
      const quiet = async () => {
        const probe = await openDatabase({ databaseUrl: dbUrl, poolSize: 1 });
        try {
          for (let waited = 0; waited < 120_000; waited += 250) {
            const r = await sql<{ n: number }>`select count(*)::int as n from statements where building`.execute(probe.db);
            if (Number(r.rows[0]!.n) === 0) return;
            await new Promise((res) => setTimeout(res, 250));
          }
        } finally {
          await probe.close();
        }
      };
      const firstDay = await firstPage('usage', dayW);
      await quiet();
      const firstSmallMonth = await firstPage('bill', monthWindow(SMALL_MONTH));
      await quiet();
      const firstMonth = await firstPage('bill', monthW);
      // The issue's targets: < 50 ms up to 100,000 projects, < 100 ms and no retry beyond (at 1,000,000).
      const firstLimitMs = s.projects <= 100_000 ? 50 : 100;
      const firstTarget = `< ${firstLimitMs} ms, no retry`;
      const firstRow = (label: string, r: typeof firstDay): Row => {
        const tries = r.attempts.map((a) => `${a.status === 'timeout' ? 'no answer' : `HTTP ${a.status}`} after ${fmtMs(a.ms)}`).join(', then ');
        if (r.status !== 200) return { scenario: label, result: `${tries}${r.error ? `: ${r.error}` : ''}`, target: firstTarget, verdict: 'MISSED' };
        if (r.attempts.length > 1) {
          return { scenario: label, result: `${tries}: the answer after ${fmtMs(r.totalMs)} and ${r.attempts.length - 1} retries (${fmtInt(r.totalSize ?? 0)} entries)`, target: firstTarget, verdict: 'MISSED' };
        }
        return { scenario: label, result: `${fmtMs(r.ms)} (${fmtInt(r.totalSize ?? 0)} entries)`, target: firstTarget, verdict: r.ms < firstLimitMs ? 'ok' : 'MISSED' };
      };
      // Asked even when not reported: the other scenarios read the pages these first answers count.
      if (want('first-pages')) {
        results.firstPage = { usageDay: firstDay, billMonth: firstMonth, billSmallMonth: firstSmallMonth };
        rows.push(firstRow(`first page of an unasked day (GET /usage, ${fmtInt(s.projects)} projects, ${fmtInt(s.events)} events)`, firstDay));
        rows.push(firstRow(`first page of an unasked month (GET /bill, ${fmtInt(s.projects)} projects, ${cal.days.length} days)`, firstMonth));
        // O(page): the bill of 10× the projects costs about the same (the whole fix: about 10×).
        const ratio = firstSmallMonth.status === 200 && firstMonth.status === 200 ? firstMonth.totalMs / firstSmallMonth.totalMs : null;
        rows.push({
          scenario: `first page of an unasked month, ${fmtInt(firstMonth.totalSize ?? 0)} lines vs ${fmtInt(firstSmallMonth.totalSize ?? 0)} (${SMALL_MONTH}), same run`,
          result: ratio === null ? 'not answered' : `${fmtMs(firstMonth.totalMs)} vs ${fmtMs(firstSmallMonth.totalMs)}: ratio ${ratio.toFixed(2)}`,
          target: 'ratio < 1.5 (O(page))',
          verdict: ratio !== null && ratio < 1.5 ? 'ok' : 'MISSED',
        });
        await quiet();
        const fee = await feeMonthRows({ projects: s.projects, first: () => firstPage('bill', monthWindow(feeMonth())), row: firstRow, smallMonth: { label: SMALL_MONTH, result: firstSmallMonth } });
        results.firstPage = { ...(results.firstPage as object), billFeeMonth: fee.result };
        rows.push(...fee.rows);
        // Its lines are numbered in the background: done before the next scenarios share the cores.
        await quiet();
      }

      // 4. Full polls with the poller, as Agora walks them: a day nobody asked for (its first page
      // fixes it), and the month's bill.
      const poll = async (kind: 'usage' | 'bill', window: { fromTs: number; toTs: number }, label: string) => {
        const bar = createProgress(label, { unit: 'pages', plainEveryMs: 2000 });
        try {
          return await pollPaged(kind, window, {
            baseUrl: server.url,
            apiKey: KEY.apiKey,
            apiSecret: KEY.apiSecret,
            onPage: (p) => bar.update(p.pageNum, p.expectedPages),
          });
        } finally {
          bar.stop();
        }
      };
      const pollRow = (label: string, r: PagedPollResult, target: string, limitMs: number | null, noRetry = false): Row => {
        const violations = Object.values(r.violationCounts).reduce((a, b) => a + (b ?? 0), 0);
        const result = `${fmtMs(r.wallMs)}: ${fmtInt(r.pages)} pages, ${fmtInt(r.entries.length)} entries, ${r.retries} retries, ${violations} violations, slowest ${fmtMs(r.slowest?.ms ?? 0)}`;
        const verdict: Verdict =
          violations > 0 || (noRetry && r.retries > 0) || (limitMs !== null && r.wallMs >= limitMs) ? 'MISSED' : limitMs === null ? '' : 'ok';
        return { scenario: label, result, target, verdict };
      };
      const pollSummary = (r: PagedPollResult) => ({
        wallMs: r.wallMs,
        pages: r.pages,
        entries: r.entries.length,
        total: r.total.toFixed(),
        retries: r.retries,
        slowestMs: r.slowest?.ms ?? null,
        firstPageMs: r.pageMs[0] ?? null,
        violationCounts: r.violationCounts,
        violations: r.violations.slice(0, 10),
      });
      if (want('polls')) {
        // The issue's target is 60 s for 1,000,000 entries; smaller days keep the 15 s they had.
        const pollLimitMs = Math.max(15_000, (60_000 * Math.min(s.projects, s.events)) / 1_000_000);
        const dayPoll = await poll('usage', dayWindow(cal.pollDay), 'poll usage');
        results.dayPoll = pollSummary(dayPoll);
        rows.push(pollRow(`full day's poll of an unasked day with the poller (${cal.pollDay}), pages of 100`, dayPoll, `< ${fmtMs(pollLimitMs)}, no retry, no violations`, pollLimitMs, true));
        const monthPoll = await poll('bill', monthW, 'poll bill');
        results.monthPoll = pollSummary(monthPoll);
        rows.push(pollRow(`full month's bill poll with the poller (${cal.month})`, monthPoll, 'no violations', null));
      }

      // 5. Steady 100 requests/s over the pages of the fixed day and month.
      const pagePaths = (kind: 'usage' | 'bill', window: { fromTs: number; toTs: number }, totalSize: number) =>
        Array.from({ length: Math.max(1, Math.ceil(totalSize / 100)) }, (_, i) => pathOf(signed(`/${kind}`, { ...window, pageNum: i + 1 })));
      const usagePaths = pagePaths('usage', dayW, firstDay.totalSize ?? 0);
      const billPaths = pagePaths('bill', monthW, firstMonth.totalSize ?? 0);
      const timedLoad = async (label: string, o: Omit<Parameters<typeof load>[0], 'url' | 'onTick'> & { url?: string }) => {
        const bar = createProgress(label, { unit: 's', plainEveryMs: 10_000 });
        try {
          const r = await load({ url: server.url, ...o, onTick: (t) => bar.update(Math.min(Math.round(t), o.seconds), o.seconds) });
          bar.update(o.seconds, o.seconds);
          return r;
        } finally {
          bar.stop();
        }
      };
      const steady = async (label: string, paths: string[]) => {
        const bar = createProgress(label, { unit: 's', plainEveryMs: 10_000 });
        try {
          const r = await paced({ url: server.url, paths, seconds: s.steadySeconds, rate: s.rate, onTick: (t) => bar.update(Math.min(Math.round(t), s.steadySeconds), s.steadySeconds) });
          bar.update(s.steadySeconds, s.steadySeconds);
          return r;
        } finally {
          bar.stop();
        }
      };
      const steadyRow = (label: string, r: PacedResult, gateName: string | null): Row => {
        const ok = r.errors === 0 && r.p99 < 20;
        if (gateName !== null && (r.errors > 0 || r.p99 >= GATE_P99_MS)) gateFailures.push(`${gateName}: ${fmtInt(r.errors)} errors, p99 ${fmtMs(r.p99)}`);
        return {
          scenario: label,
          result: `p50 ${fmtMs(r.p50)} · p99 ${fmtMs(r.p99)} · max ${fmtMs(r.max)} · ${fmtInt(r.errors)} errors of ${fmtInt(r.requests)}`,
          target: 'p99 < 20 ms, no errors',
          verdict: ok ? 'ok' : 'MISSED',
        };
      };
      const licensePaths = Array.from({ length: Math.min(s.customers, 1000) }, (_, i) =>
        pathOf(agoraGetUrl(server.url, `/customers/cust-${i + 1}/license`, { apiKey: KEY.apiKey }, KEY.apiSecret)),
      );
      // Agora's read endpoints, each on its own. Provisioning (POST /customers/new and the rest) is
      // not among them: repeating one creates or deactivates something each time, not a steady state.
      if (want('steady')) {
        const steadyUsage = await steady(`steady /usage ${s.rate} req/s`, usagePaths);
        results.steadyUsage = steadyUsage;
        rows.push(steadyRow(`steady ${s.rate} req/s for ${s.steadySeconds} s, signed GET /usage pages`, steadyUsage, '/usage'));
        const steadyBill = await steady(`steady /bill ${s.rate} req/s`, billPaths);
        results.steadyBill = steadyBill;
        rows.push(steadyRow(`steady ${s.rate} req/s for ${s.steadySeconds} s, signed GET /bill pages`, steadyBill, '/bill'));
        const steadyLicense = await steady(`steady license ${s.rate} req/s`, licensePaths);
        results.steadyLicense = steadyLicense;
        const licenseRow = steadyRow(`steady ${s.rate} req/s for ${s.steadySeconds} s, signed GET /customers/{id}/license`, steadyLicense, null);
        if (steadyLicense.non2xx > 0) {
          licenseRow.result += ` (answers: ${Object.entries(steadyLicense.statuses).map(([code, n]) => `${fmtInt(n)} × HTTP ${code}`).join(', ')})`;
        }
        rows.push(licenseRow);
      }

      // Activation at a steady rate: a new licenseKey each time, on the project of a different
      // customer each time (the license API allows 10 requests/s per customer), with the project's
      // own appKey:appSecret, against the seeded licenses.
      const activators = await openDatabase({ databaseUrl: dbUrl, poolSize: 1 });
      const projects = await activators.db
        .selectFrom('projects')
        .select(['project_id', 'app_key', 'app_secret', 'customer_id'])
        .distinctOn('customer_id')
        .orderBy('customer_id')
        .limit(1000)
        .execute();
      await activators.close();
      const activation = (k: number): PacedRequest => {
        const p = projects[k % projects.length]!;
        const query = new URLSearchParams({ pid: SEED_PID, licenseKey: `bench-new-${k}`, appid: p.project_id });
        return {
          method: 'POST',
          path: `/dabiz/license/v2/active?${query}`,
          headers: { authorization: `Basic ${Buffer.from(`${p.app_key}:${p.app_secret}`).toString('base64')}` },
        };
      };
      if (want('activation')) {
        const activationBar = createProgress(`steady activation ${s.rate} req/s`, { unit: 's', plainEveryMs: 10_000 });
        let steadyActivation: PacedResult;
        try {
          steadyActivation = await paced({
            url: server.url,
            paths: [],
            request: activation,
            seconds: s.steadySeconds,
            rate: s.rate,
            onTick: (t) => activationBar.update(Math.min(Math.round(t), s.steadySeconds), s.steadySeconds),
          });
        } finally {
          activationBar.stop();
        }
        results.steadyActivation = steadyActivation;
        const activationRow = steadyRow(
          `steady ${s.rate} req/s for ${s.steadySeconds} s, POST /dabiz/license/v2/active (${fmtInt(s.licenses)} licenses issued)`,
          steadyActivation,
          null,
        );
        activationRow.target = 'p99 < 30 ms, no errors';
        activationRow.verdict = steadyActivation.errors === 0 && steadyActivation.non2xx === 0 && steadyActivation.p99 < 30 ? 'ok' : 'MISSED';
        if (steadyActivation.non2xx > 0) {
          activationRow.result += ` (answers: ${Object.entries(steadyActivation.statuses).map(([code, n]) => `${fmtInt(n)} × HTTP ${code}`).join(', ')})`;
        }
        rows.push(activationRow);
      }

      // 5b. Agora's poll while one customer abuses the license API within its rate limit: a large
      // whitelist exported 8 times a second (every other client leaving after the first chunk) and
      // 2 deep-page jumps a second, all with that project's own credentials. The issue this answers:
      // 6 of 10 Agora requests failed under exactly this before exports were streamed and gated.
      if (want('abuse') && s.abuseSeconds > 0 && s.whitelist > 0) {
        const abuser = projects[0]!;
        const seeding = await openDatabase({ databaseUrl: dbUrl, poolSize: 1, statementTimeoutMs: 0 });
        try {
          await sql`insert into license_pads (project_id, customer_id, license_key)
                    select ${abuser.project_id}::bigint, ${abuser.customer_id}, 'wl-' || lpad(g::text, 9, '0') from generate_series(1, ${s.whitelist}) g
                    on conflict do nothing`.execute(seeding.db);
          await sql`vacuum analyze license_pads`.execute(seeding.db);
        } finally {
          await seeding.close();
        }
        const mixed = [...licensePaths.slice(0, 50), ...usagePaths.slice(0, 50)];
        const agoraBar = createProgress(`Agora ${s.rate} req/s during abuse`, { unit: 's', plainEveryMs: 10_000 });
        const pages = Math.max(1, Math.ceil(s.whitelist / 100));
        let agoraDuring: PacedResult;
        let abused: AbuseResult;
        try {
          [agoraDuring, abused] = await Promise.all([
            paced({ url: server.url, paths: mixed, seconds: s.abuseSeconds, rate: s.rate, onTick: (t) => agoraBar.update(Math.min(Math.round(t), s.abuseSeconds), s.abuseSeconds) }),
            abuse({
              url: server.url,
              headers: { authorization: `Basic ${Buffer.from(`${abuser.app_key}:${abuser.app_secret}`).toString('base64')}` },
              exportPath: `/dabiz/license/v2/pads/export?appid=${abuser.project_id}`,
              deepPath: (k) => `/dabiz/license/v2/pads?appid=${abuser.project_id}&page=${pages - (k % Math.min(pages, 50))}&size=100`,
              exportsPerSecond: 8,
              deepPerSecond: 2,
              seconds: s.abuseSeconds,
            }),
          ]);
        } finally {
          agoraBar.stop();
        }
        const memDuring = memoryOf(server.child.pid!);
        results.agoraDuringAbuse = { agora: agoraDuring, abuse: abused, whitelist: s.whitelist, serverMemory: memDuring };
        const abuseRow = steadyRow(
          `Agora's poll (license + /usage, ${s.rate} req/s, ${s.abuseSeconds} s) while one customer exports a ${fmtInt(s.whitelist)}-key whitelist 8/s and jumps to deep pages 2/s`,
          agoraDuring,
          'Agora during abuse',
        );
        abuseRow.target = 'p99 < 500 ms, no errors';
        abuseRow.verdict = agoraDuring.errors === 0 && agoraDuring.p99 < 500 ? 'ok' : 'MISSED';
        abuseRow.result +=
          ` (exports: ${fmtInt(abused.exportsStarted)} started, ${fmtInt(abused.exportsCompleted)} read to the end, ${fmtInt(abused.exportsAbandoned)} abandoned; ` +
          `answers to the abuser: ${Object.entries(abused.statuses).map(([code, n]) => `${fmtInt(n)} × HTTP ${code}`).join(', ')}; server RSS ${memDuring ? fmtMb(memDuring.rss) : 'n/a'})`;
        rows.push(abuseRow);
      }

      // 6. Maximum throughput: signed /usage pages (fixed, so cached), then in the same run the two
      // ceilings of a bare Hono app on the same Node HTTP server: a fixed JSON body (what no
      // endpoint can beat), and `select 1` through the same Postgres and pool (what none that
      // asks the database can beat).
      if (want('throughput')) {
        const maxUsage = await timedLoad('max /usage', { paths: usagePaths, seconds: s.throughputSeconds, connections: s.connections });
        const ceilingService = await startService('bench/ceiling-server.ts', { DATABASE_URL: dbUrl }, '/');
        services.push(ceilingService);
        const ceilingJson = await timedLoad('max fixed JSON', { url: ceilingService.url, paths: ['/json'], seconds: s.throughputSeconds, connections: s.connections });
        const ceiling = await timedLoad('max select 1', { url: ceilingService.url, paths: ['/'], seconds: s.throughputSeconds, connections: s.connections });
        await ceilingService.stop();
        const ratio = maxUsage.rps / ceiling.rps;
        const ratioJson = maxUsage.rps / ceilingJson.rps;
        results.throughput = { usage: maxUsage, ceiling, ceilingJson, ratio, ratioJson };
        const rpsLine = (r: typeof maxUsage) => `${fmtInt(r.rps)} req/s (p99 ${fmtMs(r.p99)}, ${fmtInt(r.errors)} errors)`;
        rows.push({ scenario: `max throughput, signed GET /usage pages, cached (${s.connections} connections, ${s.throughputSeconds} s)`, result: rpsLine(maxUsage), target: '', verdict: '' });
        rows.push({ scenario: 'ceiling: bare Hono answering a fixed JSON body, same Node HTTP server', result: rpsLine(ceilingJson), target: '', verdict: '' });
        rows.push({ scenario: 'ceiling: bare Hono answering `select 1`, same Postgres and pool', result: rpsLine(ceiling), target: '', verdict: '' });
        rows.push({ scenario: '/usage throughput as a share of the fixed-JSON ceiling', result: `${(ratioJson * 100).toFixed(0)}%`, target: '≥ 70%', verdict: ratioJson >= 0.7 ? 'ok' : 'MISSED' });
        rows.push({ scenario: '/usage throughput as a share of the `select 1` ceiling', result: `${(ratio * 100).toFixed(0)}%`, target: '≥ 100%', verdict: ratio >= 1 ? 'ok' : 'MISSED' });
      }

      // 6b. The vendor console's pages (the `console` scenario above times the API alone): each
      // page signed in, three times, the median judged (the issue's target: < 300 ms with the
      // benchmark's projects and a month of usage). The month's statements exist by now.
      if (want('console-pages')) {
        const signInPage = await fetch(`${server.url}/console/sign-in`);
        const preCookie = signInPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
        const csrf = /name="csrf" value="([^"]+)"/.exec(await signInPage.text())?.[1] ?? '';
        const signedIn = await fetch(`${server.url}/console/sign-in`, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie: preCookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ csrf, token: ADMIN_TOKEN }).toString(),
        });
        const cookie = signedIn.headers.getSetCookie().find((c) => c.startsWith('console_session='))?.split(';')[0] ?? '';
        const statements = (await (await fetch(`${server.url}/v1/statements?kind=bill&limit=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { data: { id: string }[] };
        const billId = statements.data[0]?.id;
        const consolePages = [
          '/console',
          '/console/usage',
          '/console/usage?customerId=cust-1',
          '/console/usage?projectId=100001',
          `/console/usage/events?projectId=100001&day=${cal.rawDay}`,
          '/console/statements',
          ...(billId === undefined ? [] : [`/console/statements/${billId}`]),
          `/console/reconciliation?month=${cal.month}`,
          '/console/customers',
          '/console/customers/cust-1',
          '/console/licenses?customerId=cust-1',
        ];
        const timings: Record<string, { status: number; medianMs: number }> = {};
        for (const path of consolePages) {
          const times: number[] = [];
          let status = 0;
          for (let i = 0; i < 3; i++) {
            const t0 = performance.now();
            const r = await fetch(`${server.url}${path}`, { headers: { cookie }, redirect: 'manual' });
            await r.text();
            times.push(performance.now() - t0);
            status = r.status;
          }
          times.sort((a, b) => a - b);
          const medianMs = times[1]!;
          timings[path] = { status, medianMs };
          rows.push({
            scenario: `console page: GET ${path}, median of 3`,
            result: `${fmtMs(medianMs)}${status === 200 ? '' : ` (HTTP ${status})`}`,
            target: '< 300 ms',
            verdict: status === 200 && medianMs < 300 ? 'ok' : 'MISSED',
          });
        }
        results.consolePages = timings;
      }

      // 7. Ingestion in batches of 1,000 new events, a few batches in flight.
      if (want('ingestion')) {
        const ingestFrom = dayWindow(cal.ingestDay).fromTs;
        const runId = Date.now().toString(36);
        const bodies = Array.from({ length: s.ingestBatches }, (_, b) =>
          JSON.stringify({
            events: Array.from({ length: 1000 }, (_, i) => {
              const n = b * 1000 + i;
              return { id: `bench-${runId}-${n}`, projectId: String(100_001 + ((n * 7919) % s.projects)), quantity: `${(n % 9) + 1}.25`, occurredAt: ingestFrom + (n % 86_400) };
            }),
          }),
        );
        const bar = createProgress('ingest', { unit: 'batches', plainEveryMs: 5000 });
        let next = 0;
        let accepted = 0;
        let failed = 0;
        const batchMs: number[] = [];
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: s.ingestConcurrency }, async () => {
            while (next < bodies.length) {
              const body = bodies[next++]!;
              const b0 = performance.now();
              const r = await fetch(`${server.url}/v1/usage-events`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body });
              const text = await r.text();
              batchMs.push(performance.now() - b0);
              if (r.status === 200) accepted += (JSON.parse(text) as { accepted: number }).accepted;
              else failed++;
              bar.update(batchMs.length, bodies.length);
            }
          }),
        );
        const ingestS = (performance.now() - t0) / 1000;
        bar.stop();
        batchMs.sort((a, b) => a - b);
        const eventsPerS = accepted / ingestS;
        const p99Batch = batchMs[Math.min(batchMs.length - 1, Math.floor(batchMs.length * 0.99))] ?? 0;
        results.ingestion = { batches: s.ingestBatches, concurrency: s.ingestConcurrency, accepted, failedBatches: failed, seconds: ingestS, eventsPerSecond: eventsPerS, p99BatchMs: p99Batch };
        rows.push({
          scenario: `ingestion, POST /v1/usage-events, ${fmtInt(s.ingestBatches)} batches of 1,000, ${s.ingestConcurrency} in flight`,
          result: `${fmtInt(eventsPerS)} events/s (${fmtInt(accepted)} accepted, ${failed} failed batches, p99 batch ${fmtMs(p99Batch)})`,
          target: '≥ 50,000 events/s',
          verdict: eventsPerS >= 50_000 && failed === 0 ? 'ok' : 'MISSED',
        });
      }

      // 8. What the server holds in memory after all of it.
      const mem = memoryOf(server.child.pid!);
      results.serverMemory = mem;
      rows.push({ scenario: 'server RSS at the end', result: mem ? `${fmtMb(mem.rss)} (peak ${fmtMb(mem.peak)})` : 'n/a', target: '', verdict: '' });
    }
  } finally {
    for (const svc of services.reverse()) await svc.stop().catch(() => {});
    if (!s.keep) {
      const cleanup = await openDatabase({ databaseUrl: s.pgUrl, poolSize: 1 });
      await sql.raw(`drop database if exists ${s.dbName} with (force)`).execute(cleanup.db).catch((err: Error) => say(`could not drop ${s.dbName}: ${err.message}`));
      await cleanup.close();
    }
  }

  const table = renderTable(rows);
  const notes = [
    `machine: ${machineLine(info)}`,
    seedNote,
    'Server: its own process (node bin/start.js, as `npm start` runs it), NODE_ENV=production, request log on (to /dev/null), pool of 10; ' +
      'load from autocannon and the poller in the benchmark process; PostgreSQL on the same machine with its default settings. ' +
      'Steady runs send one request every 1/rate s on keep-alive connections (open loop, evenly paced; latency from write to the end ' +
      'of the body); maximum-throughput runs are autocannon, closed loop. First pages measured once each, after a warm-up of 100 pages of another day of the month.',
  ];
  process.stdout.write(`\n${table}\n\n${notes.join('\n\n')}\n`);
  const missed = rows.filter((r) => r.verdict === 'MISSED').map((r) => r.scenario);
  if (missed.length > 0) process.stdout.write(`\ntargets missed: ${missed.length} (${missed.join('; ')})\n`);

  mkdirSync(s.outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(s.outDir, `${stamp}-${s.gate ? 'gate' : 'bench'}.json`);
  const { pgUrl: _pgUrl, ...shown } = s;
  writeFileSync(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), mode: s.gate ? 'gate' : 'bench', machine: info, settings: shown, calendar: cal.month, results, rows, table, notes, gateFailures }, null, 2)}\n`,
  );
  process.stdout.write(`results: ${file}\n`);

  if (s.gate) {
    if (gateFailures.length > 0) {
      process.stdout.write(`\nLOAD GATE FAILED (steady ${s.rate} req/s on /usage and /bill, and Agora's poll during the abuse run, must have no error and p99 < ${GATE_P99_MS} ms):\n${gateFailures.map((f) => `  ${f}`).join('\n')}\n`);
      return 1;
    }
    process.stdout.write(`\nload gate passed: steady ${s.rate} req/s on /usage and /bill and Agora's poll during the abuse run, no errors, p99 < ${GATE_P99_MS} ms\n`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
