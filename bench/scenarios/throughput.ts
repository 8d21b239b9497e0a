import { backendCpu, backendCpuUsed, cpuMsOf, startService, type Service } from '../processes.ts';
import { fmtInt, fmtMs } from '../report.ts';
import type { Scenario } from './context.ts';
import { timedLoad, usagePaths } from './server.ts';

/**
 * Maximum throughput: signed /usage pages (fixed, so cached), then in the same run the two ceilings
 * of a bare Hono app on the same Node HTTP server: a fixed JSON body (what no endpoint can beat),
 * and `select 1` through the same Postgres and pool (what none that asks the database can beat).
 */
export const throughputScenario: Scenario = {
  name: 'throughput',
  needs: ['usage'],
  phase: 'server',
  async run(ctx) {
    const { s } = ctx;
    // CPU per request of the serving process and of the database's backends: on a machine other
    // work shares, closed-loop maximums swing with it, CPU per request much less.
    const measured = async (service: Service, run: () => Promise<Awaited<ReturnType<typeof timedLoad>>>) => {
      const cpu0 = cpuMsOf(service.child.pid!);
      const db0 = await backendCpu(ctx.dbUrl);
      const r = await run();
      const cpu1 = cpuMsOf(service.child.pid!);
      const dbMs = backendCpuUsed(db0, await backendCpu(ctx.dbUrl));
      const perRequestUs = (ms: number | null) => (ms === null || r.requests === 0 ? null : (ms * 1000) / r.requests);
      return { ...r, serverCpuUsPerRequest: perRequestUs(cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null), databaseCpuUsPerRequest: perRequestUs(dbMs) };
    };
    const maxUsage = await measured(ctx.server, () => timedLoad(ctx, 'max /usage', { paths: usagePaths(ctx), seconds: s.throughputSeconds, connections: s.connections }));
    const ceilingService = await startService('bench/ceiling-server.ts', { DATABASE_URL: ctx.dbUrl }, '/');
    ctx.services.push(ceilingService);
    const ceilingJson = await measured(ceilingService, () => timedLoad(ctx, 'max fixed JSON', { url: ceilingService.url, paths: ['/json'], seconds: s.throughputSeconds, connections: s.connections }));
    const ceiling = await measured(ceilingService, () => timedLoad(ctx, 'max select 1', { url: ceilingService.url, paths: ['/'], seconds: s.throughputSeconds, connections: s.connections }));
    await ceilingService.stop();
    const ratio = maxUsage.rps / ceiling.rps;
    const ratioJson = maxUsage.rps / ceilingJson.rps;
    ctx.record('throughput', { usage: maxUsage, ceiling, ceilingJson, ratio, ratioJson });
    const us = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(0)} µs`);
    const rpsLine = (r: typeof maxUsage) =>
      `${fmtInt(r.rps)} req/s (p99 ${fmtMs(r.p99)}, ${fmtInt(r.errors)} errors; CPU per request: server ${us(r.serverCpuUsPerRequest)}, database ${us(r.databaseCpuUsPerRequest)})`;
    return [
      { scenario: `max throughput, signed GET /usage pages, cached (${s.connections} connections, ${s.throughputSeconds} s)`, result: rpsLine(maxUsage), target: '', verdict: '' },
      { scenario: 'ceiling: bare Hono answering a fixed JSON body, same Node HTTP server', result: rpsLine(ceilingJson), target: '', verdict: '' },
      { scenario: 'ceiling: bare Hono answering `select 1`, same Postgres and pool', result: rpsLine(ceiling), target: '', verdict: '' },
      { scenario: '/usage throughput as a share of the fixed-JSON ceiling', result: `${(ratioJson * 100).toFixed(0)}%`, target: '≥ 70%', verdict: ratioJson >= 0.7 ? 'ok' : 'MISSED' },
      { scenario: '/usage throughput as a share of the `select 1` ceiling', result: `${(ratio * 100).toFixed(0)}%`, target: '≥ 100%', verdict: ratio >= 1 ? 'ok' : 'MISSED' },
    ];
  },
};
