import { createRoute, type z } from '@hono/zod-openapi';
import type { Statement } from '../db/schema.ts';
import { Decimal } from '../decimal.ts';
import type { AppDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';
import { exactJsonBytes, exactJsonTextResponse, type ExactJsonBytes } from '../json.ts';
import { LruCache } from '../http/lru.ts';
import * as store from '../statements/store.ts';
import { DEFAULT_LIMIT, numericErrorResponse, pagedAmountsResponse, pagedWindowQuery, type PagedWindowQuery } from './query.ts';
import { agoraSecurity } from '../http/openapi.ts';

/** Memory for rendered pages of fixed statements, per poll (usage, bill). */
const PAGE_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Agora's paged polls (usage, bill): signed, validated, answered from a statement fixed on the
 * first request. Each poll says how to find its statement and how to describe its lines.
 */
export function pagedPollRoutes(
  deps: AppDeps,
  poll: {
    summary: string;
    description: string;
    statusReason: string;
    /** Names the statement a query asks for (its window), so a fixed one is found in memory. */
    statementKey: (q: PagedWindowQuery) => string;
    statement: (q: PagedWindowQuery) => Promise<Statement>;
    describe: (statement: Statement, lines: store.StatementLine[]) => Promise<string[]> | string[];
  },
) {
  // A fixed statement and its pages never change, so rendered pages are kept in memory (bounded)
  // and answered again without the database. Only fixed statements are cached.
  const statementsByKey = new LruCache<Statement>(100_000);
  // Kept as UTF-8 bytes, not as text: a string body is encoded again on every write to the socket,
  // which cost more than the rest of a cached page's answer (a page is ~8 KB, not all ASCII).
  const pages = new LruCache<ExactJsonBytes<z.output<typeof pagedAmountsResponse>>>(PAGE_CACHE_BYTES, (body) => body.byteLength);
  const router = newRouter();
  const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Agora'],
      security: agoraSecurity,
      summary: poll.summary,
      description: poll.description,
      request: { query: pagedWindowQuery },
      responses: {
        200: { description: 'a page', content: json(pagedAmountsResponse) },
        400: { description: 'bad parameters', content: json(numericErrorResponse) },
        401: { description: 'unknown apiKey or wrong signature', content: json(numericErrorResponse) },
        503: { description: 'the database did not answer in time; retry', content: json(numericErrorResponse) },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = q.limit ?? DEFAULT_LIMIT;
      const key = poll.statementKey(q);
      let statement = statementsByKey.get(key);
      if (!statement) {
        statement = await poll.statement(q);
        statementsByKey.set(key, statement);
      }
      // fixed_at too: ids of a database restored or emptied (tests) may come again.
      const pageKey = `${statement.id}@${statement.fixed_at.getTime()}|${q.pageNum}|${limit}`;
      let body = pages.get(pageKey);
      if (body === undefined) {
        const offset = (q.pageNum - 1) * limit;
        const lines = await store.linesPage(deps.db, statement, offset, limit);
        const descriptions = await poll.describe(statement, lines);
        body = exactJsonBytes(pagedAmountsResponse, {
          status: 0,
          statusReason: poll.statusReason,
          data: {
            totalSize: statement.line_count,
            pageNum: q.pageNum,
            hasNext: q.pageNum * limit < statement.line_count,
            data: lines.map((l, i) => ({ projectId: l.projectId, amount: new Decimal(l.amount), description: descriptions[i]! })),
          },
        });
        pages.set(pageKey, body);
      }
      // The statement is fixed, so this URL's answer never changes (src/agora/repeated-pages.ts).
      c.set('repeatablePage', body);
      return exactJsonTextResponse(body);
    },
  );
  return router;
}
