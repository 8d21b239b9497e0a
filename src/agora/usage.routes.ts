import { createRoute } from '@hono/zod-openapi';
import { exactJsonResponse } from '../json.ts';
import type { AppDeps } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { deadline } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import { Decimal } from '../decimal.ts';
import * as statements from '../statements/statements.repository.ts';
import { usageDescription, usageStatement } from '../usage/usage.service.ts';
import { agoraSignature } from './auth.ts';
import { DEFAULT_LIMIT, numericErrorResponse, pagedAmountsResponse, pagedWindowQuery } from './query.ts';
import { usageWindow } from './window.ts';

const route = createRoute({
  method: 'get',
  path: '/',
  tags: ['Agora'],
  summary: "Agora's daily usage poll",
  description:
    'Usage per project inside one UTC day, in pages. The first request for a window fixes its content; every later page and repeated poll returns the same entries.',
  request: { query: pagedWindowQuery },
  responses: {
    200: { description: 'a page of usage', content: { 'application/json': { schema: pagedAmountsResponse } } },
    400: { description: 'bad parameters', content: { 'application/json': { schema: numericErrorResponse } } },
    401: { description: 'unknown apiKey or wrong signature', content: { 'application/json': { schema: numericErrorResponse } } },
    503: { description: 'the database did not answer in time; retry', content: { 'application/json': { schema: numericErrorResponse } } },
  },
});

/** Mounted at /usage. */
export function usageRoutes(deps: AppDeps) {
  const router = newRouter();
  router.use('*', useEnvelope('agora-numeric'), deadline(deps.config.agoraDeadlineMs), agoraSignature({ keys: deps.apiKeys }));
  router.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const window = usageWindow(q.fromTs, q.toTs);
    const limit = q.limit ?? DEFAULT_LIMIT;
    const statement = await usageStatement(deps.db, window, deps.config.usageUnit);
    const offset = (q.pageNum - 1) * limit;
    const lines = offset < statement.line_count ? await statements.linesPage(deps.db, statement.id, offset, limit) : [];
    return exactJsonResponse({
      status: 0,
      statusReason: 'Success getting usage data',
      data: {
        totalSize: statement.line_count,
        pageNum: q.pageNum,
        hasNext: q.pageNum * limit < statement.line_count,
        data: lines.map((l) => ({ projectId: l.projectId, amount: new Decimal(l.amount), description: usageDescription(l, statement.unit) })),
      },
    }) as never;
  });
  return router;
}
