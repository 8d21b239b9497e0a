import { registerCertificateRoutes } from '../certificates/certificates.routes.ts';
import type { RouteDeps } from '../http/context.ts';
import { LruCache } from '../http/lru.ts';
import { BOOKMARKS, type PageBookmarks } from '../http/paging.ts';
import { newRouter } from '../http/router.ts';
import { registerAllocationRoutes } from './license-api/allocations.ts';
import { registerLicenseRoutes } from './license-api/licenses.ts';
import { registerPadRoutes } from './license-api/pads.ts';

/**
 * Mounted at /dabiz/license: the paths, parameters and answers of Agora's console License API, so
 * device makers' existing scripts work against this server. Parameters are query parameters except
 * the JSON bodies of allocate and delete and the file of upload. One router (the audience's stack,
 * `http/audiences.ts`, is applied to it once), its routes by sub-resource in `license-api/`, their
 * shared parameters, envelope and error answers in `license-api/schemas.ts`.
 */
export function licenseApiRoutes(deps: RouteDeps) {
  const router = newRouter();
  // Where each page of a walk ended: page n+1 starts there instead of at an offset.
  const bookmarks: PageBookmarks = new LruCache<string>(BOOKMARKS);
  const paging = { bookmarks, heavy: () => deps.heavyReads.acquire() };
  registerLicenseRoutes(router, deps, paging);
  registerAllocationRoutes(router, deps, paging);
  registerPadRoutes(router, deps, paging);
  // Certificates, agents and the platform (src/certificates): the same authentication and envelope.
  registerCertificateRoutes(router, deps);
  return router;
}
