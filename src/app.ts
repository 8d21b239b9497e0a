import { AppError } from './errors.ts';
import { usageRoutes } from './agora/usage.routes.ts';
import { billRoutes } from './agora/bill.routes.ts';
import { plansRoutes } from './billing/plans.routes.ts';
import { reconciliationRoutes } from './billing/reconciliation.routes.ts';
import { provisioningRoutes } from './agora/provisioning.routes.ts';
import type { AppDeps } from './http/context.ts';
import { mountDocs } from './http/docs.ts';
import { renderError } from './http/envelope.ts';
import { agoraPriority, deadline, HeavyReadGate, heavyRead, requestLog } from './http/middleware.ts';
import { newRouter } from './http/router.ts';
import { agoraLicenseRoutes } from './agora/license.routes.ts';
import { agoraAudience, licenseAudience, vendorAudience } from './http/audiences.ts';
import { licenseApiRoutes } from './licensing/license-api.routes.ts';
import { licensingVendorRoutes } from './licensing/vendor.routes.ts';
import { healthRoutes } from './ops/health.routes.ts';
import { statementsRoutes } from './statements/statements.routes.ts';
import { usageEventsRoutes } from './usage/usage-events.routes.ts';
import { signingKeysFromConfig } from './certificates/keys.ts';
import { certificateVendorRoutes } from './certificates/vendor.routes.ts';
import { webhooksRoutes } from './notifications/webhooks.routes.ts';
import { browseRoutes } from './browse/browse.routes.ts';
import { AgoraRequestLog, agoraRequestLog, type AgoraRequestEntry } from './agora-log/agora-log.ts';
import { answerRepeatedPages, RepeatedPages } from './agora/repeated-pages.ts';
import { agoraLogRoutes } from './agora-log/agora-log.routes.ts';
import { poolStatsOf } from './db/database.ts';
import { AppMetrics } from './ops/metrics.ts';
import { metricsRoutes } from './ops/metrics.routes.ts';
import { extensionRoutes } from './runtime/extension.routes.ts';
import { grantRoutes } from './runtime/grant.routes.ts';
import { runtimeVendorRoutes } from './runtime/vendor.routes.ts';
import { liveSessionsTotal } from './runtime/limits.service.ts';
import { consoleErrorPage, consoleRoutes } from './console/console.routes.tsx';
import { ConsoleGate } from './console/gate.ts';
import { pendingCorrectionsRoutes } from './usage/pending-corrections.routes.ts';

export const API_VERSION = '0.1.0';

/** Memory for the answers of repeated page polls, by URL (src/agora/repeated-pages.ts). */
const REPEATED_PAGES_BYTES = 32 * 1024 * 1024;

