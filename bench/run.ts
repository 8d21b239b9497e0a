import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dropDatabase, freshDatabase, seedFor, withDatabase } from './prepare.ts';
import { ROOT, type Service } from './processes.ts';
import { fmtInt, machine, machineLine, renderTable, type Row } from './report.ts';
import { abuseScenario } from './scenarios/abuse.ts';
import { activationScenario } from './scenarios/activation.ts';
import { consolePagesScenario } from './scenarios/console-pages.ts';
import { consoleScenario } from './scenarios/console.ts';
import { ADMIN_TOKEN, GATE_P99_MS, KEY, type BenchContext, type Need, type Scenario } from './scenarios/context.ts';
import { firstPagesScenario } from './scenarios/first-pages.ts';
import { ingestionScenario } from './scenarios/ingestion.ts';
import { pollsScenario } from './scenarios/polls.ts';
import { serverMemoryRows, startServerUnderTest } from './scenarios/server.ts';
import { startScenario } from './scenarios/start.ts';
import { steadyScenario } from './scenarios/steady.ts';
import { throughputScenario } from './scenarios/throughput.ts';
import { calendar, settings } from './settings.ts';

/**
 * The scenarios, in the order they run (`--only` picks some by name): one line each. A new one is a
 * module exporting a `Scenario` (bench/scenarios/context.ts) that returns its rows.
 */
const SCENARIOS: Scenario[] = [
  startScenario,
  consoleScenario,
  firstPagesScenario,
  pollsScenario,
  steadyScenario,
  activationScenario,
  abuseScenario,
  throughputScenario,
  consolePagesScenario,
  ingestionScenario,
];

async function main(): Promise<number> {
  const s = settings(
    process.argv.slice(2),
    process.env,
    SCENARIOS.map((sc) => sc.name),
  );
  const cal = calendar();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  if (!/^[a-z_][a-z0-9_]*$/.test(s.dbName)) throw new Error('--db-name must be a plain lower-case identifier');

  const postgresVersion = await freshDatabase(s);
  const dbUrl = withDatabase(s.pgUrl, s.dbName);
  const info = machine(postgresVersion, ROOT);
  say(`machine: ${machineLine(info)}`);
  say(`scale: ${fmtInt(s.projects)} projects, ${fmtInt(s.customers)} customers, ${fmtInt(s.events)} events a day, month ${cal.month}${s.gate ? ' (gate)' : ''}`);

  const services: Service[] = [];
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  const gateFailures: string[] = [];
  let seedNote = '';
  const chosen = SCENARIOS.filter((sc) => s.only === null || s.only.has(sc.name));
  const ctx: BenchContext = {
    s,
    cal,
    dbUrl,
    key: KEY,
    adminToken: ADMIN_TOKEN,
    record: (name, value) => {
      results[name] = value;
    },
    gateFailed: (line) => gateFailures.push(line),
    services,
    say,
  };
  try {
    const seeded = await seedFor(s, cal, dbUrl, new Set<Need>(chosen.flatMap((sc) => sc.needs)), say);
    seedNote = seeded.note;
    results.seed = seeded.result;
    for (const sc of chosen) if (sc.phase === 'before-server') rows.push(...(await sc.run(ctx)));
    if (chosen.some((sc) => sc.phase === 'server')) {
      const served = await startServerUnderTest(ctx);
      for (const sc of SCENARIOS) {
        if (sc.phase !== 'server') continue;
        if (chosen.includes(sc)) rows.push(...(await sc.run(served)));
        else if (sc.always) await sc.run({ ...served, record: () => {} });
      }
      rows.push(...serverMemoryRows(served));
    }
  } finally {
    for (const svc of services.reverse()) await svc.stop().catch(() => {});
    await dropDatabase(s, say);
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
