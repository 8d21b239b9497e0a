import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AppError, toAppError } from '../errors.ts';
import type { AppEnv, Envelope } from './context.ts';
import { checkRequestText } from './input.ts';
import { isJsonObject } from '../json.ts';

/**
 * The one place where an AppError becomes a response. Each family of routes has its own envelope:
 * Agora's usage and bill answer a numeric non-zero `status`, its license and provisioning calls a
 * `failed` status, the vendor API a plain `error` object, and the license API Agora's console shape
 * `{code: <HTTP status>, message, data: null}` with the stable code in `error`. Every one carries
 * the stable code.
 */
export function errorBody(envelope: Envelope, err: AppError): Record<string, unknown> {
  switch (envelope) {
    case 'agora-numeric':
      return { status: err.status, statusReason: err.message, code: err.code };
    case 'agora-text':
      return { status: 'failed', statusReason: err.message, code: err.code };
    case 'vendor':
      return { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
    case 'license-api':
      return { code: err.status, message: err.message, data: null, error: err.code, ...(err.details === undefined ? {} : { details: err.details }) };
    case 'extension':
      return extensionErrorBody(err);
  }
}

/**
 * The extension API (src/runtime, shared/spec/runtime.md): `{code, reason, error, message}`. A
 * refused join names its reason (1–8) and the reason's stable name in `error`; a heartbeat of an
 * ended session names how it ended; every other error has reason null and its stable code.
 */
function extensionErrorBody(err: AppError): Record<string, unknown> {
  const d: Record<string, unknown> = isJsonObject(err.details) ? err.details : {};
  const reason = typeof d['reason'] === 'number' ? d['reason'] : null;
  const body: Record<string, unknown> = { code: err.status, reason, error: typeof d['error'] === 'string' ? d['error'] : err.code, message: err.message };
  if (typeof d['endedBy'] === 'string') body.endedBy = d['endedBy'];
  return body;
}

/** Hono's own exceptions (a body that is not JSON, say) get a stable code like ours. */
function fromHono(e: HTTPException): AppError {
  if (e.status === 400) return new AppError('invalid_json', 'The request body is not valid JSON');
  if (e.status === 413) return new AppError('payload_too_large', 'The request body is too large');
  if (e.status === 401) return new AppError('unauthorized', 'Not authorized');
  if (e.status === 415) return new AppError('unsupported_media_type', 'Send the body as application/json');
  return new AppError('invalid_request', e.message || 'The request is not valid');
}

export function renderError(c: Context<AppEnv>, thrown: unknown): Response {
  const err = thrown instanceof HTTPException ? fromHono(thrown) : toAppError(thrown);
  const envelope = c.get('envelope') ?? 'vendor';
  // The request log names the code of every failed request (never its message: it may quote input).
  c.set('errorCode', err.code);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  const retryAfter = isJsonObject(err.details) ? err.details['retryAfterSeconds'] : undefined;
  if (typeof retryAfter === 'number' && (err.code === 'rate_limited' || err.code === 'overloaded')) headers['retry-after'] = String(retryAfter);
  else if (err.status === 503) headers['retry-after'] = '1';
  if (err.status === 401 && envelope === 'extension') headers['www-authenticate'] = 'Basic realm="extension", charset="UTF-8"';
  if (err.status === 401 && envelope === 'license-api') headers['www-authenticate'] = 'Basic realm="license", charset="UTF-8"';
  // The rest of a body that was too large is never read; keeping the connection would leave it
  // unread on the socket, so Node closes it after the answer. Say so instead of "keep-alive".
  if (err.code === 'payload_too_large') headers['connection'] = 'close';
  return new Response(JSON.stringify(errorBody(envelope, err)), { status: err.status, headers });
}

/**
 * Marks the routes below it with their envelope. Every route family starts with it, so it is also
 * where the request's path, query and credentials are checked for text the database cannot store
 * (`http/input.ts`): once, before anything reads them, and answered in the route's envelope.
 */
export function useEnvelope(envelope: Envelope) {
  return async function setEnvelope(c: Context<AppEnv>, next: () => Promise<void>) {
    c.set('envelope', envelope);
    checkRequestText(c);
    await next();
  };
}
