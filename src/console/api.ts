import type { z } from 'zod';
import { parseExactJson, JsonNumber, type ExactJson } from '../cli/poller/exact-json.ts';
import { AppError, ERROR_STATUS, type ErrorCode } from '../errors.ts';
import { isJsonObject } from '../json.ts';

/**
 * The console reads every figure from the vendor API, called in process with the admin token: what
 * a page shows is what `/v1/...` answers, by construction, and a page costs what its calls cost.
 */
export type ApiFetch = (path: string, init?: { accept?: string }) => Promise<Response>;

/** JSON with every number turned into the exact text the API wrote (decimals are never floats). */
type Textual = null | boolean | string | Textual[] | { [key: string]: Textual };

function textual(v: ExactJson): Textual {
  if (v instanceof JsonNumber) return v.text;
  if (Array.isArray(v)) return v.map(textual);
  if (v !== null && typeof v === 'object') {
    const out: { [key: string]: Textual } = {};
    for (const [k, x] of Object.entries(v)) out[k] = textual(x);
    return out;
  }
  return v;
}

const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERROR_STATUS, code);

/** The API's error, as the same AppError (same code, same status), for the console's error page. */
async function failure(res: Response, path: string): Promise<AppError> {
  let code: unknown;
  let message = `${path} answered ${res.status}`;
  try {
    const body: unknown = JSON.parse(await res.text());
    const error = isJsonObject(body) ? body['error'] : undefined;
    if (isJsonObject(error)) {
      code = error['code'];
      if (typeof error['message'] === 'string') message = error['message'];
    }
  } catch {
    // Not the API's envelope: the status says enough.
  }
  return new AppError(isErrorCode(code) ? code : res.status === 404 ? 'not_found' : 'internal', message);
}

export class ConsoleApi {
  constructor(readonly fetch: ApiFetch) {}

  /** GET `path` and check its answer against `schema` (numbers are strings there). */
  async get<T extends z.ZodType>(path: string, schema: T): Promise<z.infer<T>> {
    const res = await this.fetch(path);
    if (res.status !== 200) throw await failure(res, path);
    const parsed = schema.safeParse(textual(parseExactJson(await res.text())));
    if (!parsed.success) throw new AppError('internal', `${path} answered a shape the console does not know`);
    return parsed.data;
  }

  /** Like `get`, but a 404 answers undefined (an id searched for that does not exist). */
  async find<T extends z.ZodType>(path: string, schema: T): Promise<z.infer<T> | undefined> {
    try {
      return await this.get(path, schema);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** The API's CSV answer, passed on as it is (streamed). */
  async csv(path: string): Promise<Response> {
    const res = await this.fetch(path, { accept: 'text/csv' });
    if (res.status !== 200) throw await failure(res, path);
    return res;
  }
}

/** A query string of the defined values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
