import { signedGetUrl } from '../../agora/signature.ts';
import { Decimal } from '../../decimal.ts';
import {
  readLicenseAnswer,
  readPagedAnswer,
  preview,
  type Entry,
  type LicenseFacts,
  type Violation,
  type ViolationCode,
} from './contract.ts';

/**
 * A stand-in for Agora's poller: it signs each request as Agora does, walks `pageNum` from 1 until
 * `hasNext` is false, waits `timeoutMs` for each answer and re-sends a request at most `retries`
 * times, and checks every answer against the contract.
 */

/** `fetch` or anything shaped like it: a Hono app's `request`, in tests. */
export type Fetcher = (url: string, init: { signal: AbortSignal; headers: Record<string, string> }) => Promise<Response>;

export interface PollerOptions {
  /** The vendor server's base URL as given to Agora, e.g. `https://vendor.example.com` (a path prefix is signed too). */
  baseUrl: string;
  apiKey: string;
  apiSecret: string;
  /** Agora waits 500 ms for an answer. */
  timeoutMs?: number;
  /** Agora re-sends a request at most twice. */
  retries?: number;
  fetch?: Fetcher;
  /** Called after every answered page. */
  onPage?: (progress: PageProgress) => void;
}

export interface PagedOptions extends PollerOptions {
  /** Sent as `limit` when set; Agora itself leaves it to the server's default. */
  limit?: number;
  /** A walk never goes past this many pages, whatever hasNext says. */
  maxPages?: number;
}

export interface PageProgress {
  pageNum: number;
  /** Known once the first page told totalSize and the page size. */
  expectedPages: number | null;
  entries: number;
  ms: number;
}

export type PagedKind = 'usage' | 'bill';

/** One request as Agora makes it: up to 1 + retries attempts. */
export interface RequestOutcome {
  ok: boolean;
  status?: number;
  text?: string;
  /** ms of the attempt that answered (or of the last one). */
  ms: number;
  attempts: number;
  /** Why each retry happened. */
  retryReasons: RetryReason[];
  failure?: { code: ViolationCode; message: string };
}

export type RetryReason = 'timeout' | 'network' | 'http_5xx';

interface Stats {
  requests: number;
  retries: number;
  retryReasons: Record<RetryReason, number>;
  slowest: { ms: number; pageNum?: number } | null;
}

export interface PollSummaryBase {
  url: string;
  wallMs: number;
  /** Attempts sent, retries included. */
  requests: number;
  retries: number;
  retryReasons: Record<RetryReason, number>;
  /** The slowest attempt that got an answer. */
  slowest: { ms: number; pageNum?: number } | null;
  violations: Violation[];
  /** Count per code; `violations` keeps only the first `MAX_VIOLATIONS_KEPT`. */
  violationCounts: Partial<Record<ViolationCode, number>>;
  ok: boolean;
}

export interface PagedPollResult extends PollSummaryBase {
  kind: PagedKind;
  fromTs: number;
  toTs: number;
  pages: number;
  totalSize: number | null;
  /** The page size: `limit` when sent, else what the first full page held. */
  pageSize: number | null;
  entries: Entry[];
  total: Decimal;
  /** Agora adds the amounts up and rounds up. */
  totalRoundedUp: Decimal;
  /** ms of each answered page, in page order. */
  pageMs: number[];
}

export interface LicensePollResult extends PollSummaryBase {
  kind: 'license';
  customerId: string;
  license: LicenseFacts | null;
  /** The HTTP status of the answer; null when none came. */
  httpStatus: number | null;
}

export const MAX_VIOLATIONS_KEPT = 200;
const DEFAULT_MAX_PAGES = 100_000;

class Violations {
  list: Violation[] = [];
  counts: Partial<Record<ViolationCode, number>> = {};
  total = 0;
  add(code: ViolationCode, message: string, pageNum?: number): void {
    this.total++;
    this.counts[code] = (this.counts[code] ?? 0) + 1;
    if (this.list.length < MAX_VIOLATIONS_KEPT) this.list.push(pageNum === undefined ? { code, message } : { code, message, pageNum });
  }
}

