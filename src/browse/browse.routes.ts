import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { RouteDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';
import { DAY_MS, MONTH_RANGE_TEXT, parseMonth } from '../periods.ts';
import * as customers from './customers.repository.ts';
import { BillPreviewTotals, previewBillMonth, previewUsageDay, type PreviewTotal } from './preview.service.ts';
import * as usage from './usage-browse.repository.ts';

const security = [{ adminToken: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

const BIGINT_MAX = 9223372036854775807n;

/** A whole number from a query parameter, `min` to `max`, `dflt` when absent. */
const queryNumber = (name: string, min: number, max: number, dflt: number) =>
  z
    .string()
    .superRefine((v, ctx) => {
      if (!/^\d{1,10}$/.test(v) || Number(v) < min) ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}` });
      else if (Number(v) > max) ctx.addIssue({ code: 'custom', message: `${name} must be at most ${max}` });
    })
    .transform(Number)
    .optional()
    .transform((n) => n ?? dflt)
    .openapi({ description: `${min} to ${max}, default ${dflt}` });
const limit = queryNumber('limit', 1, 1000, 100);
const page = queryNumber('page', 1, 1_000_000, 1);

const projectIdText = (name: string) =>
  z
    .string()
    .refine((v) => /^[1-9]\d{0,18}$/.test(v) && BigInt(v) <= BIGINT_MAX, `${name} must be a projectId (a positive integer of at most 19 digits)`)
    .openapi({ example: '100001' });
/** As `customerIdSchema` writes them: what a stored customerId can be. */
const customerIdText = (name: string) =>
  z
    .string()
    .min(1, `${name} is empty`)
    .max(64, `${name} is at most 64 characters`)
    .regex(/^[^\u0000-\u001f\u007f/]+$/, `${name} has characters a customerId cannot have`)
    .openapi({ example: 'cust-1' });
const eventIdText = (name: string) =>
  z
    .string()
    .min(1, `${name} is empty`)
    .max(128, `${name} is at most 128 characters`)
    .regex(/^[^\u0000-\u001f\u007f]+$/, `${name} has characters an event id cannot have`);

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;
/** ISO-8601 (a date, or a time with its zone) or Unix seconds, from 1970 to 9999. */
const timeParam = (name: string) =>
  z
    .string()
    .transform((v, ctx) => {
      const ms = /^\d{1,11}$/.test(v) ? Number(v) * 1000 : ISO_TIME.test(v) ? Date.parse(v) : Number.NaN;
      if (!Number.isFinite(ms) || ms < 0 || ms >= Date.UTC(10000, 0, 1)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an ISO-8601 time (2026-11-23T10:00:00Z) or Unix seconds, from 1970 to 9999` });
        return z.NEVER;
      }
      return new Date(ms);
    })
    .optional()
    .openapi({ type: 'string', example: '2026-11-23T00:00:00Z' });

const FIRST_DAY_MS = 0;
const LAST_DAY_MS = Date.UTC(9999, 11, 31);
/** `YYYY-MM-DD`, a real UTC day. */
const dayParam = (name: string) =>
  z
    .string()
    .refine((v) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return false;
      const ms = Date.parse(`${v}T00:00:00Z`);
      return Number.isFinite(ms) && ms >= FIRST_DAY_MS && ms <= LAST_DAY_MS && new Date(ms).toISOString().slice(0, 10) === v;
    }, `${name} must be a day YYYY-MM-DD from 1970-01-01 to 9999-12-31`)
    .openapi({ example: '2026-11-23' });

const paged = <T extends z.ZodType>(item: T) =>
  z.object({
    data: z.array(item),
    count: z.number().int().openapi({ description: 'rows of the whole list, from counters kept with the rows' }),
    countExact: z.boolean(),
    next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }),
  });

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d === null ? null : d.toISOString());
/** Enough of an appKey to tell keys apart, never enough to use one. */
const maskAppKey = (key: string) => `${key.slice(0, 4)}…`;

const customer$ = z
  .object({
    customerId: z.string(),
    customerName: z.string().nullable(),
    customerEmail: z.string().nullable(),
    customerPhone: z.string().nullable(),
    planId: z.string(),
    active: z.boolean(),
    createdAt: z.string(),
    deactivatedAt: z.string().nullable(),
    projectCount: z.number().int(),
    activeProjectCount: z.number().int(),
  })
  .openapi('Customer');
