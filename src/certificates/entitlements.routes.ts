import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { AppDeps } from '../http/context.ts';
import { extensionErrorBody } from '../runtime/extension.routes.ts';
import { newRouter } from '../http/router.ts';
import { strictQuery } from '../licensing/auth.ts';
import { agentIdSchema } from './certificates.routes.ts';
import { entitlements } from './certificates.service.ts';

const expiry = z.object({
  active: z.boolean(),
  expiresAt: z.string().nullable().openapi({ description: 'RFC 3339; null when permanent or never licensed' }),
  permanent: z.boolean(),
});

/**
 * Mounted at /ext/v1/entitlements inside the extension audience (src/runtime/extension.routes.ts:
 * the project's appKey:appSecret, its envelope and deadline): the run-time check the extension makes. An expired platform
 * blocks management; an expired agent stops sending and receiving messages — the extension
 * enforces, the server answers.
 */
export function entitlementsRoutes(deps: AppDeps) {
  const router = newRouter();
  router.use('*', strictQuery());
  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Extension'],
      summary: "The platform's and an agent's licence, now",
      description: '`agent` is null without `agentId`; an agent that is not registered (or was deleted) answers `registered: false, active: false`.',
      security: [{ projectBasic: [] }],
      request: { query: z.object({ agentId: agentIdSchema.optional() }) },
      responses: {
        200: {
          description: 'the entitlements',
          content: {
            'application/json': {
              schema: z.object({
                customerId: z.string(),
                platform: expiry,
                agent: expiry.extend({ agentId: z.string(), registered: z.boolean() }).nullable(),
                checkedAt: z.string(),
              }),
            },
          },
        },
        400: { description: 'bad agentId', content: { 'application/json': { schema: extensionErrorBody } } },
        401: { description: 'no or wrong credentials', content: { 'application/json': { schema: extensionErrorBody } } },
      },
    }),
    async (c) => {
      const caller = c.get('licenseCaller');
      if (caller.kind !== 'project') throw new AppError('unauthorized', "The extension API takes a project's appKey:appSecret, not the admin token");
      const { agentId } = c.req.valid('query');
      const now = deps.clock();
      const e = await entitlements(deps.db, caller.customerId, agentId, now);
      return c.json({ customerId: caller.customerId, platform: e.platform, agent: e.agent, checkedAt: now.toISOString() }, 200);
    },
  );
  return router;
}
