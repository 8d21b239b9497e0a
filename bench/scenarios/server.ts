import { agoraGetUrl, dayWindow, monthWindow } from '../../src/cli/poller/poller.ts';
import { createProgress } from '../../src/cli/progress.ts';
import { openDatabase } from '../../src/db/database.ts';
import { load, paced, type PacedResult } from '../load.ts';
import { extraServerEnv, memoryOf, startService } from '../processes.ts';
import { fmtInt, fmtMb, fmtMs, type Row } from '../report.ts';
import { GATE_P99_MS, type BenchContext, type ServerContext } from './context.ts';

/** The server under test, its own process, as in production, warmed up. */
export async function startServerUnderTest(ctx: BenchContext): Promise<ServerContext> {
  const server = await startService(
    'bin/start.js',
    { DATABASE_URL: ctx.dbUrl, NODE_ENV: 'production', AGORA_API_KEY: ctx.key.apiKey, AGORA_API_SECRET: ctx.key.apiSecret, ADMIN_TOKEN: ctx.adminToken, LOG_LEVEL: 'info', ...extraServerEnv() },
    '/readyz',
  );
  ctx.services.push(server);
  const served: ServerContext = { ...ctx, server, shared: {} };
  // Warm-up, as a server that has been up for a while is: the code paths and the pool, on
  // windows no scenario uses (another day of the month, and empty months for /bill).
  for (let i = 0; i < 20; i++) await timedGet(`${server.url}/readyz`);
  const warmDay = dayWindow(ctx.cal.warmDay);
  for (let p = 1; p <= 100; p++) await timedGet(signed(served, '/usage', { ...warmDay, pageNum: p }));
  for (let i = 1; i <= 5; i++) await timedGet(signed(served, '/bill', { ...monthWindow(`2001-0${i}`), pageNum: 1 }));
  return served;
}

/** What the server holds in memory after all of it. */
export function serverMemoryRows(ctx: ServerContext): Row[] {
  const mem = memoryOf(ctx.server.child.pid!);
  ctx.record('serverMemory', mem);
  return [{ scenario: 'server RSS at the end', result: mem ? `${fmtMb(mem.rss)} (peak ${fmtMb(mem.peak)})` : 'n/a', target: '', verdict: '' }];
}

/** A GET as Agora signs it. */
export const signed = (ctx: ServerContext, path: string, params: Record<string, number>) =>
  agoraGetUrl(ctx.server.url, path, { ...params, apiKey: ctx.key.apiKey }, ctx.key.apiSecret);

export const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

export const timedGet = async (url: string) => {
  const t0 = performance.now();
  const r = await fetch(url);
  const text = await r.text();
  return { status: r.status, text, ms: performance.now() - t0 };
};

/** The first page of a window nobody asked for, as Agora asks it (first-pages.ts). */
export interface FirstPage {
  ms: number;
  totalMs: number;
  attempts: { status: number | 'timeout'; ms: number }[];
  status: number | null;
  totalSize: number | null;
  error: string | null;
}

export interface FirstPages {
  day: FirstPage;
  smallMonth: FirstPage;
  month: FirstPage;
}

const firstPagesOf = (ctx: ServerContext): FirstPages => {
  if (!ctx.shared.firstPages) throw new Error('the first pages are measured before any scenario that reads them (first-pages runs whenever the server does)');
  return ctx.shared.firstPages;
};

const pagePaths = (ctx: ServerContext, kind: 'usage' | 'bill', window: { fromTs: number; toTs: number }, totalSize: number) =>
  Array.from({ length: Math.max(1, Math.ceil(totalSize / 100)) }, (_, i) => pathOf(signed(ctx, `/${kind}`, { ...window, pageNum: i + 1 })));

