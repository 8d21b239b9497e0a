import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { AppDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';
import type { AgoraRequestKind, AgoraRequestLog } from './agora-log.ts';

const security = [{ adminToken: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
const KINDS = ['usage', 'bill', 'license', 'provisioning'] as const;

interface Row {
  id: string;
  at: Date;
  kind: AgoraRequestKind;
  method: string;
  path: string;
  from_ts: string | null;
  to_ts: string | null;
  page_num: string | null;
  page_limit: string | null;
  customer_id: string | null;
  api_key_id: string | null;
  status: number;
  duration_ms: string;
  error_code: string | null;
}

const request$ = z
  .object({
    id: z.string(),
    at: z.string(),
    kind: z.enum(KINDS),
    method: z.string(),
    path: z.string(),
    query: z.object({
      fromTs: z.number().int().nullable(),
      toTs: z.number().int().nullable(),
      pageNum: z.number().int().nullable(),
      limit: z.number().int().nullable(),
      customerId: z.string().nullable(),
    }),
    apiKeyId: z.string().nullable().openapi({ description: 'the apiKey whose secret verified the request (null: not verified)' }),
    status: z.number().int(),
    durationMs: z.number(),
    errorCode: z.string().nullable(),
  })
  .openapi('AgoraRequest');

const num = (v: string | null) => (v === null ? null : Number(v));
const view = (r: Row) => ({
  id: r.id,
  at: r.at.toISOString(),
  kind: r.kind,
  method: r.method,
  path: r.path,
  query: { fromTs: num(r.from_ts), toTs: num(r.to_ts), pageNum: num(r.page_num), limit: num(r.page_limit), customerId: r.customer_id },
  apiKeyId: r.api_key_id,
  status: r.status,
  durationMs: Number(r.duration_ms),
  errorCode: r.error_code,
});

const timeParam = (name: string) =>
  z
    .string()
    .transform((v, ctx) => {
      const ms = /^\d{1,11}$/.test(v) ? Number(v) * 1000 : /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(v) ? Date.parse(v) : Number.NaN;
      if (!Number.isFinite(ms) || ms < 0 || ms >= Date.UTC(10000, 0, 1)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an ISO-8601 time or Unix seconds, from 1970 to 9999` });
        return z.NEVER;
      }
      return new Date(ms);
    })
    .optional()
    .openapi({ type: 'string', example: '2026-11-23T00:00:00Z' });

const limit = z
  .string()
  .regex(/^\d{1,4}$/, 'limit must be a whole number from 1 to 1000')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, 'limit must be a whole number from 1 to 1000')
  .optional()
  .transform((n) => n ?? 100);

const columns = ['id', 'at', 'kind', 'method', 'path', 'from_ts', 'to_ts', 'page_num', 'page_limit', 'customer_id', 'api_key_id', 'status', 'duration_ms', 'error_code'] as const;

function listRequests(db: Db, f: { path?: string | undefined; kind?: AgoraRequestKind | undefined; status?: number | undefined; from?: Date | undefined; to?: Date | undefined; after?: string | undefined; limit: number }): Promise<Row[]> {
  let q = db.selectFrom('agora_requests').select(columns);
  if (f.path !== undefined) q = q.where('path', '=', f.path);
  if (f.kind !== undefined) q = q.where('kind', '=', f.kind);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.from !== undefined) q = q.where('at', '>=', f.from);
  if (f.to !== undefined) q = q.where('at', '<', f.to);
  // An unknown cursor compares with null: no rows.
  if (f.after !== undefined) q = q.where(sql<boolean>`(at, id) < (select a.at, a.id from agora_requests a where a.id = ${f.after}::bigint)`);
  return q.orderBy('at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
}

/** The newest request of a kind, or its newest answered below 400: one index entry each. */
async function lastOf(db: Db, kind: AgoraRequestKind, succeeded: boolean): Promise<Row | undefined> {
  let q = db.selectFrom('agora_requests').select(columns).where('kind', '=', kind);
  if (succeeded) q = q.where('status', '<', 400);
  return q.orderBy('at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
}

/** Mounted at /v1/agora-requests: the log of what Agora asked (admin token). */
export function agoraLogRoutes(deps: AppDeps, log: AgoraRequestLog) {
  const router = newRouter();

  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Console'],
      summary: 'What Agora asked, newest first',
      description:
        'Every request on Agora\'s routes (usage, bill, license query, provisioning): when, what (path, window, page, customer), by which apiKey, and the answer (status, duration, error code). Kept AGORA_LOG_RETENTION_DAYS days. Written about a second after the answer; this instance\'s entries not yet written are written before the list is read.',
      security,
      request: {
        query: z.object({
          path: z.string().min(1).max(512).regex(/^\/[^\u0000]*$/, 'path must start with /').optional().openapi({ example: '/usage' }),
          kind: z.enum(KINDS, { error: 'kind must be usage, bill, license or provisioning' }).optional(),
          status: z
            .string()
            .regex(/^[1-5]\d\d$/, 'status must be an HTTP status (100 to 599)')
            .transform(Number)
            .optional(),
          from: timeParam('from'),
          to: timeParam('to'),
          after: z
            .string()
            .refine((v) => /^[1-9]\d{0,18}$/.test(v) && BigInt(v) <= 9223372036854775807n, 'after must be the id of a request')
            .optional()
            .openapi({ description: "the previous page's `next`" }),
          limit,
        }),
      },
      responses: {
        200: {
          description: 'a page of requests',
          ...json(z.object({ data: z.array(request$), next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }) })),
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      await log.flush();
      const rows = await listRequests(deps.db, q);
      const last = rows[rows.length - 1];
      return c.json({ data: rows.map(view), next: last && rows.length === q.limit ? last.id : null }, 200);
    },
  );

  const kindSummary = z.object({ last: request$.nullable(), lastSucceeded: request$.nullable() });
  router.openapi(
    createRoute({
      method: 'get',
      path: '/summary',
      tags: ['Console'],
      summary: "Agora's last request of each kind, and its last one that succeeded",
      security,
      responses: {
        200: {
          description: 'per kind',
          ...json(z.object({ usage: kindSummary, bill: kindSummary, license: kindSummary, provisioning: kindSummary })),
        },
      },
    }),
    async (c) => {
      await log.flush();
      const of = async (kind: AgoraRequestKind) => {
        const [last, ok] = [await lastOf(deps.db, kind, false), await lastOf(deps.db, kind, true)];
        return { last: last ? view(last) : null, lastSucceeded: ok ? view(ok) : null };
      };
      return c.json({ usage: await of('usage'), bill: await of('bill'), license: await of('license'), provisioning: await of('provisioning') }, 200);
    },
  );
  return router;
}
