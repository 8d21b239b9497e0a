import type { RouteDeps } from '../http/context.ts';
import { LruCache } from '../http/lru.ts';
import { BOOKMARKS } from '../http/paging.ts';
import { newRouter } from '../http/router.ts';
import { registerCatalogueRoutes } from './vendor/catalogue.ts';
import { registerQuotaRoutes } from './vendor/quota.ts';
import { registerSalesRoutes } from './vendor/sales.ts';

/**
 * Mounted at /v1: the vendor's catalogue, sales and license records (admin token). Its routes by
 * sub-resource in `vendor/`, their shared ids, paging and page shape in `vendor/schemas.ts`; each
 * sets the body limit of its own paths (the router is mounted at /v1 beside others with limits of
 * their own).
 */
export function licensingVendorRoutes(deps: RouteDeps) {
  const router = newRouter();
  // Where each page of a walk ended: page n+1 starts there instead of at an offset.
  const paging = { bookmarks: new LruCache<string>(BOOKMARKS), heavy: () => deps.heavyReads.acquire() };
  registerCatalogueRoutes(router, deps);
  registerSalesRoutes(router, deps, paging);
  registerQuotaRoutes(router, deps, paging);
  return router;
}