/** Every signed page of the fixed day's /usage. */
export const usagePaths = (ctx: ServerContext) => pagePaths(ctx, 'usage', dayWindow(ctx.cal.rawDay), firstPagesOf(ctx).day.totalSize ?? 0);
/** Every signed page of the fixed month's /bill. */
export const billPaths = (ctx: ServerContext) => pagePaths(ctx, 'bill', monthWindow(ctx.cal.month), firstPagesOf(ctx).month.totalSize ?? 0);
/** Agora's license query of up to 1,000 customers. */
export const licensePaths = (ctx: ServerContext) =>
  Array.from({ length: Math.min(ctx.s.customers, 1000) }, (_, i) =>
    pathOf(agoraGetUrl(ctx.server.url, `/customers/cust-${i + 1}/license`, { apiKey: ctx.key.apiKey }, ctx.key.apiSecret)),
  );

export interface AgoraCaller {
  project_id: string;
  app_key: string;
  app_secret: string;
  customer_id: string;
}

/** One project of each of up to 1,000 customers, with the credentials it calls the license API with (read once). */
export function licenseCallers(ctx: ServerContext): Promise<AgoraCaller[]> {
  ctx.shared.callers ??= (async () => {
    const activators = await openDatabase({ databaseUrl: ctx.dbUrl, poolSize: 1 });
    try {
      return await activators.db
        .selectFrom('projects')
        .select(['project_id', 'app_key', 'app_secret', 'customer_id'])
        .distinctOn('customer_id')
        .orderBy('customer_id')
        .limit(1000)
        .execute();
    } finally {
      await activators.close();
    }
  })();
  return ctx.shared.callers;
}

/** An autocannon run (closed loop) against the server, with a progress bar. */
export const timedLoad = async (ctx: ServerContext, label: string, o: Omit<Parameters<typeof load>[0], 'url' | 'onTick'> & { url?: string }) => {
  const bar = createProgress(label, { unit: 's', plainEveryMs: 10_000 });
  try {
    const r = await load({ url: ctx.server.url, ...o, onTick: (t) => bar.update(Math.min(Math.round(t), o.seconds), o.seconds) });
    bar.update(o.seconds, o.seconds);
    return r;
  } finally {
    bar.stop();
  }
};

/** GETs of `paths` at the steady rate for the steady seconds. */
export const steady = async (ctx: ServerContext, label: string, paths: string[]) => {
  const { s } = ctx;
  const bar = createProgress(label, { unit: 's', plainEveryMs: 10_000 });
  try {
    const r = await paced({ url: ctx.server.url, paths, seconds: s.steadySeconds, rate: s.rate, onTick: (t) => bar.update(Math.min(Math.round(t), s.steadySeconds), s.steadySeconds) });
    bar.update(s.steadySeconds, s.steadySeconds);
    return r;
  } finally {
    bar.stop();
  }
};

/** The row of a steady run; `gateName` set: the run is also one of the gate's. */
export const steadyRow = (ctx: BenchContext, label: string, r: PacedResult, gateName: string | null): Row => {
  const ok = r.errors === 0 && r.p99 < 20;
  if (gateName !== null && (r.errors > 0 || r.p99 >= GATE_P99_MS)) ctx.gateFailed(`${gateName}: ${fmtInt(r.errors)} errors, p99 ${fmtMs(r.p99)}`);
  return {
    scenario: label,
    result: `p50 ${fmtMs(r.p50)} · p99 ${fmtMs(r.p99)} · max ${fmtMs(r.max)} · ${fmtInt(r.errors)} errors of ${fmtInt(r.requests)}`,
    target: 'p99 < 20 ms, no errors',
    verdict: ok ? 'ok' : 'MISSED',
  };
};

/** ` (answers: 3 × HTTP 429, …)`: what a run answered, when not all were 2xx. */
export const answersNote = (r: PacedResult) => (r.non2xx > 0 ? ` (answers: ${Object.entries(r.statuses).map(([code, n]) => `${fmtInt(n)} × HTTP ${code}`).join(', ')})` : '');
