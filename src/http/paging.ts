import type { LruCache } from './lru.ts';
import { DEEP_OFFSET } from './middleware.ts';

/**
 * Pages that cost the same at any depth, for every listing. A listing is read by keyset: the rows
 * after a cursor (the key of the last row already read) in the listing's unique order, a range read
 * of `size` index entries whether it is the first page or the 5,000th. Clients may pass that cursor
 * (`after`); clients that page by number get the same thing, because each instance remembers where
 * page N ended (per list and list version), so page N+1 starts there. Only a jump to a deep page
 * nobody walked to reads its offset, and past DEEP_OFFSET that is a heavy read (bounded
 * concurrency, its own queue), so such jumps cannot take the connections Agora's requests need.
 */

/** Where each page of a walk ended: per list scope, version, page size and page number. */
export type PageBookmarks = LruCache<string>;

/** A page as read in one statement: its rows, and the list's count and version at that moment. */
export interface ListingPage<R> {
  rows: R[];
  /** Rows of the whole list: exact when `exact`, else a lower bound (see the listing). */
  count: number;
  exact: boolean;
  /** Changes with every write to the list, so a page end remembered for one version is valid for it only. */
  version: string;
}

export interface Listing<R> {
  /** Names the list (the listing and its filters, not the page): bookmarks are kept per scope. */
  scope: string;
  /**
   * The rows after `after` (undefined: from the first), skipping `offset` of them, at most `limit`,
   * with the count and version read in the same statement (so they describe the rows' list).
   */
  read(p: { after: string | undefined; offset: number; limit: number }): Promise<ListingPage<R>>;
  /** The count and version alone, to answer a page past the end without reading rows. */
  counted(): Promise<Omit<ListingPage<R>, 'rows'>>;
  /** The key of a row, as a cursor: the next page starts after it. */
  cursorOf(row: R): string;
  /**
   * Every page of this list is a heavy read: its count sums a counter row per group over the whole
   * table (every customer's, say), which grows with the number of customers, not with the page.
   */
  heavy?: boolean;
}

/** The cursor a client passes as `after` to read the page after this one; null on the last page. */
export function nextCursor<R>(listing: Listing<R>, page: ListingPage<R>, size: number): string | null {
  const last = page.rows[page.rows.length - 1];
  return last !== undefined && page.rows.length === size ? listing.cursorOf(last) : null;
}

/**
 * Page `page` (from 1) of `size` rows, or with `after` the `size` rows after that cursor (then
 * `page` is not used). Page N is what `OFFSET (N-1)*size` would give on the list as it is.
 */
export async function keysetPage<R>(
  listing: Listing<R>,
  q: { page: number; size: number; after?: string | undefined },
  opts: { bookmarks: PageBookmarks; heavy: () => Promise<() => void> },
): Promise<ListingPage<R>> {
  if (!listing.heavy) return walk(listing, q, opts);
  // One slot for the whole page: a deep jump inside it must not wait for a second one.
  const release = await opts.heavy();
  try {
    return await walk(listing, q, { bookmarks: opts.bookmarks, heavy: async () => () => {} });
  } finally {
    release();
  }
}

async function walk<R>(
  listing: Listing<R>,
  q: { page: number; size: number; after?: string | undefined },
  opts: { bookmarks: PageBookmarks; heavy: () => Promise<() => void> },
): Promise<ListingPage<R>> {
  if (q.after !== undefined) return listing.read({ after: q.after, offset: 0, limit: q.size });
  const key = (page: number, version: string) => `${listing.scope}\u0000${version}\u0000${q.size}\u0000${page}`;
  const versionKey = `${listing.scope}\u0000version`;
  const remember = (result: ListingPage<R>) => {
    opts.bookmarks.set(versionKey, result.version);
    const last = result.rows[result.rows.length - 1];
    if (last !== undefined && result.rows.length === q.size) opts.bookmarks.set(key(q.page, result.version), listing.cursorOf(last));
    return result;
  };
  const offset = (q.page - 1) * q.size;
  if (offset === 0) return remember(await listing.read({ after: undefined, offset: 0, limit: q.size }));
  // The version is not known before reading; try the bookmark of the version last seen. A read that
  // finds another version was a page of another list: fall through to the offset.
  const seen = opts.bookmarks.get(versionKey);
  const from = seen === undefined ? undefined : opts.bookmarks.get(key(q.page - 1, seen));
  if (from !== undefined) {
    const result = await listing.read({ after: from, offset: 0, limit: q.size });
    if (result.version === seen) return remember(result);
  }
  // A page past the end is empty: say so from the count instead of walking the whole index.
  const counted = await listing.counted();
  if (counted.exact && offset >= counted.count) return { rows: [], ...counted };
  const release = offset > DEEP_OFFSET ? await opts.heavy() : () => {};
  try {
    return remember(await listing.read({ after: undefined, offset, limit: q.size }));
  } finally {
    release();
  }
}

/** Bookmarks kept per instance: a few MB for 20,000 page ends. */
export const BOOKMARKS = 20_000;
