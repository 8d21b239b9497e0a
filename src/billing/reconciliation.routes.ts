import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../db/database.ts';
import { Decimal } from '../decimal.ts';
import { csvLine, csvLines, csvResponse, wantsCsv } from '../csv.ts';
import type { RouteDeps } from '../http/context.ts';
import { projectIdText, wholeNumberOr } from '../http/params.ts';
import { batchedStream, mapInTurns } from '../http/stream.ts';
import { newRouter } from '../http/router.ts';
import { exactJson } from '../json.ts';
import { monthLabel, monthStart, monthText, MONTH_RANGE_TEXT, parseMonth } from '../periods.ts';
import { findStatement, finishBuilds } from '../statements/store.ts';
import { reconciliationPage, reconciliationTotals, type ReconciliationMonth, type ReconciliationRow } from './reconciliation.repository.ts';
import { vendorErrors } from '../http/openapi.ts';

export interface ReconciliationLine {
  projectId: string;
  customerId: string | null;
  planId: string | null;
  /** Problems a vendor should look at: `plan_unknown` (priced with the default plan), `difference`. */
  flags: string[];
  ingested: Decimal;
  dailyReported: Decimal;
  dailyPending: Decimal;
  dailyDifference: Decimal;
  billedQuantity: Decimal;
  billPending: Decimal;
  billDifference: Decimal;
  billedAmount: Decimal;
  correctionsInQuantity: Decimal;
  correctionsInAmount: Decimal;
  correctionsOutQuantity: Decimal;
  correctionsOutAmount: Decimal;
}

/** Projects of a page when none is asked for (as many as at most: a month of up to 1,000 projects is one answer), and at most. */
export const RECONCILIATION_PAGE = 1000;
export const RECONCILIATION_PAGE_MAX = 1000;
/** Projects read per batch of the CSV, which has them all. */
const CSV_BATCH = 1000;
/** A CSV client that reads nothing for this long is dropped (its heavy-read slot goes to someone else). */
const CSV_IDLE_MS = 60_000;

export interface ReconcileOptions {
  /** The projectId of the last project already read (the previous page's `next`). */
  after?: string | undefined;
  /** Projects read (with `flagged`, read and looked at: fewer may be answered). */
  limit?: number | undefined;
  /** Only the projects of the page with a flag. */
  flagged?: boolean | undefined;
}

function lineOf(r: ReconciliationRow): ReconciliationLine {
  const d = (v: string) => new Decimal(v);
  const ingested = d(r.ingested);
  const dailyDifference = ingested.minus(r.daily_reported).minus(r.daily_pending);
  const billDifference = ingested.minus(r.billed_quantity).minus(r.bill_pending);
  const flags: string[] = [];
  if (r.plan_id !== null && !r.plan_known) flags.push('plan_unknown');
  if (!dailyDifference.isZero() || !billDifference.isZero()) flags.push('difference');
  return {
    projectId: r.project_id,
    customerId: r.customer_id,
    planId: r.plan_id,
    flags,
    ingested,
    dailyReported: d(r.daily_reported),
    dailyPending: d(r.daily_pending),
    dailyDifference,
    billedQuantity: d(r.billed_quantity),
    billPending: d(r.bill_pending),
    billDifference,
    billedAmount: d(r.billed_amount),
    correctionsInQuantity: d(r.corrections_in_quantity),
    correctionsInAmount: d(r.corrections_in_amount),
    correctionsOutQuantity: d(r.corrections_out_quantity),
    correctionsOutAmount: d(r.corrections_out_amount),
  };
}

/** The month reconciled: its window and its bill, with every statement of it numbered. */
async function monthOf(db: Db, month: number): Promise<ReconciliationMonth> {
  // Reconciliation reads statement lines straight from their blocks: every line numbered first.
  await finishBuilds(db, { from: monthStart(month), to: monthStart(month + 1) });
  const bill = await findStatement(db, 'bill', monthStart(month), monthStart(month + 1));
  return { month: monthText(month), start: monthStart(month), end: monthStart(month + 1), billStatementId: bill?.id ?? null };
}

/** One keyset page of a month's projects: the lines and the cursor after them (null: the last page). */
async function linesPage(db: Db, m: ReconciliationMonth, after: string | null, limit: number) {
  const rows = await reconciliationPage(db, { ...m, after, count: limit + 1 });
  const more = rows.length > limit;
  // Fourteen decimals a project: a thousand of them are tens of ms, so the loop is yielded in between.
  const lines = await mapInTurns(rows.slice(0, limit), lineOf);
  return { lines, next: more ? lines[lines.length - 1]!.projectId : null };
}

/**
 * A month's reconciliation: its totals (from what ingestion and fixing keep, O(days + statements +
 * late events)) and one keyset page of its projects (O(page)). Each project's figures come from its
 * own sources (reconciliation.repository.ts), the totals from theirs: a difference in either shows.
 */
