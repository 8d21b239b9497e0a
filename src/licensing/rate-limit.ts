/**
 * At most `perSecond` requests in any one-second window per key (a customer), kept in this
 * process's memory: a sliding log of the last `perSecond` request times per key. Several instances
 * each allow that many; put one instance per customer behind a sticky balancer, or divide the
 * limit, if the sum matters.
 */
export class SlidingWindowLimiter {
  readonly #times = new Map<string, number[]>();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
    private readonly maxKeys = 10_000,
  ) {}

  /** 0 when the request may go ahead, else the milliseconds until it may. */
  take(key: string): number {
    if (this.perSecond <= 0) return 0;
    const at = this.now();
    let log = this.#times.get(key);
    if (!log) {
      if (this.#times.size >= this.maxKeys) this.#forgetIdle(at);
      log = [];
      this.#times.set(key, log);
    }
    if (log.length >= this.perSecond) {
      const oldest = log[0]!;
      if (at - oldest < 1000) return Math.max(1, Math.ceil(oldest + 1000 - at));
      log.shift();
    }
    log.push(at);
    return 0;
  }

  /** Keys with no request in the last second hold no information. */
  #forgetIdle(at: number): void {
    for (const [key, log] of this.#times) if (at - log[log.length - 1]! >= 1000) this.#times.delete(key);
  }
}

/**
 * Failed authentications per source (a client address) in a sliding minute. A source that has used
 * its budget is refused before any database lookup until its oldest failure is a minute old, so
 * guessing credentials costs the server a map lookup, not a query. Bounded: past `maxKeys`
 * sources, those with no failure in the last minute are forgotten first, then the oldest.
 */
export class FailureBudget {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
    private readonly maxKeys = 10_000,
  ) {}

  /** 0 when the source may try, else the milliseconds until it may. */
  blockedFor(key: string): number {
    if (this.perMinute <= 0) return 0;
    const log = this.#failures.get(key);
    if (!log) return 0;
    const at = this.now();
    while (log.length > 0 && at - log[0]! >= 60_000) log.shift();
    if (log.length === 0) {
      this.#failures.delete(key);
      return 0;
    }
    return log.length >= this.perMinute ? Math.max(1, Math.ceil(log[0]! + 60_000 - at)) : 0;
  }

  fail(key: string): void {
    if (this.perMinute <= 0) return;
    const at = this.now();
    let log = this.#failures.get(key);
    if (!log) {
      if (this.#failures.size >= this.maxKeys) this.#forget(at);
      log = [];
      this.#failures.set(key, log);
    }
    log.push(at);
    if (log.length > this.perMinute) log.shift();
  }

  #forget(at: number): void {
    for (const [key, log] of this.#failures) if (at - log[log.length - 1]! >= 60_000) this.#failures.delete(key);
    // Still full: drop the sources seen first (Map keeps insertion order).
    for (const key of this.#failures.keys()) {
      if (this.#failures.size < this.maxKeys) break;
      this.#failures.delete(key);
    }
  }
}