const customerView = (c: customers.CustomerRow) => ({
  customerId: c.customer_id,
  customerName: c.customer_name,
  customerEmail: c.customer_email,
  customerPhone: c.customer_phone,
  planId: c.plan_id,
  active: c.deactivated_at === null,
  createdAt: iso(c.created_at),
  deactivatedAt: isoOrNull(c.deactivated_at),
  projectCount: Number(c.projects ?? 0),
  activeProjectCount: Number(c.active_projects ?? 0),
});

const project$ = z
  .object({
    projectId: z.string(),
    customerId: z.string(),
    active: z.boolean(),
    createdAt: z.string(),
    deactivatedAt: z.string().nullable(),
    appKeyMasked: z.string().openapi({ description: "the appKey's first 4 characters and '…'" }),
  })
  .openapi('Project');
const projectView = (p: customers.ProjectRow) => ({
  projectId: p.project_id,
  customerId: p.customer_id,
  active: p.deactivated_at === null,
  createdAt: iso(p.created_at),
  deactivatedAt: isoOrNull(p.deactivated_at),
  appKeyMasked: maskAppKey(p.app_key),
});

const event$ = z
  .object({
    id: z.string(),
    projectId: z.string(),
    quantity: z.string().openapi({ description: 'exact decimal' }),
    occurredAt: z.string(),
    receivedAt: z.string(),
    description: z.string().nullable(),
    late: z.boolean().openapi({ description: 'arrived after its window was reported: carried into a later usage statement as a correction' }),
    billLate: z.boolean().openapi({ description: 'arrived after its month was billed: carried into a later bill' }),
    carriedBy: z
      .object({ usageStatementId: z.string().nullable(), billStatementId: z.string().nullable() })
      .openapi({ description: 'the statements that carried a late event as a correction (null: not late, or not carried yet)' }),
  })
  .openapi('UsageEvent');
const eventView = (e: usage.EventView) => ({
  id: e.id,
  projectId: e.project_id,
  quantity: e.quantity,
  occurredAt: iso(e.occurred_at),
  receivedAt: iso(e.received_at),
  description: e.description,
  late: e.late,
  billLate: e.bill_late,
  carriedBy: { usageStatementId: e.statement_id, billStatementId: e.bill_statement_id },
});

const previewTotal$ = z
  .discriminatedUnion('status', [
    z.object({
      status: z.literal('pending').openapi({ description: 'being computed (a bill not fixed yet: every project is priced, off the request); ask again in a moment' }),
    }),
    z.object({
      status: z.literal('ready'),
      amount: z.string().openapi({ description: 'sum of the amounts of every line, exact decimal' }),
      lineCount: z.number().int().openapi({ description: 'the lines it sums (a total kept from an earlier snapshot may differ from `totalSize`)' }),
      asOf: z.string().openapi({ description: 'when the lines it sums were read (a fixed statement: when it was fixed)' }),
    }),
  ])
  .openapi('PreviewTotal', { description: 'the sum of every line, or `pending` while a bill preview computes it' });
const previewTotalView = (t: PreviewTotal) => (t.status === 'pending' ? t : { status: t.status, amount: t.amount, lineCount: t.lineCount, asOf: iso(t.asOf) });

const preview$ = z
  .object({
    period: z.string().openapi({ description: 'the day (YYYY-MM-DD) or month (YYYY-MM)' }),
    fixed: z.boolean().openapi({ description: 'true: the statement is fixed and these are its lines; false: what it would say if fixed now' }),
    totalSize: z.number().int().openapi({ description: 'lines of the whole statement, counted in the same snapshot as these lines' }),
    total: previewTotal$,
    page: z.number().int(),
    limit: z.number().int(),
    lines: z.array(
      z.object({
        lineNo: z.number().int(),
        projectId: z.string(),
        planId: z.string(),
        amount: z.string().openapi({ description: 'exact decimal' }),
        correction: z.string().openapi({ description: 'late usage (or its price) carried in the amount' }),
        description: z.string(),
      }),
    ),
  })
  .openapi('Preview');


