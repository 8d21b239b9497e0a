import { z } from '@hono/zod-openapi';
import { exactJsonTextResponse, stringifyExact, type Exact, type ExactJsonText } from '../../json.ts';
import { afterCursor, projectIdText, wholeNumber } from '../../http/params.ts';

/**
 * What the license API's routes share (licenses.ts, allocations.ts, pads.ts): the parameters of
 * Agora's console License API, its {code, message, data} envelope and its error answers.
 */

export const MAX_PAGE_SIZE = 100;

export const appid = projectIdText('appid must be the projectId given in provisioning (digits)').openapi({ description: 'the projectId from provisioning', example: '430892' });
export const pid = z.string().min(1, 'pid is empty').max(64, 'pid is at most 64 characters').openapi({ example: '02F5A9C1D3E4F5061728394A5B6CEC30' });
export const licenseKey = z.string().openapi({ description: 'device or account ID: 1–63 bytes of UTF-8, case-sensitive', example: 'SN-000123' });
export const page = wholeNumber('page', 1, 1_000_000).optional().openapi({ description: 'from 1', example: '1' });
export const size = wholeNumber('size', 1, MAX_PAGE_SIZE).optional().openapi({ description: `at most ${MAX_PAGE_SIZE} (default ${MAX_PAGE_SIZE})`, example: '100' });
export const after = afterCursor;

export const answer = <T extends z.ZodType>(data: T) => z.object({ code: z.literal(200), message: z.string(), data });
export const errorAnswer = z
  .object({
    code: z.number().int().openapi({ description: 'the HTTP status' }),
    message: z.string(),
    data: z.null(),
    error: z.string().openapi({ description: 'stable machine-readable error code' }),
  })
  .openapi('LicenseApiError');
export const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
export const errors = {
  400: { description: 'bad input', ...json(errorAnswer) },
  401: { description: 'no or wrong credentials', ...json(errorAnswer) },
  403: { description: 'not allowed: another customer’s project, pre-authorization, quota used up', ...json(errorAnswer) },
  404: { description: 'unknown project, PID or license', ...json(errorAnswer) },
  429: { description: 'more than the per-customer rate; see Retry-After', ...json(errorAnswer) },
};
export const security: Record<string, string[]>[] = [{ projectBasic: [] }, { adminToken: [] }];

export const counted = <T extends z.ZodType>(item: T) => z.object({ count: z.number().int(), list: z.array(item) });
/** A listing's page with the cursor of the next one (an addition to Agora's shape: `count` and `list` are as documented). */
export const countedNext = <T extends z.ZodType>(item: T) =>
  counted(item).extend({ next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }) });

/** Written by stringifyExact: quota counters are bigints and are answered with all their digits. */
export function ok<S extends z.ZodType>(_data$: S, data: Exact<z.output<S>>, message = 'success') {
  // `data` was checked against S above; the envelope around it is always the same.
  const text = stringifyExact({ code: 200, message, data }) as ExactJsonText<{ code: 200; message: string; data: z.output<S> }>;
  return exactJsonTextResponse(text);
}
