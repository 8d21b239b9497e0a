import type { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { qs } from '../api.ts';
import { html, type ConsoleEnv, type PageDeps } from '../context.ts';
import { Empty, NextLink, Num, Page, when } from '../layout.tsx';
import { customer, customers } from '../schemas.ts';

const Status = (props: { active: boolean }) => (props.active ? <span class="ok">active</span> : <span class="bad">deactivated</span>);

export function customerPages(router: Hono<ConsoleEnv>, { api }: PageDeps) {
  router.get('/customers', async (c) => {
    const statusText = c.req.query('status');
    const status = statusText === 'active' || statusText === 'deactivated' ? statusText : undefined;
    const after = c.req.query('after') || undefined;
    const list = await api.get(`/v1/customers${qs({ status, after, limit: 50 })}`, customers);
    return html(
      c,
      <Page title="Customers and projects" current="/console/customers" csrf={c.get('csrf')}>
        <form method="get" action="/console/customers" class="filters">
          <label>
            Status
            <select name="status">
              <option value="" selected={status === undefined}>
                all
              </option>
              <option value="active" selected={status === 'active'}>
                active
              </option>
              <option value="deactivated" selected={status === 'deactivated'}>
                deactivated
              </option>
            </select>
          </label>
          <button type="submit">Show</button>
        </form>
        <form method="get" action="/console/customers/find" class="filters">
          <label>
            Customer id
            <input name="customerId" required />
          </label>
          <button type="submit">Open</button>
        </form>
        <p>
          <span id="customer-count">{list.countExact ? list.count : `more than ${list.count}`}</span> customers.
        </p>
        {list.data.length === 0 ? (
          <Empty>No customers yet: Agora provisions them.</Empty>
        ) : (
          <table id="customers">
            <thead>
              <tr>
                <th>Customer</th>
                <th>Name</th>
                <th>Plan</th>
                <th>Status</th>
                <th class="num">Projects</th>
                <th>Created</th>
                <th>Deactivated</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((k) => (
                <tr>
                  <td>
                    <a href={`/console/customers/${encodeURIComponent(k.customerId)}`}>{k.customerId}</a>
                  </td>
                  <td>{k.customerName ?? ''}</td>
                  <td>{k.planId ?? ''}</td>
                  <td>
                    <Status active={k.active} />
                  </td>
                  <Num value={k.projectCount} />
                  <td>{when(k.createdAt)}</td>
                  <td>{when(k.deactivatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <NextLink href={list.next === null ? null : `/console/customers${qs({ status, after: list.next })}`} />
      </Page>,
    );
  });

  router.get('/customers/find', (c) => {
    const id = c.req.query('customerId') ?? '';
    if (id === '') throw new AppError('missing_parameter', 'customerId is required');
    return c.redirect(`/console/customers/${encodeURIComponent(id)}`, 303);
  });

  router.get('/customers/:id', async (c) => {
    const id = c.req.param('id');
    const k = await api.get(`/v1/customers/${encodeURIComponent(id)}`, customer);
    return html(
      c,
      <Page title={`Customer ${k.customerId}`} current="/console/customers" csrf={c.get('csrf')}>
        <table id="customer">
          <tbody>
            <tr>
              <th>Name</th>
              <td>{k.customerName ?? ''}</td>
            </tr>
            <tr>
              <th>Email</th>
              <td>{k.customerEmail ?? ''}</td>
            </tr>
            <tr>
              <th>Phone</th>
              <td>{k.customerPhone ?? ''}</td>
            </tr>
            <tr>
              <th>Plan</th>
              <td>{k.planId ?? ''}</td>
            </tr>
            <tr>
              <th>Status</th>
              <td>
                <Status active={k.active} />
              </td>
            </tr>
            <tr>
              <th>Created</th>
              <td>{when(k.createdAt)}</td>
            </tr>
            <tr>
              <th>Deactivated</th>
              <td>{when(k.deactivatedAt)}</td>
            </tr>
          </tbody>
        </table>
        <p>
          <a href={`/console/usage${qs({ customerId: k.customerId })}`}>Usage</a> ·{' '}
          <a href={`/console/licenses${qs({ customerId: k.customerId })}`}>Licenses</a>
        </p>
        <h2>Projects</h2>
        {k.projects.length === 0 ? (
          <Empty>No projects.</Empty>
        ) : (
          <table id="projects">
            <thead>
              <tr>
                <th>Project</th>
                <th>Status</th>
                <th>appKey</th>
                <th>Created</th>
                <th>Deactivated</th>
              </tr>
            </thead>
            <tbody>
              {k.projects.map((p) => (
                <tr>
                  <td>
                    <a href={`/console/usage${qs({ projectId: p.projectId })}`}>{p.projectId}</a>
                  </td>
                  <td>
                    <Status active={p.active} />
                  </td>
                  <td>
                    <code>{p.appKeyMasked ?? ''}</code>
                  </td>
                  <td>{when(p.createdAt)}</td>
                  <td>{when(p.deactivatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h2>Deactivation history</h2>
        {k.deactivations.length === 0 ? (
          <Empty>Never deactivated.</Empty>
        ) : (
          <table id="deactivations">
            <thead>
              <tr>
                <th>What</th>
                <th>From</th>
                <th>To</th>
              </tr>
            </thead>
            <tbody>
              {k.deactivations.map((d) => (
                <tr>
                  <td>{d.projectId === null ? 'the customer' : `project ${d.projectId}`}</td>
                  <td>{when(d.from)}</td>
                  <td>{d.to === null ? 'still deactivated' : when(d.to)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Page>,
    );
  });
}
