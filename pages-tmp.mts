import { consolePagesBeyond } from '/work/w14/bench/scenarios/console-pages.ts';
const url = 'http://127.0.0.1:18914';
const signInPage = await fetch(`${url}/console/sign-in`);
const preCookie = signInPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const csrf = /name="csrf" value="([^"]+)"/.exec(await signInPage.text())?.[1] ?? '';
const signedIn = await fetch(`${url}/console/sign-in`, { method: 'POST', redirect: 'manual', headers: { cookie: preCookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, token: 'bench-admin-token-0123456789abcdef' }).toString() });
const cookie = signedIn.headers.getSetCookie().find((c) => c.startsWith('console_session='))?.split(';')[0] ?? '';
const cal = { month: '2026-11', rawDay: '2026-11-15', pollDay: '2026-11-16' };
const pages = process.argv[2] ? process.argv[2].split(',') : ['/console', '/console/usage', '/console/statements', '/console/statements/4', `/console/reconciliation?month=2026-11`, ...consolePagesBeyond(cal), '/console/customers', '/console/customers/cust-1', '/console/licenses?customerId=cust-1'];
for (const p of pages) {
  const t: number[] = [];
  let st = 0;
  for (let i = 0; i < 3; i++) { const t0 = performance.now(); const r = await fetch(`${url}${p}`, { headers: { cookie } }); await r.text(); st = r.status; t.push(performance.now() - t0); }
  t.sort((a, b) => a - b);
  console.log(`| ${p} | ${t[1]!.toFixed(1)} ms${st === 200 ? '' : ` (HTTP ${st})`} |`);
}
