import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { AppDeps } from '../http/context.ts';
import { limitBody } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import { urlProblem } from './addresses.ts';
import { EVENT_TYPE_NAMES, isEventType } from './outbox.ts';
import { newSecret } from './signing.ts';
import * as repo from './webhooks.repository.ts';

const security = [{ adminToken: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

const url = z.string().min(1, 'url is empty').max(2048, 'url is at most 2048 characters').openapi({ example: 'https://example.com/webhooks/agora' });
const events = z
  .array(z.string().max(64).refine((t) => t === '*' || isEventType(t), { message: `events must be event types (${EVENT_TYPE_NAMES.join(', ')}) or "*"` }))
  .min(1, 'events lists at least one event type, or "*"')
  .max(EVENT_TYPE_NAMES.length + 1)
  .transform((list) => [...new Set(list)])
  .openapi({ example: ['license.expiring', 'license.expired'] });
const description = z.string().max(512, 'description is at most 512 characters').regex(/^[^\u0000-\u0008\u000b-\u001f\u007f]*$/, 'description must be printable text');
const endpointId = z.string().regex(/^ep_[0-9a-f]{24}$/, 'id must be an endpoint id (ep_…)');
// One check: a failed pattern must not reach BigInt (zod runs every check of a failed value).
const deliveryId = z.string().refine((v) => /^[1-9]\d{0,18}$/.test(v) && BigInt(v) <= 9223372036854775807n, 'id must be a delivery id');

const endpointView = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable().openapi({ description: 'why the server disabled it (5 days of failures); null when enabled or disabled by hand' }),
    failingSince: z.string().nullable(),
    previousSecretValidUntil: z.string().nullable().openapi({ description: 'during a rotation: until when deliveries are also signed with the previous secret' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookEndpoint');
const createdView = endpointView.extend({ secret: z.string().openapi({ description: 'whsec_…: shown this once' }) }).openapi('WebhookEndpointCreated');

function view(e: repo.EndpointRow, now: Date) {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    description: e.description,
    enabled: e.enabled,
    disabledReason: e.disabled_reason,
    failingSince: e.failing_since?.toISOString() ?? null,
    previousSecretValidUntil: e.previous_secret_until && e.previous_secret_until > now ? e.previous_secret_until.toISOString() : null,
    createdAt: e.created_at.toISOString(),
    updatedAt: e.updated_at.toISOString(),
  };
}

const attemptView = z.object({
  at: z.string(),
  httpStatus: z.number().int().nullable(),
  durationMs: z.number().int(),
  error: z.string().nullable(),
  response: z.string().nullable().openapi({ description: 'the first 1 KB of the answer' }),
});
const deliveryView = z
  .object({
    id: z.string(),
    eventId: z.string().openapi({ description: 'the webhook-id header' }),
    type: z.string(),
    endpointId: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    nextAttemptAt: z.string().nullable(),
    createdAt: z.string(),
    attemptLog: z.array(attemptView),
  })
  .openapi('WebhookDelivery');

const PATHS = ['/webhook-endpoints', '/webhook-endpoints/*', '/webhook-deliveries', '/webhook-deliveries/*'];

/** Mounted at /v1: webhook endpoints and the delivery log (admin token). docs/webhooks.md. */
export function webhooksRoutes(deps: AppDeps) {
  const router = newRouter();
  // The vendor audience (src/http/audiences.ts) gives the envelope and the admin token.
  for (const path of PATHS) router.use(path, limitBody(16 * 1024));
  const db = deps.db;
  const allowPrivate = deps.config.webhooks.allowPrivate || deps.config.nodeEnv !== 'production';
  const checkUrl = async (u: string) => {
    const problem = await urlProblem(u, allowPrivate);
    if (problem) throw new AppError('invalid_parameter', problem, [{ path: 'url', message: problem }]);
  };
  const notFound = (id: string) => new AppError('not_found', `No webhook endpoint ${id}`);

  router.openapi(
    createRoute({
      method: 'post',
      path: '/webhook-endpoints',
      tags: ['Webhooks'],
      summary: 'Register a webhook endpoint',
      description: 'Answers the endpoint with its signing `secret` (`whsec_…`), shown this once. URLs are http or https; in production loopback, private, link-local and metadata addresses are refused unless WEBHOOK_ALLOW_PRIVATE=true.',
      security,
      request: { body: { required: true, ...json(z.object({ url, events, description: description.optional() })) } },
      responses: { 201: { description: 'registered', ...json(createdView) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      await checkUrl(b.url);
      const now = deps.clock();
      const secret = newSecret();
      const e = await repo.insertEndpoint(db, { id: repo.newEndpointId(), url: b.url, events: b.events, description: b.description ?? null, secret, at: now });
      return c.json({ ...view(e, now), secret }, 201);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/webhook-endpoints',
      tags: ['Webhooks'],
      summary: 'The webhook endpoints (never their secrets)',
      security,
      responses: { 200: { description: 'endpoints', ...json(z.object({ data: z.array(endpointView) })) } },
    }),
    async (c) => {
      const now = deps.clock();
      return c.json({ data: (await repo.listEndpoints(db)).map((e) => view(e, now)) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'patch',
      path: '/webhook-endpoints/{id}',
      tags: ['Webhooks'],
      summary: 'Change an endpoint’s url, events, description or enabled',
      description: 'Enabling an endpoint the server disabled starts its failure streak over.',
      security,
      request: {
        params: z.object({ id: endpointId }),
        body: { required: true, ...json(z.object({ url: url.optional(), events: events.optional(), description: description.nullable().optional(), enabled: z.boolean().optional() })) },
      },
      responses: { 200: { description: 'the endpoint', ...json(endpointView) } },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const b = c.req.valid('json');
      if (b.url !== undefined) await checkUrl(b.url);
      const now = deps.clock();
      const e = await repo.updateEndpoint(db, id, b, now);
      if (!e) throw notFound(id);
      return c.json(view(e, now), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'delete',
      path: '/webhook-endpoints/{id}',
      tags: ['Webhooks'],
      summary: 'Remove an endpoint (its delivery log stays; pending deliveries are failed)',
      security,
      request: { params: z.object({ id: endpointId }) },
      responses: { 204: { description: 'removed' } },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!(await repo.deleteEndpoint(db, id))) throw notFound(id);
      return c.body(null, 204);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/webhook-endpoints/{id}/rotate-secret',
      tags: ['Webhooks'],
      summary: 'A new signing secret',
      description: 'For 24 hours deliveries carry two signatures, with the old and the new secret, so the receiver can switch at its own pace.',
      security,
      request: { params: z.object({ id: endpointId }) },
      responses: { 200: { description: 'the endpoint and its new secret, shown this once', ...json(createdView) } },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const now = deps.clock();
      const secret = newSecret();
      const e = await repo.rotateSecret(db, id, secret, now);
      if (!e) throw notFound(id);
      return c.json({ ...view(e, now), secret }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/webhook-deliveries',
      tags: ['Webhooks'],
      summary: 'The delivery log, newest first',
      description: 'Each delivery with every attempt: time, HTTP status, duration, error and the first 1 KB of the answer. Pages: pass `next` as `after`.',
      security,
      request: {
        query: z.object({
          endpoint: endpointId.optional(),
          type: z.string().max(64).refine((t) => isEventType(t), 'type must be an event type').optional(),
          status: z.enum(['pending', 'delivered', 'failed'], { error: 'status must be pending, delivered or failed' }).optional(),
          after: deliveryId.optional(),
          limit: z
            .string()
            .regex(/^\d{1,3}$/, 'limit must be a whole number from 1 to 100')
            .transform(Number)
            .refine((n) => n >= 1 && n <= 100, 'limit must be a whole number from 1 to 100')
            .optional(),
        }),
      },
      responses: { 200: { description: 'deliveries', ...json(z.object({ data: z.array(deliveryView), next: z.string().nullable() })) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = q.limit ?? 50;
      const { deliveries, attempts } = await repo.listDeliveries(db, { endpointId: q.endpoint, type: q.type, status: q.status, after: q.after, limit });
      const byDelivery = new Map<string, repo.AttemptRow[]>();
      for (const a of attempts) {
        const list = byDelivery.get(a.delivery_id) ?? [];
        list.push(a);
        byDelivery.set(a.delivery_id, list);
      }
      const data = deliveries.map((d) => ({
        id: d.id,
        eventId: d.event_id,
        type: d.type,
        endpointId: d.endpoint_id,
        status: d.status,
        attempts: d.attempts,
        nextAttemptAt: d.status === 'pending' ? d.next_attempt_at.toISOString() : null,
        createdAt: d.created_at.toISOString(),
        attemptLog: (byDelivery.get(d.id) ?? []).map((a) => ({ at: a.at.toISOString(), httpStatus: a.http_status, durationMs: a.duration_ms, error: a.error, response: a.response })),
      }));
      return c.json({ data, next: deliveries.length === limit ? deliveries[deliveries.length - 1]!.id : null }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/webhook-deliveries/{id}/retry',
      tags: ['Webhooks'],
      summary: 'Send a delivery again now',
      description: 'One more attempt as soon as a worker is free, with the same webhook-id; a failed delivery gets one attempt, a pending one goes on with its schedule.',
      security,
      request: { params: z.object({ id: deliveryId }) },
      responses: { 202: { description: 'due now', ...json(z.object({ id: z.string(), status: z.literal('pending') })) } },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!(await repo.retryNow(db, id, deps.clock()))) throw new AppError('not_found', `No delivery ${id} to an existing endpoint`);
      return c.json({ id, status: 'pending' as const }, 202);
    },
  );

  return router;
}
