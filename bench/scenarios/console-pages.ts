import { fmtMs, type Row } from '../report.ts';
import type { Scenario } from './context.ts';

/**
 * The vendor console's pages (the `console` scenario times the API alone): each page signed in,
 * three times, the median judged (the issue's target: < 300 ms with the benchmark's projects and a
 * month of usage). The month's statements exist by now.
 */
export const consolePagesScenario: Scenario = {
  name: 'console-pages',
  needs: ['usage'],
  phase: 'server',
  async run(ctx) {
    const { server, cal } = ctx;
    const signInPage = await fetch(`${server.url}/console/sign-in`);
    const preCookie = signInPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="csrf" value="([^"]+)"/.exec(await signInPage.text())?.[1] ?? '';
    const signedIn = await fetch(`${server.url}/console/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: preCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, token: ctx.adminToken }).toString(),
    });
    const cookie = signedIn.headers.getSetCookie().find((c) => c.startsWith('console_session='))?.split(';')[0] ?? '';
    const statements = (await (await fetch(`${server.url}/v1/statements?kind=bill&limit=1`, { headers: { authorization: `Bearer ${ctx.adminToken}` } })).json()) as { data: { id: string }[] };
    const billId = statements.data[0]?.id;
    const consolePages = [
      '/console',
      '/console/usage',
      '/console/usage?customerId=cust-1',
      '/console/usage?projectId=100001',
      `/console/usage/events?projectId=100001&day=${cal.rawDay}`,
      '/console/statements',
      ...(billId === undefined ? [] : [`/console/statements/${billId}`]),
      `/console/reconciliation?month=${cal.month}`,
      '/console/customers',
      '/console/customers/cust-1',
      '/console/licenses?customerId=cust-1',
    ];
    const rows: Row[] = [];
    const timings: Record<string, { status: number; medianMs: number }> = {};
    for (const path of consolePages) {
      const times: number[] = [];
      let status = 0;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const r = await fetch(`${server.url}${path}`, { headers: { cookie }, redirect: 'manual' });
        await r.text();
        times.push(performance.now() - t0);
        status = r.status;
      }
      times.sort((a, b) => a - b);
      const medianMs = times[1]!;
      timings[path] = { status, medianMs };
      rows.push({
        scenario: `console page: GET ${path}, median of 3`,
        result: `${fmtMs(medianMs)}${status === 200 ? '' : ` (HTTP ${status})`}`,
        target: '< 300 ms',
        verdict: status === 200 && medianMs < 300 ? 'ok' : 'MISSED',
      });
    }
    ctx.record('consolePages', timings);
    return rows;
  },
};
