import type { Hono } from 'hono';
import { Decimal } from '../../decimal.ts';
import { dayNumberOf, dayText, monthLabel, monthNumberOf } from '../../periods.ts';
import { qs } from '../api.ts';
import { html, type ConsoleEnv, type PageDeps } from '../context.ts';
import { Empty, Page, when } from '../layout.tsx';
import { agoraRequests as agoraRequestsPage, agoraSummary, licenses, pendingCorrections, usageDaily, webhookDeliveries, webhookEndpoints, type AgoraRequestRow } from '../schemas.ts';
import { EXPIRING_DAYS, ExpiringCalendar } from './licenses.tsx';

/** The failed deliveries the overview counts (one page of the delivery log) and lists. */
const FAILED_DELIVERIES_COUNTED = 100;
const FAILED_DELIVERIES_SHOWN = 10;

/** The kinds of Agora's requests the overview reports, in this order. */
const POLL_KINDS = ['usage', 'bill', 'license', 'provisioning'] as const;

/** Unix seconds as UTC text (a window bound of Agora's query). */
const utc = (s: string | null) => (s === null || !/^\d{1,11}$/.test(s) ? '' : when(new Date(Number(s) * 1000).toISOString()));

/** What Agora asked for: its window, page and customer. */
export function asked(r: AgoraRequestRow): string {
  const q = r.query;
  return [
    q.fromTs !== null || q.toTs !== null ? `${utc(q.fromTs)} → ${utc(q.toTs)}` : '',
    q.pageNum === null ? '' : `page ${q.pageNum}${q.limit === null ? '' : ` of ${q.limit}`}`,
    q.customerId === null ? '' : `customer ${q.customerId}`,
  ]
    .filter((s) => s !== '')
    .join(' · ');
}

function Poll(props: { r: AgoraRequestRow | null }) {
  if (!props.r) return <span class="muted">never</span>;
  return (
    <>
      {when(props.r.at)} · <code>{props.r.path}</code> {asked(props.r)} · {props.r.status}
      {props.r.errorCode ? ` ${props.r.errorCode}` : ''} · {props.r.durationMs} ms
    </>
  );
}

