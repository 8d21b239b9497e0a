import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import type { AppDeps, AppEnv } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { secretEquals } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import { strictQuery } from '../licensing/auth.ts';
import { agentIdSchema } from './certificates.routes.ts';
import { entitlements } from './certificates.service.ts';

/** Compared against when the appKey is unknown, so that case takes as long as a wrong secret. */
const NO_SECRET = 'x'.repeat(48);

/**
 * HTTP Basic with a project's appKey:appSecret (from provisioning): the extension's own
 * credentials. The project must be active. Puts the caller on the context as the license API does.
 */
export function extensionBasicAuth(options: { db: Db }): MiddlewareHandler<AppEnv> {
  return async function authenticateExtension(c, next) {
    const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(c.req.header('authorization') ?? '');
    const text = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
    const at = text.indexOf(':');
    if (at <= 0) throw new AppError('unauthorized', "Authorization is required: HTTP Basic with the project's appKey:appSecret");
    const project = await options.db
      .selectFrom('projects')
      .select(['project_id', 'customer_id', 'app_secret', 'deactivated_at'])
      .where('app_key', '=', text.slice(0, at))
      .executeTakeFirst();
    const secretOk = secretEquals(text.slice(at + 1), project?.app_secret ?? NO_SECRET);
    if (!project || !secretOk) throw new AppError('unauthorized', 'The appKey and appSecret do not match a provisioned project');
    if (project.deactivated_at) throw new AppError('unauthorized', `Project ${project.project_id} is deactivated; its credentials no longer work`);
    c.set('licenseCaller', { kind: 'project', customerId: project.customer_id, projectId: project.project_id });
    await next();
  };
}

const expiry = z.object({
  active: z.boolean(),
  expiresAt: z.string().nullable().openapi({ description: 'RFC 3339; null when permanent or never licensed' }),
  permanent: z.boolean(),
});
const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/**
 * Mounted at /ext/v1/entitlements: the run-time check the extension makes. An expired platform
 * blocks management; an expired agent stops sending and receiving messages — the extension
 * enforces, the server answers.
 */
export function entitlementsRoutes(deps: AppDeps) {
  const router = newRouter();
  router.use('*', useEnvelope('vendor'), strictQuery(), extensionBasicAuth({ db: deps.db }));
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
        400: { description: 'bad agentId', content: { 'application/json': { schema: errorBody } } },
        401: { description: 'no or wrong credentials', content: { 'application/json': { schema: errorBody } } },
      },
    }),
    async (c) => {
      const caller = c.get('licenseCaller');
      if (caller.kind !== 'project') throw new AppError('unauthorized', 'A project is required');
      const { agentId } = c.req.valid('query');
      const now = deps.clock();
      const e = await entitlements(deps.db, caller.customerId, agentId, now);
      return c.json({ customerId: caller.customerId, platform: e.platform, agent: e.agent, checkedAt: now.toISOString() }, 200);
    },
  );
  return router;
}
