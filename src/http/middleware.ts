import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestScope } from '../db/pool-gate.ts';
import { AppError, toAppError } from '../errors.ts';
import type { AppEnv, Logger } from './context.ts';
import { BoundedGate } from './turn-queue.ts';

/** A request as the request log writes it, once answered. */
export interface AnsweredRequest {
  method: string;
  path: string;
  status: number;
  ms: number;
  /** The stable code of a failed request's error. */
  code?: string | undefined;
}

/**
 * One JSON line per request: method, path (never the query: it carries signatures), status,
 * duration in milliseconds and, when it failed, the stable error `code` (never the message: it may
 * quote what the caller sent).
 */
export function logRequestLine(log: Logger, r: AnsweredRequest): void {
  log({
    at: new Date().toISOString(),
    method: r.method,
    path: r.path,
    status: r.status,
    ms: Math.round(r.ms * 10) / 10,
    ...(r.code === undefined ? {} : { code: r.code }),
  });
}

/** The request log (`logRequestLine`) of every request. */
export function requestLog(options: { log: Logger }): MiddlewareHandler<AppEnv> {
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    const status = c.res.status;
    logRequestLine(options.log, { method: c.req.method, path: c.req.path, status, ms: performance.now() - started, code: status >= 400 ? c.get('errorCode') : undefined });
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

/**
 * Request bodies over `maxSize` bytes answer 413 in the route's envelope. A request that Node
 * parsed and that declares no body (GET, HEAD, or neither Content-Length nor Transfer-Encoding:
 * HTTP/1.1 then has none) or declares its length is decided from its headers alone: hono's bodyLimit reads `c.req.raw.body`
 * first, which makes @hono/node-server build a whole fetch Request with its AbortSignal for every
 * request (a tenth of a heartbeat's CPU). Only a chunked body is counted as it streams, by hono's.
 */
export function limitBody(maxSize: number): MiddlewareHandler<AppEnv> {
  const tooLarge = () => new AppError('payload_too_large', `The request body is larger than ${maxSize} bytes`);
  const streamed = bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge();
    },
  });
  return async function limitRequestBody(c, next) {
    const method = c.req.method;
    // From Node's own parser the headers tell it all; a Request made elsewhere may carry a body
    // without either header, so it is counted.
    const fromNode = c.env?.incoming !== undefined;
    if (fromNode && (method === 'GET' || method === 'HEAD')) return next();
    if (fromNode && c.req.header('transfer-encoding') === undefined) {
      const length = c.req.header('content-length');
      // Node's parser refuses a malformed Content-Length before a handler runs.
      if (length !== undefined && Number.parseInt(length, 10) > maxSize) throw tooLarge();
      return next();
    }
    return streamed(c, next);
  };
}

/**
 * Every request has a deadline. Past it the request answers 503 `deadline_exceeded` at once (so a
 * frozen database never holds a client), and stops queueing for a database connection or a heavy
 * read slot (the request scope carries the deadline down to them). Work already running carries on
 * and commits if it can, so a 503 here does not say nothing happened: activation, ingestion,
 * provisioning and statements are idempotent and their retry finds the work done; docs/operations.md lists
 * the few writes (allocate, a renewal without renewId, a toggle) to check before retrying.
 * Nested deadlines (Agora's 480 ms inside the app's) keep the earliest.
 */
export function deadline(ms: number, options: { log?: Logger } = {}): MiddlewareHandler<AppEnv> {
  return async function withDeadline(c: Context<AppEnv>, next) {
    const started = performance.now();
    const deadlineAt = started + ms;
    const outer = requestScope.getStore();
    let work: Promise<void>;
    if (outer) {
      outer.deadlineAt = Math.min(outer.deadlineAt, deadlineAt);
      work = next();
    } else {
      work = requestScope.run({ priority: 'normal', deadlineAt }, next);
    }
    let overran = false;
    // Made only when the deadline passes: an Error captures a stack, which costs more than the
    // rest of a cached page's answer.
    let overrun: AppError | undefined;
    // Once answered, the work still running is only logged: how it ended, and after how long.
    // (Hono hands an error thrown further in to onError, which leaves it in `c.error`.)
    const settled = (thrown: unknown) => {
      if (!overran) return;
      const failure = thrown ?? (c.error !== overrun ? c.error : undefined);
      options.log?.({
        at: new Date().toISOString(),
        level: 'warn',
        event: 'overrun_settled',
        path: c.req.path,
        outcome: failure === undefined ? 'completed' : 'failed',
        ...(failure === undefined ? {} : { code: toAppError(failure).code }),
        ms: Math.round(performance.now() - started),
      });
    };
    // The work or the deadline, whichever comes first (one promise and one timer per request: this
    // runs on every request, twice on Agora's).
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        overran = true;
        overrun = new AppError('deadline_exceeded', `The answer took longer than ${ms} ms; retry`);
        reject(overrun);
      }, ms);
      work.then(
        () => {
          clearTimeout(timer);
          resolve();
          settled(undefined);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
          settled(err);
        },
      );
    });
  };
}

/** Agora's requests go first for database connections and never count against the shedding bound. */
export function agoraPriority(): MiddlewareHandler<AppEnv> {
  return async function preferAgora(_c, next) {
    const scope = requestScope.getStore();
    if (scope) scope.priority = 'agora';
    await next();
  };
}

/**
 * A small semaphore with a bounded queue for heavy reads (exports, CSV, reconciliation, deep
 * pages): at most `concurrency` run at once, so together they hold at most that many database
 * connections and Agora's requests never wait behind them; `maxQueue` more may wait (until their
 * request's deadline); past that the answer is 503 `overloaded` with Retry-After.
 */
export class HeavyReadGate extends BoundedGate {
  /** Waits for a slot; answers the function that gives it back (calling it twice is harmless). */
  async acquire(): Promise<() => void> {
    return this.admit(
      'Too many exports and large reads are running; retry shortly',
      'The request waited for a turn among heavy reads past its deadline; retry',
    );
  }

  /** A slot for heavy work begun by a request but run after its answer (a bill preview's total): waits its turn, never refused. */
  background(): Promise<() => void> {
    return this.turns.take(undefined, '', false);
  }
}

/** Runs `read` inside a heavy-read slot when `heavy` holds (a deep offset, a count over a whole table). */
export async function heavyReadIf<T>(gate: HeavyReadGate, heavy: boolean, read: () => Promise<T>): Promise<T> {
  if (!heavy) return read();
  const release = await gate.acquire();
  try {
    return await read();
  } finally {
    release();
  }
}

/**
 * Offsets past this many rows cost their offset in index entries on every request: such pages are
 * heavy reads. Shallower pages, the ones people and scripts actually read, are not.
 */
export const DEEP_OFFSET = 10_000;

/** Runs the rest of the request inside one heavy-read slot. */
export function heavyRead(gate: HeavyReadGate, when: (c: Context<AppEnv>) => boolean = () => true): MiddlewareHandler<AppEnv> {
  return async function oneHeavyReadAtATime(c, next) {
    if (!when(c)) return next();
    const release = await gate.acquire();
    try {
      await next();
    } finally {
      release();
    }
  };
}
