import { randomBytes } from 'node:crypto';
import { z } from 'zod';

const BIGINT_MAX = 9223372036854775807n;

/**
 * Agora's projectId is an integer. It is accepted as a JSON number (a safe integer: a larger one
 * has already lost digits in JSON parsing) or as a string of digits, and kept as its canonical
 * decimal string so it round-trips exactly.
 */
export const projectIdSchema = z
  .union([z.number(), z.string()], { error: 'projectId must be a positive integer (a number or a string of digits)' })
  .transform((v, ctx) => {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v) || v < 1) {
        ctx.addIssue({ code: 'custom', message: 'projectId must be a positive integer (send large ones as a string of digits)' });
        return z.NEVER;
      }
      return String(v);
    }
    if (!/^\d{1,19}$/.test(v) || BigInt(v) < 1n || BigInt(v) > BIGINT_MAX) {
      ctx.addIssue({ code: 'custom', message: 'projectId must be a positive integer of at most 19 digits' });
      return z.NEVER;
    }
    return BigInt(v).toString();
  });

/** Agora's customerId: an account id, kept as text. */
export const customerIdSchema = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform((v) => String(v))
  .pipe(
    z
      .string()
      .min(1, 'customerId is required')
      .max(64, 'customerId is at most 64 characters')
      .regex(/^[^\u0000-\u001f\u007f/]+$/, 'customerId has characters that are not allowed'),
  );

export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}
