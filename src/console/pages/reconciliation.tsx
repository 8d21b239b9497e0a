import type { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { monthLabel, monthNumberOf, parseMonth } from '../../periods.ts';
import { qs } from '../api.ts';
import { html, type ConsoleEnv, type PageDeps } from '../context.ts';
import { Empty, isZero, NextLink, Num, Page } from '../layout.tsx';
import { RECONCILIATION_COLUMNS, reconciliation } from '../schemas.ts';

/** Projects a page of "every project" shows (the API's page); the CSV has them all. */
const ALL_ROWS = 100;
/**
 * Projects read for a page of "projects with a difference or an unknown plan": the API reads this
 * many, in projectId order, and answers the flagged ones; the next page looks further. As many as a
 * page of every project, so it costs the same when every project differs (the benchmark's data).
 */
const SCANNED = 100;

const LABELS: Record<(typeof RECONCILIATION_COLUMNS)[number], string> = {
  ingested: 'Ingested',
  dailyReported: 'Reported daily',
  dailyPending: 'Daily pending',
  dailyDifference: 'Daily difference',
  billedQuantity: 'Billed quantity',
  billPending: 'Bill pending',
  billDifference: 'Bill difference',
  billedAmount: 'Billed amount',
  correctionsInAmount: 'Corrections in',
  correctionsOutAmount: 'Corrections out',
};
const DIFFERENCES = new Set<string>(['dailyDifference', 'billDifference']);

function monthParam(text: string | undefined, fallback: string): string {
  if (text === undefined || text === '') return fallback;
  const m = parseMonth(text);
  if (m === null) throw new AppError('invalid_parameter', 'month must be a month YYYY-MM');
  return monthLabel(m);
}

export function reconciliationPages(router: Hono<ConsoleEnv>, { api, clock }: PageDeps) {
  router.get('/reconciliation', async (c) => {
    const month = monthParam(c.req.query('month'), monthLabel(monthNumberOf(clock()) - 1));
    const all = c.req.query('all') === '1';
    const after = c.req.query('after') || undefined;
    const r = await api.get(
      `/v1/reconciliation${qs(all ? { month, after, limit: ALL_ROWS } : { month, after, limit: SCANNED, flagged: 'true' })}`,
      reconciliation,
    );
    const rows = r.projects;
    const differs = !isZero(r.totals.dailyDifference ?? '0') || !isZero(r.totals.billDifference ?? '0');
    const next = r.next === null ? null : `/console/reconciliation${qs({ month: r.month, all: all ? '1' : undefined, after: r.next })}`;
    return html(
      c,
      <Page title={`Reconciliation of ${r.month}`} current="/console/reconciliation" csrf={c.get('csrf')}>
        <form method="get" action="/console/reconciliation" class="filters">
          <label>
            Month
            <input type="month" name="month" value={r.month} required />
          </label>
          <label>
            <span>
              <input type="checkbox" name="all" value="1" checked={all} /> every project
            </span>
          </label>
          <button type="submit">Reconcile</button>
          <a href={`/console/reconciliation.csv${qs({ month: r.month })}`} id="reconciliation-csv">
            Download CSV
          </a>
        </form>
        <p>
          {r.billed ? (
            <>
              Billed: <a href={`/console/statements/${r.billStatementId}`}>statement {r.billStatementId}</a>.
            </>
          ) : (
            'Not billed yet: Agora has not asked for this month.'
          )}{' '}
          {differs ? <span class="bad">The month's totals have a difference.</span> : <span class="ok">The month's totals have no difference.</span>}
        </p>
        <h2>Totals</h2>
        <table id="totals">
          <thead>
            <tr>
              {RECONCILIATION_COLUMNS.map((k) => (
                <th class="num">{LABELS[k]}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              {RECONCILIATION_COLUMNS.map((k) => (
                <Num value={r.totals[k]} class={DIFFERENCES.has(k) && !isZero(r.totals[k] ?? '0') ? 'bad' : undefined} />
              ))}
            </tr>
          </tbody>
        </table>
        <h2>{all ? 'Every project' : 'Projects with a difference or an unknown plan'}</h2>
        {all ? null : (
          <p class="muted" id="scanned">
            Up to {SCANNED} projects looked at{after === undefined ? '' : ` after project ${after}`}, in projectId order
            {r.next === null ? ', to the last.' : `, to project ${r.next}: the next page looks further.`}
          </p>
        )}
        {rows.length === 0 ? (
          <Empty>None.</Empty>
        ) : (
          <table id="projects">
            <thead>
              <tr>
                <th>Project</th>
                <th>Customer</th>
                <th>Plan</th>
                <th>Flags</th>
                {RECONCILIATION_COLUMNS.map((k) => (
                  <th class="num">{LABELS[k]}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <tr class={p.flags.includes('difference') ? 'diff' : undefined}>
                  <td>
                    <a href={`/console/usage${qs({ projectId: p.projectId })}`}>{p.projectId}</a>
                  </td>
                  <td>{p.customerId ?? ''}</td>
                  <td>{p.planId ?? ''}</td>
                  <td>{p.flags.join(' ')}</td>
                  {RECONCILIATION_COLUMNS.map((k) => (
                    <Num value={p[k]} class={DIFFERENCES.has(k) && !isZero(p[k]) ? 'bad' : undefined} />
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <NextLink href={next} />
      </Page>,
    );
  });

  router.get('/reconciliation.csv', async (c) => {
    const month = monthParam(c.req.query('month'), monthLabel(monthNumberOf(clock()) - 1));
    return api.csv(`/v1/reconciliation${qs({ month })}`);
  });
}
