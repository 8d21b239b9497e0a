import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../db/database.ts';
import { Decimal } from '../decimal.ts';
import { csvLine, csvResponse, wantsCsv } from '../csv.ts';
import type { AppDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';
import { exactJson } from '../json.ts';
import { monthLabel, monthStart, monthText, MONTH_RANGE_TEXT, parseMonth } from '../periods.ts';
import { findStatement, finishBuilds } from '../statements/store.ts';
import { reconciliationRows } from './reconciliation.repository.ts';
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

export async function reconcile(db: Db, month: number) {
  // Reconciliation reads statement lines straight from their blocks: every line numbered first.
  await finishBuilds(db, { from: monthStart(month), to: monthStart(month + 1) });
  const bill = await findStatement(db, 'bill', monthStart(month), monthStart(month + 1));
  const rows = await reconciliationRows(db, { month: monthText(month), start: monthStart(month), end: monthStart(month + 1), billStatementId: bill?.id ?? null });
  const lines: ReconciliationLine[] = rows.map((r) => {
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
  });
  const sum = (k: keyof ReconciliationLine) => lines.reduce((a, l) => a.plus(l[k] as Decimal), new Decimal(0));
  return {
    month: monthLabel(month),
    billed: bill !== undefined,
    billStatementId: bill?.id ?? null,
    totals: {
      ingested: sum('ingested'),
      dailyReported: sum('dailyReported'),
      dailyPending: sum('dailyPending'),
      dailyDifference: sum('dailyDifference'),
      billedQuantity: sum('billedQuantity'),
      billPending: sum('billPending'),
      billDifference: sum('billDifference'),
      billedAmount: sum('billedAmount'),
      correctionsInAmount: sum('correctionsInAmount'),
      correctionsOutAmount: sum('correctionsOutAmount'),
    },
    projects: lines,
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
  totals: z.record(z.string(), n),
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
});

/** Mounted at /v1/reconciliation. */
export function reconciliationRoutes(deps: AppDeps) {
  const router = newRouter();
  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Billing'],
      summary: 'Reconcile a month: ingested, reported daily, billed, corrections, differences',
      description: 'JSON, or CSV with `Accept: text/csv`.',
      security: [{ adminToken: [] }],
      request: {
        query: z.object({
          month: z
            .string()
            .refine((v) => parseMonth(v) !== null, `must be ${MONTH_RANGE_TEXT}`)
            .openapi({ example: '2026-10' }),
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
      const month = parseMonth(c.req.valid('query').month)!;
      const result = await reconcile(deps.db, month);
      if (wantsCsv(c.req.header('accept'))) {
        let body = csvLine(COLUMNS);
        for (const l of result.projects) {
          body += csvLine(COLUMNS.map((k) => (k === 'flags' ? l.flags.join(' ') : Decimal.isDecimal(l[k]) ? (l[k] as Decimal).toFixed() : l[k])));
        }
        return csvResponse(body, `reconciliation-${result.month}.csv`);
      }
      return exactJson(reconciliation$, result);
    },
  );
  return router;
}
