import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import { AppError } from '../errors.ts';
import type { AppDeps } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { deadline } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';

const ok = z.object({ status: z.literal('ok') });

export function healthRoutes(deps: AppDeps) {
  const router = newRouter();
  router.use('/healthz', useEnvelope('vendor'));
  router.use('/readyz', useEnvelope('vendor'), deadline(1000));
  router.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags: ['Operations'],
      summary: 'The process is up',
      responses: { 200: { description: 'up', content: { 'application/json': { schema: ok } } } },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );
  router.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags: ['Operations'],
      summary: 'The database answers',
      responses: {
        200: { description: 'ready', content: { 'application/json': { schema: ok } } },
        503: { description: 'the database does not answer' },
      },
    }),
    async (c) => {
      try {
        await sql`select 1`.execute(deps.db);
      } catch {
        throw new AppError('database_unavailable', 'The database does not answer');
      }
      return c.json({ status: 'ok' as const }, 200);
    },
  );
  return router;
}
