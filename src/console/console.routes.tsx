import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { FailureBudget } from '../licensing/rate-limit.ts';
import { AppError, toAppError } from '../errors.ts';
import type { Logger } from '../http/context.ts';
import { checkRequestText } from '../http/input.ts';
import { limitBody, secretEquals } from '../http/middleware.ts';
import { ConsoleApi, type ApiFetch } from './api.ts';
import { consoleAsset } from './assets.ts';
import { consoleTurns, type ConsoleGate } from './gate.ts';
import { Page } from './layout.tsx';
import { customerPages } from './pages/customers.tsx';
import { licensePages } from './pages/licenses.tsx';
import { overviewPage } from './pages/overview.tsx';
import { reconciliationPages } from './pages/reconciliation.tsx';
import { statementPages } from './pages/statements.tsx';
import { usagePages } from './pages/usage.tsx';
import { ConsoleSessions } from './session.ts';
import { html, type ConsoleEnv } from './context.ts';


export interface ConsoleDeps {
  adminToken: string;
  /** The app's own fetch: every figure comes from `/v1/...` called in process with the admin token. */
  api: ApiFetch;
  clock: () => Date;
  log: Logger;
  sessionHours: number;
  /** Wrong tokens per client address per minute before sign-in answers 429 (AUTH_FAILURES_PER_MINUTE); 0: no limit. */
  failuresPerMinute: number;
  /** The console's share of the server (CONSOLE_CONCURRENCY, CONSOLE_QUEUE): see ConsoleGate. */
  gate: ConsoleGate;
}

const SESSION_COOKIE = 'console_session';
const SIGN_IN_COOKIE = 'console_sign_in';
/** The sign-in form is valid this long. */
const SIGN_IN_SECONDS = 30 * 60;

/** The client's address (requests built in process have no socket: `local`). */
function sourceOf(c: Context): string {
  const bindings = c.env as { incoming?: unknown } | undefined;
  return bindings?.incoming ? (getConnInfo(c).remote.address ?? 'local') : 'local';
}

/** HTTPS as the browser sees it (directly, or said by the reverse proxy in front). */
function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
}

function cookieOptions(c: Context, maxAge: number) {
  return { path: '/console', httpOnly: true, sameSite: 'Strict' as const, secure: isHttps(c), maxAge };
}

/** Where to go after signing in: a console path of this server, never another site. */
function safeNext(next: unknown): string {
  // Printable ASCII only (no line break can reach the Location header), no backslash (some
  // browsers read it as a slash), and under /console.
  return typeof next === 'string' && /^\/console(?:[/?][\x21-\x5b\x5d-\x7e]*)?$/.test(next) ? next : '/console';
}