export function overviewPage(router: Hono<ConsoleEnv>, { api, clock }: PageDeps) {
  router.get('/', async (c) => {
    const now = clock();
    const today = dayNumberOf(now);
    const yesterday = dayText(today - 1);
    const dayBefore = dayText(today - 2);
    const lastMonth = monthLabel(monthNumberOf(now) - 1);
    const [daily, polls, pending, expiring, endpoints, failed] = await Promise.all([
      api.get(`/v1/usage/daily${qs({ from: dayBefore, to: yesterday })}`, usageDaily),
      api.get('/v1/agora-requests/summary', agoraSummary),
      api.get('/v1/usage/pending-corrections', pendingCorrections),
      api.get(`/v1/licenses/expiring${qs({ days: EXPIRING_DAYS, size: 20 })}`, licenses),
      api.get('/v1/webhook-endpoints', webhookEndpoints),
      api.get(`/v1/webhook-deliveries${qs({ status: 'failed', limit: FAILED_DELIVERIES_COUNTED })}`, webhookDeliveries),
    ]);
    const failingEndpoints = endpoints.data.filter((e) => e.enabled && e.failingSince !== null);
    const disabledEndpoints = endpoints.data.filter((e) => !e.enabled);
    const urlOf = new Map(endpoints.data.map((e) => [e.id, e.url]));
    const of = (day: string) => daily.data.find((d) => d.day === day) ?? { day, quantity: '0', projects: '0' };
    const y = of(yesterday);
    const b = of(dayBefore);
    const change = new Decimal(y.quantity).minus(b.quantity);
    return html(
      c,
      <Page title="Overview" current="/console" csrf={c.get('csrf')}>
        <h2>Usage</h2>
        <div class="cards">
          <div class="card" id="usage-yesterday">
            <div class="muted">Yesterday, {yesterday}</div>
            <div class="figure">{y.quantity}</div>
            <div class="muted">projects with usage: {y.projects}</div>
          </div>
          <div class="card" id="usage-day-before">
            <div class="muted">The day before, {dayBefore}</div>
            <div class="figure">{b.quantity}</div>
            <div class="muted">projects with usage: {b.projects}</div>
          </div>
          <div class="card" id="usage-change">
            <div class="muted">Change</div>
            <div class="figure">{change.isPositive() && !change.isZero() ? `+${change.toFixed()}` : change.toFixed()}</div>
            <div class="muted">
              <a href="/console/usage">90 days →</a>
            </div>
          </div>
        </div>
        <h2>Agora's last requests</h2>
        <table id="polls">
          <thead>
            <tr>
              <th>Kind</th>
              <th>Last request</th>
              <th>Last success</th>
            </tr>
          </thead>
          <tbody>
            {POLL_KINDS.map((kind) => {
              const s = polls[kind];
              const failing = s.last !== null && s.last.status !== '200';
              return (
                <tr class={failing ? 'diff' : undefined}>
                  <td>
                    {kind} {s.last ? failing ? <span class="bad">failed</span> : <span class="ok">ok</span> : null}
                  </td>
                  <td>
                    <Poll r={s.last} />
                  </td>
                  <td>
                    <Poll r={s.lastSucceeded} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <p>
          <a href="/console/agora-requests">Every request Agora made →</a>
        </p>
        <h2>Pending corrections</h2>
        <p class="muted">Late usage (arrived after its window was reported, or its month billed) waiting to be carried into the next statement or bill.</p>
        <div class="cards">
          <div class="card" id="pending-usage">
            <div class="muted">For the next usage statement</div>
            <div class="figure">{pending.usage.quantity}</div>
            <div class="muted">
              events: {pending.usage.events} · projects: {pending.usage.projects}
            </div>
          </div>
          <div class="card" id="pending-bill">
            <div class="muted">For the next bill</div>
            <div class="figure">{pending.bill.quantity}</div>
            <div class="muted">
              events: {pending.bill.events} · projects: {pending.bill.projects}
            </div>
          </div>
          <div class="card">
            <div class="muted">Differences</div>
            <p>
              <a href={`/console/reconciliation${qs({ month: lastMonth })}`}>Reconcile {lastMonth} →</a>
            </p>
          </div>
        </div>
        <h2>Webhooks</h2>
        <div class="cards">
          <div class="card" id="webhooks-failing">
            <div class="muted">Endpoints failing</div>
            <div class="figure">{failingEndpoints.length}</div>
            <div class="muted">of {endpoints.data.length} registered</div>
          </div>
          <div class="card" id="webhooks-disabled">
            <div class="muted">Endpoints disabled</div>
            <div class="figure">{disabledEndpoints.length}</div>
          </div>
          <div class="card" id="webhooks-failed">
            <div class="muted">Deliveries failed for good</div>
            <div class="figure">{failed.next === null ? failed.data.length : `${failed.data.length} or more`}</div>
            <div class="muted">retries spent</div>
          </div>
        </div>
        {failingEndpoints.length + disabledEndpoints.length === 0 ? null : (
          <table id="failing-endpoints">
            <thead>
              <tr>
                <th>Endpoint</th>
                <th>URL</th>
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {[...disabledEndpoints, ...failingEndpoints].map((e) => (
                <tr class="diff">
                  <td>{e.id}</td>
                  <td>{e.url}</td>
                  <td>
                    {e.enabled ? (
                      <>
                        <span class="bad">failing</span> since {when(e.failingSince)}
                      </>
                    ) : (
                      <>
                        <span class="bad">disabled</span>
                        {e.disabledReason ? ` · ${e.disabledReason}` : ' by hand'}
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {failed.data.length === 0 ? null : (
          <table id="failed-deliveries">
            <thead>
              <tr>
                <th>Delivery</th>
                <th>Event</th>
                <th>Endpoint</th>
                <th class="num">Attempts</th>
                <th>Last attempt</th>
              </tr>
            </thead>
            <tbody>
              {failed.data.slice(0, FAILED_DELIVERIES_SHOWN).map((d) => {
                const last = d.attemptLog[d.attemptLog.length - 1];
                return (
                  <tr>
                    <td>{d.id}</td>
                    <td>
                      {d.type} <code>{d.eventId}</code>
                    </td>
                    <td>{urlOf.get(d.endpointId) ?? d.endpointId}</td>
                    <td class="num">{d.attempts}</td>
                    <td>{last === undefined ? '' : `${when(last.at)} · ${last.httpStatus ?? last.error ?? ''}`}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        <h2>Licenses expiring within {EXPIRING_DAYS} days</h2>
        <p>
          Licenses: <span id="expiring-count">{expiring.countExact ? expiring.count : `more than ${expiring.count}`}</span> ·{' '}
          <a href="/console/licenses">calendar →</a>
        </p>
        {expiring.data.length === 0 ? <Empty>None.</Empty> : <ExpiringCalendar rows={expiring.data} />}
      </Page>,
    );
  });

  router.get('/agora-requests', async (c) => {
    const after = c.req.query('after') || undefined;
    const page = await api.get(`/v1/agora-requests${qs({ after, limit: 100 })}`, agoraRequestsPage);
    return html(
      c,
      <Page title="Agora's requests" current="/console" csrf={c.get('csrf')}>
        {page.data.length === 0 ? (
          <Empty>Agora has not called this server yet.</Empty>
        ) : (
          <table id="agora-requests">
            <thead>
              <tr>
                <th>At</th>
                <th>Kind</th>
                <th>Method</th>
                <th>Path</th>
                <th>Asked for</th>
                <th>apiKey</th>
                <th class="num">Status</th>
                <th class="num">ms</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {page.data.map((r) => (
                <tr class={r.status === '200' ? undefined : 'diff'}>
                  <td>{when(r.at)}</td>
                  <td>{r.kind}</td>
                  <td>{r.method}</td>
                  <td>{r.path}</td>
                  <td>{asked(r)}</td>
                  <td>{r.apiKeyId ?? ''}</td>
                  <td class="num">{r.status}</td>
                  <td class="num">{r.durationMs}</td>
                  <td>{r.errorCode ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {page.next === null ? null : (
          <p class="pager">
            <a href={`/console/agora-requests${qs({ after: page.next })}`}>Older →</a>
          </p>
        )}
      </Page>,
    );
  });
}
