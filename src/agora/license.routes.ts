import { createRoute, z } from '@hono/zod-openapi';
import { textErrorResponse } from './query.ts';
import type { AppDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';
import { customerIdSchema } from '../ids.ts';
import { customerLicense } from '../licensing/summary.service.ts';
import { agoraSecurity } from '../http/openapi.ts';

const json = (schema: z.ZodType) => ({ 'application/json': { schema } });

/**
 * Mounted at /customers beside the provisioning routes; registers only `/{customerId}/license`, so
 * the provisioning paths and their middleware are untouched.
 */
export function agoraLicenseRoutes(deps: AppDeps) {
  const router = newRouter();
  router.openapi(
    createRoute({
      method: 'get',
      path: '/{customerId}/license',
      tags: ['Agora'],
      security: agoraSecurity,
      summary: "A customer's license expiry and remaining amount",
      description:
        '`expireDate`: the UTC day of the latest expiry among the customer’s unexpired licenses (`LICENSE_EXPIRE_RULE=earliest`: the earliest); all expired: the latest expiry; none activated yet: "". `residueCount`: licenses still available to activate (`LICENSE_RESIDUE_RULE=active`: unexpired licenses). Unknown customer, or one with neither licenses nor quota: `failed` (404).',
      request: {
        params: z.object({ customerId: customerIdSchema.openapi({ type: 'string', example: '1234567' }) }),
        query: z.object({ apiKey: z.string(), signature: z.string() }),
      },
      responses: {
        200: {
          description: 'the license summary',
          content: json(
            z.object({
              status: z.literal('success'),
              statusReason: z.string(),
              data: z.object({ expireDate: z.string().openapi({ example: '2027-10-01' }), residueCount: z.string().openapi({ example: '100' }) }),
            }),
          ),
        },
        400: { description: 'bad parameters', content: json(textErrorResponse) },
        401: { description: 'unknown apiKey or wrong signature', content: json(textErrorResponse) },
        404: { description: 'unknown customer, or no licenses', content: json(textErrorResponse) },
        503: { description: 'the database did not answer in time; retry', content: json(textErrorResponse) },
      },
    }),
    async (c) => {
      const data = await customerLicense(deps.db, deps.config, c.req.valid('param').customerId, deps.clock());
      return c.json({ status: 'success' as const, statusReason: '', data }, 200);
    },
  );
  return router;
}
