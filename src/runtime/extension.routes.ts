import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { Context } from 'hono';
import type { AppDeps, AppEnv } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { deadline, limitBody } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import { licenseAuth } from '../licensing/auth.ts';
import { checkLicenseKey } from '../licensing/license-key.ts';
import { MEDIA, PLATFORMS } from './rules.ts';
import { heartbeat, join, leave, type Caller } from './sessions.service.ts';
import { entitlementsRoutes } from '../certificates/entitlements.routes.ts';

const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
const security = [{ projectBasic: [] }];

/** The extension audience's error body (src/http/envelope.ts, `extension`). */
export const extensionErrorBody = z
  .object({
    code: z.number().int(),
    reason: z.number().int().nullable().openapi({ description: 'a refused join: 1–8 (see the table); an ended session: 2–4, or null when it left or went silent' }),
    error: z.string().openapi({ description: 'the stable name: LICENSE_INVALID … PLATFORM_NOT_LICENSED, SESSION_ENDED, or an error code' }),
    endedBy: z.string().optional(),
    message: z.string(),
  })
  .openapi('ExtensionError');
const errorBody = extensionErrorBody;

const errors = {
  400: { description: 'bad input', ...json(errorBody) },
  401: { description: "not a project's appKey:appSecret, or the project is deactivated", ...json(errorBody) },
  503: { description: 'the database did not answer within the deadline; see docs/extension-api.md', ...json(errorBody) },
};

const text64 = (name: string) => z.string().min(1, `${name} is empty`).max(64, `${name} is at most 64 characters`).optional();
const joinBody = z.object({
  license: z.string().min(1, 'license is empty').max(256, 'license is at most 256 characters').optional().openapi({ description: 'the license value; omit under an Agora grant' }),
  licenseKey: z.string().openapi({ description: 'the device (under 64 bytes)', example: 'SN-0042' }),
  media: z.enum(MEDIA, { error: `media must be one of ${MEDIA.join(', ')}` }),
  platform: z.enum(PLATFORMS, { error: `platform must be one of ${PLATFORMS.join(', ')}` }),
  channel: text64('channel'),
  userId: text64('userId'),
});
const joined = z
  .object({
    sessionId: z.string(),
    heartbeatSeconds: z.number().int(),
    expireTime: z.number().int().openapi({ description: 'Unix seconds: when the license (or grant) expires' }),
    minutesLeft: z.string().nullable().openapi({ description: "minutes left this month under the SKU's cap, an exact decimal; null: no cap" }),
    periodEndsAt: z.number().int().nullable().openapi({ description: "Unix seconds: when the SKU's usage period of the day next ends; null: no period" }),
  })
  .openapi('ExtensionSession');
const beat = z
  .object({
    minutesUsed: z.string().openapi({ description: "this session's minutes so far" }),
    minutesLeft: z.string().nullable(),
    end: z.object({ reason: z.number().int(), error: z.string() }).nullable().openapi({ description: 'not null: stop now (the session is ended)' }),
  })
  .openapi('ExtensionHeartbeat');
const left = z.object({ seconds: z.number().int(), minutes: z.string() }).openapi('ExtensionLeave');
const sessionParam = z.object({
  sessionId: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'sessionId must be the id a join answered (a UUID)')
    .openapi({ example: '3f0c5a8e-2b7d-4c1e-9a6f-0d8b7e5c4a21' }),
});

/**
 * The extension API, mounted at /ext/v1: the vendor's extension, on the customer's device, with
 * the project's appKey:appSecret as HTTP Basic. Its own envelope, deadline and (optional) rate;
 * credentials are remembered per instance, and every statement checks the project is still active.
 */
export function extensionRoutes(deps: AppDeps) {
  const router = newRouter();
  router.use(
    '*',
    useEnvelope('extension'),
    deadline(deps.config.extDeadlineMs),
    limitBody(16 * 1024),
    licenseAuth({
      db: deps.db,
      adminToken: deps.adminToken,
      perSecond: deps.config.extRateLimit,
      failuresPerMinute: deps.config.authFailuresPerMinute,
      // Every extension statement reads the project's and customer's deactivation itself.
      checksActiveItself: () => true,
    }),
  );
  router.openAPIRegistry.registerComponent('securitySchemes', 'projectBasic', { type: 'http', scheme: 'basic', description: "the project's appKey:appSecret" });

  const callerOf = (c: Context<AppEnv>): Caller => {
    const who = c.get('licenseCaller');
    if (who.kind !== 'project') throw new AppError('unauthorized', "The extension API takes a project's appKey:appSecret, not the admin token");
    return { customerId: who.customerId, projectId: who.projectId };
  };

  router.openapi(
    createRoute({
      method: 'post',
      path: '/sessions',
      tags: ['Extension'],
      summary: 'Join: a user of a device enters a channel',
      description: 'Checks the license (or an Agora grant) and the PCU limits; 403 with `reason` 1–8 and its `error` name when refused.',
      security,
      request: { body: { required: true, ...json(joinBody) } },
      responses: { 201: { description: 'the session', ...json(joined) }, 403: { description: 'refused: see `reason`', ...json(errorBody) }, ...errors },
    }),
    async (c) => {
      const caller = callerOf(c);
      const b = c.req.valid('json');
      const licenseKey = checkLicenseKey(b.licenseKey);
      const answer = await join(deps.db, caller, { ...b, licenseKey }, deps.clock(), deps.config.extHeartbeatSeconds);
      return c.json(answer, 201);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/sessions/{sessionId}/heartbeat',
      tags: ['Extension'],
      summary: 'Heartbeat: the session is still running',
      description: 'Every `heartbeatSeconds`. `end` not null: stop now (the license expired, the minutes ran out, the period ended). 410: the session had already ended.',
      security,
      request: { params: sessionParam },
      responses: {
        200: { description: 'counted', ...json(beat) },
        404: { description: 'no such session of this project', ...json(errorBody) },
        410: { description: 'the session has ended', ...json(errorBody) },
        ...errors,
      },
    }),
    async (c) => c.json(await heartbeat(deps.db, callerOf(c), c.req.valid('param').sessionId, deps.clock()), 200),
  );

  router.openapi(
    createRoute({
      method: 'delete',
      path: '/sessions/{sessionId}',
      tags: ['Extension'],
      summary: 'Leave: the session ends',
      description: 'Answers the seconds and minutes of the session; a repeat answers the same.',
      security,
      request: { params: sessionParam },
      responses: { 200: { description: 'ended', ...json(left) }, 404: { description: 'no such session of this project', ...json(errorBody) }, ...errors },
    }),
    async (c) => c.json(await leave(deps.db, callerOf(c), c.req.valid('param').sessionId, deps.clock()), 200),
  );
  // Certificates' run-time check (src/certificates) belongs to this audience: the same credentials and envelope.
  router.route('/entitlements', entitlementsRoutes(deps));
  return router;
}
