import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendCpu, backendCpuUsed, cpuMsOf, startService, type Service } from '../processes.ts';
import { fmtInt, fmtMs } from '../report.ts';
import type { Scenario } from './context.ts';
import { timedLoad, usagePaths } from './server.ts';

/**
 * Maximum throughput: signed /usage pages (fixed, so cached), then in the same run the ceilings of
 * a bare Hono app on the same Node HTTP server: a fixed JSON body (what no endpoint can beat),
 * `select 1` through the same Postgres and pool (what none that asks the database can beat), and
 * the bytes of a real page (what none that sends a page can beat: writing ~8 KB to a socket costs
 * more than the whole answer of a 45-byte body).
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
    const paths = usagePaths(ctx);
    const maxUsage = await measured(ctx.server, () => timedLoad(ctx, 'max /usage', { paths, seconds: s.throughputSeconds, connections: s.connections }));
    // The first page's bytes, for the ceiling that answers as many (a fixed JSON body is 45 bytes).
    const page = new Uint8Array(await (await fetch(`${ctx.server.url}${paths[0]!}`)).arrayBuffer());
    const pageFile = join(tmpdir(), `bench-page-${process.pid}.json`);
    writeFileSync(pageFile, page);
    const ceilingService = await startService('bench/ceiling-server.ts', { DATABASE_URL: ctx.dbUrl, PAGE_BODY_FILE: pageFile }, '/');
    ctx.services.push(ceilingService);
    const ceilingJson = await measured(ceilingService, () => timedLoad(ctx, 'max fixed JSON', { url: ceilingService.url, paths: ['/json'], seconds: s.throughputSeconds, connections: s.connections }));
    const ceilingPage = await measured(ceilingService, () => timedLoad(ctx, 'max fixed page', { url: ceilingService.url, paths: ['/page'], seconds: s.throughputSeconds, connections: s.connections }));
    const ceiling = await measured(ceilingService, () => timedLoad(ctx, 'max select 1', { url: ceilingService.url, paths: ['/'], seconds: s.throughputSeconds, connections: s.connections }));
    await ceilingService.stop();
    rmSync(pageFile, { force: true });
    const ratio = maxUsage.rps / ceiling.rps;
    const ratioJson = maxUsage.rps / ceilingJson.rps;
    const ratioPage = maxUsage.rps / ceilingPage.rps;
    ctx.record('throughput', { usage: maxUsage, ceiling, ceilingJson, ceilingPage, pageBytes: page.byteLength, ratio, ratioJson, ratioPage });
    const us = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(0)} µs`);
    const rpsLine = (r: typeof maxUsage) =>
      `${fmtInt(r.rps)} req/s (p99 ${fmtMs(r.p99)}, ${fmtInt(r.errors)} errors; CPU per request: server ${us(r.serverCpuUsPerRequest)}, database ${us(r.databaseCpuUsPerRequest)})`;
    return [
      { scenario: `max throughput, signed GET /usage pages, cached (${s.connections} connections, ${s.throughputSeconds} s)`, result: rpsLine(maxUsage), target: '', verdict: '' },
      { scenario: 'ceiling: bare Hono answering a fixed JSON body, same Node HTTP server', result: rpsLine(ceilingJson), target: '', verdict: '' },
      { scenario: 'ceiling: bare Hono answering `select 1`, same Postgres and pool', result: rpsLine(ceiling), target: '', verdict: '' },
      { scenario: `ceiling: bare Hono answering the first page's ${fmtInt(page.byteLength)} bytes, same Node HTTP server`, result: rpsLine(ceilingPage), target: '', verdict: '' },
      { scenario: '/usage throughput as a share of the fixed-JSON ceiling', result: `${(ratioJson * 100).toFixed(0)}%`, target: '≥ 70%', verdict: ratioJson >= 0.7 ? 'ok' : 'MISSED' },
      { scenario: '/usage throughput as a share of the `select 1` ceiling', result: `${(ratio * 100).toFixed(0)}%`, target: '≥ 100%', verdict: ratio >= 1 ? 'ok' : 'MISSED' },
      { scenario: "/usage throughput as a share of the same-bytes ceiling (what the page's size leaves)", result: `${(ratioPage * 100).toFixed(0)}%`, target: '', verdict: '' },
    ];
  },
};