/** Headers of every console answer: nothing cached, no framing, scripts and styles from here only. */
function consoleHeaders(): MiddlewareHandler<ConsoleEnv> {
  return async function setConsoleHeaders(c, next) {
    await next();
    // Pages never stay in a cache (they show what a signed-in vendor sees); assets say otherwise.
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store');
    c.header('x-frame-options', 'DENY');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
    c.header('content-security-policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
  };
}

/**
 * Every page but sign-in and the assets: a valid session cookie, else a GET goes to the sign-in
 * page (and a cookie that is forged, expired or signed out is cleared), anything else is refused.
 * A state-changing request must also carry the session's CSRF token.
 */
function requireSession(sessions: ConsoleSessions): MiddlewareHandler<ConsoleEnv> {
  return async function consoleSession(c, next) {
    const cookie = getCookie(c, SESSION_COOKIE);
    const token = sessions.verify(cookie, 's');
    if (!token) {
      if (cookie !== undefined) deleteCookie(c, SESSION_COOKIE, { path: '/console', secure: isHttps(c) });
      if (c.req.method === 'GET' || c.req.method === 'HEAD') {
        const url = new URL(c.req.url);
        return c.redirect(`/console/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
      }
      throw new AppError('unauthorized', 'Sign in first');
    }
    c.set('consoleSession', token);
    c.set('csrf', sessions.csrfOf(token));
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const form = await c.req.parseBody();
      if (!sessions.csrfMatches(token, form['csrf'])) throw new AppError('forbidden', 'The form has no valid CSRF token; reload the page and try again');
    }
    await next();
  };
}

function SignIn(props: { csrf: string; next: string; failed?: boolean }) {
  return (
    <Page title="Sign in">
      <form method="post" action="/console/sign-in" class="signin">
        <p>Sign in with the server's admin token (<code>ADMIN_TOKEN</code>).</p>
        {props.failed ? <p class="error" role="alert">That is not the admin token.</p> : null}
        <input type="hidden" name="csrf" value={props.csrf} />
        <input type="hidden" name="next" value={props.next} />
        <label>
          Admin token
          <input type="password" name="token" autocomplete="current-password" required autofocus />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </Page>
  );
}

const STATUS_TITLES: Record<number, string> = { 400: 'Bad request', 401: 'Not signed in', 403: 'Refused', 404: 'Not found', 409: 'Conflict', 429: 'Too many tries', 503: 'Try again shortly' };

/** An error as an HTML page with the error's status (the console's envelope). */
export async function consoleErrorPage(thrown: unknown, csrf?: string): Promise<Response> {
  const err = toAppError(thrown);
  const html = (
    <Page title={STATUS_TITLES[err.status] ?? 'Something went wrong'} {...(csrf === undefined ? {} : { csrf })}>
      <p>{err.status >= 500 && err.code === 'internal' ? 'The server could not answer this page.' : err.message}</p>
      <p class="muted">
        Code <code>{err.code}</code> · <a href="/console">Overview</a>
        {err.status === 401 ? (
          <>
            {' · '}
            <a href="/console/sign-in">Sign in</a>
          </>
        ) : null}
      </p>
    </Page>
  );
  const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
  const retryAfter = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  if (typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
  else if (err.status === 503) headers['retry-after'] = '1';
  return new Response(`<!doctype html>${await html.toString()}`, { status: err.status, headers });
}

/** Mounted at /console: the vendor's pages, server-rendered, signed in with the admin token. */
export function consoleRoutes(deps: ConsoleDeps) {
  const sessions = new ConsoleSessions(deps.adminToken, deps.sessionHours * 3600, deps.clock);
  const failures = new FailureBudget(deps.failuresPerMinute);
  const api = new ConsoleApi(deps.api);
  const router = new Hono<ConsoleEnv>();
  router.use('*', async function consoleInput(c, next) {
    checkRequestText(c);
    await next();
  });
  router.use('*', consoleHeaders(), limitBody(16 * 1024));

  router.get('/assets/:file', async (c) => {
    const asset = await consoleAsset(c.req.param('file'));
    if (!asset) throw new AppError('not_found', 'No such file');
    const body = typeof asset.body === 'string' ? asset.body : new Uint8Array(asset.body);
    return c.body(body, 200, { 'content-type': asset.type, 'cache-control': 'public, max-age=3600' });
  });

  router.get('/sign-in', (c) => {
    const pre = sessions.issue('p', SIGN_IN_SECONDS);
    setCookie(c, SIGN_IN_COOKIE, pre.value, cookieOptions(c, SIGN_IN_SECONDS));
    return html(c, <SignIn csrf={sessions.csrfOf(pre.token)} next={safeNext(c.req.query('next'))} />);
  });

  router.post('/sign-in', async (c) => {
    // Wrong tokens are counted per client address, as for the license API: past the budget,
    // sign-in answers 429 without comparing anything.
    const source = sourceOf(c);
    const blockedMs = failures.blockedFor(source);
    if (blockedMs > 0) {
      const retryAfterSeconds = Math.ceil(blockedMs / 1000);
      throw new AppError('rate_limited', `Too many wrong tokens; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
    const form = await c.req.parseBody();
    const pre = sessions.verify(getCookie(c, SIGN_IN_COOKIE), 'p');
    if (!pre || !sessions.csrfMatches(pre, form['csrf'])) {
      throw new AppError('forbidden', 'The sign-in form has expired or did not come from this console; open the sign-in page again');
    }
    const next = safeNext(form['next']);
    const tokenSent = form['token'];
    if (typeof tokenSent !== 'string' || !secretEquals(tokenSent, deps.adminToken)) {
      failures.fail(source);
      deps.log({ at: deps.clock().toISOString(), level: 'warn', event: 'console_sign_in_failed' });
      sessions.end(pre);
      const again = sessions.issue('p', SIGN_IN_SECONDS);
      setCookie(c, SIGN_IN_COOKIE, again.value, cookieOptions(c, SIGN_IN_SECONDS));
      return html(c, <SignIn csrf={sessions.csrfOf(again.token)} next={next} failed />, 401);
    }
    sessions.end(pre);
    deleteCookie(c, SIGN_IN_COOKIE, { path: '/console', secure: isHttps(c) });
    const session = sessions.issue('s');
    setCookie(c, SESSION_COOKIE, session.value, cookieOptions(c, sessions.sessionSeconds));
    return c.redirect(next, 303);
  });

  router.use('*', requireSession(sessions));
  // Signed-in pages and downloads take turns: the console never holds more of the loop and the
  // database than its share, whatever the vendor does (gate.ts).
  router.use('*', consoleTurns(deps.gate));

  router.post('/sign-out', (c) => {
    sessions.end(c.get('consoleSession'));
    deleteCookie(c, SESSION_COOKIE, { path: '/console', secure: isHttps(c) });
    return c.redirect('/console/sign-in', 303);
  });

  const pageDeps = { api, clock: deps.clock };
  overviewPage(router, pageDeps);
  usagePages(router, pageDeps);
  statementPages(router, pageDeps);
  reconciliationPages(router, pageDeps);
  customerPages(router, pageDeps);
  licensePages(router, pageDeps);

  router.all('*', () => {
    throw new AppError('not_found', 'No such page');
  });
  router.onError((err, c) => {
    c.set('errorCode', toAppError(err).code);
    return consoleErrorPage(err, c.get('csrf'));
  });
  return router;
}

export type ConsoleRouter = ReturnType<typeof consoleRoutes>;
