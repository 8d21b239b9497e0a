import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError } from '../errors.ts';

/**
 * What the request being served asks of the database: whether it is one of Agora's (served first,
 * never shed) and the moment (`performance.now()` ms) after which nobody waits for its answer.
 * Set once per request by the HTTP layer; read here when the request asks for a connection.
 */
export interface RequestScope {
  priority: 'agora' | 'normal';
  deadlineAt: number;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();

interface PoolClientLike {
  release(err?: Error | boolean): void;
}

interface PoolLike<C extends PoolClientLike> {
  connect(): Promise<C>;
  end(): Promise<void>;
}

interface Waiter {
  priority: 'agora' | 'normal';
  grant: () => void;
  timer: NodeJS.Timeout | undefined;
}

export interface PoolGateOptions {
  /** Connections of the pool behind (its `max`). */
  size: number;
  /**
   * Connections kept for Agora's requests: other requests use at most `size - reserved` at once,
   * so a burst of customer or vendor work never leaves Agora's poll waiting for a connection.
   */
  reserved: number;
  /** Requests other than Agora's that may wait for a connection; one more answers 503 overloaded. */
  maxWaiting: number;
}

/**
 * A queue in front of the pg pool. Waiting for a connection is not an outage: a request waits its
 * turn until its own deadline (pg's pool would fail it after `connectionTimeoutMillis`, which we
 * keep for real connection attempts only). The queue is bounded, so when the server has to shed
 * load it says so (503 `overloaded`) instead of piling up requests nobody will wait for. Agora's
 * requests go to the front of the queue and have connections of their own.
 */
export class PoolGate<C extends PoolClientLike> implements PoolLike<C> {
  #inUse = 0;
  readonly #agora: Waiter[] = [];
  readonly #normal: Waiter[] = [];

  constructor(
    private readonly pool: PoolLike<C>,
    private readonly opts: PoolGateOptions,
  ) {}

  /** Connections checked out (or being opened) now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Requests waiting for a connection (Agora's and others). */
  get waiting(): number {
    return this.#agora.length + this.#normal.length;
  }

  async connect(): Promise<C> {
    const scope = requestScope.getStore();
    const priority = scope?.priority ?? 'normal';
    const aheadOfUs = this.#agora.length + (priority === 'normal' ? this.#normal.length : 0);
    if (aheadOfUs === 0 && this.#mayTake(priority)) this.#inUse++;
    else await this.#wait(priority, scope?.deadlineAt); // the slot is counted when granted
    let client: C;
    try {
      client = await this.pool.connect();
    } catch (err) {
      this.#done();
      throw err;
    }
    // pg hands each checkout a fresh `release`; wrap that one so the slot comes back with it.
    const release = client.release.bind(client);
    let released = false;
    client.release = (err?: Error | boolean) => {
      if (!released) {
        released = true;
        this.#done();
      }
      release(err);
    };
    return client;
  }

  end(): Promise<void> {
    return this.pool.end();
  }

  #mayTake(priority: 'agora' | 'normal'): boolean {
    const limit = priority === 'agora' ? this.opts.size : Math.max(1, this.opts.size - this.opts.reserved);
    return this.#inUse < limit;
  }

  #wait(priority: 'agora' | 'normal', deadlineAt: number | undefined): Promise<void> {
    const queue = priority === 'agora' ? this.#agora : this.#normal;
    if (priority === 'normal' && queue.length >= this.opts.maxWaiting) {
      return Promise.reject(
        new AppError('overloaded', `The server is busy: ${queue.length} requests are already waiting for the database; retry shortly`, {
          retryAfterSeconds: 1,
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { priority, grant: resolve, timer: undefined };
      if (deadlineAt !== undefined) {
        // Past its deadline the request has been answered already: give up its place in the queue.
        waiter.timer = setTimeout(() => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(new AppError('deadline_exceeded', 'The request waited for a database connection past its deadline; retry'));
        }, Math.max(0, deadlineAt - performance.now()));
      }
      queue.push(waiter);
    });
  }

  #done(): void {
    this.#inUse--;
    this.#dispatch();
  }

  #dispatch(): void {
    for (;;) {
      // Agora's waiters first. An Agora request may take any connection, so when the head of its
      // queue cannot take one, no other request can either.
      const queue = this.#agora.length > 0 ? this.#agora : this.#normal;
      const next = queue[0];
      if (!next || !this.#mayTake(next.priority)) return;
      queue.shift();
      clearTimeout(next.timer);
      this.#inUse++;
      next.grant();
    }
  }
}
