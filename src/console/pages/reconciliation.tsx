import type { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { monthLabel, monthNumberOf, parseMonth } from '../../periods.ts';
import { qs } from '../api.ts';
import { html, type ConsoleEnv, type PageDeps } from '../context.ts';
import { Empty, isZero, Num, Page } from '../layout.tsx';
import { RECONCILIATION_COLUMNS, reconciliation } from '../schemas.ts';

/** Rows shown at most; the CSV has them all. */
const MAX_ROWS = 500;

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
    const r = await api.get(`/v1/reconciliation${qs({ month })}`, reconciliation);
    const differing = r.projects.filter((p) => p.flags.length > 0);
    const rows = (all ? r.projects : differing).slice(0, MAX_ROWS);
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
          {differing.length === 0 ? <span class="ok">No project has a difference.</span> : <span class="bad">{differing.length} projects to look at.</span>}
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
        {(all ? r.projects.length : differing.length) > MAX_ROWS ? <p class="muted">The first {MAX_ROWS} are shown; the CSV has every project.</p> : null}
      </Page>,
    );
  });

  router.get('/reconciliation.csv', async (c) => {
    const month = monthParam(c.req.query('month'), monthLabel(monthNumberOf(clock()) - 1));
    return api.csv(`/v1/reconciliation${qs({ month })}`);
  });
}
