import { z } from '@hono/zod-openapi';
import { keysetPage, nextCursor, type Listing, type PageBookmarks } from '../../http/paging.ts';
import { afterCursor, wholeNumberOr } from '../../http/params.ts';

/** What the vendor's licensing routes share (catalogue.ts, sales.ts, quota.ts): ids, paging and the page's shape. */

export const security = [{ adminToken: [] }];
export const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });

/**
 * An id the vendor chooses (SKU, PID, order, renewal). Filters and path parameters use the same
 * schema as creation, so a value no stored id can be (a NUL, 100,000 characters) is a 400, not a
 * query that Postgres refuses or a search that cannot match.
 */
export const code = (what: string) =>
  z
    .string()
    .min(1, `${what} is empty`)
    .max(64, `${what} is at most 64 characters`)
    .regex(/^[A-Za-z0-9._-]+$/, `${what} may hold letters, digits, '.', '_' and '-' only`);
export const pagingQuery = (cursor: string, pattern: RegExp, example: string, isId = false) => ({
  page: wholeNumberOr('page', 1, 1_000_000, 1),
  size: wholeNumberOr('size', 1, 100, 100),
  after: afterCursor(cursor, pattern, example, isId),
});
export const byId = (what: string) => pagingQuery(`the id of a ${what}`, /^(0|[1-9]\d{0,18})$/, '1042', true);

export const paged = <T extends z.ZodType>(item: T) =>
  z.object({
    count: z.number().int().openapi({ description: 'rows of the whole list (see countExact)' }),
    countExact: z.boolean().openapi({ description: 'false: the list holds more than `count` rows (a count that the clock changes is counted up to 10,000)' }),
    page: z.number().int(),
    size: z.number().int(),
    next: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null on the last page' }),
    data: z.array(item),
  });

/** A page by number or after a cursor (see src/http/paging.ts), in the vendor API's shape. */
export async function pageOf<R, V>(
  listing: Listing<R>,
  q: { page: number; size: number; after?: string | undefined },
  paging: { bookmarks: PageBookmarks; heavy: () => Promise<() => void> },
  view: (row: R) => V,
) {
  const p = await keysetPage(listing, q, paging);
  return { count: p.count, countExact: p.exact, page: q.page, size: q.size, next: nextCursor(listing, p, q.size), data: p.rows.map(view) };
}

export const WALK =
  'Walk it with `page` = 1, 2, 3… (each page continues where the previous one ended on this instance), or with `after` = the previous page\'s `next`; either way a page costs the same at any depth. Only a jump to a deep page nobody walked to reads its offset (past 10,000 rows, a heavy read). `count` comes from counters kept with the rows.';
