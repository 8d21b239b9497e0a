import type { MiddlewareHandler } from 'hono';
import type { ApiKeyPair } from '../config.ts';
import { AppError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { checkJsonInput, requestUrl } from '../http/input.ts';
import { isJsonObject } from '../json.ts';
import { verifySignature } from './signature.ts';

/** Query parameters of a GET, each at most once: a repeated one makes the signature ambiguous. */
export function singleQueryParams(url: string | URL): Record<string, string> {
  // No prototype: a parameter named __proto__ is a parameter like any other (and is signed).
  const params: Record<string, string> = Object.create(null);
  for (const [key, value] of (typeof url === 'string' ? new URL(url) : url).searchParams) {
    if (Object.hasOwn(params, key)) throw new AppError('repeated_parameter', `Parameter ${key} is given more than once`);
    params[key] = value;
  }
  return params;
}

function requestPath(url: URL): string {
  const raw = url.pathname;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Verifies Agora's signature: for GET over the query string, for POST and PUT over the JSON body's
 * fields; against every active key pair. The parsed body is kept for the handler.
 */
export function agoraSignature(options: { keys: ApiKeyPair[] }): MiddlewareHandler<AppEnv> {
  const secrets = new Map(options.keys.map((k) => [k.apiKey, k.apiSecret]));
  return async function verifyAgoraSignature(c, next) {
    let params: Record<string, unknown>;
    // Parsed once for the parameters and the path: this runs on every signed request.
    const url = requestUrl(c.req.raw);
    if (c.req.method === 'GET') {
      params = singleQueryParams(url);
    } else {
      const text = await c.req.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new AppError('invalid_json', 'The request body is not valid JSON');
      }
      if (!isJsonObject(body)) throw new AppError('invalid_json', 'The request body must be a JSON object');
      checkJsonInput(body); // before the signature walks it: depth and text the database cannot store
      params = body;
      c.set('agoraBody', params);
    }
    const apiKey = params.apiKey;
    const signature = params.signature;
    if (typeof apiKey !== 'string' || apiKey === '') throw new AppError('unknown_api_key', 'apiKey is required');
    if (typeof signature !== 'string' || signature === '') throw new AppError('invalid_signature', 'signature is required');
    const secret = secrets.get(apiKey);
    if (secret === undefined) throw new AppError('unknown_api_key', 'apiKey is not one of this server\'s keys');
    if (!verifySignature(c.req.method, requestPath(url), params, secret, signature)) {
      throw new AppError('invalid_signature', 'The signature does not match the request');
    }
    c.set('apiKey', apiKey);
    await next();
  };
}
