import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { csvLine, wantsCsv } from '../../csv.ts';
import type { AppEnv, RouteDeps } from '../../http/context.ts';
import { limitBody } from '../../http/middleware.ts';
import { vendorErrors } from '../../http/openapi.ts';
import { projectIdText, wholeNumberOr } from '../../http/params.ts';
import { batchedStream } from '../../http/stream.ts';
import { customerIdSchema } from '../../ids.ts';
import { exactJson } from '../../json.ts';
import type { PagingDeps } from '../listings.service.ts';
import * as listings from '../listings.repository.ts';
import { quotaOf } from '../quota.service.ts';
import { LICENSE_CSV_HEADER, licenseAdminView, licenseCsvRow } from '../views.ts';
import { byId, code, json, pageOf, paged, pagingQuery, security, WALK } from './schemas.ts';

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

const quotaCounts = z.object({ total: z.number().int(), used: z.number().int(), available: z.number().int() });
const quotaList$ = z.object({
  data: z.array(quotaCounts.extend({ pid: z.string(), shared: quotaCounts, projects: z.array(quotaCounts.extend({ projectId: z.string() })) })),
});

/** Licenses per CSV batch: a few milliseconds of database time, also on the embedded database. */
const CSV_BATCH = 2000;

/** The records of what was sold and used: activated licenses (JSON pages or streamed CSV), those about to expire, and a customer's quota. */
export function registerQuotaRoutes(router: OpenAPIHono<AppEnv>, deps: RouteDeps, paging: PagingDeps): void {
  const db = deps.db;
  for (const path of ['/licenses', '/licenses/*', '/license-quotas']) router.use(path, limitBody(64 * 1024));

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
}
