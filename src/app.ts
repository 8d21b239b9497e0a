import { AppError } from './errors.ts';
import { usageRoutes } from './agora/usage.routes.ts';
import { billRoutes } from './agora/bill.routes.ts';
import { plansRoutes } from './billing/plans.routes.ts';
import { reconciliationRoutes } from './billing/reconciliation.routes.ts';
import { provisioningRoutes } from './agora/provisioning.routes.ts';
import type { AppDeps } from './http/context.ts';
import { agoraAudience, licenseAudience, vendorAudience } from './http/audiences.ts';
import { mountDocs } from './http/docs.ts';
import { renderError } from './http/envelope.ts';
import { agoraPriority, deadline, HeavyReadGate, heavyRead, requestLog } from './http/middleware.ts';
import { wantsCsv } from './csv.ts';
import { newRouter } from './http/router.ts';
import { agoraLicenseRoutes } from './agora/license.routes.ts';
import { licenseApiRoutes } from './licensing/license-api.routes.ts';
import { licensingVendorRoutes } from './licensing/vendor.routes.ts';
import { healthRoutes } from './ops/health.routes.ts';
import { statementsRoutes } from './statements/statements.routes.ts';
import { usageEventsRoutes } from './usage/usage-events.routes.ts';

export const API_VERSION = '0.1.0';

/** Builds the whole server; never listens. Tests and `main.ts` build exactly the same app. */
export function createApp(deps: AppDeps) {
  const app = newRouter();
  app.use('*', requestLog({ log: deps.log }), deadline(deps.config.requestDeadlineMs, { log: deps.log }));
  // Agora's calls go first for database connections; their own, shorter deadline is set with their routes.
  for (const path of ['/usage', '/bill', '/customers/*']) app.use(path, agoraPriority());
  const heavyReads = new HeavyReadGate(deps.config.heavyReadConcurrency, deps.config.heavyReadQueue);
  app.use('/v1/reconciliation', heavyRead(heavyReads));
  app.use('/v1/statements/:id/lines', heavyRead(heavyReads, (c) => wantsCsv(c.req.header('accept'))));
  const routeDeps = { ...deps, heavyReads };

  // Ops: health and readiness (the OpenAPI document and /docs are mounted below).
  app.route('/', healthRoutes(deps));

  // Agora: signed, Agora's deadline and envelopes (http/audiences.ts). One audience router per
  // prefix: an unknown path elsewhere is not asked for a signature.
  app.route('/usage', agoraAudience(deps, 'agora-numeric').route('/', usageRoutes(deps)));
  app.route('/bill', agoraAudience(deps, 'agora-numeric').route('/', billRoutes(deps)));
  const agoraCustomers = agoraAudience(deps, 'agora-text');
  agoraCustomers.route('/', provisioningRoutes(deps));
  agoraCustomers.route('/', agoraLicenseRoutes(deps));
  app.route('/customers', agoraCustomers);

  // The vendor API: admin token, vendor envelope.
  const vendor = vendorAudience(deps);
  vendor.route('/usage-events', usageEventsRoutes(deps));
  vendor.route('/statements', statementsRoutes(deps));
  vendor.route('/plans', plansRoutes(deps));
  vendor.route('/reconciliation', reconciliationRoutes(deps));
  vendor.route('/', licensingVendorRoutes(routeDeps));
  app.route('/v1', vendor);

  // The license API (Agora console's paths): Basic credentials, rate limit, code/message envelope.
  const license = licenseAudience(deps);
  license.route('/', licenseApiRoutes(routeDeps));
  app.route('/dabiz/license', license);

  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'agoraSignature', {
    type: 'apiKey',
    in: 'query',
    name: 'signature',
    description:
      "Agora's HMAC-SHA1 signature with the apiKey's secret (docs/agora.md): `apiKey` and `signature` are query parameters of a GET and fields of a POST or PUT body.",
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Agora extension vendor server',
      version: API_VERSION,
      description:
        "Agora's signed callbacks (usage, provisioning) and the vendor API (usage ingestion, statements). Agora-facing routes are signed with HMAC-SHA1; vendor routes take `Authorization: Bearer <ADMIN_TOKEN>`.",
    },
  });
  mountDocs(app);

  app.notFound(() => {
    throw new AppError('not_found', 'No such route');
  });
  app.onError((err, c) => {
    const rendered = renderError(c, err);
    // 503s (database_unavailable, deadline_exceeded, overloaded) are expected under load or an
    // outage: the request log line names their code. Only the unexpected is logged in full here.
    if (rendered.status >= 500 && !(err instanceof AppError && rendered.status === 503)) {
      deps.log({ at: new Date().toISOString(), level: 'error', path: c.req.path, error: err instanceof Error ? err.message : String(err) });
    }
    return rendered;
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
