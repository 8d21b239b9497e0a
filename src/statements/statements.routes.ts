import { createRoute, z } from '@hono/zod-openapi';
import { Decimal } from '../decimal.ts';
import type { Statement } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { RouteDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';
import { exactJson } from '../json.ts';
import { customersOfProjects } from '../provisioning/provisioning.repository.ts';
import * as repo from './statements.repository.ts';
import * as store from './store.ts';
import { csvLine, csvLines, csvResponse, wantsCsv } from '../csv.ts';
import { batchedStream } from '../http/stream.ts';
import { usageDescription } from '../usage/usage.service.ts';
import { billDescriptions } from '../billing/bill.service.ts';
import { vendorErrors } from '../http/openapi.ts';
import { wholeNumberOr } from '../http/params.ts';

const isoTime = z
  .string()
  // Within years 1970 to 9999 in UTC: outside, the time has no plain ISO form PostgreSQL reads.
  .refine((v) => /^\d{4}-\d{2}-\d{2}/.test(v) && Date.parse(v) >= 0 && Date.parse(v) < Date.UTC(10000, 0, 1), 'must be an ISO-8601 date or time from 1970 to 9999')
  .transform((v) => new Date(v));

const statementView = z
  .object({
    id: z.string(),
    kind: z.enum(['usage', 'bill']),
    fromTs: z.number().int(),
    toTs: z.number().int(),
    windowStart: z.string(),
    windowEnd: z.string().openapi({ description: 'exclusive' }),
    fixedAt: z.string(),
    lineCount: z.number().int(),
    totalAmount: z.number().openapi({ description: 'exact decimal' }),
    correctionAmount: z.number(),
    unit: z.string(),
  })
  .openapi('Statement');

function view(s: Statement) {
  return {
    id: s.id,
    kind: s.kind,
    fromTs: s.window_start.getTime() / 1000,
    toTs: s.window_end.getTime() / 1000 - 1,
    windowStart: s.window_start.toISOString(),
    windowEnd: s.window_end.toISOString(),
    fixedAt: s.fixed_at.toISOString(),
    lineCount: s.line_count,
    totalAmount: new Decimal(s.total_amount),
    correctionAmount: new Decimal(s.correction_amount),
    unit: s.unit,
  };
}

const idParam = z.object({ id: z.string().regex(/^[1-9]\d{0,17}$/, 'must be a statement id') });
const security = [{ adminToken: [] }];
const statementList$ = z.object({ data: z.array(statementView), nextBefore: z.string().nullable() });
const linesPage$ = z.object({
  totalSize: z.number().int(),
  pageNum: z.number().int(),
  hasNext: z.boolean(),
  data: z.array(
    z.object({
      lineNo: z.number().int(),
      projectId: z.string(),
      customerId: z.string().nullable(),
      planId: z.string(),
      amount: z.number(),
      correctionAmount: z.number(),
      description: z.string(),
    }),
  ),
});

const STATEMENT_CSV_COLUMNS = ['lineNo', 'projectId', 'customerId', 'planId', 'amount', 'correctionAmount', 'description'];
/** Lines read per batch of a statement's CSV (ten blocks). */
const CSV_BATCH = 1000;
/** A CSV client that reads nothing for this long is dropped (its heavy-read slot goes to someone else). */
const CSV_IDLE_MS = 60_000;

/** Mounted at /v1/statements: what Agora was told, for the vendor. */
export function statementsRoutes(deps: RouteDeps) {
  const router = newRouter();

  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Vendor'],
      summary: 'List statements, newest first',
      security,
      request: {
        query: z.object({
          kind: z.enum(['usage', 'bill']).optional(),
          from: isoTime.optional().openapi({ description: 'windows ending after this time' }),
          to: isoTime.optional().openapi({ description: 'windows starting before this time' }),
          limit: wholeNumberOr('limit', 1, 500, 50),
          before: z.string().regex(/^[1-9]\d{0,17}$/).optional().openapi({ description: 'cursor: ids below this one' }),
        }),
      },
      responses: { ...vendorErrors,
        200: {
          description: 'statements',
          content: { 'application/json': { schema: statementList$ } },
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await repo.listStatements(deps.db, { kind: q.kind, from: q.from, to: q.to, beforeId: q.before, limit: q.limit });
      return exactJson(statementList$, { data: rows.map(view), nextBefore: rows.length === q.limit ? rows[rows.length - 1]!.id : null });
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['Vendor'],
      summary: 'One statement',
      security,
      request: { params: idParam },
      responses: { ...vendorErrors, 200: { description: 'the statement', content: { 'application/json': { schema: statementView } } } },
    }),
    async (c) => {
      const s = await repo.findStatementById(deps.db, c.req.valid('param').id);
      if (!s) throw new AppError('not_found', 'No statement with that id');
      return exactJson(statementView, view(s));
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/lines',
      tags: ['Vendor'],
      summary: 'The lines of one statement, in projectId order',
      description: 'JSON pages, or the whole statement as CSV with `Accept: text/csv`.',
      security,
      request: { params: idParam, query: z.object({ pageNum: wholeNumberOr('pageNum', 1, 10_000_000, 1), limit: wholeNumberOr('limit', 1, 1000, 100) }) },
      responses: { ...vendorErrors,
        200: {
          description: 'a page of lines',
          content: { 'application/json': { schema: linesPage$ }, 'text/csv': { schema: z.string() } },
        },
      },
    }),
    async (c) => {
      const s = await repo.findStatementById(deps.db, c.req.valid('param').id);
      if (!s) throw new AppError('not_found', 'No statement with that id');
      const describe = (lines: repo.StatementLine[]) =>
        s.kind === 'usage' ? lines.map((l) => usageDescription(l, s.unit)) : billDescriptions(deps.db, s.id, lines);
      if (wantsCsv(c.req.header('accept'))) {
        // The whole statement, streamed from its first batch: each batch reads CSV_BATCH lines by
        // block number (the blocks' key: O(batch) at any depth), no connection held between two,
        // so the first byte goes out at once and Agora's requests are served in between; one
        // heavy-read slot held until the stream ends.
        const release = await deps.heavyReads.acquire();
        const body = batchedStream<number>({
          head: csvLine(STATEMENT_CSV_COLUMNS),
          start: 0,
          next: async (offset) => {
            const lines = await store.linesPage(deps.db, s, offset, CSV_BATCH);
            const owners = await customersOfProjects(deps.db, lines.map((l) => l.projectId));
            const descriptions = await describe(lines);
            const text = await csvLines(lines, (l, i) => [l.lineNo, l.projectId, owners.get(l.projectId) ?? '', l.planId, new Decimal(l.amount).toFixed(), new Decimal(l.correction).toFixed(), descriptions[i]]);
            return { text, cursor: offset + CSV_BATCH < s.line_count ? offset + CSV_BATCH : null };
          },
          release,
          idleMs: CSV_IDLE_MS,
        });
        return csvResponse(body, `statement-${s.id}-${s.kind}.csv`);
      }
      const { pageNum, limit } = c.req.valid('query');
      const offset = (pageNum - 1) * limit;
      const lines = await store.linesPage(deps.db, s, offset, limit);
      const owners = await customersOfProjects(deps.db, lines.map((l) => l.projectId));
      const descriptions = await describe(lines);
      return exactJson(linesPage$, {
        totalSize: s.line_count,
        pageNum,
        hasNext: pageNum * limit < s.line_count,
        data: lines.map((l, i) => ({
          lineNo: l.lineNo,
          projectId: l.projectId,
          customerId: owners.get(l.projectId) ?? null,
          planId: l.planId,
          amount: new Decimal(l.amount),
          correctionAmount: new Decimal(l.correction),
          description: descriptions[i]!,
        })),
      });
    },
  );
  return router;
}
