import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv, RouteDeps } from '../../http/context.ts';
import { wholeNumber } from '../../http/params.ts';
import { checkLicenseKey } from '../license-key.ts';
import * as licenses from '../licenses.service.ts';
import * as listings from '../listings.service.ts';
import type { PagingDeps } from '../listings.service.ts';
import { activationView, renewedLicenseView, rfc3339 } from '../views.ts';
import { after, answer, appid, countedNext, errors, json, licenseKey, MAX_PAGE_SIZE, ok, page, pid, security, size } from './schemas.ts';

const skuView$ = z.object({
  product: z.number().int().openapi({ description: '1 Video SDK, 2 IoT SDK, 3 FPA' }),
  name: z.string(),
  mediaType: z.number().int().openapi({ description: '1 audio, 2 video, 3 audio and video' }),
  minutes: z.number().int().nullable(),
  period: z.string().nullable().openapi({ example: '00:00~23:59' }),
});
const activation = z
  .object({
    pid: z.string(),
    license: z.string(),
    licenseKey: z.string(),
    activationTime: z.number().int().openapi({ description: 'Unix seconds' }),
    expireTime: z.number().int().openapi({ description: 'Unix seconds' }),
    skuView: skuView$,
  })
  .openapi('LicenseActivation');
const renewed = z.object({
  licenseKey: z.string(),
  license: z.string(),
  renewTimes: z.number().int(),
  lastRenewTime: z.number().int().nullable(),
  activationTime: z.number().int(),
  expireTime: z.number().int(),
  renewId: z.string(),
});
const expiringPage = countedNext(
  z.object({
    licenseKey: z.string(),
    license: z.string(),
    activeTime: z.string().openapi({ description: 'RFC 3339', example: '2026-01-05T08:00:00Z' }),
    expireTime: z.string().openapi({ description: 'RFC 3339' }),
  }),
);

/** Licenses: activate, look up, renew, and the project's licenses about to expire. */
export function registerLicenseRoutes(router: OpenAPIHono<AppEnv>, deps: RouteDeps, paging: PagingDeps): void {
  const db = deps.db;

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/active',
      tags: ['License'],
      summary: 'Activate a license for a device or account',
      description:
        "Consumes one license of the PID — from the project's allocated quota first, else the customer's shared quota — and starts its validity. The same licenseKey and PID again answer the license already activated and consume nothing.",
      security,
      request: { query: z.object({ pid, licenseKey, appid }) },
      responses: { 200: { description: 'the license', ...json(answer(activation)) }, ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const result = await licenses.activate(db, c.get('licenseCaller'), { appid: q.appid, pid: q.pid, licenseKey: checkLicenseKey(q.licenseKey) }, deps.clock());
      return ok(activation, activationView(result.license, result.product));
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v2/detail',
      tags: ['License'],
      summary: 'A license of the project, by license value or by licenseKey',
      description: 'By licenseKey, the most recently activated license of that key in the project (after a switch from trial, the commercial one).',
      security,
      request: { query: z.object({ appid, key: z.string().min(1, 'key is empty').max(128, 'key is at most 128 characters').openapi({ description: 'a license value or a licenseKey' }) }) },
      responses: { 200: { description: 'the license', ...json(answer(activation)) }, ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const found = await licenses.detail(db, c.get('licenseCaller'), q);
      return ok(activation, activationView(found.license, found.product));
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/renew',
      tags: ['License'],
      summary: 'Renew a license',
      description:
        "Extends the license by its PID's validity from its current expiry (not from now), consuming one renewal of the order `renewId`, or of the customer's oldest renewal order for the PID with renewals left.",
      security,
      request: { query: z.object({ appid, license: z.string().min(1, 'license is empty').max(128, 'license is at most 128 characters'), renewId: z.string().min(1).max(64).optional() }) },
      responses: {
        200: {
          description: 'the renewed license',
          ...json(answer(renewed)),
        },
        ...errors,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const result = await licenses.renew(db, c.get('licenseCaller'), { appid: q.appid, license: q.license, renewId: q.renewId }, deps.clock());
      return ok(renewed, renewedLicenseView(result.license, result.renewId));
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v3/projects/{appId}/pids/{pid}/expiringLicenses',
      tags: ['License'],
      summary: 'Licenses of a project and PID expiring within the next days, soonest first',
      description:
        'Licenses expiring after now and at most `expiringDay` days from now; already expired ones are not listed. Walk it with `page` = 1, 2, 3… (each page continues where the previous one ended), or with `after` = the previous page\'s `next` (a `license`); either way a page costs the same at any depth. The list moves with the clock, so `count` is counted: exact up to 10,000; a list longer than that answers 10,000.',
      security,
      request: {
        params: z.object({ appId: appid, pid }),
        query: z.object({
          expiringDay: wholeNumber('expiringDay', 1, 3650).openapi({ description: 'days from now, 1 to 3650', example: '45' }),
          page,
          size,
          after: after('the license', /^[A-Za-z0-9._-]{1,128}$/, 'L-7Q2M9X4K'),
        }),
      },
      responses: {
        200: {
          description: 'a page',
          ...json(answer(expiringPage)),
        },
        ...errors,
      },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const q = c.req.valid('query');
      const { rows, count, next } = await listings.expiring(
        db,
        c.get('licenseCaller'),
        { appid: p.appId, pid: p.pid, days: q.expiringDay, page: q.page ?? 1, size: q.size ?? MAX_PAGE_SIZE, after: q.after },
        deps.clock(),
        paging,
      );
      return ok(expiringPage, {
        count,
        list: rows.map((l) => ({ licenseKey: l.license_key, license: l.license, activeTime: rfc3339(l.activated_at), expireTime: rfc3339(l.expires_at) })),
        next,
      });
    },
  );
}
