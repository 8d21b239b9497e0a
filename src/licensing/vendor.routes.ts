import { createRoute, z } from '@hono/zod-openapi';
import { csvLine, wantsCsv } from '../csv.ts';
import { AppError } from '../errors.ts';
import type { RouteDeps } from '../http/context.ts';
import { LruCache } from '../http/lru.ts';
import { limitBody } from '../http/middleware.ts';
import { BOOKMARKS, keysetPage, nextCursor, type Listing, type PageBookmarks } from '../http/paging.ts';
import { afterCursor, projectIdText, wholeNumberOr } from '../http/params.ts';
import { newRouter } from '../http/router.ts';
import { batchedStream } from '../http/stream.ts';
import { customerIdSchema } from '../ids.ts';
import { exactJson } from '../json.ts';
import * as catalogueRepo from './catalogue.repository.ts';
import { createPid, createSku } from './catalogue.service.ts';
import * as listings from './listings.repository.ts';
import type * as quotaRepo from './quota.repository.ts';
import { orderRenewal, purchase, quotaOf } from './quota.service.ts';
import { LICENSE_CSV_HEADER, licenseAdminView, licenseCsvRow, pidAdminView, skuAdminView } from './views.ts';
import { vendorErrors } from '../http/openapi.ts';

const security = [{ adminToken: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

/**
 * An id the vendor chooses (SKU, PID, order, renewal). Filters and path parameters use the same
 * schema as creation, so a value no stored id can be (a NUL, 100,000 characters) is a 400, not a
 * query that Postgres refuses or a search that cannot match.
 */
const code = (what: string) =>
  z
    .string()
    .min(1, `${what} is empty`)
    .max(64, `${what} is at most 64 characters`)
    .regex(/^[A-Za-z0-9._-]+$/, `${what} may hold letters, digits, '.', '_' and '-' only`);
const oneTwoThree = (what: string) => z.union([z.literal(1), z.literal(2), z.literal(3)], { error: `${what} must be 1, 2 or 3` });
const count = z.number().int('count must be a whole number').min(1, 'count must be at least 1').max(1_000_000, 'count must be at most 1000000');
const pagingQuery = (cursor: string, pattern: RegExp, example: string, isId = false) => ({
  page: wholeNumberOr('page', 1, 1_000_000, 1),
  size: wholeNumberOr('size', 1, 100, 100),
  after: afterCursor(cursor, pattern, example, isId),
});
const byId = (what: string) => pagingQuery(`the id of a ${what}`, /^(0|[1-9]\d{0,18})$/, '1042', true);

const skuBody = z.object({
  id: code('id').openapi({ description: 'your SKU id', example: 'iot-audio-basic' }),
  product: oneTwoThree('product').openapi({ description: '1 Video SDK, 2 IoT SDK, 3 FPA' }),
  name: z.string().trim().min(1, 'name is empty').max(128, 'name is at most 128 characters').regex(/^[^\u0000-\u001f\u007f]+$/, 'name must be printable text'),
  mediaType: oneTwoThree('mediaType').openapi({ description: '1 audio, 2 video, 3 audio and video' }),
  minutes: z.number().int('minutes must be a whole number').min(1, 'minutes must be at least 1').max(2_147_483_647).nullish().openapi({ description: 'cap on license minutes' }),
  period: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d~([01]\d|2[0-3]):[0-5]\d$/, 'period must be HH:MM~HH:MM')
    .nullish()
    .openapi({ description: 'usage period of the day', example: '00:00~23:59' }),
});
const skuAdminView$ = z
  .object({
    id: z.string(),
    product: z.number().int(),
    name: z.string(),
    mediaType: z.number().int(),
    minutes: z.number().int().nullable(),
    period: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('LicenseSku');

const pidBody = z.object({
  pid: code('pid').optional().openapi({ description: 'unset: 32 uppercase hex digits are generated' }),
  sku: code('sku'),
  category: z.enum(['device', 'account'], { error: 'category must be device or account' }),
  type: z.enum(['trial', 'commercial'], { error: 'type must be trial or commercial' }),
  validityMonths: z.number().int('validityMonths must be a whole number').max(1200).optional().openapi({ description: 'trial only: at least 3' }),
  validityYears: z.number().int('validityYears must be a whole number').max(100).optional().openapi({ description: 'commercial only: at least 1' }),
});
const pidView = z
  .object({
    pid: z.string(),
    sku: z.string(),
    category: z.enum(['device', 'account']),
    type: z.enum(['trial', 'commercial']),
    validityMonths: z.number().int().nullable(),
    validityYears: z.number().int().nullable(),
    createdAt: z.string(),
  })
  .openapi('LicensePid');

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

const license$ = z
  .object({
    license: z.string(),
    licenseKey: z.string(),
    pid: z.string(),
    customerId: z.string(),
    projectId: z.string(),
    activatedAt: z.string(),
    expiresAt: z.string(),
    status: z.enum(['active', 'expired']),
    renewTimes: z.number().int(),
    lastRenewedAt: z.string().nullable(),
  })
  .openapi('License');

const paged = <T extends z.ZodType>(item: T) =>
  z.object({
    count: z.number().int().openapi({ description: 'rows of the whole list (see countExact)' }),
    countExact: z.boolean().openapi({ description: 'false: the list holds more than `count` rows (a count that the clock changes is counted up to 10,000)' }),
    page: z.number().int(),
    size: z.number().int(),
    next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }),
    data: z.array(item),
  });

/** A page by number or after a cursor (see src/http/paging.ts), in the vendor API's shape. */
async function pageOf<R, V>(
  listing: Listing<R>,
  q: { page: number; size: number; after?: string | undefined },
  paging: { bookmarks: PageBookmarks; heavy: () => Promise<() => void> },
  view: (row: R) => V,
) {
  const p = await keysetPage(listing, q, paging);
  return { count: p.count, countExact: p.exact, page: q.page, size: q.size, next: nextCursor(listing, p, q.size), data: p.rows.map(view) };
}
const quotaCounts = z.object({ total: z.number().int(), used: z.number().int(), available: z.number().int() });
const quotaList$ = z.object({
  data: z.array(quotaCounts.extend({ pid: z.string(), shared: quotaCounts, projects: z.array(quotaCounts.extend({ projectId: z.string() })) })),
});

const WALK =
  'Walk it with `page` = 1, 2, 3… (each page continues where the previous one ended on this instance), or with `after` = the previous page\'s `next`; either way a page costs the same at any depth. Only a jump to a deep page nobody walked to reads its offset (past 10,000 rows, a heavy read). `count` comes from counters kept with the rows.';

/** Licenses per CSV batch: a few milliseconds of database time, also on the embedded database. */
const CSV_BATCH = 2000;

/** Its paths, for their body limit: the router is mounted at /v1 beside others with limits of their own. */
const PATHS = ['/skus', '/skus/*', '/pids', '/pids/*', '/purchases', '/renewals', '/licenses', '/licenses/*', '/license-quotas'];

/** Mounted at /v1: the vendor's catalogue, sales and license records (admin token). */
export function licensingVendorRoutes(deps: RouteDeps) {
  const router = newRouter();
  for (const path of PATHS) router.use(path, limitBody(64 * 1024));
  const db = deps.db;
  // Where each page of a walk ended: page n+1 starts there instead of at an offset.
  const paging = { bookmarks: new LruCache<string>(BOOKMARKS), heavy: () => deps.heavyReads.acquire() };

  router.openapi(
    createRoute({
      method: 'post',
      path: '/skus',
      tags: ['Licensing'],
      summary: 'Create a SKU (a capability set)',
      description: 'SKUs cannot change once created. The same SKU again answers 200 with it; other values under a taken id are 409 sku_conflict.',
      security,
      request: { body: { required: true, ...json(skuBody) } },
      responses: { ...vendorErrors, 201: { description: 'created', ...json(skuAdminView$) }, 200: { description: 'already there', ...json(skuAdminView$) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const { sku, created } = await createSku(db, {
        skuId: b.id,
        product: b.product,
        name: b.name,
        mediaType: b.mediaType,
        minutes: b.minutes ?? null,
        period: b.period ?? null,
      });
      return c.json(skuAdminView(sku), created ? 201 : 200);
    },
  );

  router.openapi(
    createRoute({ method: 'get', path: '/skus', tags: ['Licensing'], summary: 'Every SKU', security, responses: { ...vendorErrors, 200: { description: 'SKUs', ...json(z.object({ data: z.array(skuAdminView$) })) } } }),
    async (c) => c.json({ data: (await catalogueRepo.listSkus(db)).map(skuAdminView) }, 200),
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/skus/{id}',
      tags: ['Licensing'],
      summary: 'One SKU',
      security,
      request: { params: z.object({ id: code('id') }) },
      responses: { ...vendorErrors, 200: { description: 'the SKU', ...json(skuAdminView$) } },
    }),
    async (c) => {
      const sku = await catalogueRepo.findSku(db, c.req.valid('param').id);
      if (!sku) throw new AppError('unknown_sku', `No SKU ${c.req.valid('param').id}`);
      return c.json(skuAdminView(sku), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/pids',
      tags: ['Licensing'],
      summary: 'Create a PID: SKU + category + type + validity',
      description:
        'Trial validity in months (`validityMonths`, at least 3), commercial in years (`validityYears`, at least 1); otherwise 400 invalid_validity. One PID per SKU, category, type and validity: the same definition again answers 200 with its PID.',
      security,
      request: { body: { required: true, ...json(pidBody) } },
      responses: { ...vendorErrors, 201: { description: 'created', ...json(pidView) }, 200: { description: 'already there', ...json(pidView) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const { pid, created } = await createPid(db, {
        pid: b.pid,
        skuId: b.sku,
        category: b.category,
        type: b.type,
        validityMonths: b.validityMonths,
        validityYears: b.validityYears,
      });
      return c.json(pidAdminView(pid), created ? 201 : 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/pids',
      tags: ['Licensing'],
      summary: 'PIDs, of one SKU or all',
      security,
      request: { query: z.object({ sku: code('sku').optional() }) },
      responses: { ...vendorErrors, 200: { description: 'PIDs', ...json(z.object({ data: z.array(pidView) })) } },
    }),
    async (c) => c.json({ data: (await catalogueRepo.listPids(db, { skuId: c.req.valid('query').sku })).map(pidAdminView) }, 200),
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/pids/{pid}',
      tags: ['Licensing'],
      summary: 'One PID',
      security,
      request: { params: z.object({ pid: code('pid') }) },
      responses: { ...vendorErrors, 200: { description: 'the PID', ...json(pidView) } },
    }),
    async (c) => {
      const pid = await catalogueRepo.findPid(db, c.req.valid('param').pid);
      if (!pid) throw new AppError('unknown_pid', `No PID ${c.req.valid('param').pid}`);
      return c.json(pidAdminView(pid), 200);
    },
  );

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

  router.openapi(
    createRoute({
      method: 'get',
      path: '/licenses',
      tags: ['Licensing'],
      summary: 'Activated licenses, in activation order',
      description:
        'JSON pages, or every matching license as CSV with `Accept: text/csv` (License, LicenseKey, PID, Project, Customer, Activation, Expiry, Status, RenewTimes), the columns of Agora Console’s “Export License Details”. ' +
        WALK +
        ' With `status`, which the clock changes, `count` is counted: exact up to 10,000, else 10,000 with `countExact` false.',
      security,
      request: {
        query: z.object({
          customerId: customerIdSchema.optional(),
          projectId: projectIdText().optional(),
          pid: code('pid').optional(),
          status: z.enum(['active', 'expired']).optional(),
          ...byId('license'),
        }),
      },
      responses: { ...vendorErrors,
        200: {
          description: 'a page of licenses (or CSV)',
          content: { 'application/json': { schema: paged(license$) }, 'text/csv': { schema: z.string() } },
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const now = deps.clock();
      const filter = { customerId: q.customerId, projectId: q.projectId, pid: q.pid, status: q.status, now };
      if (wantsCsv(c.req.header('accept'))) {
        // Streamed in keyset batches as the client reads (a customer may hold a million
        // licenses), as a heavy read: a few at once, so they never hold every connection.
        const release = await deps.heavyReads.acquire();
        const body = batchedStream<string>({
          head: csvLine(LICENSE_CSV_HEADER),
          start: '0',
          release,
          idleMs: 30_000,
          next: async (after) => {
            const batch = await listings.licensesAfter(db, filter, after, CSV_BATCH);
            return {
              text: batch.map((l) => csvLine(licenseCsvRow(l, now))).join(''),
              cursor: batch.length < CSV_BATCH ? null : batch[batch.length - 1]!.id,
            };
          },
        });
        const name = q.customerId ? `licenses-${q.customerId.replace(/[^\w.-]/g, '_')}.csv` : 'licenses.csv';
        return new Response(body, {
          status: 200,
          headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${name}"` },
        });
      }
      return c.json(await pageOf(listings.licenses(db, filter), q, paging, (l) => licenseAdminView(l, now)), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/licenses/expiring',
      tags: ['Licensing'],
      summary: 'Licenses expiring within the next days, of one customer or all, soonest first',
      description:
        'Licenses expiring after now and at most `days` days from now (already expired ones are not listed), in expiry order; `after` is the previous page\'s `next` (a `license`). The list moves with the clock, so `count` is counted: exact up to 10,000, else 10,000 with `countExact` false. Without `customerId`, a heavy read.',
      security,
      request: {
        query: z.object({
          days: wholeNumberOr('days', 1, 3650, 45).openapi({ description: 'days from now, 1 to 3650 (default 45)', example: '45' }),
          customerId: customerIdSchema.optional(),
          ...pagingQuery('the license', /^[A-Za-z0-9._-]{1,128}$/, 'L-7Q2M9X4K'),
        }),
      },
      responses: { 200: { description: 'a page of licenses', ...json(paged(license$)) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const now = deps.clock();
      return c.json(await pageOf(listings.expiringLicenses(db, { customerId: q.customerId, days: q.days, now }), q, paging, (l) => licenseAdminView(l, now)), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/license-quotas',
      tags: ['Licensing'],
      summary: "A customer's quota per PID: shared, allocated per project, used and left",
      security,
      request: { query: z.object({ customerId: customerIdSchema }) },
      responses: { ...vendorErrors,
        200: {
          description: 'quota',
          ...json(quotaList$),
        },
      },
    }),
    // Written with exact digits: the counters are bigints.
    async (c) => exactJson(quotaList$, { data: await quotaOf(db, c.req.valid('query').customerId) }),
  );
  return router;
}
