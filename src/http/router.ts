import { OpenAPIHono, type z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { AppEnv } from './context.ts';
import { checkJsonInput } from './input.ts';
import { isJsonObject } from '../json.ts';

/**
 * One AppError for a failed validation, with every problem in `details`. A field that is absent
 * from the input is `missing_parameter` (decided from the input: zod names an absent union field
 * `invalid_union`, not `invalid_type`); anything else is `invalid_parameter`.
 */
export function validationError(error: z.ZodError, input: unknown): AppError {
  const issues = error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const record: Record<string, unknown> = isJsonObject(input) ? input : {};
  const absent = error.issues.find((i) => i.path.length > 0 && record[String(i.path[0])] === undefined);
  if (absent) return new AppError('missing_parameter', `${absent.path.join('.')} is required`, issues);
  const first = error.issues[0]!;
  const where = first.path.join('.');
  return new AppError('invalid_parameter', where ? `${where}: ${first.message}` : first.message, issues);
}

/**
 * Every router validates with zod; failures are written in the route's own envelope by the app.
 * A JSON body is also checked for depth and for text the database cannot store (`http/input.ts`),
 * before its validation errors are reported: what the handler gets is always storable.
 * `itemsCheckedByRoute` names a top-level array whose items the route checks one by one itself, so
 * that one bad item is rejected alone.
 */
export function newRouter(options: { itemsCheckedByRoute?: string } = {}): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      // On failure `data` is the input; on success the validated value the handler will get.
      const data: unknown = 'data' in result ? result.data : undefined;
      if (result.target === 'json') checkJsonInput(data, options.itemsCheckedByRoute === undefined ? {} : { skipItemsOf: options.itemsCheckedByRoute });
      if (!result.success) throw validationError(result.error, data);
    },
  });
}
