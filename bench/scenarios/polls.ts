import { dayWindow, monthWindow, pollPaged, type PagedPollResult } from '../../src/cli/poller/poller.ts';
import { createProgress } from '../../src/cli/progress.ts';
import { fmtInt, fmtMs, type Row, type Verdict } from '../report.ts';
import type { ServerContext, Scenario } from './context.ts';

async function poll(ctx: ServerContext, kind: 'usage' | 'bill', window: { fromTs: number; toTs: number }, label: string) {
  const bar = createProgress(label, { unit: 'pages', plainEveryMs: 2000 });
  try {
    return await pollPaged(kind, window, {
      baseUrl: ctx.server.url,
      apiKey: ctx.key.apiKey,
      apiSecret: ctx.key.apiSecret,
      onPage: (p) => bar.update(p.pageNum, p.expectedPages),
    });
  } finally {
    bar.stop();
  }
}

function pollRow(label: string, r: PagedPollResult, target: string, limitMs: number | null, noRetry = false): Row {
  const violations = Object.values(r.violationCounts).reduce((a, b) => a + (b ?? 0), 0);
  const result = `${fmtMs(r.wallMs)}: ${fmtInt(r.pages)} pages, ${fmtInt(r.entries.length)} entries, ${r.retries} retries, ${violations} violations, slowest ${fmtMs(r.slowest?.ms ?? 0)}`;
  const verdict: Verdict = violations > 0 || (noRetry && r.retries > 0) || (limitMs !== null && r.wallMs >= limitMs) ? 'MISSED' : limitMs === null ? '' : 'ok';
  return { scenario: label, result, target, verdict };
}

const pollSummary = (r: PagedPollResult) => ({
  wallMs: r.wallMs,
  pages: r.pages,
  entries: r.entries.length,
  total: r.total.toFixed(),
  retries: r.retries,
  slowestMs: r.slowest?.ms ?? null,
  firstPageMs: r.pageMs[0] ?? null,
  violationCounts: r.violationCounts,
  violations: r.violations.slice(0, 10),
});

/** Full polls with the poller, as Agora walks them: a day nobody asked for (its first page fixes it), and the month's bill. */
export const pollsScenario: Scenario = {
  name: 'polls',
  needs: ['usage'],
  phase: 'server',
  async run(ctx) {
    const { s, cal } = ctx;
    // The target is 60 s for 1,000,000 entries; smaller days keep the 15 s they had.
    const pollLimitMs = Math.max(15_000, (60_000 * Math.min(s.projects, s.events)) / 1_000_000);
    const dayPoll = await poll(ctx, 'usage', dayWindow(cal.pollDay), 'poll usage');
    ctx.record('dayPoll', pollSummary(dayPoll));
    const dayRow = pollRow(`full day's poll of an unasked day with the poller (${cal.pollDay}), pages of 100`, dayPoll, `< ${fmtMs(pollLimitMs)}, no retry, no violations`, pollLimitMs, true);
    const monthPoll = await poll(ctx, 'bill', monthWindow(cal.month), 'poll bill');
    ctx.record('monthPoll', pollSummary(monthPoll));
    return [dayRow, pollRow(`full month's bill poll with the poller (${cal.month})`, monthPoll, 'no violations', null)];
  },
};
