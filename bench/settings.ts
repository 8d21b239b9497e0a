import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './processes.ts';
import { monthDays } from './seed.ts';

/** The month of the second, smaller bill (no other scenario uses it; the seeded plans are in force from 2020). */
/**
 * Months seeded with the benchmark month's first smallMonthProjects projects: the first bill page
 * at a tenth of the scale, in the same run. Each first page can be asked once only, so the small
 * side of the ratio is the median of three, not one sample a busy moment can make fast or slow.
 */
export const SMALL_MONTHS = ['2021-01', '2021-02', '2021-03'] as const;
/** How the small months are named in the table. */
export const SMALL_MONTH = `${SMALL_MONTHS[0]}…${SMALL_MONTHS[SMALL_MONTHS.length - 1]}, median of ${SMALL_MONTHS.length}`;

const help = (scenarios: readonly string[]) => `npm run bench [-- options]      the benchmark (see docs/benchmark.md)
npm run bench:gate               the CI load gate: a small scale, exit 1 when a gate fails

Seeds a fresh database on the given PostgreSQL server, starts the server as its own process and
runs every scenario against it, prints one table and writes bench/results/<time>-<mode>.json.

Options (each also as an environment variable, e.g. BENCH_PROJECTS=5000)
  --projects N               projects (default 100000; gate 5000)
  --customers N              customers (default projects / 10)
  --events N                 usage events in one day (default 1000000; gate 50000)
  --month-raw-per-day N      event rows stored for each other day of the month (default events / 50)
  --small-month-projects N   projects with usage in three more months (${SMALL_MONTHS.join(', ')}), whose first bill page is
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
  --only LIST                run only these scenarios, comma-separated, of: ${scenarios.join(', ')}
                             (e.g. --only first-pages,start); only the data they need is seeded
  --gate                     the CI gate: small defaults, and exit 1 when a steady run on /usage or
                             /bill, or Agora's poll during the abuse run, has any error or a p99 of
                             500 ms or more`;

export interface Settings {
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
  only: Set<string> | null;
}

/** The flags and BENCH_* variables; `scenarios`: the names `--only` accepts, in the order they run. */
export function settings(argv: string[], env: NodeJS.ProcessEnv, scenarios: readonly string[]): Settings {
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
    process.stdout.write(`${help(scenarios)}\n`);
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
  let only: Set<string> | null = null;
  if (onlyText) {
    const names = onlyText.split(',').map((n) => n.trim()).filter((n) => n !== '');
    const unknown = names.filter((n) => !scenarios.includes(n));
    if (unknown.length > 0 || names.length === 0) throw new Error(`--only takes scenarios of: ${scenarios.join(', ')} (unknown: ${unknown.join(', ') || 'none given'})`);
    only = new Set(names);
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
export function calendar(now = new Date()) {
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

export type Calendar = ReturnType<typeof calendar>;
