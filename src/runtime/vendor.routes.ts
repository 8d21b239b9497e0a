import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../http/context.ts';
import { LruCache } from '../http/lru.ts';
import { limitBody } from '../http/middleware.ts';
import { BOOKMARKS, keysetPage, nextCursor } from '../http/paging.ts';
import { newRouter } from '../http/router.ts';
import { customerIdSchema, projectIdSchema } from '../ids.ts';
import { licenseMinutes, pcuOf, projectPcusOf, setOverage, setPcu } from './limits.service.ts';
import { wholeNumberOr } from '../http/params.ts';
import { minutesOf } from './rules.ts';
import { sessionsListing, type SessionRow } from './sessions.listing.ts';

const security = [{ adminToken: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

const pcuBody = z.object({
  pcu: z
    .number({ error: 'pcu must be a whole number or null' })
    .int('pcu must be a whole number')
    .min(0, 'pcu must be at least 0')
    .max(1_000_000_000, 'pcu must be at most 1000000000')
    // -0 is not a count anyone means: refused rather than read as 0.
    .refine((v) => !Object.is(v, -0), 'pcu must be a whole number from 0')
    .nullable()
    .openapi({ description: 'concurrent sessions allowed; null: no limit' }),
});
const pcuView = z.object({ pcu: z.number().int().nullable(), live: z.number().int().openapi({ description: 'sessions live now' }) });
const customerPcu = pcuView.extend({ customerId: z.string() }).openapi('CustomerPcu');
const projectPcu = pcuView.extend({ projectId: z.string() }).openapi('ProjectPcu');
const code = z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, "may hold letters, digits, '.', '_' and '-' only");
const licenseParam = z.string().min(1, 'license is empty').max(256, 'license is at most 256 characters');

const session$ = z
  .object({
    sessionId: z.string(),
    customerId: z.string(),
    projectId: z.string(),
    license: z.string().nullable(),
    grantId: z.string().nullable(),
    licenseKey: z.string(),
    media: z.string(),
    platform: z.string(),
    channel: z.string().nullable(),
    userId: z.string().nullable(),
    startedAt: z.string(),
    lastHeartbeatAt: z.string(),
    endedAt: z.string().nullable().openapi({ description: 'null while live; a silent session ended as of its last heartbeat' }),
    endedBy: z.string().nullable(),
    live: z.boolean(),
    seconds: z.number().int(),
    minutes: z.string(),
  })
  .openapi('Session');

function sessionView(s: SessionRow, now: Date) {
  const silent = s.ended_at === null && s.live_until.getTime() < now.getTime();
  return {
    sessionId: s.id,
    customerId: s.customer_id,
    projectId: s.project_id,
    license: s.license,
    grantId: s.grant_id,
    licenseKey: s.license_key,
    media: s.media,
    platform: s.platform,
    channel: s.channel,
    userId: s.user_id,
    startedAt: s.started_at.toISOString(),
    lastHeartbeatAt: s.last_seen_at.toISOString(),
    endedAt: s.ended_at !== null ? s.ended_at.toISOString() : silent ? s.last_seen_at.toISOString() : null,
    endedBy: s.end_reason ?? (silent ? 'silence' : null),
    live: s.ended_at === null && !silent,
    seconds: Number(s.seconds),
    minutes: minutesOf(s.seconds),
  };
}

const queryNumber = (name: string, min: number, max: number, dflt: number) =>
  z
    .string()
    .refine((v) => /^\d{1,10}$/.test(v) && Number(v) >= min && Number(v) <= max, `${name} must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .optional()
    .transform((n) => n ?? dflt);

const PATHS = ['/customers/:customerId/limits', '/projects/:projectId/limits', '/pids/:pid/overage', '/sessions', '/licenses/:license/minutes'];

/** Mounted at /v1: PCU limits, overage per PID, sessions and license minutes (admin token). */
export function runtimeVendorRoutes(deps: RouteDeps) {
  const router = newRouter();
  // The vendor audience (src/http/audiences.ts) gives the envelope and the admin token.
  for (const path of PATHS) router.use(path, limitBody(16 * 1024));
  const db = deps.db;
  const paging = { bookmarks: new LruCache<string>(BOOKMARKS), heavy: () => deps.heavyReads.acquire() };

  for (const scope of ['customer', 'project'] as const) {
    const path = scope === 'customer' ? '/customers/{customerId}/limits' : '/projects/{projectId}/limits';
    const params = scope === 'customer' ? z.object({ customerId: customerIdSchema }) : z.object({ projectId: projectIdSchema });
    const idOf = (p: { customerId: string } | { projectId: string }) => ('customerId' in p ? p.customerId : p.projectId);
    const view = scope === 'customer' ? customerPcu : projectPcu;
    const named = (id: string, v: { pcu: number | null; live: number }) => (scope === 'customer' ? { customerId: id, ...v } : { projectId: id, ...v });
    router.openapi(
      createRoute({
        method: 'put',
        path,
        tags: ['Runtime'],
        summary: `Set the ${scope}'s concurrent-user (PCU) limit`,
        description: 'A join is refused (reason 6) while the customer or the project has this many live sessions; exact on any number of instances. null: no limit.',
        security,
        request: { params, body: { required: true, ...json(pcuBody) } },
        responses: { 200: { description: 'the limit and the sessions live now', ...json(view) } },
      }),
      async (c) => {
        const id = idOf(c.req.valid('param'));
        const v = await setPcu(db, scope, id, c.req.valid('json').pcu, deps.clock());
        return c.json(named(id, v), 200);
      },
    );
    if (scope === 'customer') continue; // its GET, below, can also answer its projects'
    router.openapi(
      createRoute({
        method: 'get',
        path,
        tags: ['Runtime'],
        summary: `The ${scope}'s PCU limit and sessions live now`,
        security,
        request: { params },
        responses: { 200: { description: 'the limit and the sessions live now', ...json(view) } },
      }),
      async (c) => {
        const id = idOf(c.req.valid('param'));
        return c.json(named(id, await pcuOf(db, scope, id, deps.clock())), 200);
      },
    );
  }
  router.openapi(
    createRoute({
      method: 'get',
      path: '/customers/{customerId}/limits',
      tags: ['Runtime'],
      summary: "The customer's PCU limit and sessions live now (and its first projects')",
      description:
        "With `projects=N` (1 to 100), also its first N projects in projectId order, each with what `/projects/{projectId}/limits` answers, read in one query after the customer's silent sessions (which are all its projects') are ended.",
      security,
      request: {
        params: z.object({ customerId: customerIdSchema }),
        query: z.object({ projects: wholeNumberOr('projects', 0, 100, 0).openapi({ description: 'its first projects to answer too, 0 to 100, default 0 (none)' }) }),
      },
      responses: {
        200: {
          description: 'the limit and the sessions live now',
          ...json(customerPcu.extend({ projects: z.array(projectPcu).optional().openapi({ description: 'with `projects`: its first projects, projectId order' }) })),
        },
      },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      const { projects } = c.req.valid('query');
      const v = await pcuOf(db, 'customer', customerId, deps.clock());
      if (projects === 0) return c.json({ customerId, ...v }, 200);
      return c.json({ customerId, ...v, projects: await projectPcusOf(db, customerId, deps.clock(), projects) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'put',
      path: '/pids/{pid}/overage',
      tags: ['Runtime'],
      summary: "What happens past the SKU's monthly minute cap",
      description: '`block` (the default): joins are refused with reason 3 and running sessions told to end. `bill`: sessions go on and the minutes past the cap become usage events of the project, once.',
      security,
      request: { params: z.object({ pid: code }), body: { required: true, ...json(z.object({ overage: z.enum(['block', 'bill'], { error: 'overage must be block or bill' }) })) } },
      responses: { 200: { description: 'set', ...json(z.object({ pid: z.string(), overage: z.enum(['block', 'bill']) })) } },
    }),
    async (c) => {
      const { pid } = c.req.valid('param');
      const { overage } = c.req.valid('json');
      await setOverage(db, pid, overage);
      return c.json({ pid, overage }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/licenses/{license}/minutes',
      tags: ['Runtime'],
      summary: "A license's minutes this month (UTC)",
      security,
      request: { params: z.object({ license: licenseParam }) },
      responses: {
        200: {
          description: 'minutes used and left',
          ...json(
            z.object({
              license: z.string(),
              month: z.string(),
              minutesCap: z.number().int().nullable(),
              minutesUsed: z.string(),
              minutesLeft: z.string().nullable(),
              overage: z.enum(['block', 'bill']),
              overageMinutesBilled: z.string(),
            }),
          ),
        },
      },
    }),
    async (c) => c.json(await licenseMinutes(db, c.req.valid('param').license, deps.clock()), 200),
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/sessions',
      tags: ['Runtime'],
      summary: 'Live and past sessions, in join order',
      description:
        "Filters: customerId, projectId, license, live (`true`/`false`). Walk it with `page` = 1, 2, 3… or with `after` = the previous page's `next`; a page costs the same at any depth. `count` is exact up to 10,000.",
      security,
      request: {
        query: z.object({
          customerId: customerIdSchema.optional(),
          projectId: projectIdSchema.optional(),
          license: licenseParam.optional(),
          live: z.enum(['true', 'false'], { error: 'live must be true or false' }).optional(),
          page: queryNumber('page', 1, 1_000_000, 1),
          size: queryNumber('size', 1, 100, 100),
          after: z
            .string()
            .refine((v) => /^(0|[1-9]\d{0,18})$/.test(v) && BigInt(v) <= 9223372036854775807n, 'after must be the previous page\'s next')
            .optional(),
        }),
      },
      responses: {
        200: {
          description: 'a page',
          ...json(z.object({ count: z.number().int(), countExact: z.boolean(), page: z.number().int(), size: z.number().int(), next: z.string().nullable(), data: z.array(session$) })),
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const now = deps.clock();
      const listing = sessionsListing(db, { customerId: q.customerId, projectId: q.projectId, license: q.license, live: q.live === undefined ? undefined : q.live === 'true', now });
      const p = await keysetPage(listing, q, paging);
      return c.json({ count: p.count, countExact: p.exact, page: q.page, size: q.size, next: nextCursor(listing, p, q.size), data: p.rows.map((r) => sessionView(r, now)) }, 200);
    },
  );
  return router;
}
