import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.ts';
import { BoundedGate } from '../http/turn-queue.ts';
import type { ConsoleEnv } from './context.ts';

/**
 * The console's share of the server: at most `concurrency` pieces of console work at a time, a
 * piece being a page (its API calls, their queries and the rendering) or one batch of a download.
 * The console shares one event loop and the database with Agora's signed polls; whatever a
 * vendor does (every page at once in many tabs, downloads over and over), it holds at most that
 * many database connections and that much of the loop, and Agora's requests are served in between.
 *
 * A new page waits in a FIFO queue of at most `maxQueue` (until its request's deadline, then 503
 * `deadline_exceeded`); past that it answers 503 `overloaded` with Retry-After. At most
 * `concurrency` downloads are in progress at a time (one more answers 503 `overloaded` at once:
 * a download lasts seconds, more than a page would wait). The batches of a download in progress
 * take their turns in the same queue and are never refused, so a download started is finished.
 *
 * At most `sharePercent` of the time: a piece that ran T ms keeps its turn T × (100 − share) /
 * share ms longer before the next piece starts (T at the default 50). On a small machine the
 * console's pieces and Agora's requests compete for the same cores (the loop and the database's
 * processes alike), so a console busy back to back would put a piece in the way of most of Agora's
 * requests; paced, the CPU is free in between for them. A page is answered as soon as it is done:
 * the pause delays the next piece, not the one that ran.
 */
export class ConsoleGate extends BoundedGate {
  #downloads = 0;

  constructor(
    concurrency: number,
    maxQueue: number,
    readonly sharePercent = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    super(concurrency, maxQueue);
  }

  /** Downloads in progress. */
  get downloads(): number {
    return this.#downloads;
  }

  /** A new page's turn: answers the function that ends it (calling it twice is harmless). */
  async enter(): Promise<() => void> {
    return this.#paced(
      await this.admit(
        'The console is busy with other pages and downloads; retry shortly',
        'The page waited for its turn among console pages and downloads past its deadline; retry',
      ),
    );
  }

  /** A turn for the next batch of a download in progress: already admitted, so it waits as long as it takes. */
  async turn(): Promise<() => void> {
    return this.#paced(await this.turns.take(undefined, '', false));
  }

  /** `release`, called after the pause that keeps this piece within the console's share. */
  #paced(release: () => void): () => void {
    const started = this.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const pauseMs = ((this.now() - started) * (100 - this.sharePercent)) / this.sharePercent;
      if (pauseMs < 1) release();
      else setTimeout(release, pauseMs).unref();
    };
  }

  /** Admits one more download, or refuses it; answers the function that ends it. */
  startDownload(): () => void {
    if (this.#downloads >= this.concurrency) {
      throw new AppError('overloaded', 'Another console download is in progress; retry when it has finished', { retryAfterSeconds: 10 });
    }
    this.#downloads++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#downloads--;
    };
  }
}

/**
 * A download's body whose every chunk is read in a turn of its own: the API's CSV streams read one
 * batch from the database per chunk asked for (`batchedStream`), so each batch is one piece of
 * console work. `end` is called once when the body ends for any reason.
 */
export function inTurns(body: ReadableStream<Uint8Array>, gate: ConsoleGate, onEnd: () => void): ReadableStream<Uint8Array> {
  let ended = false;
  // The end is seen twice when the body finishes (the last read and the reader closing): once counts.
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  const reader = body.getReader();
  // Also when nobody reads: the API's stream drops a client that reads nothing for a minute.
  reader.closed.then(end, end);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const release = await gate.turn();
        try {
          const { done, value } = await reader.read();
          if (done) {
            end();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (err) {
          end();
          controller.error(err);
        } finally {
          release();
        }
      },
      async cancel(reason) {
        end();
        await reader.cancel(reason);
      },
    },
    // Nothing read ahead: the next batch is read when this one has gone to the client.
    { highWaterMark: 0 },
  );
}

/**
 * Every signed-in console page takes a turn of `gate` (ConsoleGate) for its whole answer; a
 * download (an answer with `content-disposition: attachment`) is admitted as one of the downloads
 * in progress and then reads each batch in a turn of its own (`inTurns`).
 */
export function consoleTurns(gate: ConsoleGate): MiddlewareHandler<ConsoleEnv> {
  return async function oneConsolePieceAtATime(c, next) {
    const download = /\.csv$/.test(c.req.path) ? gate.startDownload() : undefined;
    try {
      const release = await gate.enter();
      try {
        await next();
      } finally {
        release();
      }
    } catch (err) {
      download?.();
      throw err;
    }
    if (!download) return;
    const body = c.res.body;
    if (c.res.status !== 200 || body === null) {
      download();
      return;
    }
    c.res = new Response(inTurns(body, gate, download), c.res);
  };
}
