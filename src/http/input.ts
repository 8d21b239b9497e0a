import type { Context } from 'hono';
import { AppError } from '../errors.ts';
import { isJsonObject } from '../json.ts';

/**
 * Text the database cannot store, checked once where input enters. PostgreSQL's `text` refuses
 * U+0000 (the query fails, so the request would answer 500 and a batch would lose its valid
 * events), and a lone UTF-16 surrogate (`"\ud800"` in JSON) has no UTF-8 form: the driver writes
 * U+FFFD instead, so what is stored is not what was sent. Both are a 400 here instead.
 *
 * Where it is checked:
 * - the path, every query parameter and the user of HTTP Basic credentials, by `checkRequestText`,
 *   which `useEnvelope` calls first on every route family (so the error is in the route's envelope);
 * - JSON bodies after parsing (the escapes `\u0000` and `\ud800` only become those characters
 *   then): by the validation hook of every router (`http/router.ts`) and by Agora's signature check,
 *   which reads the body itself. Both also refuse a body nested deeper than MAX_JSON_DEPTH: deep
 *   nesting serves no route and would overflow the stack of recursive code (JSON.stringify in the
 *   signature, zod).
 * A route whose body is a list of independent records (usage events) checks the text of each
 * record itself, so one bad record is rejected alone (`itemsCheckedByRoute`).
 */

/** Deeper than any body a route takes (a plan's tiers are 3 levels), far below what overflows the stack. */
export const MAX_JSON_DEPTH = 32;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a string cannot be stored as text, or null when it can. */
export function unstorableText(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (LONE_SURROGATE.test(s)) return 'contains a lone UTF-16 surrogate (not valid Unicode text)';
  return null;
}

function textError(where: string, why: string): AppError {
  return new AppError('invalid_parameter', `${where} ${why}, which cannot be stored as text`, { path: where });
}

/** `Array.isArray` that narrows to `unknown` items (not `any`). */
const isArray = (v: unknown): v is readonly unknown[] => Array.isArray(v);

interface FrameBase {
  next: number;
  parent: Frame | null;
  key: string | number;
  depth: number;
  text: boolean;
}

/** A container being walked by `checkJsonInput`: an array and its items, or an object and its keys. Its path is only written for an error. */
type Frame = (FrameBase & { object: null; items: readonly unknown[] }) | (FrameBase & { object: Record<string, unknown>; items: readonly string[] });

function pathOf(frame: Frame, where: string): string {
  const keys: (string | number)[] = [];
  for (let f: Frame | null = frame; f !== null && f.parent !== null; f = f.parent) keys.push(f.key);
  return keys.length === 0 ? where : `${where}.${keys.reverse().join('.')}`;
}

/**
 * Walks a parsed JSON value without recursion: throws `invalid_json` when it is nested deeper than
 * `maxDepth`, and `invalid_parameter` naming the first key or string whose text cannot be stored.
 * Values inside the items of the top-level array `skipItemsOf` are only measured for depth.
 * (Depth first, in order; an object's keys are checked, last first, when it is entered. Paths are
 * written only for the error: a batch of 1,000 events would otherwise build 6,000 of them.)
 */
