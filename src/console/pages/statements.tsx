import type { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { dayNumberOf, dayText, monthLabel, monthNumberOf } from '../../periods.ts';
import { qs } from '../api.ts';
import { html, type ConsoleEnv, type PageDeps } from '../context.ts';
import { Empty, NextLink, Num, Page, when } from '../layout.tsx';
import { preview, statement, statementLines, statementList, type StatementRow } from '../schemas.ts';

const STATEMENT_ID = /^[1-9]\d{0,17}$/;

function statementId(id: string): string {
  if (!STATEMENT_ID.test(id)) throw new AppError('invalid_parameter', 'not a statement id');
  return id;
}

/** What a statement covers: a day's window for usage, a month for a bill. */
function period(s: StatementRow): string {
  if (s.kind === 'bill') return s.windowStart.slice(0, 7);
  const start = when(s.windowStart);
  const end = when(s.windowEnd);
  return start.slice(0, 10) === end.slice(0, 10) || end.slice(11, 19) === '00:00:00' ? `${start} → ${end.slice(11)}` : `${start} → ${end}`;
}

export function statementPages(router: Hono<ConsoleEnv>, { api, clock }: PageDeps) {
  router.get('/statements', async (c) => {
    const kindText = c.req.query('kind');
    const kind = kindText === 'usage' || kindText === 'bill' ? kindText : undefined;
    const before = c.req.query('before') || undefined;
    const list = await api.get(`/v1/statements${qs({ kind, before, limit: 50 })}`, statementList);
    return html(
      c,
      <Page title="Statements and bills" current="/console/statements" csrf={c.get('csrf')}>
        <p>
          What Agora was told: each usage window and each monthly bill, fixed when Agora first asked. Also:{' '}
          <a href="/console/statements/preview">what Agora would be told now</a>.
        </p>
        <form method="get" action="/console/statements" class="filters">
          <label>
            Kind
            <select name="kind">
              <option value="" selected={kind === undefined}>
                usage and bills
              </option>
              <option value="usage" selected={kind === 'usage'}>
                usage windows
              </option>
              <option value="bill" selected={kind === 'bill'}>
                monthly bills
              </option>
            </select>
          </label>
          <button type="submit">Show</button>
        </form>
        {list.data.length === 0 ? (
          <Empty>No statements yet: one is fixed the first time Agora asks for a window or a month.</Empty>
        ) : (
          <table id="statements">
            <thead>
              <tr>
                <th>Id</th>
                <th>Kind</th>
                <th>Window or month</th>
                <th>Fixed at</th>
                <th class="num">Lines</th>
                <th class="num">Total</th>
                <th class="num">Corrections</th>
                <th>CSV</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((s) => (
                <tr>
                  <td>
                    <a href={`/console/statements/${s.id}`}>{s.id}</a>
                  </td>
                  <td>{s.kind}</td>
                  <td>{period(s)}</td>
                  <td>{when(s.fixedAt)}</td>
                  <Num value={s.lineCount} />
                  <Num value={s.totalAmount} />
                  <Num value={s.correctionAmount} />
                  <td>
                    <a href={`/console/statements/${s.id}/lines.csv`}>CSV</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <NextLink href={list.nextBefore === null ? null : `/console/statements${qs({ kind, before: list.nextBefore })}`} />
      </Page>,
    );
  });

  router.get('/statements/preview', async (c) => {
    const now = clock();
    const day = c.req.query('day') || dayText(dayNumberOf(now));
    const month = c.req.query('month') || monthLabel(monthNumberOf(now));
    const reloadHref = `/console/statements/preview${qs({ day, month })}`;
    const [usage, bill] = await Promise.all([
      api.get(`/v1/preview/usage${qs({ day })}`, preview),
      api.get(`/v1/preview/bill${qs({ month })}`, preview),
    ]);
    // A bill's total prices every project, so it is computed after the first answer: until then it is pending.
    const Total = (props: { id: string; p: typeof usage }) => {
      const t = props.p.total;
      const fixed = props.p.fixed ? ' (already fixed)' : '';
      if (t.status === 'pending') {
        return (
          <p>
            Total <strong class="figure" id={props.id}>pending</strong> ({props.p.totalSize} lines{fixed}): being computed, <a href={reloadHref}>reload</a> in a moment
          </p>
        );
      }
      return (
        <p>
          Total <strong class="figure" id={props.id}>{t.amount}</strong> over {t.lineCount} lines{fixed}
          {t.lineCount === props.p.totalSize ? '' : `, as of ${when(t.asOf)} (${props.p.totalSize} lines now)`}
        </p>
      );
    };
    const Lines = (props: { id: string; p: typeof usage }) =>
      props.p.lines.length === 0 ? (
        <Empty>No lines.</Empty>
      ) : (
        <table id={props.id}>
          <thead>
            <tr>
              <th class="num">Line</th>
              <th>Project</th>
              <th>Plan</th>
              <th class="num">Amount</th>
              <th class="num">Correction</th>
              <th>Description</th>
            </tr>
          </thead>
          <tbody>
            {props.p.lines.map((l) => (
              <tr>
                <Num value={l.lineNo} />
                <td>{l.projectId}</td>
                <td>{l.planId}</td>
                <Num value={l.amount} />
                <Num value={l.correction} />
                <td>{l.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      );
    return html(
      c,
      <Page title="What Agora would be told now" current="/console/statements" csrf={c.get('csrf')}>
        <p>Computed now from the usage stored, without fixing anything: the statement Agora's next request would fix.</p>
        <form method="get" action="/console/statements/preview" class="filters">
          <label>
            Day
            <input type="date" name="day" value={day} />
          </label>
          <label>
            Month
            <input type="month" name="month" value={month} />
          </label>
          <button type="submit">Preview</button>
        </form>
        <h2>Usage of {day}</h2>
        <Total id="preview-usage-total" p={usage} />
        <Lines id="preview-usage" p={usage} />
        <h2>Bill of {month}</h2>
        <Total id="preview-bill-total" p={bill} />
        <Lines id="preview-bill" p={bill} />
      </Page>,
    );
  });

  router.get('/statements/:id', async (c) => {
    const id = statementId(c.req.param('id'));
    const pageText = c.req.query('page') ?? '1';
    const pageNum = /^[1-9]\d{0,6}$/.test(pageText) ? pageText : '1';
    const [s, lines] = await Promise.all([
      api.get(`/v1/statements/${id}`, statement),
      api.get(`/v1/statements/${id}/lines${qs({ pageNum, limit: 100 })}`, statementLines),
    ]);
    return html(
      c,
      <Page title={`Statement ${s.id}: ${s.kind === 'bill' ? 'bill of' : 'usage of'} ${period(s)}`} current="/console/statements" csrf={c.get('csrf')}>
        <p>
          Fixed at {when(s.fixedAt)} · {s.lineCount} lines · total <strong id="statement-total">{s.totalAmount}</strong> {s.unit} · corrections{' '}
          {s.correctionAmount} · <a href={`/console/statements/${s.id}/lines.csv`}>download CSV</a>
        </p>
        {lines.data.length === 0 ? (
          <Empty>No lines.</Empty>
        ) : (
          <table id="lines">
            <thead>
              <tr>
                <th class="num">Line</th>
                <th>Project</th>
                <th>Customer</th>
                <th>Plan</th>
                <th class="num">Amount</th>
                <th class="num">Correction</th>
                <th>Description</th>
              </tr>
            </thead>
            <tbody>
              {lines.data.map((l) => (
                <tr>
                  <Num value={l.lineNo} />
                  <td>{l.projectId}</td>
                  <td>{l.customerId ?? ''}</td>
                  <td>{l.planId}</td>
                  <Num value={l.amount} />
                  <Num value={l.correctionAmount} />
                  <td>{l.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <NextLink href={lines.hasNext ? `/console/statements/${s.id}${qs({ page: String(Number(pageNum) + 1) })}` : null} />
      </Page>,
    );
  });

  router.get('/statements/:id/lines.csv', async (c) => api.csv(`/v1/statements/${statementId(c.req.param('id'))}/lines`));
}
