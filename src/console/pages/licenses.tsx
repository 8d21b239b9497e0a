import type { Hono } from 'hono';
import { qs } from '../api.ts';
import { html, type ConsoleEnv, type PageDeps } from '../context.ts';
import { Empty, NextLink, Num, Page, when } from '../layout.tsx';
import { customer, customerCertificates, customerLimits, licenses, pids, quotas, sessions, skus, type LicenseRow } from '../schemas.ts';

/** A customer's projects whose PCU the page reads (one call each): the first ones, by the customer's order. */
const PCU_PROJECTS_SHOWN = 50;

/** A PCU limit as shown: null is no limit. */
const limitText = (v: string | null) => (v === null ? 'no limit' : v);

/** An expiry as shown: permanent, a time, or never licensed. */
const expiryText = (e: { active: boolean; expiresAt: string | null; permanent: boolean }) =>
  `${e.active ? 'active' : 'inactive'}${e.permanent ? ', permanent' : e.expiresAt === null ? '' : `, until ${when(e.expiresAt)}`}`;

/** The expiring calendar's horizon, as on the overview. */
export const EXPIRING_DAYS = 45;

export function LicenseTable(props: { id: string; rows: LicenseRow[] }) {
  return (
    <table id={props.id}>
      <thead>
        <tr>
          <th>License</th>
          <th>License key</th>
          <th>PID</th>
          <th>Customer</th>
          <th>Project</th>
          <th>Activated</th>
          <th>Expires</th>
          <th>Status</th>
          <th class="num">Renewals</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((l) => (
          <tr>
            <td>{l.license}</td>
            <td>{l.licenseKey}</td>
            <td>{l.pid}</td>
            <td>
              <a href={`/console/licenses${qs({ customerId: l.customerId })}`}>{l.customerId}</a>
            </td>
            <td>{l.projectId}</td>
            <td>{when(l.activatedAt)}</td>
            <td>{when(l.expiresAt)}</td>
            <td>{l.status}</td>
            <Num value={l.renewTimes} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Licenses grouped by the UTC day they expire on, soonest first (the API's order). */
export function ExpiringCalendar(props: { rows: LicenseRow[] }) {
  const days = new Map<string, LicenseRow[]>();
  for (const l of props.rows) {
    const day = l.expiresAt.slice(0, 10);
    days.set(day, [...(days.get(day) ?? []), l]);
  }
  if (days.size === 0) return <Empty>No license expires within {EXPIRING_DAYS} days.</Empty>;
  return (
    <table id="expiring">
      <thead>
        <tr>
          <th>Day</th>
          <th>Licenses expiring (license · customer · project · PID)</th>
        </tr>
      </thead>
      <tbody>
        {[...days].map(([day, rows]) => (
          <tr>
            <td>{day}</td>
            <td>
              {rows.map((l) => (
                <div>
                  {l.license} · {l.customerId} · {l.projectId} · {l.pid}
                </div>
              ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function licensePages(router: Hono<ConsoleEnv>, { api }: PageDeps) {
  router.get('/licenses', async (c) => {
    const customerId = c.req.query('customerId') || undefined;
    const after = c.req.query('after') || undefined;
    const id = customerId === undefined ? undefined : encodeURIComponent(customerId);
    const [skuList, pidList, expiring, quota, activations, customerPcu, detail, live, certs] = await Promise.all([
      api.get('/v1/skus', skus),
      api.get('/v1/pids', pids),
      api.get(`/v1/licenses/expiring${qs({ days: EXPIRING_DAYS, customerId, size: 100 })}`, licenses),
      customerId === undefined ? undefined : api.get(`/v1/license-quotas${qs({ customerId })}`, quotas),
      customerId === undefined ? undefined : api.get(`/v1/licenses${qs({ customerId, after, size: 100 })}`, licenses),
      // An unknown customer has no limits and no projects (404): those sections say so.
      id === undefined ? undefined : api.find(`/v1/customers/${id}/limits${qs({ projects: PCU_PROJECTS_SHOWN })}`, customerLimits),
      id === undefined ? undefined : api.find(`/v1/customers/${id}`, customer),
      customerId === undefined ? undefined : api.get(`/v1/sessions${qs({ customerId, live: 'true', size: 100 })}`, sessions),
      id === undefined ? undefined : api.find(`/v1/customers/${id}/certificates${qs({ after: c.req.query('certificatesAfter') || undefined })}`, customerCertificates),
    ]);
    // The first projects' limits come with the customer's, in one call (one query for them all).
    const projectPcu = (customerPcu?.projects ?? []).map(({ projectId, ...v }) => ({ projectId, pcu: v }));
    return html(
      c,
      <Page title="Licenses" current="/console/licenses" csrf={c.get('csrf')}>
        <h2>Catalogue</h2>
        {skuList.data.length === 0 ? (
          <Empty>No SKUs yet.</Empty>
        ) : (
          <table id="skus">
            <thead>
              <tr>
                <th>SKU</th>
                <th>Name</th>
                <th class="num">Product</th>
                <th class="num">Media type</th>
                <th class="num">Minutes</th>
                <th>Period</th>
                <th>PIDs (category, type, validity)</th>
              </tr>
            </thead>
            <tbody>
              {skuList.data.map((s) => (
                <tr>
                  <td>{s.id}</td>
                  <td>{s.name}</td>
                  <Num value={s.product} />
                  <Num value={s.mediaType} />
                  <Num value={s.minutes} />
                  <td>{s.period ?? ''}</td>
                  <td>
                    {pidList.data
                      .filter((p) => p.sku === s.id)
                      .map((p) => (
                        <div>
                          <code>{p.pid}</code> {p.category}, {p.type},{' '}
                          {p.validityYears !== null ? `${p.validityYears} years` : `${p.validityMonths ?? ''} months`}
                        </div>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h2>A customer's pools and activations</h2>
        <form method="get" action="/console/licenses" class="filters">
          <label>
            Customer id
            <input name="customerId" value={customerId ?? ''} required />
          </label>
          <button type="submit">Show</button>
        </form>
        {quota === undefined ? null : quota.data.length === 0 ? (
          <Empty>Customer {customerId} holds no licenses.</Empty>
        ) : (
          <table id="pools">
            <thead>
              <tr>
                <th>PID</th>
                <th class="num">Capacity</th>
                <th class="num">Used</th>
                <th class="num">Available</th>
                <th class="num">Shared capacity</th>
                <th class="num">Shared used</th>
                <th>Allocated to projects (capacity / used)</th>
              </tr>
            </thead>
            <tbody>
              {quota.data.map((q) => (
                <tr>
                  <td>{q.pid}</td>
                  <Num value={q.total} />
                  <Num value={q.used} />
                  <Num value={q.available} />
                  <Num value={q.shared.total} />
                  <Num value={q.shared.used} />
                  <td>
                    {q.projects.length === 0
                      ? 'none'
                      : q.projects.map((p) => (
                          <div>
                            project {p.projectId}: {p.total} / {p.used}
                          </div>
                        ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {activations === undefined ? null : (
          <>
            <h3>Activations ({activations.countExact ? activations.count : `more than ${activations.count}`})</h3>
            {activations.data.length === 0 ? <Empty>No activations.</Empty> : <LicenseTable id="activations" rows={activations.data} />}
            <NextLink href={activations.next === null ? null : `/console/licenses${qs({ customerId, after: activations.next })}`} />
          </>
        )}
        {customerId === undefined ? null : (
          <>
            <h3>Sessions and PCU in use</h3>
            {customerPcu === undefined ? (
              <Empty>Customer {customerId} is not provisioned.</Empty>
            ) : (
              <table id="pcu">
                <thead>
                  <tr>
                    <th>Scope</th>
                    <th class="num">Live sessions (PCU in use)</th>
                    <th class="num">PCU limit</th>
                  </tr>
                </thead>
                <tbody>
                  <tr data-scope="customer">
                    <td>customer {customerId}</td>
                    <Num value={customerPcu.live} />
                    <td class="num">{limitText(customerPcu.pcu)}</td>
                  </tr>
                  {projectPcu.map((p) => (
                    <tr data-scope={`project-${p.projectId}`}>
                      <td>project {p.projectId}</td>
                      <Num value={p.pcu.live} />
                      <td class="num">{limitText(p.pcu.pcu)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {(detail?.projects.length ?? 0) > PCU_PROJECTS_SHOWN ? <p class="muted">The first {PCU_PROJECTS_SHOWN} projects are shown.</p> : null}
            {live === undefined ? null : (
              <>
                <h3>
                  Live sessions (<span id="live-count">{live.countExact ? live.count : `more than ${live.count}`}</span>)
                </h3>
                {live.data.length === 0 ? (
                  <Empty>No session is live.</Empty>
                ) : (
                  <table id="live-sessions">
                    <thead>
                      <tr>
                        <th>Session</th>
                        <th>Project</th>
                        <th>License</th>
                        <th>Device</th>
                        <th>Media</th>
                        <th>Platform</th>
                        <th>Started</th>
                        <th>Last heartbeat</th>
                        <th class="num">Minutes</th>
                      </tr>
                    </thead>
                    <tbody>
                      {live.data.map((s) => (
                        <tr>
                          <td>{s.sessionId}</td>
                          <td>{s.projectId}</td>
                          <td>{s.license ?? 'grant'}</td>
                          <td>{s.licenseKey}</td>
                          <td>{s.media}</td>
                          <td>{s.platform}</td>
                          <td>{when(s.startedAt)}</td>
                          <td>{when(s.lastHeartbeatAt)}</td>
                          <Num value={s.minutes} />
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
                {live.next === null ? null : <p class="muted">The first {live.data.length} are shown.</p>}
              </>
            )}
          </>
        )}
        {certs === undefined ? null : (
          <>
            <h3>Certificates, platform and agents</h3>
            <p id="platform">
              Platform: {expiryText(certs.platform)}
              {certs.platform.unlimitedAgents ? ' · agents unlimited' : ''}
            </p>
            <h4>
              Certificates (<span id="certificate-count">{certs.count}</span>)
            </h4>
            {certs.data.length === 0 ? (
              <Empty>No certificates uploaded.</Empty>
            ) : (
              <table id="certificates">
                <thead>
                  <tr>
                    <th>Certificate</th>
                    <th>Type</th>
                    <th>Mode</th>
                    <th class="num">Days</th>
                    <th>Status</th>
                    <th>Agent</th>
                    <th>Activated</th>
                    <th>Expires</th>
                  </tr>
                </thead>
                <tbody>
                  {certs.data.map((x) => (
                    <tr>
                      <td>{x.id}</td>
                      <td>{x.type}</td>
                      <td>{x.mode}</td>
                      <td class="num">{x.validityDays ?? 'permanent'}</td>
                      <td>{x.status}</td>
                      <td>{x.agentId ?? ''}</td>
                      <td>{when(x.activatedAt)}</td>
                      <td>{when(x.expiresAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <NextLink href={certs.next === null ? null : `/console/licenses${qs({ customerId, certificatesAfter: certs.next })}`} />
            <h4>Agents</h4>
            {certs.agents.length === 0 ? (
              <Empty>No agents registered.</Empty>
            ) : (
              <table id="agents">
                <thead>
                  <tr>
                    <th>Agent</th>
                    <th>Registered</th>
                    <th>Licensed</th>
                  </tr>
                </thead>
                <tbody>
                  {certs.agents.map((a) => (
                    <tr>
                      <td>{a.agentId}</td>
                      <td>{when(a.registeredAt)}</td>
                      <td>
                        {expiryText(a)}
                        {a.unlimited ? ' · unlimited' : ''}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {certs.agentsMore ? <p class="muted">The first {certs.agents.length} agents are shown.</p> : null}
          </>
        )}
        <h2>
          Expiring within {EXPIRING_DAYS} days{customerId === undefined ? '' : ` (customer ${customerId})`}
        </h2>
        <ExpiringCalendar rows={expiring.data} />
        {expiring.next === null ? null : <p class="muted">The {expiring.data.length} soonest are shown.</p>}
      </Page>,
    );
  });
}