export function checkJsonInput(value: unknown, opts: { where?: string; skipItemsOf?: string; maxDepth?: number } = {}): void {
  const where = opts.where ?? 'body';
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  if (typeof value === 'string') {
    const why = unstorableText(value);
    if (why) throw textError(where, why);
    return;
  }
  if (!isArray(value) && !isJsonObject(value)) return;
  const enter = (v: readonly unknown[] | Record<string, unknown>, parent: Frame | null, key: string | number, depth: number, text: boolean, measured: boolean): Frame => {
    if (measured && depth >= maxDepth) throw new AppError('invalid_json', `The JSON is nested deeper than ${maxDepth} levels`);
    if (isArray(v)) return { items: v, object: null, next: 0, parent, key, depth, text };
    const object = v;
    const keys = Object.keys(object);
    const frame: Frame = { items: keys, object, next: 0, parent, key, depth, text };
    if (text) {
      for (let i = keys.length - 1; i >= 0; i--) {
        const why = unstorableText(keys[i]!);
        if (why) throw textError(`${pathOf(frame, where)} key ${JSON.stringify(keys[i])}`, why);
      }
    }
    return frame;
  };
  const stack: Frame[] = [enter(value, null, '', 0, true, true)];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next >= frame.items.length) {
      stack.pop();
      continue;
    }
    const at = frame.next++;
    let key: string | number;
    let v: unknown;
    if (frame.object === null) {
      key = at;
      v = frame.items[at];
    } else {
      const name = frame.items[at]!;
      key = name;
      v = frame.object[name];
    }
    if (typeof v === 'string') {
      if (frame.text) {
        const why = unstorableText(v);
        if (why) throw textError(`${pathOf(frame, where)}.${key}`, why);
      }
      continue;
    }
    if (!isArray(v) && !isJsonObject(v)) continue;
    if (frame.depth === 0 && frame.object !== null && opts.skipItemsOf === key && isArray(v)) {
      // The route judges each item's text itself; the list's items are still measured.
      stack.push(enter(v, frame, key, 1, false, false));
      continue;
    }
    stack.push(enter(v, frame, key, frame.depth + 1, frame.text, true));
  }
}

/**
 * Percent-decoded text. A broken escape (`%zz`) or bytes that are not UTF-8 (`%FF`, or `%ED%A0%80`,
 * a surrogate written as UTF-8) cannot mean any stored value: taken literally they would only make
 * a search that matches nothing look like a valid empty answer, so they are a 400 too.
 */
function decoded(s: string, where: () => string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    const at = where();
    throw new AppError('invalid_parameter', `${at} is not valid percent-encoded UTF-8`, { path: at });
  }
}

/**
 * The path (decoded, as route parameters are), every query key and value, and the credentials of
 * HTTP Basic. Bearer tokens are only compared, never stored, so they are left alone.
 */
export function checkRequestText(c: Pick<Context, 'req'>): void {
  const raw = c.req.url;
  // Without a percent escape, decoding only turns '+' into a space: when the URL's own characters
  // hold no NUL and no surrogate, neither does any decoded part, and there is nothing to check (the
  // usual case; this runs on every request).
  if (URL_NEEDS_CHECK.test(raw)) checkUrlText(requestUrl(c.req.raw));
  // Decoded as the license API decodes it; UTF-8 decoding yields no surrogates, only U+0000 is left.
  const authorization = c.req.header('authorization');
  const basic = authorization === undefined ? null : /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(authorization);
  if (basic && Buffer.from(basic[1]!, 'base64').toString('utf8').includes('\u0000')) {
    throw textError('the Basic credentials', 'contain a NUL character (U+0000)');
  }
}

const URL_NEEDS_CHECK = /[%\u0000\ud800-\udfff]/;

const parsedUrls = new WeakMap<Request, URL>();

/**
 * The request's URL, parsed once per request for everyone who reads it (the text check, Agora's
 * signature, Agora's request log). Callers read it, never change it.
 */
export function requestUrl(request: Request): URL {
  let url = parsedUrls.get(request);
  if (url === undefined) {
    url = new URL(request.url);
    parsedUrls.set(request, url);
  }
  return url;
}

/** The path and every query key and value, decoded; a part with nothing to decode or refuse is skipped. */
function checkUrlText(url: URL): void {
  if (URL_NEEDS_CHECK.test(url.pathname)) {
    const pathWhy = unstorableText(decoded(url.pathname, () => 'the path'));
    if (pathWhy) throw textError('the path', pathWhy);
  }
  for (const part of url.search.slice(1).split('&')) {
    if (part === '' || !URL_NEEDS_CHECK.test(part)) continue;
    const eq = part.indexOf('=');
    const key = decoded(eq < 0 ? part : part.slice(0, eq), () => 'a query parameter name');
    const keyWhy = unstorableText(key);
    if (keyWhy) throw textError('a query parameter name', keyWhy);
    const valueWhy = unstorableText(decoded(eq < 0 ? '' : part.slice(eq + 1), () => `query parameter ${key}`));
    if (valueWhy) throw textError(`query parameter ${key}`, valueWhy);
  }
}
