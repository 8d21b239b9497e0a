import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { RouteDeps } from '../http/context.ts';
import { exactJsonTextResponse, stringifyExact, type Exact, type ExactJsonText } from '../json.ts';
import { LruCache } from '../http/lru.ts';
import { limitBody } from '../http/middleware.ts';
import { BOOKMARKS, type PageBookmarks } from '../http/paging.ts';
import { afterCursor, projectIdText, wholeNumber } from '../http/params.ts';
import { newRouter } from '../http/router.ts';
import { streamedText } from '../http/stream.ts';
import { checkLicenseKey } from './license-key.ts';
import * as licenses from './licenses.service.ts';
import * as listings from './listings.service.ts';
import { MAX_PAD_FILE_BYTES, parsePadFile } from './pad-file.ts';
import * as pads from './pads.service.ts';
import { registerCertificateRoutes } from '../certificates/certificates.routes.ts';
import { activationView, pidTypeNumber, renewedLicenseView, rfc3339, unixSeconds } from './views.ts';

export const MAX_PAGE_SIZE = 100;

const appid = projectIdText('appid must be the projectId given in provisioning (digits)').openapi({ description: 'the projectId from provisioning', example: '430892' });
const pid = z.string().min(1, 'pid is empty').max(64, 'pid is at most 64 characters').openapi({ example: '02F5A9C1D3E4F5061728394A5B6CEC30' });
const licenseKey = z.string().openapi({ description: 'device or account ID: 1–63 bytes of UTF-8, case-sensitive', example: 'SN-000123' });
const page = wholeNumber('page', 1, 1_000_000).optional().openapi({ description: 'from 1', example: '1' });
const size = wholeNumber('size', 1, MAX_PAGE_SIZE).optional().openapi({ description: `at most ${MAX_PAGE_SIZE} (default ${MAX_PAGE_SIZE})`, example: '100' });

const answer = <T extends z.ZodType>(data: T) => z.object({ code: z.literal(200), message: z.string(), data });
const errorAnswer = z
  .object({
    code: z.number().int().openapi({ description: 'the HTTP status' }),
    message: z.string(),
    data: z.null(),
    error: z.string().openapi({ description: 'stable machine-readable error code' }),
  })
  .openapi('LicenseApiError');
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
const errors = {
  400: { description: 'bad input', ...json(errorAnswer) },
  401: { description: 'no or wrong credentials', ...json(errorAnswer) },
  403: { description: 'not allowed: another customer’s project, pre-authorization, quota used up', ...json(errorAnswer) },
  404: { description: 'unknown project, PID or license', ...json(errorAnswer) },
  429: { description: 'more than the per-customer rate; see Retry-After', ...json(errorAnswer) },
};
const security: Record<string, string[]>[] = [{ projectBasic: [] }, { adminToken: [] }];

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
const padEntry = z.object({ id: z.number().int(), cid: z.string(), licenseKey: z.string(), createTime: z.number().int() });
const counted = <T extends z.ZodType>(item: T) => z.object({ count: z.number().int(), list: z.array(item) });
/** A listing's page with the cursor of the next one (an addition to Agora's shape: `count` and `list` are as documented). */
const countedNext = <T extends z.ZodType>(item: T) =>
  counted(item).extend({ next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }) });
const after = afterCursor;

/** Written by stringifyExact: quota counters are bigints and are answered with all their digits. */
function ok<S extends z.ZodType>(_data$: S, data: Exact<z.output<S>>, message = 'success') {
  // `data` was checked against S above; the envelope around it is always the same.
  const text = stringifyExact({ code: 200, message, data }) as ExactJsonText<{ code: 200; message: string; data: z.output<S> }>;
  return exactJsonTextResponse(text);
}

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
const renewed = z.object({
  licenseKey: z.string(),
  license: z.string(),
  renewTimes: z.number().int(),
  lastRenewTime: z.number().int().nullable(),
  activationTime: z.number().int(),
  expireTime: z.number().int(),
  renewId: z.string(),
});
const padSwitched = z.object({ enabled: z.boolean() });
const padAdded = z.object({ added: z.number().int(), alreadyListed: z.number().int() });
const padUploaded = z.object({ added: z.number().int(), alreadyListed: z.number().int(), repeatedInFile: z.number().int() });
const padDeleted = z.object({ deleted: z.number().int(), notFound: z.number().int() });
const padCleared = z.object({ deleted: z.number().int() });
const padSearch = z.array(padEntry);
const padsPage = counted(padEntry);
const expiringPage = countedNext(
  z.object({
    licenseKey: z.string(),
    license: z.string(),
    activeTime: z.string().openapi({ description: 'RFC 3339', example: '2026-01-05T08:00:00Z' }),
    expireTime: z.string().openapi({ description: 'RFC 3339' }),
  }),
);