function trimSlash(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new TypeError(`base URL ${JSON.stringify(base)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`base URL ${base} must be http:// or https://`);
  if (url.search || url.hash) throw new TypeError(`base URL ${base} must not have a query or fragment`);
  return url;
}

/**
 * The signed URL of a GET as Agora sends it. The signature covers the decoded path (the part after
 * the host, a base path prefix included); the path on the wire is percent-encoded.
 */
export function agoraGetUrl(baseUrl: string, path: string, params: Record<string, string | number>, apiSecret: string): string {
  const base = trimSlash(baseUrl);
  const prefix = decodeURIComponent(base.pathname.replace(/\/+$/, ''));
  const signedPath = `${prefix}${path}`;
  const signed = signedGetUrl(signedPath, params, apiSecret);
  const query = signed.slice(signed.indexOf('?'));
  const wirePath = signedPath
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
  return `${base.origin}${wirePath}${query}`;
}

async function request(url: string, o: PollerOptions, stats: Stats, pageNum?: number): Promise<RequestOutcome> {
  const timeoutMs = o.timeoutMs ?? 500;
  const retries = o.retries ?? 2;
  const fetcher: Fetcher = o.fetch ?? ((u, init) => fetch(u, init));
  const retryReasons: RetryReason[] = [];
  let last: RequestOutcome = { ok: false, ms: 0, attempts: 0, retryReasons };
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    if (attempt > 1) {
      stats.retries++;
    }
    stats.requests++;
    const controller = new AbortController();
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const answer = (async () => {
      const res = await fetcher(url, { signal: controller.signal, headers: { accept: 'application/json' } });
      // The body is part of the answer: Agora's timeout covers it too.
      return { status: res.status, text: await res.text() };
    })();
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let reason: RetryReason;
    let failure: { code: ViolationCode; message: string };
    try {
      const got = await Promise.race([answer, timedOut]);
      const ms = performance.now() - t0;
      if (got === 'timeout') {
        controller.abort();
        answer.catch(() => {}); // it ends with the abort; nobody waits for it any more
        reason = 'timeout';
        failure = { code: 'timeout', message: `no answer within ${timeoutMs} ms (${attempt} attempt${attempt > 1 ? 's' : ''})` };
        last = { ok: false, ms, attempts: attempt, retryReasons, failure };
      } else {
        if (!stats.slowest || ms > stats.slowest.ms) stats.slowest = pageNum === undefined ? { ms } : { ms, pageNum };
        if (got.status >= 500) {
          // Agora re-sends on a server error as on a timeout (the server answers 503 when its
          // database is slow precisely so that Agora retries).
          reason = 'http_5xx';
          failure = { code: 'http_status', message: `HTTP ${got.status} after ${attempt} attempt${attempt > 1 ? 's' : ''}: ${preview(got.text)}` };
          last = { ok: false, status: got.status, text: got.text, ms, attempts: attempt, retryReasons, failure };
        } else {
          return { ok: true, status: got.status, text: got.text, ms, attempts: attempt, retryReasons };
        }
      }
    } catch (err) {
      const ms = performance.now() - t0;
      reason = 'network';
      const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      failure = { code: 'network', message: `request failed after ${attempt} attempt${attempt > 1 ? 's' : ''}: ${cause}` };
      last = { ok: false, ms, attempts: attempt, retryReasons, failure };
    } finally {
      clearTimeout(timer);
    }
    if (attempt <= retries) {
      retryReasons.push(reason);
      stats.retryReasons[reason]++;
    }
  }
  return last;
}

function newStats(): Stats {
  return { requests: 0, retries: 0, retryReasons: { timeout: 0, network: 0, http_5xx: 0 }, slowest: null };
}

