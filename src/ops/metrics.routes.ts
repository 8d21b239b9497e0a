import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { AppDeps } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { secretEquals } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import type { AppMetrics } from './metrics.ts';

/** GET /metrics: Prometheus text, behind `Authorization: Bearer <METRICS_TOKEN>` when that is set. */
export function metricsRoutes(deps: AppDeps, metrics: AppMetrics) {
  const router = newRouter();
  const token = deps.config.metricsToken;
  router.use('/metrics', useEnvelope('vendor'), async function requireMetricsToken(c, next) {
    if (token !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !secretEquals(m[1]!, token)) throw new AppError('unauthorized', 'Authorization: Bearer <METRICS_TOKEN> is required');
    }
    await next();
  });
  router.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      tags: ['Operations'],
      summary: 'Metrics in Prometheus text format',
      description: 'Open, or behind `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set. See docs/operations.md for the series.',
      responses: { 200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: z.string() } } } },
    }),
    async (c) => {
      const { contentType, text } = await metrics.scrape();
      return c.text(text, 200, { 'content-type': contentType });
    },
  );
  return router;
}