/** Mounted at /v1: what the vendor console reads (admin token). */
export function browseRoutes(deps: RouteDeps) {
  const router = newRouter();
  const db = deps.db;

  router.openapi(
    createRoute({
      method: 'get',
      path: '/customers',
      tags: ['Console'],
      summary: 'List customers, in customerId order',
      security,
      request: {
        query: z.object({
          status: z.enum(['active', 'deactivated'], { error: 'status must be active or deactivated' }).optional(),
          after: customerIdText('after').optional().openapi({ description: 'the customerId of the last row already read (the previous page\'s `next`)' }),
          limit,
        }),
      },
      responses: { 200: { description: 'a page of customers', ...json(paged(customer$)) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const { rows, count } = await customers.customersPage(db, q);
      const last = rows[rows.length - 1];
      return c.json({ data: rows.map(customerView), count, countExact: true, next: last && rows.length === q.limit ? last.customer_id : null }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/customers/{customerId}',
      tags: ['Console'],
      summary: 'One customer, its projects (the first 1,000) and its deactivation history',
      security,
      request: { params: z.object({ customerId: customerIdText('customerId') }) },
      responses: {
        200: {
          description: 'the customer',
          ...json(
            customer$.extend({
              projects: z.array(project$.omit({ customerId: true })),
              deactivations: z.array(
                z.object({
                  projectId: z.string().nullable().openapi({ description: 'null: the customer itself' }),
                  from: z.string(),
                  to: z.string().nullable().openapi({ description: 'null: still deactivated' }),
                }),
              ),
            }),
          ),
        },
      },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      const found = await customers.findCustomer(db, customerId);
      if (!found) throw new AppError('unknown_customer', `No customer ${customerId}`);
      const projects = await customers.projectsOfCustomer(db, customerId, 1000);
      const deactivations = await customers.deactivationsOfCustomer(db, customerId, 1000);
      return c.json(
        {
          ...customerView(found),
          projects: projects.map((p) => {
            const { customerId: _owner, ...rest } = projectView(p);
            return rest;
          }),
          deactivations: deactivations.map((d) => ({ projectId: d.project_id, from: iso(d.deactivated_at), to: isoOrNull(d.reactivated_at) })),
        },
        200,
      );
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/projects',
      tags: ['Console'],
      summary: 'List projects, in projectId order',
      security,
      request: {
        query: z.object({
          customerId: customerIdText('customerId').optional(),
          active: z
            .enum(['true', 'false'], { error: 'active must be true or false' })
            .transform((v) => v === 'true')
            .optional(),
          after: projectIdText('after').optional().openapi({ description: 'the projectId of the last row already read (the previous page\'s `next`)' }),
          limit,
        }),
      },
      responses: { 200: { description: 'a page of projects', ...json(paged(project$)) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const { rows, count } = await customers.projectsPage(db, q);
      const last = rows[rows.length - 1];
      return c.json({ data: rows.map(projectView), count, countExact: true, next: last && rows.length === q.limit ? last.project_id : null }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/usage-events',
      tags: ['Console'],
      summary: "A project's usage events, in (occurredAt, id) order",
      description: 'Events with `from <= occurredAt < to`; without them, the last 24 hours.',
      security,
      request: {
        query: z.object({
          projectId: projectIdText('projectId'),
          from: timeParam('from'),
          to: timeParam('to'),
          after: eventIdText('after').optional().openapi({ description: 'the id of the last event already read (the previous page\'s `next`)' }),
          limit,
        }),
      },
      responses: {
        200: {
          description: 'a page of events',
          ...json(z.object({ data: z.array(event$), next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }) })),
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const to = q.to ?? deps.clock();
      const from = q.from ?? new Date(to.getTime() - DAY_MS);
      if (from > to) throw new AppError('invalid_parameter', 'from is after to');
      const rows = await usage.eventsOfProject(db, { projectId: q.projectId, from, to, after: q.after, limit: q.limit });
      const last = rows[rows.length - 1];
      return c.json({ data: rows.map(eventView), next: last && rows.length === q.limit ? last.id : null }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/usage-events/{id}',
      tags: ['Console'],
      summary: 'One usage event, by its id',
      security,
      request: { params: z.object({ id: eventIdText('id') }) },
      responses: { 200: { description: 'the event', ...json(event$) } },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const e = await usage.findEvent(db, id);
      if (!e) throw new AppError('unknown_event', 'No usage event with that id');
      return c.json(eventView(e), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/usage/daily',
      tags: ['Console'],
      summary: 'On-time usage per UTC day, of everyone, a customer or a project',
      description:
        'Every day from `from` to `to` (inclusive, at most 366 days), days without usage as zero. Read from the daily rollups ingestion keeps: usage that arrived after its day was reported is not in its day here (it is carried into a later statement as a correction).',
      security,
      request: {
        query: z.object({
          from: dayParam('from'),
          to: dayParam('to'),
          customerId: customerIdText('customerId').optional(),
          projectId: projectIdText('projectId').optional(),
        }),
      },
      responses: {
        200: {
          description: 'one row per day',
          ...json(
            z.object({
              data: z.array(
                z.object({
                  day: z.string(),
                  quantity: z.string().openapi({ description: 'exact decimal' }),
                  projects: z.number().int().openapi({ description: 'projects with usage that day' }),
                }),
              ),
            }),
          ),
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      if (q.customerId !== undefined && q.projectId !== undefined) throw new AppError('invalid_parameter', 'Give customerId or projectId, not both');
      const first = Date.parse(`${q.from}T00:00:00Z`);
      const last = Date.parse(`${q.to}T00:00:00Z`);
      if (first > last) throw new AppError('invalid_parameter', 'from is after to');
      if ((last - first) / DAY_MS + 1 > 366) throw new AppError('invalid_parameter', 'At most 366 days at a time');
      const totals = new Map((await usage.dailyTotals(db, q)).map((t) => [t.day, t]));
      const data: { day: string; quantity: string; projects: number }[] = [];
      for (let ms = first; ms <= last; ms += DAY_MS) {
        const day = new Date(ms).toISOString().slice(0, 10);
        const t = totals.get(day);
        data.push({ day, quantity: t?.quantity ?? '0', projects: t?.projects ?? 0 });
      }
      return c.json({ data }, 200);
    },
  );

  const PREVIEW =
    'Nothing is fixed and no period lock is taken: ingestion carries on meanwhile, and what Agora is told when it asks is the statement as it is then. A heavy read (bounded concurrency), so previews never take the connections Agora needs. `page` skips `(page - 1) × limit` lines: a page costs its depth.';
  // This app's bill preview totals, computed off the request in a heavy-read turn of their own.
  const billTotals = new BillPreviewTotals({
    db,
    config: deps.config,
    clock: deps.clock,
    turn: () => deps.heavyReads.background(),
    report: (err, month) =>
      deps.log({ at: new Date().toISOString(), level: 'error', event: 'bill_preview_total_failed', month, error: err instanceof Error ? err.message : String(err) }),
  });

  router.openapi(
    createRoute({
      method: 'get',
      path: '/preview/usage',
      tags: ['Console'],
      summary: "What Agora's usage poll of a whole UTC day would be told now",
      description: PREVIEW,
      security,
      request: { query: z.object({ day: dayParam('day'), page, limit }) },
      responses: { 200: { description: 'the statement, or what it would be', ...json(preview$) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const p = await previewUsageDay(db, q.day, deps.config.usageUnit, (q.page - 1) * q.limit, q.limit, deps.clock);
      return c.json({ ...p, total: previewTotalView(p.total), page: q.page, limit: q.limit }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/preview/bill',
      tags: ['Console'],
      summary: "What Agora's bill poll of a month would be told now",
      description: `${PREVIEW} A bill not fixed yet is counted and paged as its deferred fix would be (O(page), not O(projects)); its total prices every project, so it is computed after the first answer and kept 30 s: that answer says \`total: {status: 'pending'}\`, the next ones the total.`,
      security,
      request: {
        query: z.object({
          month: z
            .string()
            .transform((v, ctx) => {
              const month = parseMonth(v);
              if (month !== null) return month;
              ctx.addIssue({ code: 'custom', message: `month must be ${MONTH_RANGE_TEXT}` });
              return z.NEVER;
            })
            .openapi({ type: 'string', example: '2026-11' }),
          page,
          limit,
        }),
      },
      responses: { 200: { description: 'the bill, or what it would be', ...json(preview$) } },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const p = await previewBillMonth(db, q.month, deps.config, (q.page - 1) * q.limit, q.limit, deps.clock, billTotals);
      return c.json({ ...p, total: previewTotalView(p.total), page: q.page, limit: q.limit }, 200);
    },
  );

  return router;
}
