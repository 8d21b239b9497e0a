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
