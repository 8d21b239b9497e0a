import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Agora's request signature (shared/spec/agora-callbacks.md, "The signature").
 *
 *   SourceString = METHOD & URLEncode(path) & URLEncode(sorted "k=v" joined with "&")
 *   signature    = Base64(HMAC-SHA1(apiSecret + "&", SourceString))   (URL-encoded again for GET)
 */

/** What each encoding leaves as it is; anything else is matched one code point at a time. */
const JAVA_UNSAFE = /[^A-Za-z0-9.\-*_]/gu;
const RFC3986_UNSAFE = /[^A-Za-z0-9.\-_~]/gu;

/** `%XX` of each UTF-8 byte; the ASCII ones (nearly all a source string holds) computed once. */
function percentBytes(ch: string): string {
  let out = '';
  for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
const ASCII_PERCENT = Array.from({ length: 128 }, (_, c) => percentBytes(String.fromCharCode(c)));

// A regular expression replace rather than a loop over characters: a request's source string is
// encoded twice on every signed request, and the safe runs are copied by the engine in one go.
function encodeWith(text: string, unsafe: RegExp, space: string): string {
  return text.replace(unsafe, (ch) => (ch === ' ' ? space : ch.length === 1 && ch.charCodeAt(0) < 128 ? ASCII_PERCENT[ch.charCodeAt(0)]! : percentBytes(ch)));
}

/** Java's `URLEncoder.encode(s, "UTF-8")`: letters, digits and `. - * _` stay; space is `+`. */
export const javaUrlEncode = (s: string) => encodeWith(s, JAVA_UNSAFE, '+');
/** RFC 3986 percent-encoding: unreserved characters stay; space is `%20`. */
export const rfc3986Encode = (s: string) => encodeWith(s, RFC3986_UNSAFE, '%20');

export type ParamValue = string | number | boolean | null;
export type Encoder = (s: string) => string;

/** A JSON body field as it enters the source string: numbers and booleans as JSON writes them. */
export function paramText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The sorted `k=v` pairs of the source string, before encoding. */
function sortedPairs(params: Record<string, unknown>): string {
  return Object.keys(params)
    .filter((k) => k !== 'signature')
    // Ascending order of key by code unit, as Java's TreeMap/String.compareTo orders ASCII keys.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `${k}=${paramText(params[k])}`)
    .join('&');
}

export function sourceString(
  method: string,
  path: string,
  params: Record<string, unknown>,
  encode: Encoder = javaUrlEncode,
): string {
  return `${method.toUpperCase()}&${encode(path)}&${encode(sortedPairs(params))}`;
}

export function hmacBase64(apiSecret: string, source: string): string {
  return createHmac('sha1', `${apiSecret}&`).update(source, 'utf8').digest('base64');
}

/**
 * The signature as Agora sends it: for GET the base64 is URL-encoded (it then goes into the
 * query string, where it is encoded once more), for POST and PUT it is plain base64.
 */
export function sign(
  method: string,
  path: string,
  params: Record<string, unknown>,
  apiSecret: string,
): string {
  const b64 = hmacBase64(apiSecret, sourceString(method, path, params));
  return method.toUpperCase() === 'GET' ? javaUrlEncode(b64) : b64;
}

/**
 * The base64 bytes a received signature stands for. A GET signature may arrive decoded once
 * (`…=`), still URL-encoded (`…%3D`), or with `+` turned into a space by form decoding.
 */
export function normalizeSignature(received: string): Buffer | null {
  // Form decoding turns a '+' into a space, so a space is read as '+' first; failing that, as
  // whitespace around the value.
  for (const candidate of [received.replace(/ /g, '+').trim(), received.trim().replace(/ /g, '+')]) {
    const bytes = base64Bytes(candidate);
    if (bytes) return bytes;
  }
  return null;
}

function base64Bytes(text: string): Buffer | null {
  let s = text;
  if (s.includes('%')) {
    try {
      s = decodeURIComponent(s).replace(/ /g, '+');
    } catch {
      return null; // a malformed %-sequence is not a signature
    }
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return null;
  const bytes = Buffer.from(s, 'base64');
  return bytes.length === 20 ? bytes : null; // HMAC-SHA1 is 20 bytes
}

/**
 * True when `received` is the signature of the request under `apiSecret`, with the source string
 * encoded either Java's way or the RFC 3986 way. Compared in constant time.
 */
export function verifySignature(
  method: string,
  path: string,
  params: Record<string, unknown>,
  apiSecret: string,
  received: string,
): boolean {
  const got = normalizeSignature(received);
  if (!got) return false;
  const m = method.toUpperCase();
  const pairs = sortedPairs(params);
  const java = `${m}&${javaUrlEncode(path)}&${javaUrlEncode(pairs)}`;
  const rfc = `${m}&${rfc3986Encode(path)}&${rfc3986Encode(pairs)}`;
  // The two forms differ only for some characters (space, '*', '~', …); when they are the same
  // text one HMAC answers for both. Whether they differ depends on the request, not the secret.
  let ok = timingSafeEqual(createHmac('sha1', `${apiSecret}&`).update(java, 'utf8').digest(), got);
  if (rfc !== java) ok = timingSafeEqual(createHmac('sha1', `${apiSecret}&`).update(rfc, 'utf8').digest(), got) || ok;
  return ok;
}

/** A signed GET URL (path and query) as Agora would request it. */
export function signedGetUrl(path: string, params: Record<string, string | number>, apiSecret: string): string {
  const signature = sign('GET', path, params, apiSecret);
  const query = Object.entries(params)
    .map(([k, v]) => `${javaUrlEncode(k)}=${javaUrlEncode(String(v))}`)
    .concat(`signature=${signature}`)
    .join('&');
  return `${path}?${query}`;
}

/** A signed JSON body for POST or PUT, as Agora would send it. */
export function signedBody(
  method: 'POST' | 'PUT',
  path: string,
  body: Record<string, unknown>,
  apiSecret: string,
): Record<string, unknown> {
  return { ...body, signature: sign(method, path, body, apiSecret) };
}
