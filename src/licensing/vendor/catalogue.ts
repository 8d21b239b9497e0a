import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../../errors.ts';
import type { AppEnv, RouteDeps } from '../../http/context.ts';
import { limitBody } from '../../http/middleware.ts';
import { vendorErrors } from '../../http/openapi.ts';
import * as catalogueRepo from '../catalogue.repository.ts';
import { createPid, createSku } from '../catalogue.service.ts';
import { pidAdminView, skuAdminView } from '../views.ts';
import { code, json, security } from './schemas.ts';

const oneTwoThree = (what: string) => z.union([z.literal(1), z.literal(2), z.literal(3)], { error: `${what} must be 1, 2 or 3` });
const skuBody = z.object({
  id: code('id').openapi({ description: 'your SKU id', example: 'iot-audio-basic' }),
  product: oneTwoThree('product').openapi({ description: '1 Video SDK, 2 IoT SDK, 3 FPA' }),
  name: z.string().trim().min(1, 'name is empty').max(128, 'name is at most 128 characters').regex(/^[^\u0000-\u001f\u007f]+$/, 'name must be printable text'),
  mediaType: oneTwoThree('mediaType').openapi({ description: '1 audio, 2 video, 3 audio and video' }),
  minutes: z.number().int('minutes must be a whole number').min(1, 'minutes must be at least 1').max(2_147_483_647).nullish().openapi({ description: 'cap on license minutes' }),
  period: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d~([01]\d|2[0-3]):[0-5]\d$/, 'period must be HH:MM~HH:MM')
    .nullish()
    .openapi({ description: 'usage period of the day', example: '00:00~23:59' }),
});
const skuAdminView$ = z
  .object({
    id: z.string(),
    product: z.number().int(),
    name: z.string(),
    mediaType: z.number().int(),
    minutes: z.number().int().nullable(),
    period: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('LicenseSku');

const pidBody = z.object({
  pid: code('pid').optional().openapi({ description: 'unset: 32 uppercase hex digits are generated' }),
  sku: code('sku'),
  category: z.enum(['device', 'account'], { error: 'category must be device or account' }),
  type: z.enum(['trial', 'commercial'], { error: 'type must be trial or commercial' }),
  validityMonths: z.number().int('validityMonths must be a whole number').max(1200).optional().openapi({ description: 'trial only: at least 3' }),
  validityYears: z.number().int('validityYears must be a whole number').max(100).optional().openapi({ description: 'commercial only: at least 1' }),
});
const pidView = z
  .object({
    pid: z.string(),
    sku: z.string(),
    category: z.enum(['device', 'account']),
    type: z.enum(['trial', 'commercial']),
    validityMonths: z.number().int().nullable(),
    validityYears: z.number().int().nullable(),
    createdAt: z.string(),
  })
  .openapi('LicensePid');

/** The catalogue: SKUs (capability sets) and PIDs (a SKU sold with a category, type and validity). */
export function registerCatalogueRoutes(router: OpenAPIHono<AppEnv>, deps: RouteDeps): void {
  const db = deps.db;
  for (const path of ['/skus', '/skus/*', '/pids', '/pids/*']) router.use(path, limitBody(64 * 1024));

  router.openapi(
    createRoute({
      method: 'post',
      path: '/skus',
      tags: ['Licensing'],
      summary: 'Create a SKU (a capability set)',
      description: 'SKUs cannot change once created. The same SKU again answers 200 with it; other values under a taken id are 409 sku_conflict.',
      security,
      request: { body: { required: true, ...json(skuBody) } },
      responses: { ...vendorErrors, 201: { description: 'created', ...json(skuAdminView$) }, 200: { description: 'already there', ...json(skuAdminView$) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const { sku, created } = await createSku(db, {
        skuId: b.id,
        product: b.product,
        name: b.name,
        mediaType: b.mediaType,
        minutes: b.minutes ?? null,
        period: b.period ?? null,
      });
      return c.json(skuAdminView(sku), created ? 201 : 200);
    },
  );

  router.openapi(
    createRoute({ method: 'get', path: '/skus', tags: ['Licensing'], summary: 'Every SKU', security, responses: { ...vendorErrors, 200: { description: 'SKUs', ...json(z.object({ data: z.array(skuAdminView$) })) } } }),
    async (c) => c.json({ data: (await catalogueRepo.listSkus(db)).map(skuAdminView) }, 200),
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/skus/{id}',
      tags: ['Licensing'],
      summary: 'One SKU',
      security,
      request: { params: z.object({ id: code('id') }) },
      responses: { ...vendorErrors, 200: { description: 'the SKU', ...json(skuAdminView$) } },
    }),
    async (c) => {
      const sku = await catalogueRepo.findSku(db, c.req.valid('param').id);
      if (!sku) throw new AppError('unknown_sku', `No SKU ${c.req.valid('param').id}`);
      return c.json(skuAdminView(sku), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/pids',
      tags: ['Licensing'],
      summary: 'Create a PID: SKU + category + type + validity',
      description:
        'Trial validity in months (`validityMonths`, at least 3), commercial in years (`validityYears`, at least 1); otherwise 400 invalid_validity. One PID per SKU, category, type and validity: the same definition again answers 200 with its PID.',
      security,
      request: { body: { required: true, ...json(pidBody) } },
      responses: { ...vendorErrors, 201: { description: 'created', ...json(pidView) }, 200: { description: 'already there', ...json(pidView) } },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const { pid, created } = await createPid(db, {
        pid: b.pid,
        skuId: b.sku,
        category: b.category,
        type: b.type,
        validityMonths: b.validityMonths,
        validityYears: b.validityYears,
      });
      return c.json(pidAdminView(pid), created ? 201 : 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/pids',
      tags: ['Licensing'],
      summary: 'PIDs, of one SKU or all',
      security,
      request: { query: z.object({ sku: code('sku').optional() }) },
      responses: { ...vendorErrors, 200: { description: 'PIDs', ...json(z.object({ data: z.array(pidView) })) } },
    }),
    async (c) => c.json({ data: (await catalogueRepo.listPids(db, { skuId: c.req.valid('query').sku })).map(pidAdminView) }, 200),
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/pids/{pid}',
      tags: ['Licensing'],
      summary: 'One PID',
      security,
      request: { params: z.object({ pid: code('pid') }) },
      responses: { ...vendorErrors, 200: { description: 'the PID', ...json(pidView) } },
    }),
    async (c) => {
      const pid = await catalogueRepo.findPid(db, c.req.valid('param').pid);
      if (!pid) throw new AppError('unknown_pid', `No PID ${c.req.valid('param').pid}`);
      return c.json(pidAdminView(pid), 200);
    },
  );
}
