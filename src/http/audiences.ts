import { agoraSignature } from '../agora/auth.ts';
import { licenseAuth, strictQuery } from '../licensing/auth.ts';
import type { AppDeps } from './context.ts';
import { useEnvelope } from './envelope.ts';
import { adminAuth, deadline, limitBody } from './middleware.ts';
import { newRouter } from './router.ts';

/**
 * The audiences of the server. Each is a router whose middleware stack is applied once, in front
 * of every route mounted on it; `app.ts` mounts each area's router on its audience with one line.
 */

/**
 * Agora's calls: its envelope, its shorter deadline, the HMAC-SHA1 signature. The usage and bill
 * polls answer a numeric status; provisioning and the license query a text one, and their bodies
 * (read for the signature) are limited first.
 */
export function agoraAudience(deps: AppDeps, envelope: 'agora-numeric' | 'agora-text') {
  const router = newRouter();
  const signature = agoraSignature({ keys: deps.apiKeys });
  if (envelope === 'agora-text') router.use('*', useEnvelope(envelope), deadline(deps.config.agoraDeadlineMs), limitBody(64 * 1024), signature);
  else router.use('*', useEnvelope(envelope), deadline(deps.config.agoraDeadlineMs), signature);
  return router;
}

/** The vendor API, `/v1`: the vendor envelope and the admin token. Body limits are each router's own. */
export function vendorAudience(deps: AppDeps) {
  const router = newRouter();
  router.use('*', useEnvelope('vendor'), adminAuth({ token: deps.adminToken }));
  return router;
}

/**
 * The license API, `/dabiz/license` (Agora console's paths and answers): its `{code, message,
 * data}` envelope, no repeated query parameters, Basic appKey:appSecret (or the admin token) with
 * the per-customer rate limit.
 */
export function licenseAudience(deps: AppDeps) {
  const router = newRouter();
  router.openAPIRegistry.registerComponent('securitySchemes', 'projectBasic', {
    type: 'http',
    scheme: 'basic',
    description: "a project's appKey:appSecret from provisioning",
  });
  router.use(
    '*',
    useEnvelope('license-api'),
    strictQuery(),
    licenseAuth({
      db: deps.db,
      adminToken: deps.adminToken,
      perSecond: deps.config.licenseRateLimit,
      failuresPerMinute: deps.config.authFailuresPerMinute,
      // Activation refuses a deactivated caller in its own statement (licenses.service.ts). The
      // whole path (app.ts mounts the license API at /dabiz/license): no other path may skip the check.
      checksActiveItself: (c) => c.req.method === 'POST' && c.req.path === '/dabiz/license/v2/active',
    }),
  );
  return router;
}
