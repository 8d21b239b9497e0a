import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { agoraGetUrl } from '../src/cli/poller/poller.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatestOrThrow } from '../src/db/migrate.ts';
// @ts-expect-error: plain JavaScript (it runs before anything is built), without types.
import { ensureBuilt } from '../bin/build.js';
import { paced, type PacedRequest, type PacedResult } from './load.ts';
import { extraServerEnv, loopLag, startService } from './processes.ts';

/**
 * The extension API under its target load (issue 11): a steady `rate` requests/s, 10% joins and
 * 90% heartbeats, with `sessions` live sessions seeded, while Agora's license query runs at 20 req/s
 * beside it. Targets: join p99 < 20 ms, heartbeat p99 < 10 ms, the license query p99 < 500 ms.
 *
 *   npm run bench:runtime -- [--sessions 100000] [--projects 1000] [--rate 500] [--seconds 30]
 *                            [--pg-url postgres://postgres@127.0.0.1:5432/DB] [--db-name NAME]
 *
 * Works in a schema of its own (`bench_runtime`, dropped first and afterwards) of the database of
 * --pg-url (default BENCH_PG_URL); `--db-name` names another database on the same server instead of
 * the URL's (on a shared server, one of your own: two runs in one database drop each other's schema).
 */
const KEY = { apiKey: 'BenchKey0123456789abcdefghijklmn', apiSecret: 'bench-secret-not-for-production-0001' };
const SCHEMA = 'bench_runtime';

