import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv, RouteDeps } from '../../http/context.ts';
import { limitBody } from '../../http/middleware.ts';
import * as licenses from '../licenses.service.ts';
import * as listings from '../listings.service.ts';
import type { PagingDeps } from '../listings.service.ts';
import { pidTypeNumber, unixSeconds } from '../views.ts';
import { after, answer, appid, countedNext, errors, json, MAX_PAGE_SIZE, ok, page, pid, security, size } from './schemas.ts';

const allocated = z.object({
  pid: z.string(),
  appid: z.string(),
  count: z.number().int(),
  projectQuota: z.object({ total: z.number().int(), used: z.number().int(), available: z.number().int() }),
  sharedAvailable: z.number().int(),
});
const allocationsPage = countedNext(
  z.object({
    pid: z.string(),
    type: z.number().int().openapi({ description: '1 commercial, 2 trial' }),
    creator: z.string(),
    count: z.number().int(),
    createTime: z.number().int().openapi({ description: 'Unix seconds' }),
  }),
);

/** Allocations: licenses of the customer's shared quota given to one project, and their list. */
export function registerAllocationRoutes(router: OpenAPIHono<AppEnv>, deps: RouteDeps, paging: PagingDeps): void {
  const db = deps.db;
  router.use('/v2/allocate', limitBody(64 * 1024));

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/allocate',
      tags: ['License'],
      summary: 'Allocate licenses of the shared quota to a project',
      description: 'Allocated licenses are that project’s alone. All or nothing: with fewer unallocated licenses left than asked, nothing changes (403 quota_exhausted).',
      security,
      request: {
        query: z.object({ appid }),
        body: {
          required: true,
          ...json(
            z.object({
              pid,
              count: z.number().int('count must be a whole number').min(1, 'count must be at least 1').max(1_000_000, 'count must be at most 1000000'),
              creator: z.string().max(64, 'creator is at most 64 characters').optional(),
            }),
          ),
        },
      },
      responses: {
        200: {
          description: 'allocated',
          ...json(answer(allocated)),
        },
        ...errors,
      },
    }),
    async (c) => {
      const { appid } = c.req.valid('query');
      const b = c.req.valid('json');
      const result = await licenses.allocate(db, c.get('licenseCaller'), { appid, pid: b.pid, count: b.count, creator: b.creator ?? null });
      return ok(allocated, result, `Allocated ${b.count} licenses of PID ${b.pid} to project ${appid}`);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v2/product/allocations',
      tags: ['License'],
      summary: 'The allocations made to a project, newest first',
      description:
        'Walk it with `page` = 1, 2, 3… (each page continues where the previous one ended), or with `after` = the previous page\'s `next`; either way a page costs the same at any depth. `count` is the number of allocations of the whole list (a maintained counter).',
      security,
      request: { query: z.object({ appid, pid: pid.optional(), page, size, after: after('the allocation id', /^[1-9]\d{0,18}$/, '42', true) }) },
      responses: {
        200: {
          description: 'a page',
          ...json(answer(allocationsPage)),
        },
        ...errors,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const { rows, count, next } = await listings.allocations(
        db,
        c.get('licenseCaller'),
        { appid: q.appid, pid: q.pid, page: q.page ?? 1, size: q.size ?? MAX_PAGE_SIZE, after: q.after },
        paging,
      );
      return ok(allocationsPage, {
        count,
        list: rows.map((r) => ({ pid: r.pid, type: pidTypeNumber(r.type), creator: r.creator ?? '', count: r.count, createTime: unixSeconds(r.created_at) })),
        next,
      });
    },
  );
}