export async function reconcile(db: Db, month: number, opts: ReconcileOptions = {}) {
  const m = await monthOf(db, month);
  const limit = opts.limit ?? RECONCILIATION_PAGE;
  const [t, page] = await Promise.all([reconciliationTotals(db, m), linesPage(db, m, opts.after ?? null, limit)]);
  const d = (v: string) => new Decimal(v);
  const billed = m.billStatementId !== null;
  const ingested = d(t.ingested);
  const dailyReported = d(t.reported_on_time).plus(t.late_carried);
  const dailyPending = d(t.on_time).minus(t.reported_on_time).plus(t.late_pending);
  const billedQuantity = (billed ? d(t.billable) : new Decimal(0)).plus(t.bill_late_carried);
  const billPending = (billed ? new Decimal(0) : d(t.billable)).plus(t.bill_late_pending);
  return {
    month: monthLabel(month),
    billed,
    billStatementId: m.billStatementId,
    totals: {
      ingested,
      dailyReported,
      dailyPending,
      dailyDifference: ingested.minus(dailyReported).minus(dailyPending),
      billedQuantity,
      billPending,
      billDifference: ingested.minus(billedQuantity).minus(billPending),
      billedAmount: d(t.billed_amount),
      correctionsInAmount: d(t.corrections_in_amount),
      correctionsOutAmount: d(t.corrections_out_amount),
    },
    projects: opts.flagged ? page.lines.filter((l) => l.flags.length > 0) : page.lines,
    next: page.next,
  };
}

const COLUMNS: (keyof ReconciliationLine)[] = [
  'projectId', 'customerId', 'planId', 'flags', 'ingested', 'dailyReported', 'dailyPending', 'dailyDifference',
  'billedQuantity', 'billPending', 'billDifference', 'billedAmount', 'correctionsInQuantity', 'correctionsInAmount',
  'correctionsOutQuantity', 'correctionsOutAmount',
];

const n = z.number().openapi({ description: 'exact decimal' });
const reconciliation$ = z.object({
  month: z.string(),
  billed: z.boolean(),
  billStatementId: z.string().nullable(),
  totals: z.record(z.string(), n).openapi({
    description:
      "the month's totals, from what ingestion and statement fixing keep (not the sum of this page): ingested from the events as stored, reported and pending from the day counters, the statements' totals and the late events, billed and pending from the events not late for the bill and the late ones",
  }),
  projects: z.array(
    z.object({
      projectId: z.string().nullable(),
      customerId: z.string().nullable(),
      planId: z.string().nullable(),
      flags: z.array(z.string()),
      ingested: n,
      dailyReported: n,
      dailyPending: n,
      dailyDifference: n,
      billedQuantity: n,
      billPending: n,
      billDifference: n,
      billedAmount: n,
      correctionsInQuantity: n,
      correctionsInAmount: n,
      correctionsOutQuantity: n,
      correctionsOutAmount: n,
    } satisfies Record<(typeof COLUMNS)[number], z.ZodType>),
  ),
  next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }),
});

function csvText(lines: ReconciliationLine[]): Promise<string> {
  return csvLines(lines, (l) =>
    COLUMNS.map((k) => {
      const v = l[k];
      return k === 'flags' ? l.flags.join(' ') : Decimal.isDecimal(v) ? v.toFixed() : v;
    }),
  );
}

/** Mounted at /v1/reconciliation. */
export function reconciliationRoutes(deps: RouteDeps) {
  const router = newRouter();
  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Billing'],
      summary: 'Reconcile a month: ingested, reported daily, billed, corrections, differences',
      description:
        "JSON: the month's totals and one keyset page of its projects in projectId order (`limit` projects after `after`; the next page's `after` is `next`), each page costing the same at any depth. With `flagged=true` only the page's projects with a flag are answered (the page reads `limit` projects: it may answer fewer, even none, and still have a `next`). CSV with `Accept: text/csv`: every project of the month, streamed in batches as the client reads (a heavy read: a few at once, then 503 `overloaded`).",
      security: [{ adminToken: [] }],
      request: {
        query: z.object({
          month: z
            .string()
            .refine((v) => parseMonth(v) !== null, `must be ${MONTH_RANGE_TEXT}`)
            .openapi({ example: '2026-10' }),
          after: projectIdText('after must be a projectId (a positive integer of at most 19 digits)')
            .optional()
            .openapi({ description: "the projectId of the last project already read (the previous page's `next`)", example: '100001' }),
          limit: wholeNumberOr('limit', 1, RECONCILIATION_PAGE_MAX, RECONCILIATION_PAGE).openapi({
            description: `projects read, 1 to ${RECONCILIATION_PAGE_MAX}, default ${RECONCILIATION_PAGE}`,
          }),
          flagged: z.enum(['true', 'false']).optional().openapi({ description: 'true: only the projects with a flag (a difference, an unknown plan)' }),
        }),
      },
      responses: { ...vendorErrors,
        200: {
          description: 'per project, with totals',
          content: {
            'application/json': { schema: reconciliation$ },
            'text/csv': { schema: z.string() },
          },
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const month = parseMonth(q.month)!;
      if (wantsCsv(c.req.header('accept'))) {
        // Every project, a batch at a time as the client reads: each batch one O(batch) query, no
        // connection held between two, so Agora's requests are served in between; one heavy-read
        // slot held until the stream ends.
        const release = await deps.heavyReads.acquire();
        let body: ReadableStream<Uint8Array>;
        try {
          const m = await monthOf(deps.db, month);
          body = batchedStream<string>({
            head: csvLine(COLUMNS),
            // Project ids are positive: after 0 is from the first.
            start: '0',
            next: async (after) => {
              const page = await linesPage(deps.db, m, after, CSV_BATCH);
              return { text: await csvText(page.lines), cursor: page.next };
            },
            release,
            idleMs: CSV_IDLE_MS,
          });
        } catch (err) {
          release();
          throw err;
        }
        return csvResponse(body, `reconciliation-${monthLabel(month)}.csv`);
      }
      const result = await reconcile(deps.db, month, { after: q.after, limit: q.limit, flagged: q.flagged === 'true' });
      return exactJson(reconciliation$, result);
    },
  );
  return router;
}
