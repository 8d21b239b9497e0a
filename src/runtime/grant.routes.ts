import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { agoraSignature } from '../agora/auth.ts';
import { textErrorResponse } from '../agora/query.ts';
import { AppError } from '../errors.ts';
import type { AppDeps, AppEnv } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { deadline, limitBody } from '../http/middleware.ts';
import { newRouter, validationError } from '../http/router.ts';
import { customerIdSchema } from '../ids.ts';
import { parseExpire, parsePlatforms, recordGrant } from './grants.service.ts';

const activateBody = z.object({
  platform: z.string({ error: 'platform is required: e.g. android|ios' }).max(256, 'platform is at most 256 characters'),
  expire: z.string({ error: 'expire is required: <startTs>-<endTs> in Unix seconds' }).max(64, 'expire is at most 64 characters'),
  type: z.union([z.string().max(64, 'type is at most 64 characters'), z.number()]).optional(),
  apiKey: z.string(),
  signature: z.string(),
});
const success = z.object({ status: z.literal('success'), statusReason: z.string() });
const fail = (description: string) => ({ description, content: { 'application/json': { schema: textErrorResponse } } });

/**
 * Mounted at /license/customers: Agora's license activation callback, for extensions Agora sells
 * as prepaid licenses. Signed like every Agora PUT (the body's fields); PUT and POST alike (its
 * source names both). Agora retries: the same body again changes nothing and answers success.
 */
export function grantRoutes(deps: AppDeps) {
  const router = newRouter();
  router.use('/:customerId/activate', useEnvelope('agora-text'), deadline(deps.config.agoraDeadlineMs), limitBody(16 * 1024), agoraSignature({ keys: deps.apiKeys }));
  const handler = async (c: Context<AppEnv>) => {
    const customer = customerIdSchema.safeParse(c.req.param('customerId'));
    if (!customer.success) throw new AppError('invalid_parameter', `customerId: ${customer.error.issues[0]!.message}`);
    const input = c.get('agoraBody');
    const parsed = activateBody.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error, input);
    const { startS, endS } = parseExpire(parsed.data.expire);
    const platforms = parsePlatforms(parsed.data.platform);
    await recordGrant(deps.db, customer.data, { platforms, startS, endS, type: parsed.data.type === undefined ? '' : String(parsed.data.type) }, deps.clock());
    return c.json({ status: 'success' as const, statusReason: '' }, 200);
  };
  for (const method of ['put', 'post'] as const) {
    router.openapi(
      createRoute({
        method,
        path: '/{customerId}/activate',
        tags: ['Agora'],
        summary: `A customer activated a prepaid license (Agora's license activation callback, ${method.toUpperCase()})`,
        description:
          "Records a grant: the customer's projects may join without a license on these platforms from start to end. `platform`: platforms joined with `|`; `expire`: `<startTs>-<endTs>` Unix seconds. The same body again (Agora's retries) changes nothing.",
        request: {
          params: z.object({ customerId: z.string().openapi({ example: '1234567' }) }),
          body: { required: true, content: { 'application/json': { schema: activateBody } } },
        },
        responses: {
          200: { description: 'recorded', content: { 'application/json': { schema: success } } },
          400: fail('bad fields'),
          401: fail('unknown apiKey or wrong signature'),
          404: fail('unknown customer'),
          503: fail('the database did not answer in time; retry'),
        },
      }),
      // The body was read and verified by agoraSignature; zod-openapi's own JSON validation is not used here.
      handler,
    );
  }
  return router;
}