const { values } = parseArgs({
  options: { sessions: { type: 'string' }, projects: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, 'pg-url': { type: 'string' }, 'db-name': { type: 'string' } },
});
const int = (v: string | undefined, d: number) => (v === undefined ? d : Number.parseInt(v, 10));
const sessions = int(values.sessions, 100_000);
const projects = int(values.projects, 1000);
const rate = int(values.rate, 500);
const seconds = int(values.seconds, 30);
const pgUrl = withDbName(values['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', values['db-name']);

function withDbName(url: string, name: string | undefined): string {
  if (name === undefined) return url;
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}
const say = (m: string) => process.stdout.write(`${m}\n`);

async function main() {
  await ensureBuilt();
  const admin = await openDatabase({ databaseUrl: pgUrl, poolSize: 1 });
  await sql`drop schema if exists ${sql.id(SCHEMA)} cascade`.execute(admin.db);
  await sql`create schema ${sql.id(SCHEMA)}`.execute(admin.db);
  await admin.close();
  const database = await openDatabase({ databaseUrl: pgUrl, schema: SCHEMA, poolSize: 2, statementTimeoutMs: 0 });
  const creds: { appKey: string; appSecret: string }[] = [];
  let ids: { id: string; project: number }[] = [];
  try {
    await migrateToLatestOrThrow(database.db);
    const t0 = performance.now();
    const db = database.db;
    // 10 projects per customer; one license per project (device dev-<p>); sessions spread over them.
    await sql`insert into customers (customer_id, plan_id) select 'c-' || (g / 10), 'basic' from generate_series(0, ${projects - 1}::int) g group by g / 10`.execute(db);
    for (let p = 0; p < projects; p++) creds.push({ appKey: randomBytes(16).toString('hex'), appSecret: randomBytes(24).toString('hex') });
    await db
      .insertInto('projects')
      .values(creds.map((c, p) => ({ project_id: String(p + 1), customer_id: `c-${Math.floor(p / 10)}`, app_key: c.appKey, app_secret: c.appSecret })))
      .execute();
    await sql`insert into license_skus (sku_id, product, name, media_type, minutes, period) values ('rt', 2, 'runtime bench', 3, 1000000, null)`.execute(db);
    await sql`insert into license_pids (pid, sku_id, category, type, validity_months) values ('RT-PID', 'rt', 'device', 'commercial', 12)`.execute(db);
    await sql`insert into licenses (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
      select 'LIC-' || p.project_id, p.customer_id, p.project_id, 'RT-PID', 'dev-' || p.project_id, now() - interval '1 day', now() + interval '300 days' from projects p`.execute(db);
    await sql`insert into ext_sessions (id, customer_id, project_id, license_id, license_key, media, platform, heartbeat_seconds, started_at, last_seen_at, live_until)
      select gen_random_uuid(), l.customer_id, l.project_id, l.id, l.license_key, 'audio', 'android', 3600, date_trunc('second', now()), date_trunc('second', now()), date_trunc('second', now()) + interval '2 hours'
      from generate_series(1, ${sessions}::int) g join licenses l on l.project_id = 1 + (g % ${projects}::int)`.execute(db);
    // Their sweep schedule, as a join writes it (migrations/20261202110000-runtime-hot-heartbeat.ts).
    await sql`insert into ext_session_sweeps (session_seq, customer_id, project_id, sweep_at) select seq, customer_id, project_id, live_until from ext_sessions`.execute(db);
    await sql`insert into ext_limits (scope, scope_id, pcu, live) select 'customer', customer_id, 10000000, count(*) from ext_sessions group by customer_id`.execute(db);
    await sql`insert into ext_limits (scope, scope_id, pcu, live) select 'project', project_id::text, null, count(*) from ext_sessions group by project_id`.execute(db);
    ids = (await sql<{ id: string; project: string }>`select id::text, project_id::text as project from ext_sessions order by random() limit 20000`.execute(db)).rows.map((r) => ({
      id: r.id,
      project: Number(r.project),
    }));
    await sql`vacuum analyze`.execute(db);
    say(`seeded ${sessions} live sessions over ${projects} projects in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await database.close();
  }

  const url = new URL(pgUrl);
  url.searchParams.set('options', `-c search_path=${SCHEMA}`);
  try {
    await underLoad(url, creds, ids);
  } finally {
    const cleanup = await openDatabase({ databaseUrl: pgUrl, poolSize: 1 });
    await sql`drop schema if exists ${sql.id(SCHEMA)} cascade`.execute(cleanup.db);
    await cleanup.close();
  }
}

/** The mix against the server under test, then the same run's yardstick. */
async function underLoad(url: URL, creds: readonly { appKey: string; appSecret: string }[], ids: readonly { id: string; project: number }[]) {
  const server = await startService(
    'bin/start.js',
    { DATABASE_URL: url.toString(), NODE_ENV: 'production', AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret, ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef', LOG_LEVEL: 'silent', EXT_HEARTBEAT_SECONDS: '3600', ...extraServerEnv() },
    '/readyz',
  );
  let heartbeatP99 = 0;
  let joinP99 = 0;
  try {
    const auth = (p: number) => `Basic ${Buffer.from(`${creds[p - 1]!.appKey}:${creds[p - 1]!.appSecret}`).toString('base64')}`;
    const request = (k: number): PacedRequest => {
      if (k % 10 === 0) {
        const p = 1 + (k % projects);
        return {
          kind: 'join',
          method: 'POST',
          path: '/ext/v1/sessions',
          headers: { authorization: auth(p), 'content-type': 'application/json' },
          body: JSON.stringify({ license: `LIC-${p}`, licenseKey: `dev-${p}`, media: 'audio', platform: 'android' }),
        };
      }
      const s = ids[k % ids.length]!;
      return { kind: 'heartbeat', method: 'POST', path: `/ext/v1/sessions/${s.id}/heartbeat`, headers: { authorization: auth(s.project) } };
    };
    // One at a time first: the latency of each kind with nothing else running.
    for (const kind of ['heartbeat', 'join'] as const) {
      const times: number[] = [];
      for (let k = 0; k < 100; k++) {
        const r = request(kind === 'join' ? k * 10 : k * 10 + 1);
        const t0 = performance.now();
        const res = await fetch(`${server.url}${r.path}`, { method: r.method, headers: r.headers ?? {}, ...(r.body === undefined ? {} : { body: r.body }) });
        await res.arrayBuffer();
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      say(`${kind}, one at a time: p50 ${times[49]!.toFixed(1)} ms, p99 ${times[98]!.toFixed(1)} ms`);
    }
    {
      // Agora's license query one at a time, as a yardstick of how busy the machine is.
      const times: number[] = [];
      for (let k = 0; k < 100; k++) {
        const u = new URL(agoraGetUrl(server.url, `/customers/c-${k % Math.max(1, Math.floor(projects / 10))}/license`, { apiKey: KEY.apiKey }, KEY.apiSecret));
        const t0 = performance.now();
        await (await fetch(u)).arrayBuffer();
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      say(`Agora's license query, one at a time: p50 ${times[49]!.toFixed(1)} ms, p99 ${times[98]!.toFixed(1)} ms`);
    }
    // A warm-up: every project's credentials into the server's memory, and the JIT.
    await paced({ url: server.url, paths: [], seconds: Math.min(5, seconds), rate: Math.min(rate, 200), request, timeoutMs: 5000 });
    const licensePaths = Array.from({ length: Math.min(100, projects / 10) }, (_, i) => {
      const u = new URL(agoraGetUrl(server.url, `/customers/c-${i}/license`, { apiKey: KEY.apiKey }, KEY.apiSecret));
      return `${u.pathname}${u.search}`;
    });
    // CPU time per request of the server and of the database's backends (Linux /proc): what the
    // requests cost, which the machine's other load changes far less than their latencies.
    const backends = await openDatabase({ databaseUrl: pgUrl, poolSize: 1 });
    await loopLag(server.url); // starts the server's event-loop delay histogram afresh
    const served0 = await servedTimes(server.url);
    const pg0 = await databaseWork(backends.db);
    const cpu0 = { server: cpuMs(server.child.pid), db: await dbCpuMs(backends.db) };
    const [mix, agora] = await Promise.all([
      paced({ url: server.url, paths: [], seconds, rate, request, timeoutMs: 5000 }),
      paced({ url: server.url, paths: licensePaths, seconds, rate: 20, timeoutMs: 5000 }),
    ]);
    const cpu1 = { server: cpuMs(server.child.pid), db: await dbCpuMs(backends.db) };
    const lag = await loopLag(server.url);
    const served1 = await servedTimes(server.url);
    const pg1 = await databaseWork(backends.db);
    await backends.close();
    if (!mix.byKind.join || !mix.byKind.heartbeat) throw new Error(`no answers: ${mix.errors} errors, ${mix.timeouts} timeouts; server: ${server.errors().slice(-2000)}`);
    const line = (name: string, r: { requests: number; p50: number; p99: number; max: number }, target: string) =>
      say(`${name.padEnd(44)} ${String(r.requests).padStart(6)} req  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  max ${r.max.toFixed(1)} ms   target ${target}`);
    say(`\nsteady ${rate} req/s for ${seconds} s, ${sessions} live sessions (send lag p99 ${mix.sendLagP99.toFixed(1)} ms), statuses ${JSON.stringify(mix.statuses)}`);
    say(`load average at the end (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')}; database ${new URL(pgUrl).pathname.slice(1)}`);
    line('join (POST /ext/v1/sessions)', mix.byKind.join!, 'p99 < 20 ms');
    line('heartbeat (POST /ext/v1/sessions/{id}/heartbeat)', mix.byKind.heartbeat!, 'p99 < 10 ms');
    line("Agora's license query beside it, 20 req/s", agora as PacedResult, 'p99 < 500 ms');
    const sent = mix.requests + agora.requests;
    if (cpu0.server !== null && cpu1.server !== null && sent > 0) {
      say(`CPU per request sent: server ${((cpu1.server - cpu0.server) / sent).toFixed(3)} ms, database ${((cpu1.db - cpu0.db) / sent).toFixed(3)} ms (${sent} sent)`);
    }
    say(`errors: mix ${mix.errors} (timeouts ${mix.timeouts}), license query ${agora.errors}`);
    // The server's own times (from its first middleware to the answer): a slow answer the server
    // served fast waited outside it (the load generator's process, the machine).
    for (const [kind, route] of [['join', '/ext/v1/sessions'], ['heartbeat', '/ext/v1/sessions/:sessionId/heartbeat']] as const) {
      const n = (le: string) => (served1.get(`${route} ${le}`) ?? 0) - (served0.get(`${route} ${le}`) ?? 0);
      const all = n('+Inf');
      if (all > 0) say(`${kind}, as the server timed it: ${all} answered, over 10 ms ${all - n('0.01')}, over 25 ms ${all - n('0.025')}, over 50 ms ${all - n('0.05')}, over 100 ms ${all - n('0.1')}`);
    }
    // Where a slow answer's time went: the server's event loop held, or the database's own work.
    say(
      `meanwhile: the server's event loop delayed p99 ${lag ? lag.p99Ms.toFixed(1) : '?'} ms, max ${lag ? lag.maxMs.toFixed(1) : '?'} ms; ` +
        `the database ran ${pg1.checkpoints - pg0.checkpoints} checkpoints, ${pg1.autovacuums - pg0.autovacuums} autovacuums and ${pg1.autoanalyzes - pg0.autoanalyzes} autoanalyzes of the bench's tables`,
    );
    heartbeatP99 = mix.byKind.heartbeat!.p99;
    joinP99 = mix.byKind.join!.p99;
  } finally {
    await server.stop();
  }
  {
    // The yardstick of the same run: a bare Hono app answering from `select 1` on the same database,
    // at the same rate, with the server under test stopped. What the machine gives any request that
    // asks the database once at this rate; the ratios say how far above it the extension API is,
    // which a faster or slower machine changes far less than the milliseconds.
    const ceiling = await startService('bench/ceiling-server.ts', { DATABASE_URL: url.toString() }, '/');
    try {
      await paced({ url: ceiling.url, paths: ['/'], seconds: Math.min(5, seconds), rate: Math.min(rate, 200), timeoutMs: 5000 });
      const c = await paced({ url: ceiling.url, paths: ['/'], seconds, rate: rate + 20, timeoutMs: 5000 });
      say(
        `ceiling, same run: bare Hono answering \`select 1\` at ${rate + 20} req/s   ${String(c.requests).padStart(6)} req  p50 ${c.p50.toFixed(1)} ms  p99 ${c.p99.toFixed(1)} ms  max ${c.max.toFixed(1)} ms  (${c.errors} errors)`,
      );
      if (c.p99 > 0) say(`p99 over the ceiling's p99: heartbeat ${(heartbeatP99 / c.p99).toFixed(2)}×, join ${(joinP99 / c.p99).toFixed(2)}×`);
    } finally {
      await ceiling.stop();
    }
  }
}

/** The server's histogram of answered requests: `route le` to the count of 2xx answers within `le` seconds. */
async function servedTimes(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const r = await fetch(`${url}/metrics`);
  if (r.status !== 200) return out;
  for (const m of (await r.text()).matchAll(/^http_request_duration_seconds_bucket\{([^}]*)\} (\d+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (labels.method !== 'POST' || !labels.status?.startsWith('2')) continue;
    const key = `${labels.route} ${labels.le}`;
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

/** Checkpoints of the database server, and automatic vacuums and analyzes of the bench's tables, so far. */
async function databaseWork(db: Awaited<ReturnType<typeof openDatabase>>['db']) {
  const r = await sql<{ checkpoints: string; autovacuums: string; autoanalyzes: string }>`
    select (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter)::text as checkpoints,
           coalesce(sum(autovacuum_count), 0)::text as autovacuums, coalesce(sum(autoanalyze_count), 0)::text as autoanalyzes
    from pg_stat_user_tables where schemaname = ${SCHEMA}`.execute(db);
  const row = r.rows[0]!;
  return { checkpoints: Number(row.checkpoints), autovacuums: Number(row.autovacuums), autoanalyzes: Number(row.autoanalyzes) };
}

/** User + system CPU of a process so far, in ms (null where /proc is not there). */
function cpuMs(pid: number | undefined): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

/** The same, summed over the backends connected to the benchmark's database (the server's pool). */
async function dbCpuMs(db: Awaited<ReturnType<typeof openDatabase>>['db']): Promise<number> {
  const r = await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.execute(db);
  return r.rows.reduce((n, { pid }) => n + (cpuMs(pid) ?? 0), 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
