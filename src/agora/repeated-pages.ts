import type { MiddlewareHandler } from 'hono';
import { agoraRequestAsked, type AgoraRequestAsked, type AgoraRequestEntry, type AgoraRequestKind } from '../agora-log/agora-log.ts';
import type { AppEnv, Logger } from '../http/context.ts';
import { LruCache } from '../http/lru.ts';
import { logRequestLine } from '../http/middleware.ts';
import { exactJsonTextResponse, type ExactJsonBytes } from '../json.ts';
import { routeOf } from '../ops/metrics.ts';

/**
 * Agora's repeated page polls, answered from memory by the exact URL asked.
 *
 * A page of a fixed statement never changes (src/statements), and Agora's signature is a pure
 * function of the query and the apiKey's secret: it carries no time and no nonce. So once a URL
 * has been verified, validated and answered 200 with such a page, asking the same URL again can
 * only be answered with the same bytes — by whichever instance, at whatever time. This cache keeps
 * that answer by the URL's path and query and gives it before the rest of the app runs: no signature check, no
 * query validation, no deadline timer or request scope, none of which could change the answer.
 *
 * What every request gets is still done for a repeated one: the request log's line, the request
 * metrics and Agora's request log (with what was asked, taken from the first answer of the same
 * URL, so the entries are the same). A URL never answered 200 — a wrong signature, an unknown
 * apiKey, a bad parameter, a statement not fixed yet — is never remembered and always runs the
 * whole app. The route marks a cacheable answer with `repeatablePage` (src/agora/paged.ts); nothing
 * else is remembered.
 *
 * Memory: at most `maxBytes` of pages and URLs, least recently used dropped first. Variants of
 * one valid URL (a percent-escaped digit, a padded signature) are entries of their own, so whoever
 * holds a valid URL can churn the memory: that costs repeated polls their speed (they run the app,
 * whose own caches still spare the database), never a wrong answer.
 */
export class RepeatedPages {
  readonly #answers: LruCache<RememberedPage>;

  constructor(maxBytes: number) {
    this.#answers = new LruCache<RememberedPage>(maxBytes, (p) => p.size);
  }

  get(url: string): RememberedPage | undefined {
    return this.#answers.get(url);
  }

  remember(url: string, page: Omit<RememberedPage, 'size'>): void {
    // A string costs two bytes a character, the entry's objects about a few hundred bytes.
    this.#answers.set(url, { ...page, size: page.body.byteLength + 2 * url.length + 512 });
  }

  get size(): number {
    return this.#answers.size;
  }
}

interface RememberedPage {
  body: ExactJsonBytes<unknown>;
  /** The route pattern that answered it, for the request metrics. */
  route: string;
  /** What Agora's request log records of the request (the same for the same URL). */
  asked: AgoraRequestAsked;
  size: number;
}

/**
 * The URL without its origin: no answer depends on the Host header, and a caller sending one valid
 * URL under many Host names would otherwise fill the memory with copies of one page.
 */
function pathAndQuery(url: string): string {
  const path = url.indexOf('/', url.indexOf('//') + 2);
  return path < 0 ? url : url.slice(path);
}

/** Where a repeated page's request is recorded: the same places as every request's. */
export interface RepeatedPageRecorders {
  log: Logger;
  clock: () => Date;
  observeRequest: (r: { method: string; route: string; status: number; seconds: number }) => void;
  recordAgoraRequest: (e: AgoraRequestEntry) => void;
  /** Counts the answers given from memory. */
  answeredFromMemory: (kind: AgoraRequestKind) => void;
}

/**
 * Mounted before every other middleware of Agora's page polls (app.ts): a URL answered before is
 * answered again from `pages`; any other request runs the app, and its page is remembered when the
 * route marked it repeatable and it was answered 200.
 */
export function answerRepeatedPages(pages: RepeatedPages, o: RepeatedPageRecorders): MiddlewareHandler<AppEnv> {
  return async function answerRepeatedPage(c, next) {
    // The one header the app reads on these routes is Authorization (the input-text check refuses
    // Basic credentials holding U+0000): Agora sends none, and a request with one runs the app.
    if (c.req.method !== 'GET' || c.req.header('authorization') !== undefined) return next();
    const url = pathAndQuery(c.req.url);
    const hit = pages.get(url);
    if (hit === undefined) {
      await next();
      const body = c.get('repeatablePage');
      if (body !== undefined && c.res.status === 200) pages.remember(url, { body, route: routeOf(c), asked: agoraRequestAsked(c) });
      return;
    }
    const at = o.clock();
    const started = performance.now();
    const response = exactJsonTextResponse(hit.body);
    const ms = performance.now() - started;
    logRequestLine(o.log, { method: 'GET', path: c.req.path, status: 200, ms });
    o.observeRequest({ method: 'GET', route: hit.route, status: 200, seconds: ms / 1000 });
    o.recordAgoraRequest({ at, ...hit.asked, status: 200, durationMs: ms, errorCode: null });
    o.answeredFromMemory(hit.asked.kind);
    return response;
  };
}
