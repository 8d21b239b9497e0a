import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../errors.ts';
import type { AppEnv, Logger } from './context.ts';

/**
 * One JSON line per request: method, path (never the query: it carries signatures), status and
 * duration in milliseconds.
 */
export function requestLog(options: { log: Logger }): MiddlewareHandler<AppEnv> {
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    options.log({
      at: new Date().toISOString(),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time equality of two secrets of any length. */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** `Authorization: Bearer <ADMIN_TOKEN>` for the vendor API. */
export function adminAuth(options: { token: string }): MiddlewareHandler<AppEnv> {
  return async function requireAdmin(c, next) {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new AppError('unauthorized', 'Authorization: Bearer <admin token> is required');
    if (!secretEquals(m[1]!, options.token)) throw new AppError('unauthorized', 'The admin token is not valid');
    await next();
  };
}

/** Request bodies over `maxSize` bytes answer 413 in the route's envelope. */
export function limitBody(maxSize: number): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError('payload_too_large', `The request body is larger than ${maxSize} bytes`);
    },
  });
}

/**
 * Agora waits 500 ms and then re-sends. Past the deadline the request answers 503 at once so
 * Agora's retry comes early; the work already started (fixing a statement, say) carries on and
 * commits, and the retry finds it done.
 */
export function deadline(ms: number): MiddlewareHandler<AppEnv> {
  return async function withDeadline(c: Context<AppEnv>, next) {
    let timer: NodeJS.Timeout | undefined;
    const work = next();
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AppError('database_unavailable', `The answer took longer than ${ms} ms; retry`)),
        ms,
      );
    });
    work.catch(() => undefined); // a failure after the deadline has nobody left to answer
    try {
      await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
