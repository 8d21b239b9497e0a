import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv, RouteDeps } from '../../http/context.ts';
import { limitBody } from '../../http/middleware.ts';
import { vendorErrors } from '../../http/openapi.ts';
import { customerIdSchema } from '../../ids.ts';
import type { PagingDeps } from '../listings.service.ts';
import * as listings from '../listings.repository.ts';
import type * as quotaRepo from '../quota.repository.ts';
import { orderRenewal, purchase } from '../quota.service.ts';
import { byId, code, json, pageOf, paged, pagingQuery, security, WALK } from './schemas.ts';

const count = z.number().int('count must be a whole number').min(1, 'count must be at least 1').max(1_000_000, 'count must be at most 1000000');
const purchaseView = (p: quotaRepo.PurchaseRow) => ({
  id: p.id,
  orderId: p.order_id,
  customerId: p.customer_id,
  pid: p.pid,
  count: p.count,
  createdAt: p.created_at.toISOString(),
});
const purchase$ = z
  .object({ id: z.string(), orderId: z.string().nullable(), customerId: z.string(), pid: z.string(), count: z.number().int(), createdAt: z.string() })
  .openapi('LicensePurchase');

const renewalOrderView = (r: quotaRepo.RenewalRow) => ({
  renewId: r.renew_id,
  customerId: r.customer_id,
  pid: r.pid,
  count: r.capacity,
  used: r.used,
  available: r.capacity - r.used,
  createdAt: r.created_at.toISOString(),
});
const renewal$ = z
  .object({
    renewId: z.string(),
    customerId: z.string(),
    pid: z.string(),
    count: z.number().int(),
    used: z.number().int(),
    available: z.number().int(),
    createdAt: z.string(),
  })
  .openapi('LicenseRenewalOrder');

/** Sales: purchases (licenses added to a customer's quota) and renewal orders. */
export function registerSalesRoutes(router: OpenAPIHono<AppEnv>, deps: RouteDeps, paging: PagingDeps): void {
  const db = deps.db;
  for (const path of ['/purchases', '/renewals']) router.use(path, limitBody(64 * 1024));

  router.openapi(
    createRoute({
      method: 'post',
      path: '/purchases',
      tags: ['Licensing'],
      summary: "Add licenses of a PID to a customer's quota",
      description:
        "The licenses join the customer's shared quota (any of its projects, first come first served) until allocated to a project. With `orderId`, a repeat adds nothing and answers 200 with the first purchase.",
      security,
      request: {
        body: {
          required: true,
          ...json(z.object({ customerId: customerIdSchema, pid: code('pid'), count, orderId: code('orderId').optional().openapi({ description: 'your order id; makes a retry safe' }) })),
        },
      },
      responses: { ...vendorErrors, 201: { description: 'added', ...json(purchase$) }, 200: { description: 'this orderId was already recorded', ...json(purchase$) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const result = await purchase(db, { customerId: b.customerId, pid: b.pid, count: b.count, orderId: b.orderId ?? null });
      return c.json(purchaseView(result.purchase), result.created ? 201 : 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/purchases',
      tags: ['Licensing'],
      summary: 'Purchases, oldest first',
      description: WALK,
      security,
      request: { query: z.object({ customerId: customerIdSchema.optional(), pid: code('pid').optional(), ...byId('purchase') }) },
      responses: { ...vendorErrors, 200: { description: 'a page', ...json(paged(purchase$)) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await pageOf(listings.purchases(db, { customerId: q.customerId, pid: q.pid }), q, paging, purchaseView), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/renewals',
      tags: ['Licensing'],
      summary: 'Record a renewal order',
      description:
        "`count` renewals of the PID for the customer; each extends one license by the PID's validity when the customer calls /dabiz/license/v2/renew. `renewId` unset: generated. The same renewId with the same values again answers 200.",
      security,
      request: {
        body: {
          required: true,
          ...json(z.object({ customerId: customerIdSchema, pid: code('pid'), count, renewId: code('renewId').optional() })),
        },
      },
      responses: { ...vendorErrors, 201: { description: 'recorded', ...json(renewal$) }, 200: { description: 'already recorded', ...json(renewal$) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const { order, created } = await orderRenewal(db, { customerId: b.customerId, pid: b.pid, count: b.count, renewId: b.renewId });
      return c.json(renewalOrderView(order), created ? 201 : 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/renewals',
      tags: ['Licensing'],
      summary: 'Renewal orders, oldest first',
      description: WALK,
      security,
      request: { query: z.object({ customerId: customerIdSchema.optional(), pid: code('pid').optional(), ...pagingQuery('the renewId', /^[A-Za-z0-9._-]{1,64}$/, 'R-2027-01') }) },
      responses: { ...vendorErrors, 200: { description: 'a page', ...json(paged(renewal$)) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await pageOf(listings.renewals(db, { customerId: q.customerId, pid: q.pid }), q, paging, renewalOrderView), 200);
    },
  );
}
