import { sql } from 'kysely';
import { createProgress } from '../../src/cli/progress.ts';
import { openDatabase } from '../../src/db/database.ts';
import { abuse, type AbuseResult } from '../abuse.ts';
import { paced, type PacedResult } from '../load.ts';
import { memoryOf } from '../processes.ts';
import { fmtInt, fmtMb } from '../report.ts';
import type { Scenario } from './context.ts';
import { licenseCallers, licensePaths, steadyRow, usagePaths } from './server.ts';

/**
 * Agora's poll while one customer abuses the license API within its rate limit: a large whitelist
 * exported 8 times a second (every other client leaving after the first chunk) and 2 deep-page
 * jumps a second, all with that project's own credentials. The issue this answers: 6 of 10 Agora
 * requests failed under exactly this before exports were streamed and gated.
 */
export const abuseScenario: Scenario = {
  name: 'abuse',
  needs: ['usage', 'licenses'],
  phase: 'server',
  async run(ctx) {
    const { s, server } = ctx;
    if (s.abuseSeconds === 0 || s.whitelist === 0) return [];
    const abuser = (await licenseCallers(ctx))[0]!;
    const seeding = await openDatabase({ databaseUrl: ctx.dbUrl, poolSize: 1, statementTimeoutMs: 0 });
    try {
      await sql`insert into license_pads (project_id, customer_id, license_key)
                select ${abuser.project_id}::bigint, ${abuser.customer_id}, 'wl-' || lpad(g::text, 9, '0') from generate_series(1, ${s.whitelist}) g
                on conflict do nothing`.execute(seeding.db);
      await sql`vacuum analyze license_pads`.execute(seeding.db);
    } finally {
      await seeding.close();
    }
    const mixed = [...licensePaths(ctx).slice(0, 50), ...usagePaths(ctx).slice(0, 50)];
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
    ctx.record('agoraDuringAbuse', { agora: agoraDuring, abuse: abused, whitelist: s.whitelist, serverMemory: memDuring });
    const abuseRow = steadyRow(
      ctx,
      `Agora's poll (license + /usage, ${s.rate} req/s, ${s.abuseSeconds} s) while one customer exports a ${fmtInt(s.whitelist)}-key whitelist 8/s and jumps to deep pages 2/s`,
      agoraDuring,
      'Agora during abuse',
    );
    abuseRow.target = 'p99 < 500 ms, no errors';
    abuseRow.verdict = agoraDuring.errors === 0 && agoraDuring.p99 < 500 ? 'ok' : 'MISSED';
    abuseRow.result +=
      ` (exports: ${fmtInt(abused.exportsStarted)} started, ${fmtInt(abused.exportsCompleted)} read to the end, ${fmtInt(abused.exportsAbandoned)} abandoned; ` +
      `answers to the abuser: ${Object.entries(abused.statuses).map(([code, n]) => `${fmtInt(n)} × HTTP ${code}`).join(', ')}; server RSS ${memDuring ? fmtMb(memDuring.rss) : 'n/a'})`;
    return [abuseRow];
  },
};
