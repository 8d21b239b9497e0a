import { createRoute, z } from '@hono/zod-openapi';
import type { AppDeps } from '../http/context.ts';
import { limitBody } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import { ingestUsageEvents } from './usage.service.ts';
import { usageEventDoc } from './usage-event.ts';
import { observer } from '../ops/observe.ts';
import { vendorErrors } from '../http/openapi.ts';

export const MAX_EVENTS_PER_REQUEST = 1000;

const requestBody = z.object({
  events: z
    // Each event is checked alone by `parseUsageEvent` (one bad event is rejected alone, not the
    // batch); the document shows the event's schema.
    .array(z.unknown().openapi({ allOf: [{ $ref: '#/components/schemas/UsageEventInput' }] }))
    .min(1, 'events must hold at least one event')
    .max(MAX_EVENTS_PER_REQUEST, `at most ${MAX_EVENTS_PER_REQUEST} events per request`),
});

const result = z.object({
  index: z.number().int(),
  id: z.string().nullable(),
  status: z.enum(['accepted', 'duplicate', 'rejected']),
  code: z.string().optional(),
  message: z.string().optional(),
});

const route = createRoute({
  method: 'post',
  path: '/',
  tags: ['Vendor'],
  summary: 'Send usage events',
  description:
    'Up to 1,000 events a request. Each is accepted, a duplicate (same id, same content) or rejected with a code; valid events are stored whatever happens to the others, so re-sending a batch is always safe.',
  security: [{ adminToken: [] }],
  request: { body: { content: { 'application/json': { schema: requestBody } }, required: true } },
  responses: { ...vendorErrors,
    200: {
      description: 'per-event results, in request order',
      content: {
        'application/json': {
          schema: z.object({ accepted: z.number().int(), duplicates: z.number().int(), rejected: z.number().int(), results: z.array(result) }),
        },
      },
    },
  },
});

/** Mounted at /v1/usage-events. */
export function usageEventsRoutes(deps: AppDeps) {
  // Each event's text is checked with the event (`parseUsageEvent`): a bad one is rejected alone.
  const router = newRouter({ itemsCheckedByRoute: 'events' });
  router.openAPIRegistry.register('UsageEventInput', usageEventDoc);
  router.use('*', limitBody(4 * 1024 * 1024));
  router.openapi(route, async (c) => {
    const { events } = c.req.valid('json');
    const summary = await ingestUsageEvents(deps.db, events, deps.clock().getTime());
    observer()?.usageEvents(summary);
    return c.json(summary, 200);
  });
  return router;
}
