import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error: plain JavaScript (it runs before anything is built), without types.
import { ensureBuilt } from '../../bin/build.js';
import { fmtMb, fmtMs, type Row } from '../report.ts';
import { measureStart, type StartResult } from '../start.ts';
import type { Scenario } from './context.ts';

/**
 * Starts, each a fresh process from `npm start`, before anything else runs: on this PostgreSQL
 * database (seeded and migrated), and on the embedded database in a new folder: its first start
 * creates the database, the next opens it, as every later start does.
 */
export const startScenario: Scenario = {
  name: 'start',
  needs: [],
  phase: 'before-server',
  async run(ctx) {
    ensureBuilt();
    const startEnv = { AGORA_API_KEY: ctx.key.apiKey, AGORA_API_SECRET: ctx.key.apiSecret, ADMIN_TOKEN: ctx.adminToken };
    const pgStarts: StartResult[] = [];
    for (let i = 0; i < 3; i++) pgStarts.push(await measureStart({ ...startEnv, DATABASE_URL: ctx.dbUrl }));
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-bench-embedded-'));
    let embeddedFirst: StartResult;
    const embeddedStarts: StartResult[] = [];
    try {
      embeddedFirst = await measureStart({ ...startEnv, DATA_DIR: dataDir });
      for (let i = 0; i < 3; i++) embeddedStarts.push(await measureStart({ ...startEnv, DATA_DIR: dataDir }));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    ctx.record('start', { postgres: pgStarts, embeddedFirst, embedded: embeddedStarts });
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
    return [
      startRow('start: `npm start` to the first /healthz, and the server process RSS 1 s later, on PostgreSQL', pgStarts, 1000, 120),
      startRow('the same, embedded database (an existing folder)', embeddedStarts, 3000, 300),
      {
        scenario: 'the same, embedded database, first start (creates the database)',
        result: `${fmtMs(embeddedFirst.ms)}; RSS ${embeddedFirst.rss === null ? 'n/a' : fmtMb(embeddedFirst.rss)}`,
        target: '',
        verdict: '',
      },
    ];
  },
};
