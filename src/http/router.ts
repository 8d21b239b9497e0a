import { OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { AppEnv } from './context.ts';

/**
 * Every router validates with zod; a failed validation becomes one AppError with every problem in
 * `details`, written in the route's own envelope by the app's error handler.
 */
export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
        const missing = result.error.issues.find((i) => i.code === 'invalid_type' && /received undefined/.test(i.message));
        const first = issues[0]!;
        throw new AppError(
          missing ? 'missing_parameter' : 'invalid_parameter',
          missing ? `${first.path} is required` : `${first.path ? `${first.path}: ` : ''}${first.message}`,
          issues,
        );
      }
    },
  });
}
