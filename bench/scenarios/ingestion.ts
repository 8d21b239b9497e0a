import { dayWindow } from '../../src/cli/poller/poller.ts';
import { createProgress } from '../../src/cli/progress.ts';
import { backendCpu, backendCpuUsed, cpuMsOf } from '../processes.ts';
import { fmtInt, fmtMs } from '../report.ts';
import type { Scenario } from './context.ts';
import { quiet } from './first-pages.ts';

/** Why a batch was not answered 200: its status and error code, as the server answered them. */
function failureOf(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { code?: string } };
    return `${status} ${body.error?.code ?? 'no code'}`;
  } catch {
    return `${status} ${text.slice(0, 60)}`;
  }
}

/** Ingestion in batches of 1,000 new events (on a day no other scenario reads), a few batches in flight. */
export const ingestionScenario: Scenario = {
  name: 'ingestion',
  needs: [],
  phase: 'server',
  async run(ctx) {
    const { s, server } = ctx;
    const ingestFrom = dayWindow(ctx.cal.ingestDay).fromTs;
    const runId = Date.now().toString(36);
    const bodies = Array.from({ length: s.ingestBatches }, (_, b) =>
      JSON.stringify({
        events: Array.from({ length: 1000 }, (_, i) => {
          const n = b * 1000 + i;
          return { id: `bench-${runId}-${n}`, projectId: String(100_001 + ((n * 7919) % s.projects)), quantity: `${(n % 9) + 1}.25`, occurredAt: ingestFrom + (n % 86_400) };
        }),
      }),
    );
    // Not while the statements the first pages fixed are still numbered in the background: run
    // right after them (`--only first-pages,ingestion`), that numbering took a third of the rate.
    await quiet(ctx);
    const bar = createProgress('ingest', { unit: 'batches', plainEveryMs: 5000 });
    let next = 0;
    let accepted = 0;
    let failed = 0;
    const failures: Record<string, number> = {};
    const failedBodies: string[] = [];
    const batchMs: number[] = [];
    const serverCpu0 = cpuMsOf(server.child.pid!);
    const dbCpu0 = await backendCpu(ctx.dbUrl);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: s.ingestConcurrency }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const b0 = performance.now();
          const r = await fetch(`${server.url}/v1/usage-events`, { method: 'POST', headers: { authorization: `Bearer ${ctx.adminToken}`, 'content-type': 'application/json' }, body });
          const text = await r.text();
          batchMs.push(performance.now() - b0);
          if (r.status === 200) accepted += (JSON.parse(text) as { accepted: number }).accepted;
          else {
            failed++;
            const why = failureOf(r.status, text);
            failures[why] = (failures[why] ?? 0) + 1;
            failedBodies.push(body);
          }
          bar.update(batchMs.length, bodies.length);
        }
      }),
    );
    const ingestS = (performance.now() - t0) / 1000;
    bar.stop();
    // CPU per batch of each side, which the machine's other load does not change as much as the
    // rate: the server process, and the database's backends (the server's connections).
    const serverCpu1 = cpuMsOf(server.child.pid!);
    const dbCpu1 = await backendCpu(ctx.dbUrl);
    const dbCpuMs = backendCpuUsed(dbCpu0, dbCpu1);
    const serverCpuMs = serverCpu0 !== null && serverCpu1 !== null ? serverCpu1 - serverCpu0 : null;
    const perBatch = (ms: number | null) => (ms === null ? 'n/a' : `${fmtMs(ms / s.ingestBatches)}`);
    // A failed batch is sent again as a client would: every event is accepted or a duplicate (a
    // batch answered 503 past its deadline may have been stored all the same), none is lost.
    const resent = { accepted: 0, duplicates: 0, rejected: 0, failedAgain: 0 };
    for (const body of failedBodies) {
      const r = await fetch(`${server.url}/v1/usage-events`, { method: 'POST', headers: { authorization: `Bearer ${ctx.adminToken}`, 'content-type': 'application/json' }, body });
      const text = await r.text();
      if (r.status !== 200) {
        resent.failedAgain++;
        continue;
      }
      const answer = JSON.parse(text) as { accepted: number; duplicates: number; rejected: number };
      resent.accepted += answer.accepted;
      resent.duplicates += answer.duplicates;
      resent.rejected += answer.rejected;
    }
    batchMs.sort((a, b) => a - b);
    const eventsPerS = accepted / ingestS;
    const p99Batch = batchMs[Math.min(batchMs.length - 1, Math.floor(batchMs.length * 0.99))] ?? 0;
    ctx.record('ingestion', {
      batches: s.ingestBatches,
      concurrency: s.ingestConcurrency,
      accepted,
      failedBatches: failed,
      failures,
      resent,
      seconds: ingestS,
      eventsPerSecond: eventsPerS,
      p99BatchMs: p99Batch,
      serverCpuMs,
      databaseCpuMs: dbCpuMs,
    });
    const failedText = failed === 0 ? '' : ` (${Object.entries(failures).map(([why, n]) => `${n} × ${why}`).join(', ')}; sent again: ${fmtInt(resent.accepted)} accepted, ${fmtInt(resent.duplicates)} duplicates, ${resent.rejected} rejected, ${resent.failedAgain} failed again)`;
    return [
      {
        scenario: `ingestion, POST /v1/usage-events, ${fmtInt(s.ingestBatches)} batches of 1,000, ${s.ingestConcurrency} in flight`,
        result: `${fmtInt(eventsPerS)} events/s (${fmtInt(accepted)} accepted, ${failed} failed batches${failedText}, p99 batch ${fmtMs(p99Batch)}; CPU per batch: server ${perBatch(serverCpuMs)}, database ${perBatch(dbCpuMs)})`,
        target: '≥ 50,000 events/s',
        verdict: eventsPerS >= 50_000 && failed === 0 ? 'ok' : 'MISSED',
      },
    ];
  },
};
