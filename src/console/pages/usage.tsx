import type { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { DAY_MS, dayNumberOf, dayText } from '../../periods.ts';
import { qs } from '../api.ts';
import { html, type ConsoleEnv, type PageDeps } from '../context.ts';
import { Empty, NextLink, Num, Page, when } from '../layout.tsx';
import { projects, usageDaily, usageEvent, usageEvents, type UsageDay, type UsageEventRow } from '../schemas.ts';

/** Days the usage chart covers, today included. */
export const USAGE_DAYS = 90;

/** A `YYYY-MM-DD` day of the query, checked: the next day is computed from it. */
export function dayParam(text: string | undefined, name = 'day'): string {
  if (text === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`)) || dayText(Date.parse(`${text}T00:00:00Z`) / DAY_MS) !== text) {
    throw new AppError('invalid_parameter', `${name} must be a day YYYY-MM-DD`);
  }
  return text;
}

export const nextDay = (day: string) => dayText(Date.parse(`${day}T00:00:00Z`) / DAY_MS + 1);

export function DailyTable(props: { days: UsageDay[]; projectId?: string | undefined }) {
  if (props.days.length === 0) return <Empty>No usage in these days.</Empty>;
  return (
    <table data-chart="1" id="daily">
      <thead>
        <tr>
          <th>Day</th>
          <th class="num">Quantity</th>
          <th class="num">Projects</th>
          {props.projectId === undefined ? null : <th>Events</th>}
        </tr>
      </thead>
      <tbody>
        {props.days.map((d) => (
          <tr>
            <td>{d.day}</td>
            <Num value={d.quantity} />
            <Num value={d.projects} />
            {props.projectId === undefined ? null : (
              <td>
                <a href={`/console/usage/events${qs({ projectId: props.projectId, day: d.day })}`}>events</a>
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function EventsTable(props: { events: UsageEventRow[] }) {
  return (
    <table id="events">
      <thead>
        <tr>
          <th>Event id</th>
          <th>Project</th>
          <th class="num">Quantity</th>
          <th>Occurred</th>
          <th>Received</th>
          <th>Late</th>
          <th>Carried by</th>
          <th>Description</th>
        </tr>
      </thead>
      <tbody>
        {props.events.map((e) => (
          <tr>
            <td>
              <a href={`/console/usage/event${qs({ id: e.id })}`}>{e.id}</a>
            </td>
            <td>{e.projectId}</td>
            <Num value={e.quantity} />
            <td>{when(e.occurredAt)}</td>
            <td>{when(e.receivedAt)}</td>
            <td>{[e.late ? 'after its window was reported' : '', e.billLate ? 'after its month was billed' : ''].filter((s) => s).join('; ')}</td>
            <td>
              {e.carriedBy.usageStatementId === null ? null : <a href={`/console/statements/${e.carriedBy.usageStatementId}`}>usage {e.carriedBy.usageStatementId}</a>}{' '}
              {e.carriedBy.billStatementId === null ? null : <a href={`/console/statements/${e.carriedBy.billStatementId}`}>bill {e.carriedBy.billStatementId}</a>}
            </td>
            <td>{e.description ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function SearchEvent(props: { id?: string | undefined }) {
  return (
    <form method="get" action="/console/usage/event" class="filters">
      <label>
        Event id
        <input name="id" value={props.id ?? ''} required />
      </label>
      <button type="submit">Find event</button>
    </form>
  );
}

export function usagePages(router: Hono<ConsoleEnv>, { api, clock }: PageDeps) {
  router.get('/usage', async (c) => {
    const customerId = c.req.query('customerId') || undefined;
    const projectId = c.req.query('projectId') || undefined;
    const today = dayNumberOf(clock());
    const from = dayText(today - USAGE_DAYS + 1);
    const to = dayText(today);
    const [daily, ofCustomer] = await Promise.all([
      api.get(`/v1/usage/daily${qs({ from, to, customerId: projectId ? undefined : customerId, projectId })}`, usageDaily),
      customerId && !projectId ? api.get(`/v1/projects${qs({ customerId, limit: 100 })}`, projects) : undefined,
    ]);
    const scope = projectId ? `project ${projectId}` : customerId ? `customer ${customerId}` : 'all customers';
    return html(
      c,
      <Page title="Usage" current="/console/usage" csrf={c.get('csrf')} charts>
        <form method="get" action="/console/usage" class="filters">
          <label>
            Customer id
            <input name="customerId" value={customerId ?? ''} />
          </label>
          <label>
            Project id
            <input name="projectId" value={projectId ?? ''} inputmode="numeric" />
          </label>
          <button type="submit">Show</button>
        </form>
        <h2>
          Daily totals, {from} to {to}, {scope}
        </h2>
        <DailyTable days={daily.data} projectId={projectId} />
        {ofCustomer === undefined ? null : (
          <>
            <h2>Projects of customer {customerId}</h2>
            {ofCustomer.data.length === 0 ? (
              <Empty>No projects.</Empty>
            ) : (
              <ul>
                {ofCustomer.data.map((p) => (
                  <li>
                    <a href={`/console/usage${qs({ projectId: p.projectId })}`}>{p.projectId}</a> {p.active ? '' : '(deactivated)'}
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
        <h2>Find an event</h2>
        <SearchEvent />
      </Page>,
    );
  });

  router.get('/usage/events', async (c) => {
    const projectId = c.req.query('projectId') ?? '';
    const day = dayParam(c.req.query('day'));
    const after = c.req.query('after') || undefined;
    const page = await api.get(
      `/v1/usage-events${qs({ projectId, from: `${day}T00:00:00.000Z`, to: `${nextDay(day)}T00:00:00.000Z`, after, limit: 100 })}`,
      usageEvents,
    );
    return html(
      c,
      <Page title={`Events of project ${projectId} on ${day}`} current="/console/usage" csrf={c.get('csrf')}>
        <p>
          <a href={`/console/usage${qs({ projectId })}`}>← Daily totals of project {projectId}</a>
        </p>
        {page.data.length === 0 ? <Empty>No events.</Empty> : <EventsTable events={page.data} />}
        <NextLink href={page.next === null ? null : `/console/usage/events${qs({ projectId, day, after: page.next })}`} />
      </Page>,
    );
  });

  router.get('/usage/event', async (c) => {
    const id = c.req.query('id') ?? '';
    const found = id === '' ? undefined : await api.find(`/v1/usage-events/${encodeURIComponent(id)}`, usageEvent);
    return html(
      c,
      <Page title="Find an event" current="/console/usage" csrf={c.get('csrf')}>
        <SearchEvent id={id} />
        {id === '' ? null : found === undefined ? <Empty>No event with id {id}.</Empty> : <EventsTable events={[found]} />}
      </Page>,
    );
  });
}