const padView = (r: { id: string; customer_id: string; license_key: string; created_at: Date }) => ({
  id: Number(r.id),
  cid: r.customer_id,
  licenseKey: r.license_key,
  createTime: unixSeconds(r.created_at),
});

/**
 * Mounted at /dabiz/license: the paths, parameters and answers of Agora's console License API, so
 * device makers' existing scripts work against this server. Parameters are query parameters except
 * the JSON bodies of allocate and delete and the file of upload.
 */
export function licenseApiRoutes(deps: RouteDeps) {
  const router = newRouter();
  router.use('/v2/pad/upload', limitBody(MAX_PAD_FILE_BYTES + 64 * 1024));
  for (const path of ['/v2/allocate', '/v2/pad/delete']) router.use(path, limitBody(64 * 1024));
  const db = deps.db;
  // Where each page of a walk ended: page n+1 starts there instead of at an offset.
  const bookmarks: PageBookmarks = new LruCache<string>(BOOKMARKS);
  const paging = { bookmarks, heavy: () => deps.heavyReads.acquire() };

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
      method: 'post',
      path: '/v2/vendor/pad/switch',
      tags: ['License'],
      summary: 'Turn pre-authorization on or off for a project',
      description:
        'Without `enabled`, toggles (as Agora does: call again to turn it off). With `enabled=true|false`, sets it, which is safe to repeat. While on, only whitelisted licenseKeys activate.',
      security,
      request: { query: z.object({ appid, enabled: z.enum(['true', 'false']).optional() }) },
      responses: { 200: { description: 'the new state', ...json(answer(padSwitched)) }, ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const enabled = await pads.switchPad(db, c.get('licenseCaller'), q.appid, q.enabled === undefined ? undefined : q.enabled === 'true');
      return ok(padSwitched, { enabled }, `Pre-authorization is ${enabled ? 'on' : 'off'} for project ${q.appid}`);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/pad/add',
      tags: ['License'],
      summary: 'Add one licenseKey to the whitelist',
      security,
      request: { query: z.object({ licenseKey, appid }) },
      responses: { 200: { description: 'added (or already listed)', ...json(answer(padAdded)) }, ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const result = await pads.addKey(db, c.get('licenseCaller'), q.appid, checkLicenseKey(q.licenseKey), deps.config.licenseWhitelistMax);
      return ok(padAdded, result, result.added ? `${q.licenseKey} added` : `${q.licenseKey} was already listed`);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/pad/upload',
      tags: ['License'],
      summary: 'Add the licenseKeys of a text file to the whitelist',
      description: `Multipart field \`file\`: UTF-8 text, one licenseKey per line (LF or CRLF), at most ${MAX_PAD_FILE_BYTES} bytes. Lines are trimmed, blank lines skipped, repeats counted once. Any bad line refuses the whole file, naming the line; nothing is added then.`,
      security,
      request: {
        query: z.object({ appid }),
        body: {
          required: true,
          content: { 'multipart/form-data': { schema: z.object({ file: z.any().openapi({ type: 'string', format: 'binary' }) }) } },
        },
      },
      responses: {
        200: {
          description: 'added',
          ...json(answer(padUploaded)),
        },
        413: { description: 'file too large', ...json(errorAnswer) },
        ...errors,
      },
    }),
    async (c) => {
      const { appid } = c.req.valid('query');
      const { file } = c.req.valid('form') as { file?: unknown };
      if (!(file instanceof File)) throw new AppError('invalid_upload', 'Send the whitelist as the multipart field "file" (a text file)');
      const parsed = parsePadFile(new Uint8Array(await file.arrayBuffer()));
      const result = await pads.upload(db, c.get('licenseCaller'), appid, parsed, deps.config.licenseWhitelistMax);
      return ok(padUploaded, result, `${result.added} licenseKeys added, ${result.alreadyListed} already listed`);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/pad/delete',
      tags: ['License'],
      summary: 'Remove whitelist entries by id',
      description: 'Ids that are not the project’s entries (or are already gone) are ignored and counted in `notFound`, so a retry is safe.',
      security,
      request: {
        query: z.object({ appid }),
        body: {
          required: true,
          ...json(
            z.object({
              ids: z
                .array(
                  z.union([z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^[1-9]\d{0,17}$/)], { error: 'each id must be a whitelist entry id (a positive whole number)' }),
                )
                .min(1, 'ids must hold at least one id')
                .max(1000, 'at most 1000 ids per request'),
            }),
          ),
        },
      },
      responses: { 200: { description: 'deleted', ...json(answer(padDeleted)) }, ...errors },
    }),
    async (c) => {
      const { appid } = c.req.valid('query');
      const ids = c.req.valid('json').ids.map((id) => String(id));
      const result = await pads.deleteIds(db, c.get('licenseCaller'), appid, ids);
      return ok(padDeleted, result, `${result.deleted} entries deleted`);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/pad/clear',
      tags: ['License'],
      summary: 'Empty the whitelist',
      security,
      request: { query: z.object({ appid }) },
      responses: { 200: { description: 'cleared', ...json(answer(padCleared)) }, ...errors },
    }),
    async (c) => {
      const { appid } = c.req.valid('query');
      const result = await pads.clear(db, c.get('licenseCaller'), appid);
      return ok(padCleared, result, `${result.deleted} entries deleted`);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v2/pads/search',
      tags: ['License'],
      summary: 'Whether one licenseKey is on the whitelist',
      description: 'An empty list when it is not.',
      security,
      request: { query: z.object({ licenseKey, appid }) },
      responses: { 200: { description: 'the entry, if any', ...json(answer(padSearch)) }, ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await pads.search(db, c.get('licenseCaller'), q.appid, checkLicenseKey(q.licenseKey));
      return ok(padSearch, rows.map(padView));
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v2/pads',
      tags: ['License'],
      summary: 'The whitelist, a page at a time, in the order entries were added',
      description:
        'Walk it with `page` = 1, 2, 3… (each page continues where the previous one ended), or with `after` = the `id` of the last entry of the previous page; either way a page costs the same at any depth. `count` is the number of entries of the whole list.',
      security,
      request: {
        query: z.object({
          appid,
          page,
          size,
          after: z
            .string()
            .regex(/^(0|[1-9]\d{0,17})$/, 'after must be the id of a whitelist entry')
            .optional()
            .openapi({ description: 'the id of the last entry already read: the page starts after it (then `page` is ignored)', example: '17' }),
        }),
      },
      responses: { 200: { description: 'a page', ...json(answer(padsPage)) }, ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const { rows, count } = await pads.list(
        db,
        c.get('licenseCaller'),
        q.appid,
        { page: q.page ?? 1, size: q.size ?? MAX_PAGE_SIZE, after: q.after },
        paging,
      );
      return ok(padsPage, { count, list: rows.map(padView) });
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v2/pads/export',
      tags: ['License'],
      summary: 'The whole whitelist as text, one licenseKey per line',
      description:
        'Streamed in batches as the client reads, in the order entries were added. Exports are heavy reads: a few run at once per instance, and past a short queue the answer is 503 `overloaded` with Retry-After.',
      security,
      request: { query: z.object({ appid }) },
      responses: { 200: { description: 'text/plain', content: { 'text/plain': { schema: z.string() } } }, ...errors, 503: { description: 'overloaded: retry after Retry-After', ...json(errorAnswer) } },
    }),
    async (c) => {
      const { appid } = c.req.valid('query');
      const release = await deps.heavyReads.acquire();
      let body: ReadableStream<Uint8Array>;
      try {
        body = await pads.exportStream(db, c.get('licenseCaller'), appid, release);
      } catch (err) {
        release();
        throw err;
      }
      return streamedText(body, `whitelist-${appid}.txt`);
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
  // Certificates, agents and the platform (src/certificates): the same authentication and envelope.
  registerCertificateRoutes(router, deps);
  return router;
}
