import { createRoute, z } from '@hono/zod-openapi';
import { parseDecimalInput } from '../decimal.ts';
import { AppError } from '../errors.ts';
import type { AppDeps } from '../http/context.ts';
import { limitBody } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import { exactJson } from '../json.ts';
import { MONTH_RANGE_TEXT, parseMonth, monthText } from '../periods.ts';
import * as repo from './plans.repository.ts';
import { addVersion, createPlan } from './plans.service.ts';
import { buildTiers } from './tiers.ts';
import { vendorErrors } from '../http/openapi.ts';

const decimal = (what: string) =>
  z
    .union([z.string(), z.number()], { error: `${what} must be a decimal (string or number)` })
    .transform((v, ctx) => {
      const d = parseDecimalInput(v);
      if (!d) {
        ctx.addIssue({ code: 'custom', message: `${what} must be a non-negative decimal with at most 20 integer and 18 fraction digits` });
        return z.NEVER;
      }
      return d;
    })
    .openapi({ type: 'string', example: '0.002' });

const month = z
  .string()
  .transform((v, ctx) => {
    const n = parseMonth(v);
    if (n === null) {
      ctx.addIssue({ code: 'custom', message: `must be ${MONTH_RANGE_TEXT}` });
      return z.NEVER;
    }
    return monthText(n);
  })
  .openapi({ type: 'string', example: '2026-12' });

const label = (max: number) => z.string().trim().min(1).max(max).regex(/^[^\u0000-\u001f\u007f]+$/, 'must be printable text');

const versionBody = z.object({
  effectiveFrom: month.openapi({ description: 'the first month this price applies to' }),
  currency: label(16).openapi({ description: 'currency or unit label of amounts', example: 'USD' }),
  usageUnit: label(32).openapi({ description: 'the usage unit word', example: 'Minute' }),
  monthlyFee: decimal('monthlyFee').optional().openapi({ description: 'fixed fee per project and month', example: '0' }),
  tiers: z
    .array(z.object({ upTo: decimal('upTo').nullable(), unitPrice: decimal('unitPrice') }))
    .min(1, 'a plan needs at least one tier')
    .max(50, 'at most 50 tiers'),
});

const planBody = versionBody.extend({
  planId: label(16).openapi({ description: "the planId Agora sends in POST /customers/new", example: 'gold' }),
  name: z.string().max(128).optional(),
});

function versionInput(b: z.infer<typeof versionBody>): repo.VersionInput {
  const tiers = buildTiers(b.tiers);
  if (typeof tiers === 'string') throw new AppError('invalid_tiers', tiers);
  return { effectiveMonth: b.effectiveFrom, currency: b.currency, usageUnit: b.usageUnit, monthlyFee: b.monthlyFee ?? parseDecimalInput('0')!, tiers };
}

function planView(plan: { plan_id: string; name: string | null }, versions: repo.PlanVersion[]) {
  return {
    planId: plan.plan_id,
    name: plan.name,
    versions: versions
      .filter((v) => v.planId === plan.plan_id)
      .map((v) => ({
        id: v.id,
        effectiveFrom: v.effectiveMonth.slice(0, 7),
        currency: v.currency,
        usageUnit: v.usageUnit,
        monthlyFee: v.monthlyFee,
        tiers: v.tiers.map((t) => ({ upTo: t.upTo, unitPrice: t.unitPrice })),
      })),
  };
}

const planView$ = z
  .object({
    planId: z.string(),
    name: z.string().nullable(),
    versions: z.array(
      z.object({
        id: z.string(),
        effectiveFrom: z.string(),
        currency: z.string(),
        usageUnit: z.string(),
        monthlyFee: z.number(),
        tiers: z.array(z.object({ upTo: z.number().nullable(), unitPrice: z.number() })),
      }),
    ),
  })
  .openapi('Plan');

const planList$ = z.object({ data: z.array(planView$) });
const security = [{ adminToken: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
const planIdParam = z.object({ planId: z.string().min(1).max(16) });

/** Mounted at /v1/plans. */
export function plansRoutes(deps: AppDeps) {
  const router = newRouter();
  router.use('*', limitBody(64 * 1024));

  router.openapi(
    createRoute({ method: 'get', path: '/', tags: ['Billing'], summary: 'Plans and their price versions', security, responses: { ...vendorErrors, 200: { description: 'plans', ...json(planList$) } } }),
    async () => {
      const [plans, versions] = await Promise.all([repo.listPlans(deps.db), repo.loadVersions(deps.db)]);
      return exactJson(planList$, { data: plans.map((p) => planView(p, versions)) });
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['Billing'],
      summary: 'Create a plan',
      description: 'Graduated tiers: each tier prices the part of a project’s monthly quantity inside it. Only the last tier is open-ended.',
      security,
      request: { body: { required: true, ...json(planBody) } },
      responses: { ...vendorErrors, 201: { description: 'created', ...json(planView$) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const versions = await createPlan(deps.db, { planId: b.planId, name: b.name ?? null, ...versionInput(b) });
      return exactJson(planView$, planView({ plan_id: b.planId, name: b.name ?? null }, versions), 201);
    },
  );

  router.openapi(
    createRoute({ method: 'get', path: '/{planId}', tags: ['Billing'], summary: 'One plan', security, request: { params: planIdParam }, responses: { ...vendorErrors, 200: { description: 'the plan', ...json(planView$) } } }),
    async (c) => {
      const { planId } = c.req.valid('param');
      const plan = await repo.findPlan(deps.db, planId);
      if (!plan) throw new AppError('unknown_plan', `No plan ${planId}`);
      return exactJson(planView$, planView(plan, await repo.loadVersions(deps.db, { planIds: [planId] })));
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/{planId}/versions',
      tags: ['Billing'],
      summary: 'Change a plan’s prices from a month on',
      description: 'Months already billed keep their prices: the effective month must come after the last billed month. The same month again replaces that version.',
      security,
      request: { params: planIdParam, body: { required: true, ...json(versionBody) } },
      responses: { ...vendorErrors, 201: { description: 'the plan with its versions', ...json(planView$) } },
    }),
    async (c) => {
      const { planId } = c.req.valid('param');
      const versions = await addVersion(deps.db, planId, versionInput(c.req.valid('json')));
      const plan = (await repo.findPlan(deps.db, planId))!;
      return exactJson(planView$, planView(plan, versions), 201);
    },
  );
  return router;
}
