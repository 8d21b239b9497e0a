import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../../errors.ts';
import type { AppEnv, RouteDeps } from '../../http/context.ts';
import { limitBody } from '../../http/middleware.ts';
import { streamedText } from '../../http/stream.ts';
import { checkLicenseKey } from '../license-key.ts';
import type { PagingDeps } from '../listings.service.ts';
import { MAX_PAD_FILE_BYTES, parsePadFile } from '../pad-file.ts';
import * as pads from '../pads.service.ts';
import { unixSeconds } from '../views.ts';
import { answer, appid, counted, errorAnswer, errors, json, licenseKey, MAX_PAGE_SIZE, ok, page, security, size } from './schemas.ts';
import { isJsonObject } from '../../json.ts';

const padEntry = z.object({ id: z.number().int(), cid: z.string(), licenseKey: z.string(), createTime: z.number().int() });
const padSwitched = z.object({ enabled: z.boolean() });
const padAdded = z.object({ added: z.number().int(), alreadyListed: z.number().int() });
const padUploaded = z.object({ added: z.number().int(), alreadyListed: z.number().int(), repeatedInFile: z.number().int() });
const padDeleted = z.object({ deleted: z.number().int(), notFound: z.number().int() });
const padCleared = z.object({ deleted: z.number().int() });
const padSearch = z.array(padEntry);
const padsPage = counted(padEntry);

const padView = (r: { id: string; customer_id: string; license_key: string; created_at: Date }) => ({
  id: Number(r.id),
  cid: r.customer_id,
  licenseKey: r.license_key,
  createTime: unixSeconds(r.created_at),
});

/** Pre-authorization: the project's switch and its whitelist of licenseKeys (add, upload, delete, clear, search, list, export). */
export function registerPadRoutes(router: OpenAPIHono<AppEnv>, deps: RouteDeps, paging: PagingDeps): void {
  const db = deps.db;
  router.use('/v2/pad/upload', limitBody(MAX_PAD_FILE_BYTES + 64 * 1024));
  router.use('/v2/pad/delete', limitBody(64 * 1024));

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
      const form: unknown = c.req.valid('form');
      const file = isJsonObject(form) ? form['file'] : undefined;
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
}
