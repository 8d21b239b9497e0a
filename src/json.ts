import type { z } from '@hono/zod-openapi';
import { Decimal } from 'decimal.js';
import type { TypedResponse } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { JSONParsed } from 'hono/utils/types';

/**
 * JSON with exact decimals. A `Decimal` is written as a JSON number whose digits are exactly its
 * value, never through a JavaScript float and never in exponent notation (`12.000001`, `0.1`, `250`).
 * Everything else is written as `JSON.stringify` would.
 */
export function stringifyExact(value: unknown): string {
  if (Decimal.isDecimal(value)) {
    if (!value.isFinite()) throw new TypeError('cannot write a non-finite decimal');
    return value.toFixed();
  }
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (typeof value === 'bigint') return value.toString();
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((v) => stringifyExact(v === undefined ? null : v)).join(',')}]`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function') continue;
    parts.push(`${JSON.stringify(k)}:${stringifyExact(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** The value a schema describes, where any number may be held as a `Decimal` or a bigint (written with its exact digits). */
export type Exact<T> = T extends number
  ? number | bigint | Decimal
  : T extends Date
    ? T
    : T extends readonly (infer U)[]
      ? readonly Exact<U>[]
      : T extends object
        ? { [K in keyof T]: Exact<T[K]> }
        : T;

/** JSON text written by `stringifyExact` from a value its schema describes: a cached page keeps the type it was checked with. */
export type ExactJsonText<T> = string & { readonly describes: T };

/** Checks `value` against the route's response schema (with exact decimals) and writes it. */
export function exactJsonText<S extends z.ZodType>(_schema: S, value: Exact<z.output<S>>): ExactJsonText<z.output<S>> {
  return stringifyExact(value) as ExactJsonText<z.output<S>>;
}

/**
 * A JSON answer with exact decimals, typed as the route's answer for `status`: the compiler checks
 * the value against the schema the OpenAPI document shows, as `c.json` would.
 */
export function exactJson<S extends z.ZodType>(schema: S, value: Exact<z.output<S>>): Response & TypedResponse<JSONParsed<z.output<S>>, 200, 'json'>;
export function exactJson<S extends z.ZodType, C extends ContentfulStatusCode>(schema: S, value: Exact<z.output<S>>, status: C): Response & TypedResponse<JSONParsed<z.output<S>>, C, 'json'>;
export function exactJson<S extends z.ZodType>(schema: S, value: Exact<z.output<S>>, status: ContentfulStatusCode = 200) {
  return exactJsonTextResponse(exactJsonText(schema, value), status);
}

/** The answer for text already written by `exactJsonText` (a cached page). */
/**
 * The same answer as UTF-8 bytes: a string body is encoded again on every write to the socket, so
 * an answer kept to be sent many times (a cached Agora page, src/agora/paged.ts) is kept encoded.
 */
export type ExactJsonBytes<T> = Uint8Array<ArrayBuffer> & { readonly describes: T };

export function exactJsonBytes<S extends z.ZodType>(schema: S, value: Exact<z.output<S>>): ExactJsonBytes<z.output<S>> {
  return new TextEncoder().encode(exactJsonText(schema, value)) as ExactJsonBytes<z.output<S>>;
}

export function exactJsonTextResponse<T>(text: ExactJsonText<T> | ExactJsonBytes<T>): Response & TypedResponse<JSONParsed<T>, 200, 'json'>;
export function exactJsonTextResponse<T, C extends ContentfulStatusCode>(text: ExactJsonText<T> | ExactJsonBytes<T>, status: C): Response & TypedResponse<JSONParsed<T>, C, 'json'>;
export function exactJsonTextResponse<T>(text: ExactJsonText<T> | ExactJsonBytes<T>, status: ContentfulStatusCode = 200) {
  const response = new Response(text, { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
  // The value was checked against T when the text was written; hono's own `c.json` is typed the same way.
  return response as Response & TypedResponse<JSONParsed<T>, typeof status, 'json'>;
}

/** An exact-JSON answer whose shape no route declares (routes use `exactJson`, which is typed). */
export function exactJsonResponse(body: unknown, status = 200): Response {
  return new Response(stringifyExact(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

/** A parsed JSON value that is an object (not null, not an array): its members by name. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
