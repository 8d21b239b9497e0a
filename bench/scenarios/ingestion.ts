import { dayWindow } from '../../src/cli/poller/poller.ts';
import { createProgress } from '../../src/cli/progress.ts';
import { fmtInt, fmtMs } from '../report.ts';
import type { Scenario } from './context.ts';

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
          const r = await fetch(`${server.url}/v1/usage-events`, { method: 'POST', headers: { authorization: `Bearer ${ctx.adminToken}`, 'content-type': 'application/json' }, body });
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
    ctx.record('ingestion', { batches: s.ingestBatches, concurrency: s.ingestConcurrency, accepted, failedBatches: failed, seconds: ingestS, eventsPerSecond: eventsPerS, p99BatchMs: p99Batch });
    return [
      {
        scenario: `ingestion, POST /v1/usage-events, ${fmtInt(s.ingestBatches)} batches of 1,000, ${s.ingestConcurrency} in flight`,
        result: `${fmtInt(eventsPerS)} events/s (${fmtInt(accepted)} accepted, ${failed} failed batches, p99 batch ${fmtMs(p99Batch)})`,
        target: '≥ 50,000 events/s',
        verdict: eventsPerS >= 50_000 && failed === 0 ? 'ok' : 'MISSED',
      },
    ];
  },
};