/** Polls every page of a usage or bill window and checks the contract on each answer. */
export async function pollPaged(kind: PagedKind, window: { fromTs: number; toTs: number }, o: PagedOptions): Promise<PagedPollResult> {
  const started = performance.now();
  const stats = newStats();
  const v = new Violations();
  const maxPages = o.maxPages ?? DEFAULT_MAX_PAGES;
  const entries: Entry[] = [];
  const pageMs: number[] = [];
  const seen = new Set<string>();
  let totalSize: number | null = null;
  let pageSize: number | null = o.limit ?? null;
  let walked = 0;
  let pages = 0;
  let complete = false;
  let firstUrl = '';

  for (let pageNum = 1; pageNum <= maxPages; pageNum++) {
    const params: Record<string, string | number> = { fromTs: window.fromTs, toTs: window.toTs, pageNum, apiKey: o.apiKey };
    if (o.limit !== undefined) params.limit = o.limit;
    const url = agoraGetUrl(o.baseUrl, `/${kind}`, params, o.apiSecret);
    if (pageNum === 1) firstUrl = url;
    const answer = await request(url, o, stats, pageNum);
    if (!answer.ok) {
      v.add(answer.failure!.code, answer.failure!.message, pageNum);
      break; // Agora gives up on the window after its retries
    }
    if (answer.status !== 200) {
      v.add('http_status', `HTTP ${answer.status}: ${preview(answer.text ?? '')}`, pageNum);
      break;
    }
    pages++;
    pageMs.push(answer.ms);
    const page = readPagedAnswer(answer.text!, (code, message) => v.add(code, message, pageNum));
    if (!page) break;

    if (page.pageNum !== null && page.pageNum !== pageNum) v.add('page_num', `asked for pageNum ${pageNum}, the answer says ${page.pageNum}`, pageNum);
    if (totalSize === null) totalSize = page.totalSize;
    else if (page.totalSize !== totalSize) v.add('total_size', `totalSize was ${totalSize}, this page says ${page.totalSize}`, pageNum);
    walked += page.count;

    // Without a limit sent, the first page that has a next one tells the server's page size.
    if (pageSize === null && page.hasNext) {
      if (page.count === 0) v.add('has_next', 'hasNext is true on an empty first page', pageNum);
      else pageSize = page.count;
    }
    if (pageSize !== null) {
      const expectedCount = Math.max(0, Math.min(pageSize, totalSize - (pageNum - 1) * pageSize));
      if (page.count !== expectedCount) {
        v.add('page_size', `the page holds ${page.count} entries; with totalSize ${totalSize} and ${pageSize} a page it should hold ${expectedCount}`, pageNum);
      }
      const expectedHasNext = pageNum * pageSize < totalSize;
      if (page.hasNext !== expectedHasNext) {
        v.add('has_next', `hasNext is ${page.hasNext}; with totalSize ${totalSize} and ${pageSize} a page, page ${pageNum} is ${expectedHasNext ? 'not ' : ''}the last`, pageNum);
      }
    } else if (!page.hasNext && page.count !== totalSize) {
      v.add('has_next', `hasNext is false on page 1, which holds ${page.count} of totalSize ${totalSize} entries`, pageNum);
    }

    for (const e of page.entries) {
      if (seen.has(e.projectId)) v.add('duplicate_project', `project ${e.projectId} appears again`, pageNum);
      else seen.add(e.projectId);
      entries.push(e);
    }
    const expectedPages = pageSize !== null ? Math.max(1, Math.ceil(totalSize / pageSize)) : page.hasNext ? null : 1;
    o.onPage?.({ pageNum, expectedPages, entries: entries.length, ms: answer.ms });

    if (!page.hasNext) {
      complete = true;
      break;
    }
    if (expectedPages !== null && pageNum >= expectedPages) {
      // hasNext was already reported as wrong; following it past the end would walk for ever.
      v.add('too_many_pages', `hasNext is still true on page ${pageNum}, past the last page (${expectedPages}); stopped`, pageNum);
      break;
    }
    if (pageNum === maxPages) v.add('too_many_pages', `hasNext is still true after ${maxPages} pages; stopped`, pageNum);
  }
  if (complete && totalSize !== null && walked !== totalSize) {
    v.add('total_size', `the pages held ${walked} entries, totalSize says ${totalSize}`);
  }

  const total = entries.reduce((sum, e) => sum.plus(e.amount), new Decimal(0));
  return {
    kind,
    fromTs: window.fromTs,
    toTs: window.toTs,
    url: firstUrl,
    pages,
    totalSize,
    pageSize,
    entries,
    total,
    totalRoundedUp: total.ceil(),
    pageMs,
    ...outcome(started, stats, v),
  };
}

