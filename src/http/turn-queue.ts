import { requestScope } from '../db/pool-gate.ts';
import { AppError } from '../errors.ts';

interface Waiter {
  grant: () => void;
  timer: NodeJS.Timeout | undefined;
  /** Counted against the caller's queue bound (a download's next batch is not: it is never refused). */
  counted: boolean;
}

/**
 * At most `concurrency` turns at once, the others waiting first come first served, each until its
 * request's deadline: the turn-taking shared by the heavy-read gate and the console's gate, which
 * differ only in whom they refuse before waiting.
 */
export class TurnQueue {
  #running = 0;
  readonly #queue: Waiter[] = [];

  constructor(readonly concurrency: number) {}

  /** Turns taken now. */
  get running(): number {
    return this.#running;
  }

  /** Waiting for a turn. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Waiting and counted against a queue bound. */
  get waitingCounted(): number {
    return this.#queue.reduce((n, w) => n + (w.counted ? 1 : 0), 0);
  }

  /** Whether a turn asked for now would be granted at once. */
  get free(): boolean {
    return this.#running < this.concurrency && this.#queue.length === 0;
  }

  /**
   * A turn, at once or after those waiting; with a deadline (`performance.now()` ms), waiting ends
   * then with `deadline_exceeded` and `lateMessage`. Answers the function that gives the turn back
   * (calling it twice is harmless); the turn passes straight to the next waiter.
   */
  async take(deadlineAt: number | undefined, lateMessage: string, counted = true): Promise<() => void> {
    if (this.free) this.#running++;
    else await this.#wait(deadlineAt, lateMessage, counted); // the turn is handed over running
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next) {
        clearTimeout(next.timer);
        next.grant();
      } else {
        this.#running--;
      }
    };
  }

  #wait(deadlineAt: number | undefined, lateMessage: string, counted: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Waiter = { grant: resolve, timer: undefined, counted };
      if (deadlineAt !== undefined) {
        entry.timer = setTimeout(() => {
          const at = this.#queue.indexOf(entry);
          if (at >= 0) this.#queue.splice(at, 1);
          reject(new AppError('deadline_exceeded', lateMessage));
        }, Math.max(0, deadlineAt - performance.now()));
      }
      this.#queue.push(entry);
    });
  }
}

/**
 * A gate of `concurrency` turns with at most `maxQueue` callers waiting (the heavy-read gate, the
 * console's gate): a caller past the bound is refused at once with 503 `overloaded`, the others
 * wait first come first served until their request's deadline.
 */
export abstract class BoundedGate {
  protected readonly turns: TurnQueue;

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
  ) {
    this.turns = new TurnQueue(concurrency);
  }

  /** Turns taken now. */
  get running(): number {
    return this.turns.running;
  }

  /** Waiting for a turn. */
  get waiting(): number {
    return this.turns.waiting;
  }

  /** A counted caller's turn, or `overloaded` (`busy`, Retry-After 2 s) when the queue is full. */
  protected admit(busy: string, late: string): Promise<() => void> {
    if (!this.turns.free && this.turns.waitingCounted >= this.maxQueue) {
      throw new AppError('overloaded', busy, { retryAfterSeconds: 2 });
    }
    return this.turns.take(requestScope.getStore()?.deadlineAt, late);
  }
}
