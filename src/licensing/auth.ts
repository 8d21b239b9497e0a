import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { LruCache } from '../http/lru.ts';
import { secretEquals } from '../http/middleware.ts';
import { findProjectByAppKey } from '../provisioning/provisioning.repository.ts';
import { FailureBudget, SlidingWindowLimiter } from './rate-limit.ts';
import { isJsonObject } from '../json.ts';

/**
 * The client's address, the source failed authentications are counted against. Behind a reverse
 * proxy every request comes from the proxy, which then shares one budget; requests built in
 * process (tests, `app.request`) have no socket and share the source `local`.
 */
function sourceOf(c: Context<AppEnv>): string {
  const bindings: unknown = c.env;
  if (!isJsonObject(bindings) || (!bindings['incoming'] && !bindings['server'])) return 'local';
  return getConnInfo(c).remote.address ?? 'local';
}

/** Compared against when the appKey is unknown, so that case takes as long as a wrong secret. */
const NO_SECRET = 'x'.repeat(48);

function basicCredentials(header: string): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const at = text.indexOf(':');
  if (at <= 0) return undefined;
  return { user: text.slice(0, at), password: text.slice(at + 1) };
}

/**
 * What never changes about a project's credentials: projects are never deleted, and their appKey,
 * appSecret and customer are never updated (provisioning inserts them once). Whether the project is
 * active does change, and is never taken from here.
 */
interface Credentials {
  projectId: string;
  customerId: string;
  appSecret: string;
  /** Set when a request found the project deactivated: the next one looks it up again. */
  stale: boolean;
}

/** Credentials of this many projects are kept in memory (a few hundred bytes each). */
const REMEMBERED_PROJECTS = 10_000;

/**
 * The license API's callers: HTTP Basic with a project's `appKey:appSecret` from provisioning (the
 * project must be active; the caller then reaches that customer's projects), or
 * `Authorization: Bearer <ADMIN_TOKEN>` (the vendor: every customer). Project callers are limited to
 * `perSecond` requests per second per customer on this instance (429 with Retry-After beyond); the
 * vendor's token is not limited.
 *
 * Requests for which `checksActiveItself` is true (activation, the hot path) are handled by a
 * statement that itself refuses the credentials of a deactivated project (`license_activate`), so
 * for them the credentials are taken from memory once known: the secret is compared here as always,
 * and the project's being active is checked in the request's own round trip — a deactivation
 * committed on any instance is answered at once (401, same message), with nothing cached that can
 * be stale. Every other request looks the project up, as the first one of each appKey does. Not
 * cached at all: unknown appKeys and wrong secrets (those are counted against the address instead).
 * The one difference: a request answered from memory takes its customer's rate token before the
 * deactivation is seen, so the first request after a deactivation may answer 429 rather than 401
 * when the customer is over its rate; once answered 401 the project is looked up again.
 */
export function licenseAuth(options: {
  db: Db;
  adminToken: string;
  perSecond: number;
  failuresPerMinute: number;
  checksActiveItself?: (c: Context<AppEnv>) => boolean;
}): MiddlewareHandler<AppEnv> {
  const limiter = new SlidingWindowLimiter(options.perSecond);
  const failures = new FailureBudget(options.failuresPerMinute);
  const known = new LruCache<Credentials>(REMEMBERED_PROJECTS);
  return async function authenticateLicenseCaller(c, next) {
    const header = c.req.header('authorization') ?? '';
    const source = sourceOf(c);
    const blockedMs = failures.blockedFor(source);
    if (blockedMs > 0) {
      const retryAfterSeconds = Math.ceil(blockedMs / 1000);
      throw new AppError('rate_limited', `Too many failed authentications from this address; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer) {
      if (!secretEquals(bearer[1]!, options.adminToken)) {
        failures.fail(source);
        throw new AppError('unauthorized', 'The admin token is not valid');
      }
      c.set('licenseCaller', { kind: 'admin' });
      return next();
    }
    const basic = basicCredentials(header);
    if (!basic) throw new AppError('unauthorized', "Authorization is required: HTTP Basic with a project's appKey:appSecret");
    const remembered = options.checksActiveItself?.(c) ? known.get(basic.user) : undefined;
    const found = remembered && !remembered.stale ? { credentials: remembered, deactivated: false } : await lookUp(basic.user);
    const credentials = found?.credentials;
    const secretOk = secretEquals(basic.password, credentials?.appSecret ?? NO_SECRET);
    if (!credentials || !secretOk) failures.fail(source);
    if (!credentials || !secretOk) throw new AppError('unauthorized', 'The appKey and appSecret do not match a provisioned project');
    if (found.deactivated) throw new AppError('unauthorized', `Project ${credentials.projectId} is deactivated; its credentials no longer work`);
    const waitMs = limiter.take(credentials.customerId);
    if (waitMs > 0) {
      const retryAfterSeconds = Math.ceil(waitMs / 1000);
      throw new AppError('rate_limited', `More than ${options.perSecond} requests per second for this customer; retry in ${retryAfterSeconds} s`, {
        retryAfterSeconds,
      });
    }
    c.set('licenseCaller', { kind: 'project', customerId: credentials.customerId, projectId: credentials.projectId });
    await next();
    // The handler found the project deactivated (the only 401 a handler answers): look it up next time.
    if (c.error instanceof AppError && c.error.code === 'unauthorized') credentials.stale = true;
  };

  /** The project of an appKey, and whether it is deactivated. Remembers an active one. */
  async function lookUp(appKey: string): Promise<{ credentials: Credentials; deactivated: boolean } | undefined> {
    const project = await findProjectByAppKey(options.db, appKey);
    if (!project) return undefined;
    const deactivated = project.deactivated_at !== null;
    const credentials: Credentials = { projectId: project.project_id, customerId: project.customer_id, appSecret: project.app_secret, stale: deactivated };
    if (!deactivated) known.set(appKey, credentials);
    return { credentials, deactivated };
  }
}

/**
 * Query strings read strictly: a parameter given twice is ambiguous (400 repeated_parameter), and
 * a value whose percent-encoding is not UTF-8 is not text (400; `invalid_license_key` for a
 * licenseKey). Without this, such a value would reach the handler undecoded ("%FF").
 */
export function strictQuery(): MiddlewareHandler<AppEnv> {
  return async function readQueryStrictly(c, next) {
    const url = c.req.url;
    const q = url.indexOf('?');
    if (q >= 0) {
      const seen = new Set<string>();
      for (const part of url.slice(q + 1).split('&')) {
        if (part === '') continue;
        const eq = part.indexOf('=');
        const rawKey = eq < 0 ? part : part.slice(0, eq);
        const key = decodeStrict(rawKey) ?? rawKey;
        if (seen.has(key)) throw new AppError('repeated_parameter', `Parameter ${key} is given more than once`);
        seen.add(key);
        if (decodeStrict(eq < 0 ? '' : part.slice(eq + 1)) === null) {
          if (key === 'licenseKey') throw new AppError('invalid_license_key', 'licenseKey is not valid UTF-8 text');
          throw new AppError('invalid_parameter', `${key} is not valid UTF-8 text`);
        }
      }
    }
    await next();
  };
}

function decodeStrict(s: string): string | null {
  const t = s.replace(/\+/g, ' ');
  if (!t.includes('%')) return t;
  try {
    return decodeURIComponent(t);
  } catch {
    return null;
  }
}
