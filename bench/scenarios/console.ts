import { fmtMs, type Row } from '../report.ts';
import type { Scenario } from './context.ts';

/**
 * The vendor console's reads (issue 14), before anything is fixed: previews of a day and the month
 * nobody asked for yet are the heavy case. Each the median of 5, after one warm-up.
 */
export const consoleScenario: Scenario = {
  name: 'console',
  needs: ['usage'],
  phase: 'server',
  async run(ctx) {
    const { server, cal } = ctx;
    const adminGet = async (path: string) => {
      const t0 = performance.now();
      const r = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${ctx.adminToken}` } });
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
    const rows: Row[] = [];
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
    ctx.record('console', timings);
    return rows;
  },
};