/** Builds the whole server; never listens. Tests and `main.ts` build exactly the same app. */
export function createApp(deps: AppDeps) {
  const app = newRouter();
  // Metrics and the log of Agora's requests: one of each per app, nothing global (tests build many).
  // (heavyReads is read at scrape time, once the app is built.)
  const metrics = new AppMetrics({ poolStats: () => poolStatsOf(deps.db), heavyReadsRunning: () => heavyReads.running, liveSessions: () => liveSessionsTotal(deps.db) });
  const agoraLog = new AgoraRequestLog(deps.db, {
    capacity: deps.config.agoraLogBuffer,
    retentionDays: deps.config.agoraLogRetentionDays,
    flushMs: 1000,
    clock: deps.clock,
    log: deps.log,
    onDropped: (n) => metrics.agoraLogDropped.inc(n),
  });
  const recordAgoraRequest = (e: AgoraRequestEntry) => {
    agoraLog.record(e);
    metrics.agoraRequest(e);
  };
  // First of all: a page poll whose exact URL was answered before gets the same bytes again, with
  // its request logged, measured and recorded as below (src/agora/repeated-pages.ts).
  const repeatedPages = new RepeatedPages(REPEATED_PAGES_BYTES);
  const repeated = answerRepeatedPages(repeatedPages, { log: deps.log, clock: deps.clock, observeRequest: (r) => metrics.observeRequest(r),
    recordAgoraRequest,
    answeredFromMemory: (kind) => metrics.agoraPagesFromMemory.inc({ kind }),
  });
  for (const path of ['/usage', '/bill']) app.use(path, repeated);
  app.use('*', requestLog({ log: deps.log }), deadline(deps.config.requestDeadlineMs, { log: deps.log }));
  app.use('*', metrics.middleware());
  for (const path of ['/usage', '/bill', '/customers/*']) app.use(path, agoraRequestLog(deps.clock, recordAgoraRequest));
  // Agora's calls go first for database connections; their own, shorter deadline is set with their routes.
  for (const path of ['/usage', '/bill', '/customers/*']) app.use(path, agoraPriority());
  if (deps.signatureFailures) {
    const failures = deps.signatureFailures;
    // Counted in memory only (src/notifications/signature-failures.ts): a flood costs no writes.
    for (const path of ['/usage', '/bill', '/customers/*']) {
      app.use(path, async function countSignatureFailures(c, next) {
        await next();
        if (c.error instanceof AppError && (c.error.code === 'invalid_signature' || c.error.code === 'unknown_api_key')) failures.record(deps.clock());
      });
    }
  }
  const heavyReads = new HeavyReadGate(deps.config.heavyReadConcurrency, deps.config.heavyReadQueue);
  // Previews compute a whole statement's lines (heavy like the CSVs, whose streams take their slot themselves).
  app.use('/v1/preview/*', heavyRead(heavyReads));
  const routeDeps = { ...deps, heavyReads, signingKeys: deps.signingKeys ?? signingKeysFromConfig(deps.config) };

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
  // Agora's license activation callback (src/runtime): signed like every Agora PUT; its own prefix.
  app.use('/license/customers/*', agoraPriority());
  app.route('/license/customers', grantRoutes(deps));

  // The vendor API: admin token, vendor envelope.
  const vendor = vendorAudience(deps);
  vendor.route('/usage-events', usageEventsRoutes(deps));
  vendor.route('/usage/pending-corrections', pendingCorrectionsRoutes(deps));
  vendor.route('/statements', statementsRoutes(routeDeps));
  vendor.route('/plans', plansRoutes(deps));
  vendor.route('/reconciliation', reconciliationRoutes(routeDeps));
  vendor.route('/', licensingVendorRoutes(routeDeps));
  vendor.route('/', runtimeVendorRoutes(routeDeps));
  vendor.route('/', webhooksRoutes(deps));
  vendor.route('/', browseRoutes(routeDeps));
  vendor.route('/agora-requests', agoraLogRoutes(deps, agoraLog));
  app.route('/v1', vendor);
  // Signing keys, license files and certificate packages (src/certificates): public, by token, and vendor paths.
  app.route('/', certificateVendorRoutes(routeDeps));

  // The license API (Agora console's paths): Basic credentials, rate limit, code/message envelope.
  const license = licenseAudience(deps);
  license.route('/', licenseApiRoutes(routeDeps));
  app.route('/dabiz/license', license);

  // The extension API (docs/extension-api.md): the project's appKey:appSecret, its own envelope and deadline.
  app.route('/ext/v1', extensionRoutes(deps));

  // Ops: Prometheus metrics.
  app.route('/', metricsRoutes(deps, metrics));

  // The vendor console: HTML pages whose every figure is this app's own API, called in process.
  app.route(
    '/console',
    consoleRoutes({
      adminToken: deps.adminToken,
      clock: deps.clock,
      log: deps.log,
      sessionHours: deps.config.consoleSessionHours,
      failuresPerMinute: deps.config.authFailuresPerMinute,
      gate: new ConsoleGate(deps.config.consoleConcurrency, deps.config.consoleQueue, deps.config.consoleSharePercent),
      api: async (path, init) => app.request(path, { headers: { authorization: `Bearer ${deps.adminToken}`, accept: init?.accept ?? 'application/json' } }),
    }),
  );

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
    // Errors of the console's own middleware are its pages; this is the app-wide deadline's.
    if (c.req.path === '/console' || c.req.path.startsWith('/console/')) return consoleErrorPage(err);
    const rendered = renderError(c, err);
    // 503s (database_unavailable, deadline_exceeded, overloaded) are expected under load or an
    // outage: the request log line names their code. Only the unexpected is logged in full here.
    if (rendered.status >= 500 && !(err instanceof AppError && rendered.status === 503)) {
      deps.log({ at: new Date().toISOString(), level: 'error', path: c.req.path, error: err instanceof Error ? err.message : String(err) });
    }
    return rendered;
  });
  // main.ts writes what the log holds before it closes the database, and gives the webhook worker's attempts to the metrics.
  return Object.assign(app, { agoraLog, metrics });
}

export type App = ReturnType<typeof createApp>;
