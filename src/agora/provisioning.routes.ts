import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AppError } from '../errors.ts';
import type { AppDeps, AppEnv } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { deadline, limitBody } from '../http/middleware.ts';
import { newRouter, validationError } from '../http/router.ts';
import { customerIdSchema, projectIdSchema } from '../ids.ts';
import * as provisioning from '../provisioning/provisioning.service.ts';
import { agoraSignature } from './auth.ts';
import { textErrorResponse } from './query.ts';
import { licenseUrlOf, tokenOf } from '../certificates/license-file.ts';

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

/** The body was parsed and its signature checked by `agoraSignature`; here it is validated. */
function body<T extends z.ZodType>(c: Context<AppEnv>, schema: T): z.infer<T> {
  const input = c.get('agoraBody');
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw validationError(parsed.error, input);
  return parsed.data;
}

function pathParam<T extends z.ZodType>(schema: T, value: string | undefined, name: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError('invalid_parameter', `${name}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

const success = z.object({ status: z.literal('success'), statusReason: z.string() });
const errors = {
  400: { description: 'bad parameters', content: { 'application/json': { schema: textErrorResponse } } },
  401: { description: 'unknown apiKey or wrong signature', content: { 'application/json': { schema: textErrorResponse } } },
  404: { description: 'unknown customer or project', content: { 'application/json': { schema: textErrorResponse } } },
  409: { description: 'in conflict with what is provisioned', content: { 'application/json': { schema: textErrorResponse } } },
};
const jsonBody = (schema: z.ZodType) => ({ body: { content: { 'application/json': { schema } }, required: true } });

const customerPath = z.object({ customerId: z.string().openapi({ example: '1234567' }) });
const projectPath = customerPath.extend({ projectId: z.string().openapi({ example: '430892' }) });

/** Mounted at /customers. Every call is idempotent: Agora re-sends up to twice. */
export function provisioningRoutes(deps: AppDeps) {
  const router = newRouter();
  for (const path of ['/new', '/:customerId/projects/new', '/:customerId/deactivate', '/:customerId/projects/:projectId/deactivate']) {
    router.use(path, useEnvelope('agora-text'), deadline(deps.config.agoraDeadlineMs), limitBody(64 * 1024), agoraSignature({ keys: deps.apiKeys }));
  }

  router.openapi(
    createRoute({
      method: 'post',
      path: '/new',
      tags: ['Agora'],
      summary: 'A user activates the extension',
      description: 'Creates the customer; a repeat brings it up to date and active again.',
      request: jsonBody(newCustomerBody),
      responses: { 200: { description: 'provisioned', content: { 'application/json': { schema: success } } }, ...errors },
    }),
    async (c) => {
      const b = body(c, newCustomerBody);
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
      const customerId = pathParam(customerIdSchema, c.req.param('customerId'), 'customerId');
      const b = body(c, newProjectBody);
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
      summary: 'A user deactivates the extension',
      description: 'Recorded, not deleted: usage from before the deactivation is still reported and billed.',
      request: { params: customerPath, ...jsonBody(deactivateBody) },
      responses: { 200: { description: 'deactivated', content: { 'application/json': { schema: success } } }, ...errors },
    }),
    async (c) => {
      const customerId = pathParam(customerIdSchema, c.req.param('customerId'), 'customerId');
      body(c, deactivateBody);
      await provisioning.deactivateCustomer(deps.db, customerId, deps.clock());
      return c.json({ status: 'success' as const, statusReason: '' }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'put',
      path: '/{customerId}/projects/{projectId}/deactivate',
      tags: ['Agora'],
      summary: 'A user disables the extension for one project',
      request: { params: projectPath, ...jsonBody(deactivateBody) },
      responses: { 200: { description: 'deactivated', content: { 'application/json': { schema: success } } }, ...errors },
    }),
    async (c) => {
      const customerId = pathParam(customerIdSchema, c.req.param('customerId'), 'customerId');
      const projectId = pathParam(projectIdSchema, c.req.param('projectId'), 'projectId');
      body(c, deactivateBody);
      await provisioning.deactivateProject(deps.db, customerId, projectId, deps.clock());
      return c.json({ status: 'success' as const, statusReason: '' }, 200);
    },
  );
  return router;
}
