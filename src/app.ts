import { AppError } from './errors.ts';
import { usageRoutes } from './agora/usage.routes.ts';
import { billRoutes } from './agora/bill.routes.ts';
import { plansRoutes } from './billing/plans.routes.ts';
import { reconciliationRoutes } from './billing/reconciliation.routes.ts';
import { provisioningRoutes } from './agora/provisioning.routes.ts';
import type { AppDeps } from './http/context.ts';
import { mountDocs } from './http/docs.ts';
import { renderError } from './http/envelope.ts';
import { requestLog } from './http/middleware.ts';
import { newRouter } from './http/router.ts';
import { agoraLicenseRoutes } from './licensing/agora-license.routes.ts';
import { licenseApiRoutes } from './licensing/license-api.routes.ts';
import { licensingVendorRoutes } from './licensing/vendor.routes.ts';
import { healthRoutes } from './ops/health.routes.ts';
import { statementsRoutes } from './statements/statements.routes.ts';
import { usageEventsRoutes } from './usage/usage-events.routes.ts';

export const API_VERSION = '0.1.0';

/** Builds the whole server; never listens. Tests and `main.ts` build exactly the same app. */
export function createApp(deps: AppDeps) {
  const app = newRouter();
  app.use('*', requestLog({ log: deps.log }));

  app.route('/', healthRoutes(deps));
  app.route('/usage', usageRoutes(deps));
  app.route('/bill', billRoutes(deps));
  app.route('/customers', provisioningRoutes(deps));
  app.route('/customers', agoraLicenseRoutes(deps));
  app.route('/v1/usage-events', usageEventsRoutes(deps));
  app.route('/v1/statements', statementsRoutes(deps));
  app.route('/v1/plans', plansRoutes(deps));
  app.route('/v1/reconciliation', reconciliationRoutes(deps));
  app.route('/v1', licensingVendorRoutes(deps));
  app.route('/dabiz/license', licenseApiRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });
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
    if (rendered.status >= 500 && !(err instanceof AppError && err.code === 'database_unavailable')) {
      deps.log({ at: new Date().toISOString(), level: 'error', path: c.req.path, error: err instanceof Error ? err.message : String(err) });
    }
    return rendered;
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