/** What every poll reports besides its own findings: time, requests, retries, violations. */
function outcome(started: number, stats: ReturnType<typeof newStats>, v: Violations) {
  return {
    wallMs: performance.now() - started,
    requests: stats.requests,
    retries: stats.retries,
    retryReasons: stats.retryReasons,
    slowest: stats.slowest,
    violations: v.list,
    violationCounts: v.counts,
    ok: v.total === 0,
  };
}

/** Asks for one customer's license and checks the answer. */
export async function pollLicense(customerId: string, o: PollerOptions): Promise<LicensePollResult> {
  const started = performance.now();
  const stats = newStats();
  const v = new Violations();
  const url = agoraGetUrl(o.baseUrl, `/customers/${customerId}/license`, { apiKey: o.apiKey }, o.apiSecret);
  const answer = await request(url, o, stats);
  let license: LicenseFacts | null = null;
  if (!answer.ok) {
    v.add(answer.failure!.code, answer.failure!.message);
  } else if (answer.status === 404) {
    // The contract's answer for a customer that is unknown or has no license: HTTP 404 with
    // status "failed" and a statusReason. That keeps the contract; only its shape is checked.
    const found: { code: ViolationCode; message: string }[] = [];
    license = readLicenseAnswer(answer.text!, (code, message) => found.push({ code, message }));
    for (const f of found) if (!(f.code === 'status' && license?.status === 'failed')) v.add(f.code, f.message);
    if (license && license.status !== 'failed') v.add('http_status', `HTTP 404 with status ${JSON.stringify(license.status)}: ${preview(answer.text ?? '')}`);
  } else {
    // A failed license answer is still read: its statusReason says why.
    if (answer.status !== 200) v.add('http_status', `HTTP ${answer.status}: ${preview(answer.text ?? '')}`);
    license = readLicenseAnswer(answer.text!, (code, message) => v.add(code, message));
  }
  return {
    kind: 'license',
    customerId,
    url,
    license,
    httpStatus: answer.status ?? null,
    ...outcome(started, stats, v),
  };
}

const DAY_S = 86_400;

/** The whole UTC day `YYYY-MM-DD` as Agora asks for it: 00:00:00 to 23:59:59. */
export function dayWindow(day: string): { fromTs: number; toTs: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const start = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || new Date(start).toISOString().slice(0, 10) !== day) throw new TypeError(`${JSON.stringify(day)} is not a day (YYYY-MM-DD)`);
  const fromTs = start / 1000;
  return { fromTs, toTs: fromTs + DAY_S - 1 };
}

/** The whole UTC month `YYYY-MM`: 00:00:00 of its first day to 23:59:59 of its last. */
export function monthWindow(month: string): { fromTs: number; toTs: number } {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  const mm = m ? Number(m[2]) : 0;
  if (!m || mm < 1 || mm > 12) throw new TypeError(`${JSON.stringify(month)} is not a month (YYYY-MM)`);
  const start = Date.UTC(Number(m[1]), mm - 1, 1) / 1000;
  const end = Date.UTC(Number(m[1]), mm, 1) / 1000;
  return { fromTs: start, toTs: end - 1 };
}
