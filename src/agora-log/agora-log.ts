import type { Context, MiddlewareHandler } from 'hono';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { AppEnv, Logger } from '../http/context.ts';
import { requestUrl } from '../http/input.ts';

/**
 * The log of what Agora asked: every request on Agora's routes (usage, bill, license query,
 * provisioning), kept `retentionDays` days, the vendor's evidence of what was asked and answered.
 *
 * Written off the request path: a request only appends its entry to a bounded buffer in memory,
 * which is written about every second in multi-row inserts by a timer outside any request (its
 * connection is an ordinary one, never one of those kept for Agora). When the buffer is full, the
 * entry is dropped and counted (`dropped`, in /metrics): Agora's request is never held up or
 * failed by its log. What a process had buffered when it stops is flushed on a clean shutdown
 * (main.ts) and lost on a crash.
 */

export type AgoraRequestKind = 'usage' | 'bill' | 'license' | 'provisioning';

export interface AgoraRequestEntry {
  at: Date;
  kind: AgoraRequestKind;
  method: string;
  path: string;
  fromTs: string | null;
  toTs: string | null;
  pageNum: string | null;
  limit: string | null;
  customerId: string | null;
  apiKeyId: string | null;
  status: number;
  durationMs: number;
  errorCode: string | null;
}

export interface AgoraLogOptions {
  /** Entries the buffer holds at most; past that they are dropped and counted. */
  capacity: number;
  retentionDays: number;
  /** How long an entry may wait in the buffer. */
  flushMs: number;
  clock: () => Date;
  log: Logger;
  /** Told of every dropped entry (the metrics count them). */
  onDropped?: (n: number) => void;
}

/** Rows per insert: one statement of a few hundred KB at most. */
const INSERT_BATCH = 1000;
/** Rows per prune statement, and statements per prune: a prune never holds many row locks for long. */
const PRUNE_BATCH = 1000;
const PRUNE_STATEMENTS = 10;
const PRUNE_EVERY_MS = 60_000;

export class AgoraRequestLog {
  #buffer: AgoraRequestEntry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #lastPrune = 0;
  #dropped = 0;

  constructor(
    private readonly db: Db,
    private readonly opts: AgoraLogOptions,
  ) {}

  /** Entries dropped since start (buffer full, or a write that failed). */
  get dropped(): number {
    return this.#dropped;
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  /** Never waits and never throws: the request that called it is Agora's. */
  record(entry: AgoraRequestEntry): void {
    if (this.#buffer.length >= this.opts.capacity) {
      this.#drop(1);
      return;
    }
    this.#buffer.push(entry);
    if (this.#timer === undefined) {
      // No timer while idle, so an app nobody calls (tests build many) leaves nothing running.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.opts.flushMs);
      this.#timer.unref();
    }
  }

  #drop(n: number): void {
    this.#dropped += n;
    this.opts.onDropped?.(n);
  }

  /** Writes what is buffered now (and prunes, now and then); resolves when it is written. */
  flush(): Promise<void> {
    const previous = this.#flushing ?? Promise.resolve();
    const run = previous.then(() => this.#write());
    this.#flushing = run.finally(() => {
      if (this.#flushing === run) this.#flushing = undefined;
    });
    return run;
  }

