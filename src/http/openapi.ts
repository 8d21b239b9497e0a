import { z } from '@hono/zod-openapi';

/** What the OpenAPI document shares across routes: security requirements and error answers. */

/** Agora's signed calls (the scheme is registered in `app.ts`). */
export const agoraSecurity = [{ agoraSignature: [] }];

/**
 * The error answers of the vendor API (`/v1`, envelope `vendor`), for the OpenAPI document: every
 * vendor route can answer them (bad input, no or wrong admin token, an unknown id, a request that
 * conflicts with what is stored, the database not answering in time).
 */
export const vendorErrorAnswer = z
  .object({
    error: z.object({
      code: z.string().openapi({ description: 'stable machine-readable error code (docs/errors.md)' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('VendorError');

const answer = (description: string) => ({ description, content: { 'application/json': { schema: vendorErrorAnswer } } });

export const vendorErrors = {
  400: answer('bad input'),
  401: answer('no or wrong admin token'),
  404: answer('no such resource'),
  409: answer('in conflict with what is stored'),
  503: answer('the database did not answer in time, or too many heavy reads: retry after Retry-After'),
};
