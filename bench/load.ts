import autocannon from 'autocannon';
import http from 'node:http';

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  non2xx: number;
  timeouts: number;
  durationS: number;
}

export interface LoadOptions {
  url: string;
  /** Paths (with their signed query) to cycle through. */
  paths: string[];
  seconds: number;
  connections: number;
  /** Requests per second over all connections; unset: as fast as the server answers. */
  rate?: number;
  onTick?: (elapsedS: number) => void;
}

/** One autocannon run; each request takes the next path in turn. */
export async function load(o: LoadOptions): Promise<LoadResult> {
  let i = 0;
  const started = Date.now();
  const ticker = o.onTick ? setInterval(() => o.onTick!((Date.now() - started) / 1000), 1000) : undefined;
  try {
    const result = await autocannon({
      url: o.url,
      connections: o.connections,
      duration: o.seconds,
      ...(o.rate !== undefined ? { overallRate: o.rate } : {}),
      // Agora waits 500 ms and then retries; an answer this late is an error here.
      timeout: 2,
      requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: o.paths[i++ % o.paths.length]! }) }],
    });
    return {
      requests: result.requests.total,
      rps: result.requests.total / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      max: result.latency.max,
      errors: result.errors + result.non2xx,
      non2xx: result.non2xx,
      timeouts: result.timeouts,
      durationS: result.duration,
    };
  } finally {
    if (ticker) clearInterval(ticker);
  }
}

export interface PacedResult extends LoadResult {
  /** How late the client sent, p99, ms: near 0 means the rate really was steady. */
  sendLagP99: number;
  /** Answers per HTTP status. */
  statuses: Record<string, number>;
  /** p50/p99/max and count per request kind, for requests that named one. */
  byKind: Record<string, { requests: number; p50: number; p99: number; max: number }>;
}

/**
 * A steady rate, open loop: request k leaves at start + k / rate whatever the answers before it
 * did, on keep-alive connections (a new one only when every open one is busy). autocannon's own
 * rate limit sends each second's quota in a burst at the top of the second, and corrects its
 * percentiles for coordinated omission with a 1 ms expected interval; neither is the steady
 * 100 requests/s of the target, so steady runs use this and autocannon measures the maximum.
 * Latency runs from the moment a request is written to the end of its answer's body.
 */
export interface PacedRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Latencies are also reported per kind (`byKind`), e.g. join and heartbeat of one mix. */
  kind?: string;
}

export async function paced(
  o: Omit<LoadOptions, 'connections'> & {
    rate: number;
    timeoutMs?: number;
    /** Request k, when not a GET of `paths[k % paths.length]` (an activation, say). */
    request?: (k: number) => PacedRequest;
  },
): Promise<PacedResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const base = new URL(o.url);
  const total = Math.round(o.rate * o.seconds);
  const interval = 1000 / o.rate;
  const latencies: number[] = [];
  const kinds: Record<string, number[]> = {};
  const lags: number[] = [];
  let errors = 0;
  let non2xx = 0;
  let timeouts = 0;
  const statuses: Record<string, number> = {};
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  const ticker = o.onTick ? setInterval(() => o.onTick!((performance.now() - started) / 1000), 1000) : undefined;
  // The timeout covers the whole request, the wait for a free connection included.
  const one = (spec: PacedRequest) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      let timedOut = false;
      const req = http.request({ agent, host: base.hostname, port: base.port, method: spec.method, path: spec.path, headers: spec.headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          clearTimeout(timer);
          if (timedOut) return;
          latencies.push(performance.now() - t0);
          if (spec.kind !== undefined) (kinds[spec.kind] ??= []).push(performance.now() - t0);
          statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
          if (res.statusCode !== (spec.method === 'POST' && spec.kind === 'join' ? 201 : 200)) non2xx++;
          resolve();
        });
        res.on('error', () => {
          clearTimeout(timer);
          if (!timedOut) errors++;
          resolve();
        });
      });
      const timer = setTimeout(() => {
        timedOut = true;
        timeouts++;
        req.destroy();
        resolve();
      }, o.timeoutMs ?? 2000);
      req.on('error', () => {
        clearTimeout(timer);
        if (!timedOut) errors++;
        resolve();
      });
      req.end(spec.body);
    });
  try {
    for (let k = 0; k < total; k++) {
      const due = started + k * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      lags.push(performance.now() - due);
      inFlight.push(one(o.request ? o.request(k) : { method: 'GET', path: o.paths[k % o.paths.length]! }));
    }
    await Promise.all(inFlight);
  } finally {
    if (ticker) clearInterval(ticker);
    agent.destroy();
  }
  const durationS = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const pct = (xs: number[], p: number) => (xs.length === 0 ? 0 : xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!);
  return {
    requests: total,
    rps: total / o.seconds,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    max: latencies.at(-1) ?? 0,
    errors: errors + timeouts + non2xx,
    non2xx,
    timeouts,
    durationS,
    sendLagP99: pct(lags, 99),
    statuses,
    byKind: Object.fromEntries(
      Object.entries(kinds).map(([k, xs]) => {
        xs.sort((a, b) => a - b);
        return [k, { requests: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: xs.at(-1) ?? 0 }];
      }),
    ),
  };
}