  async #write(): Promise<void> {
    const entries = this.#buffer;
    this.#buffer = [];
    for (let i = 0; i < entries.length; i += INSERT_BATCH) {
      const batch = entries.slice(i, i + INSERT_BATCH);
      try {
        await insertEntries(this.db, batch);
      } catch (err) {
        this.#drop(batch.length);
        this.opts.log({ at: new Date().toISOString(), level: 'warn', event: 'agora_log_write_failed', rows: batch.length, error: err instanceof Error ? err.message : String(err) });
      }
    }
    const now = this.opts.clock();
    if (now.getTime() - this.#lastPrune >= PRUNE_EVERY_MS) {
      this.#lastPrune = now.getTime();
      try {
        await pruneBefore(this.db, new Date(now.getTime() - this.opts.retentionDays * 86_400_000));
      } catch (err) {
        this.opts.log({ at: new Date().toISOString(), level: 'warn', event: 'agora_log_prune_failed', error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/**
 * Text PostgreSQL can store (no NUL, no lone surrogate), at most `max` characters: what Agora's
 * caller sent may be anything, and one row the database refuses would lose its whole batch.
 */
const storable = (s: string, max: number) => s.slice(0, max).replace(LONE_SURROGATE, '\ufffd').replaceAll('\u0000', '\ufffd');

async function insertEntries(db: Db, entries: AgoraRequestEntry[]): Promise<void> {
  const text = (v: string | null, max: number) => (v === null ? null : storable(v, max));
  const rows = entries.map((e) => ({ ...e, method: storable(e.method, 16), path: storable(e.path, 512), customerId: text(e.customerId, 64), apiKeyId: text(e.apiKeyId, 128), errorCode: text(e.errorCode, 64) }));
  await sql`
    insert into agora_requests (at, kind, method, path, from_ts, to_ts, page_num, page_limit, customer_id, api_key_id, status, duration_ms, error_code)
    select * from unnest(
      ${rows.map((r) => r.at.toISOString())}::timestamptz[], ${rows.map((r) => r.kind)}::text[], ${rows.map((r) => r.method)}::text[],
      ${rows.map((r) => r.path)}::text[], ${rows.map((r) => r.fromTs)}::bigint[], ${rows.map((r) => r.toTs)}::bigint[],
      ${rows.map((r) => r.pageNum)}::bigint[], ${rows.map((r) => r.limit)}::bigint[], ${rows.map((r) => r.customerId)}::text[],
      ${rows.map((r) => r.apiKeyId)}::text[], ${rows.map((r) => r.status)}::int[], ${rows.map((r) => r.durationMs.toFixed(1))}::numeric[],
      ${rows.map((r) => r.errorCode)}::text[])`.execute(db);
}

/** Deletes entries older than `cutoff`, PRUNE_BATCH rows a statement, oldest first. */
export async function pruneBefore(db: Db, cutoff: Date): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < PRUNE_STATEMENTS; i++) {
    const r = await sql`
      delete from agora_requests where id in (
        select id from agora_requests where at < ${cutoff.toISOString()}::timestamptz order by at, id limit ${PRUNE_BATCH}::int)`.execute(db);
    const n = Number(r.numAffectedRows ?? 0n);
    deleted += n;
    if (n < PRUNE_BATCH) break;
  }
  return deleted;
}

/** A query parameter that is a whole number as Agora sends them; anything else is not kept. */
function whole(v: string | undefined | null): string | null {
  return v !== undefined && v !== null && /^\d{1,15}$/.test(v) ? v : null;
}

/** At most 64 characters of a customerId (the longest a customerId may be). */
const clip = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v.slice(0, 64) : null);

function kindOf(method: string, path: string): AgoraRequestKind {
  if (path === '/usage') return 'usage';
  if (path === '/bill') return 'bill';
  if (method === 'GET' && /^\/customers\/[^/]+\/license$/.test(path)) return 'license';
  return 'provisioning';
}

function customerOf(c: Context<AppEnv>, path: string): string | null {
  const m = /^\/customers\/([^/]+)\//.exec(path);
  if (m && m[1] !== 'new') {
    try {
      return clip(decodeURIComponent(m[1]!));
    } catch {
      return clip(m[1]);
    }
  }
  const body = c.get('agoraBody');
  return clip(body?.customerId) ?? clip(requestUrl(c.req.raw).searchParams.get('customerId'));
}

/** What an entry says of the request itself: everything but how and when it was answered. */
export type AgoraRequestAsked = Omit<AgoraRequestEntry, 'at' | 'status' | 'durationMs' | 'errorCode'>;

/** What Agora asked in this request (window, page, customer) and with which verified apiKey. */
export function agoraRequestAsked(c: Context<AppEnv>): AgoraRequestAsked {
  const path = c.req.path;
  const q = requestUrl(c.req.raw).searchParams;
  return {
    kind: kindOf(c.req.method, path),
    method: c.req.method,
    path: path.slice(0, 512),
    fromTs: whole(q.get('fromTs')),
    toTs: whole(q.get('toTs')),
    pageNum: whole(q.get('pageNum')),
    limit: whole(q.get('limit')),
    customerId: customerOf(c, path),
    apiKeyId: c.get('apiKey') ?? null,
  };
}

/**
 * Hands `record` an entry for each request of Agora's routes once answered (app.ts: the log and
 * the metrics): what was asked (window, page, customer), by which apiKey (the verified one: an
 * apiKey is not secret, its secret is), and how it was answered.
 */
export function agoraRequestLog(clock: () => Date, record: (e: AgoraRequestEntry) => void): MiddlewareHandler<AppEnv> {
  return async function logAgoraRequest(c, next) {
    const at = clock();
    const started = performance.now();
    try {
      await next();
    } finally {
      const status = c.res.status;
      const entry: AgoraRequestEntry = {
        at,
        ...agoraRequestAsked(c),
        status,
        durationMs: performance.now() - started,
        errorCode: status >= 400 ? (c.get('errorCode') ?? null) : null,
      };
      record(entry);
    }
  };
}
