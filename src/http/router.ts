import { OpenAPIHono, type z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { AppEnv } from './context.ts';

/**
 * One AppError for a failed validation, with every problem in `details`. A field that is absent
 * from the input is `missing_parameter` (decided from the input: zod names an absent union field
 * `invalid_union`, not `invalid_type`); anything else is `invalid_parameter`.
 */
export function validationError(error: z.ZodError, input: unknown): AppError {
  const issues = error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const record = input !== null && typeof input === 'object' ? (input as Record<string, unknown>) : {};
  const absent = error.issues.find((i) => i.path.length > 0 && record[String(i.path[0])] === undefined);
  if (absent) return new AppError('missing_parameter', `${absent.path.join('.')} is required`, issues);
  const first = error.issues[0]!;
  const where = first.path.join('.');
  return new AppError('invalid_parameter', where ? `${where}: ${first.message}` : first.message, issues);
}

/** Every router validates with zod; failures are written in the route's own envelope by the app. */
export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, (result as { data?: unknown }).data);
    },
  });
}
