/**
 * A small client of the extension API (docs/extension-api.md) for an extension to embed: join when
 * the user enters a channel, heartbeat every `heartbeatSeconds`, leave when the user leaves, and
 * stop the extension when the server says `end` (or the session is gone, 410).
 *
 * When the server cannot be reached (network error, timeout, 503), it retries with backoff and
 * then follows `whenUnreachable`:
 * - `fail-open` (default): keep the extension running for `graceSeconds` after the last answer
 *   the server gave; past the grace, stop. A short outage of the vendor's server does not cut
 *   every user off, and an outage longer than the grace cannot be used to run unlicensed.
 * - `fail-closed`: a join that cannot be checked is refused, and a running session stops at the
 *   first heartbeat that cannot be delivered after its retries.
 * A refusal (403) or a bad request (4xx) is never retried: the answer will not change.
 *
 * Uses only `fetch` (Node 18+, browsers, React Native).
 */

export type Media = 'audio' | 'video' | 'audio+video';
export type Platform = 'android' | 'ios' | 'windows' | 'macos' | 'linux' | 'web';

export interface ExtClientOptions {
  /** e.g. https://vendor.example.com (no trailing slash). */
  baseUrl: string;
  appKey: string;
  appSecret: string;
  whenUnreachable?: 'fail-open' | 'fail-closed';
  /** fail-open: how long the extension may run without an answer from the server. */
  graceSeconds?: number;
  /** Attempts per call (the first one included) before the server counts as unreachable. */
  attempts?: number;
  /** Per attempt. The server answers well inside 2 s (its EXT_DEADLINE_MS) or with 503. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface JoinRequest {
  license?: string;
  licenseKey: string;
  media: Media;
  platform: Platform;
  channel?: string;
  userId?: string;
}

/** Why the extension must stop: a reason of the spec (1–8), or the server being unreachable. */
export interface Stop {
  reason: number | null;
  error: string;
  message: string;
}

export type JoinResult = { ok: true; session: Session } | { ok: false; stop: Stop };

class Unreachable extends Error {}

export class ExtensionClient {
  private readonly o: Required<Omit<ExtClientOptions, 'fetch' | 'now'>> & { fetch: typeof fetch; now: () => number };

  constructor(options: ExtClientOptions) {
    this.o = {
      whenUnreachable: 'fail-open',
      graceSeconds: 120,
      attempts: 3,
      timeoutMs: 3000,
      ...options,
      fetch: options.fetch ?? fetch,
      now: options.now ?? (() => Date.now()),
    };
  }

  /** Joins; a refused join answers the reason, an unreachable server follows `whenUnreachable`. */
  async join(req: JoinRequest, onStop: (stop: Stop) => void): Promise<JoinResult> {
    try {
      const r = await this.call('POST', '/ext/v1/sessions', req);
      if (r.status === 201) return { ok: true, session: new Session(this, r.body as SessionInfo, onStop) };
      return { ok: false, stop: r.body as Stop };
    } catch (err) {
      if (!(err instanceof Unreachable)) throw err;
      if (this.o.whenUnreachable === 'fail-closed') return { ok: false, stop: { reason: null, error: 'UNREACHABLE', message: err.message } };
      // Fail open: run without a session for the grace period, then stop.
      return { ok: true, session: Session.offline(this, onStop, this.o.graceSeconds) };
    }
  }

  /** @internal One call with retries: network errors, timeouts and 5xx are retried with backoff. */
  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    let last = 'no attempt';
    for (let attempt = 0; attempt < this.o.attempts; attempt++) {
      if (attempt > 0) await sleep(Math.min(4000, 250 * 2 ** attempt) * (0.5 + Math.random()));
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), this.o.timeoutMs);
      try {
        const res = await this.o.fetch(`${this.o.baseUrl}${path}`, {
          method,
          signal: ctrl.signal,
          headers: {
            authorization: `Basic ${btoa(`${this.o.appKey}:${this.o.appSecret}`)}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const json: unknown = await res.json().catch(() => ({}));
        if (res.status < 500) return { status: res.status, body: json };
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      } finally {
        clearTimeout(timer);
      }
    }
    throw new Unreachable(`the license server did not answer (${last})`);
  }

  get options() {
    return this.o;
  }
}

interface SessionInfo {
  sessionId: string;
  heartbeatSeconds: number;
  expireTime: number;
  minutesLeft: string | null;
  periodEndsAt: number | null;
}

export class Session {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastAnswerAt: number;
  private stopped = false;

  constructor(
    private readonly client: ExtensionClient,
    readonly info: SessionInfo | null,
    private readonly onStop: (stop: Stop) => void,
  ) {
    this.lastAnswerAt = client.options.now();
    if (info) this.schedule(info.heartbeatSeconds);
  }

  /** A session the server never confirmed (fail-open join): it ends when the grace runs out. */
  static offline(client: ExtensionClient, onStop: (stop: Stop) => void, graceSeconds: number): Session {
    const s = new Session(client, null, onStop);
    s.timer = setTimeout(() => s.stop({ reason: null, error: 'UNREACHABLE', message: 'no answer from the license server within the grace period' }), graceSeconds * 1000);
    return s;
  }

  private schedule(seconds: number) {
    this.timer = setTimeout(() => void this.beat(), seconds * 1000);
  }

  private async beat() {
    if (this.stopped || !this.info) return;
    try {
      const r = await this.client.call('POST', `/ext/v1/sessions/${this.info.sessionId}/heartbeat`);
      this.lastAnswerAt = this.client.options.now();
      const body = r.body as { end?: Stop | null } & Stop;
      if (r.status === 200 && body.end) return this.stop({ ...body.end, message: 'the license server ended the session' });
      // 410: already ended (silence, leave, a reason); 404/401: the session or the credentials are gone.
      if (r.status !== 200) return this.stop({ reason: body.reason ?? null, error: body.error ?? 'SESSION_ENDED', message: body.message ?? `HTTP ${r.status}` });
    } catch (err) {
      const o = this.client.options;
      const silentFor = (o.now() - this.lastAnswerAt) / 1000;
      if (o.whenUnreachable === 'fail-closed' || silentFor >= o.graceSeconds) {
        return this.stop({ reason: null, error: 'UNREACHABLE', message: err instanceof Error ? err.message : String(err) });
      }
    }
    this.schedule(this.info.heartbeatSeconds);
  }

  /** The user leaves: answers the session's seconds and minutes (null when it never had a session). */
  async leave(): Promise<{ seconds: number; minutes: string } | null> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.info) return null;
    try {
      const r = await this.client.call('DELETE', `/ext/v1/sessions/${this.info.sessionId}`);
      return r.status === 200 ? (r.body as { seconds: number; minutes: string }) : null;
    } catch {
      // Unreachable: the server ends the session by silence, as of its last heartbeat.
      return null;
    }
  }

  private stop(stop: Stop) {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.onStop(stop);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
