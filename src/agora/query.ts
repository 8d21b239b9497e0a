import { z } from '@hono/zod-openapi';
import { wholeNumber } from '../http/params.ts';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
export const MAX_PAGE_NUM = 10_000_000;

const unixSeconds = (name: string) =>
  z
    .string()
    .superRefine((v, ctx) => {
      if (/^\d{13}$/.test(v)) ctx.addIssue({ code: 'custom', message: `${name} must be Unix seconds (10 digits); ${v} looks like milliseconds` });
      else if (!/^\d{10}$/.test(v)) ctx.addIssue({ code: 'custom', message: `${name} must be Unix seconds, 10 digits` });
    })
    .transform(Number)
    .openapi({ description: `${name}: Unix seconds, 10 digits, inclusive`, example: '1619913600' });


/** The query of Agora's usage and bill polls. */
export const pagedWindowQuery = z.object({
  fromTs: unixSeconds('fromTs'),
  toTs: unixSeconds('toTs'),
  pageNum: wholeNumber('pageNum', 1, MAX_PAGE_NUM).openapi({ example: '1' }),
  limit: wholeNumber('limit', 1, MAX_LIMIT).optional().openapi({ description: `entries per page, default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}` }),
  apiKey: z.string().openapi({ description: "the vendor's Agora apiKey (32 characters)" }),
  signature: z.string().openapi({ description: 'HMAC-SHA1 signature, see the contract' }),
});

export type PagedWindowQuery = z.infer<typeof pagedWindowQuery>;

const entry = z.object({
  projectId: z.string().openapi({ example: '430892' }),
  amount: z.number().openapi({ description: 'exact decimal written as a JSON number', example: 12.5 }),
  description: z.string(),
});

export const pagedAmountsResponse = z.object({
  status: z.literal(0),
  statusReason: z.string(),
  data: z.object({
    totalSize: z.number().int(),
    pageNum: z.number().int(),
    hasNext: z.boolean(),
    data: z.array(entry),
  }),
});

export const numericErrorResponse = z.object({
  status: z.number().int().openapi({ description: 'non-zero: the HTTP status' }),
  statusReason: z.string(),
  code: z.string().openapi({ description: 'stable machine-readable error code' }),
});

export const textErrorResponse = z.object({
  status: z.literal('failed'),
  statusReason: z.string(),
  code: z.string(),
});
