import { createRoute, z } from '@hono/zod-openapi';
import type { AppDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';
import { customerIdSchema, projectIdSchema } from '../ids.ts';
import * as provisioning from '../provisioning/provisioning.service.ts';
import { textErrorResponse } from './query.ts';
import { licenseUrlOf, tokenOf } from '../certificates/license-file.ts';
import { agoraSecurity } from '../http/openapi.ts';

const optionalText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .nullish()
    .transform((v) => (v === undefined || v === null || v === '' ? null : v));

const signed = { apiKey: z.string(), signature: z.string() };

export const newCustomerBody = z.object({
  planId: z.string().min(1, 'planId is required').max(16, 'planId is at most 16 characters'),
  customerId: customerIdSchema,
  customerName: optionalText(32),
  customerEmail: optionalText(32),
  customerPhone: optionalText(32),
  ...signed,
});

const newProjectBody = z.object({ projectId: projectIdSchema, ...signed });
const deactivateBody = z.object(signed);

const success = z.object({ status: z.literal('success'), statusReason: z.string() });
const errors = {
  400: { description: 'bad parameters', content: { 'application/json': { schema: textErrorResponse } } },
  401: { description: 'unknown apiKey or wrong signature', content: { 'application/json': { schema: textErrorResponse } } },
  404: { description: 'unknown customer or project', content: { 'application/json': { schema: textErrorResponse } } },
  409: { description: 'in conflict with what is provisioned', content: { 'application/json': { schema: textErrorResponse } } },
};
const jsonBody = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });

const customerPath = z.object({ customerId: customerIdSchema.openapi({ type: 'string', example: '1234567' }) });
const projectPath = customerPath.extend({ projectId: projectIdSchema.openapi({ type: 'string', example: '430892' }) });

/** Mounted at /customers. Every call is idempotent: Agora re-sends up to twice. */
export function provisioningRoutes(deps: AppDeps) {
  const router = newRouter();

  router.openapi(
    createRoute({
      method: 'post',
      path: '/new',
      tags: ['Agora'],
      security: agoraSecurity,
      summary: 'A user activates the extension',
      description: 'Creates the customer; a repeat brings it up to date and active again.',
      request: jsonBody(newCustomerBody),
      responses: { 200: { description: 'provisioned', content: { 'application/json': { schema: success } } }, ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      await provisioning.provisionCustomer(deps.db, {
        customerId: b.customerId,
        planId: b.planId,
        customerName: b.customerName,
        customerEmail: b.customerEmail,
        customerPhone: b.customerPhone,
      }, deps.clock());
      return c.json({ status: 'success' as const, statusReason: '' }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/{customerId}/projects/new',
      tags: ['Agora'],
      security: agoraSecurity,
      summary: 'A user enables the extension for a project',
      description:
        'Returns the project’s appKey and appSecret; the same pair on every repeat. With LICENSE_FILES=on and PUBLIC_URL set, also `licenseUrl`: where devices fetch the project’s signed license file (the same on every repeat until rotated).',
      request: { params: customerPath, ...jsonBody(newProjectBody) },
      responses: {
        200: {
          description: 'provisioned',
          content: {
            'application/json': {
              schema: success.extend({ data: z.object({ appKey: z.string(), appSecret: z.string(), licenseUrl: z.string().optional() }) }),
            },
          },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      const b = c.req.valid('json');
      const creds = await provisioning.provisionProject(deps.db, customerId, b.projectId, deps.clock());
      // Off (the default): the answer and its cost are as before. On: one more statement, by primary key.
      const publicUrl = deps.config.licenseFiles ? deps.config.publicUrl : undefined;
      if (publicUrl === undefined) return c.json({ status: 'success' as const, statusReason: '', data: creds }, 200);
      const licenseUrl = licenseUrlOf(publicUrl, await tokenOf(deps.db, b.projectId));
      return c.json({ status: 'success' as const, statusReason: '', data: { ...creds, licenseUrl } }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'put',
      path: '/{customerId}/deactivate',
      tags: ['Agora'],
      security: agoraSecurity,
      summary: 'A user deactivates the extension',
      description: 'Recorded, not deleted: usage from before the deactivation is still reported and billed.',
      request: { params: customerPath, ...jsonBody(deactivateBody) },
      responses: { 200: { description: 'deactivated', content: { 'application/json': { schema: success } } }, ...errors },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      await provisioning.deactivateCustomer(deps.db, customerId, deps.clock());
      return c.json({ status: 'success' as const, statusReason: '' }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'put',
      path: '/{customerId}/projects/{projectId}/deactivate',
      tags: ['Agora'],
      security: agoraSecurity,
      summary: 'A user disables the extension for one project',
      request: { params: projectPath, ...jsonBody(deactivateBody) },
      responses: { 200: { description: 'deactivated', content: { 'application/json': { schema: success } } }, ...errors },
    }),
    async (c) => {
      const { customerId, projectId } = c.req.valid('param');
      await provisioning.deactivateProject(deps.db, customerId, projectId, deps.clock());
      return c.json({ status: 'success' as const, statusReason: '' }, 200);
    },
  );
  return router;
}
