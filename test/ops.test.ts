import { describe, expect, it } from 'vitest';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp({ clearEach: false });

describe('operations', () => {
  it('healthz says the process is up and readyz that the database answers', async () => {
    expect(await (await ctx.t.app.request('/healthz')).json()).toEqual({ status: 'ok' });
    expect(await (await ctx.t.app.request('/readyz')).json()).toEqual({ status: 'ok' });
  });

  it('serves an OpenAPI document of every route from the same schemas, and a reference page', async () => {
    const doc = (await (await ctx.t.app.request('/openapi.json')).json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/customers/new',
        '/customers/{customerId}/deactivate',
        '/customers/{customerId}/projects/new',
        '/customers/{customerId}/projects/{projectId}/deactivate',
        '/healthz',
        '/readyz',
        '/usage',
        '/bill',
        '/v1/plans',
        '/v1/plans/{planId}',
        '/v1/plans/{planId}/versions',
        '/v1/reconciliation',
        '/v1/statements',
        '/v1/statements/{id}',
        '/v1/statements/{id}/lines',
        '/v1/usage-events',
        '/customers/{customerId}/license',
        '/dabiz/license/v2/active',
        '/dabiz/license/v2/allocate',
        '/dabiz/license/v2/detail',
        '/dabiz/license/v2/pad/add',
        '/dabiz/license/v2/pad/clear',
        '/dabiz/license/v2/pad/delete',
        '/dabiz/license/v2/pad/upload',
        '/dabiz/license/v2/pads',
        '/dabiz/license/v2/pads/export',
        '/dabiz/license/v2/pads/search',
        '/dabiz/license/v2/product/allocations',
        '/dabiz/license/v2/renew',
        '/dabiz/license/v2/vendor/pad/switch',
        '/dabiz/license/v3/projects/{appId}/pids/{pid}/expiringLicenses',
        '/v1/license-quotas',
        '/v1/licenses',
        '/v1/pids',
        '/v1/pids/{pid}',
        '/v1/purchases',
        '/v1/renewals',
        '/v1/skus',
        '/v1/skus/{id}',
        '/ext/v1/sessions',
        '/ext/v1/sessions/{sessionId}',
        '/ext/v1/sessions/{sessionId}/heartbeat',
        '/license/customers/{customerId}/activate',
        '/v1/customers/{customerId}/limits',
        '/v1/projects/{projectId}/limits',
        '/v1/pids/{pid}/overage',
        '/v1/licenses/{license}/minutes',
        '/v1/sessions',
        '/.well-known/license-keys',
        '/license-files/{token}',
        '/v1/certificate-packages',
        '/v1/projects/{projectId}/license-file/rotate',
        '/ext/v1/entitlements',
        '/dabiz/license/v2/certificates/upload',
        '/dabiz/license/v2/certificates',
        '/dabiz/license/v2/certificates/{id}/bind',
        '/dabiz/license/v2/agents',
        '/dabiz/license/v2/agents/{agentId}',
        '/dabiz/license/v2/platform',
        '/v1/webhook-endpoints',
        '/v1/webhook-endpoints/{id}',
        '/v1/webhook-endpoints/{id}/rotate-secret',
        '/v1/webhook-deliveries',
        '/v1/webhook-deliveries/{id}/retry',
        '/v1/customers',
        '/v1/customers/{customerId}',
        '/v1/projects',
        '/v1/usage-events/{id}',
        '/v1/usage/daily',
        '/v1/preview/usage',
        '/v1/preview/bill',
        '/v1/agora-requests',
        '/v1/agora-requests/summary',
        '/metrics',
        '/v1/licenses/expiring',
        '/v1/usage/pending-corrections',
        '/v1/customers/{customerId}/certificates',
      ].sort(),
    );
    const params = doc.paths['/usage'].get.parameters.map((p: any) => p.name).sort();
    expect(params).toEqual(['apiKey', 'fromTs', 'limit', 'pageNum', 'signature', 'toTs']);
    expect(doc.components.schemas.UsageEventInput.properties.quantity).toBeDefined();
    // The page and its scripts come from this server (swagger-ui-dist), none from a CDN.
    for (const path of ['/docs', '/docs/']) {
      const page = await ctx.t.app.request(path);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('<script src="/docs/assets/swagger-ui-bundle.js">');
      expect(html).not.toMatch(/https?:\/\//);
    }
    const init = await ctx.t.app.request('/docs/assets/init.js');
    expect(await init.text()).toContain("url: '/openapi.json'");
    const bundle = await ctx.t.app.request('/docs/assets/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await ctx.t.app.request('/docs/assets/package.json')).status).toBe(404);
  });

  it('answers an unknown route with 404 in the vendor envelope', async () => {
    const r = await ctx.t.app.request('/nope');
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).error.code).toBe('not_found');
  });
});
