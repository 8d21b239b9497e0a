import { Decimal } from 'decimal.js';

/**
 * JSON with exact decimals. A `Decimal` is written as a JSON number whose digits are exactly its
 * value, never through a JavaScript float and never in exponent notation (`12.000001`, `0.1`, `250`).
 * Everything else is written as `JSON.stringify` would.
 */
export function stringifyExact(value: unknown): string {
  if (Decimal.isDecimal(value)) {
    const d = value as Decimal;
    if (!d.isFinite()) throw new TypeError('cannot write a non-finite decimal');
    return d.toFixed();
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

export function exactJsonResponse(body: unknown, status = 200): Response {
  return new Response(stringifyExact(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}
