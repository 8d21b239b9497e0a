import { z } from '@hono/zod-openapi';

/**
 * Request primitives shared by every audience: a whole number in a query string, a projectId in a
 * query or path, a keyset cursor. Messages name the parameter, so the answer says which one is wrong.
 */

const BIGINT_MAX = 9223372036854775807n;

/** A whole number from a query string, `min` to `max` (at most 10 digits), with messages naming the parameter. */
export const wholeNumber = (name: string, min: number, max: number) =>
  z
    .string()
    .superRefine((v, ctx) => {
      if (!/^\d{1,10}$/.test(v)) ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}` });
      else if (Number(v) < min) ctx.addIssue({ code: 'custom', message: `${name} must be at least ${min}` });
      else if (Number(v) > max) ctx.addIssue({ code: 'custom', message: `${name} must be at most ${max}` });
    })
    .transform(Number);

/** `wholeNumber`, or `dflt` when the parameter is absent. */
export const wholeNumberOr = (name: string, min: number, max: number, dflt: number) =>
  wholeNumber(name, min, max)
    .optional()
    .transform((n) => n ?? dflt);

/** A projectId as text (a query or path parameter): digits, no leading zero, within PostgreSQL's bigint. */
export const projectIdText = (message = 'projectId must be a positive integer of at most 19 digits') =>
  z.string().refine((v) => /^[1-9]\d{0,18}$/.test(v) && BigInt(v) <= BIGINT_MAX, message);

/**
 * `after`: the key of the last row already read (the previous page's `next`). An id is also a
 * bigint: a larger number would reach PostgreSQL and fail there.
 */
export const afterCursor = (what: string, pattern: RegExp, example: string, isId = false) =>
  z
    .string()
    .refine((v) => pattern.test(v) && (!isId || BigInt(v) <= BIGINT_MAX), `after must be ${what}`)
    .optional()
    .openapi({ description: `${what} of the last row already read (the previous page's \`next\`): the page starts after it, and \`page\` is ignored`, example });
