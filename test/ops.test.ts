import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from './helpers/db.ts';
import { buildApp, type TestApp } from './helpers/app.ts';

let tdb: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  tdb = await openTestDatabase();
  t = buildApp(tdb.db);
});
afterAll(async () => {
  await tdb?.close();
});

describe('operations', () => {
  it('healthz says the process is up and readyz that the database answers', async () => {
    expect(await (await t.app.request('/healthz')).json()).toEqual({ status: 'ok' });
    expect(await (await t.app.request('/readyz')).json()).toEqual({ status: 'ok' });
  });

  it('serves an OpenAPI document of every route from the same schemas, and a reference page', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as any;
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
      ].sort(),
    );
    const params = doc.paths['/usage'].get.parameters.map((p: any) => p.name).sort();
    expect(params).toEqual(['apiKey', 'fromTs', 'limit', 'pageNum', 'signature', 'toTs']);
    expect(doc.components.schemas.UsageEventInput.properties.quantity).toBeDefined();
    const page = await t.app.request('/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/openapi.json');
  });

  it('answers an unknown route with 404 in the vendor envelope', async () => {
    const r = await t.app.request('/nope');
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).error.code).toBe('not_found');
  });
});
