import type { TypedResponse } from 'hono';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** Items handled between two yields to the event loop: a few ms of work at most. */
export const ITEMS_PER_TURN = 200;

/**
 * `items.map(fn)`, yielding to the event loop every ITEMS_PER_TURN items: the batch of a download
 * (a thousand rows priced, described, written as CSV) takes tens of ms, and Agora's requests
 * waiting behind it on the same loop would take them as latency.
 */
export async function mapInTurns<T, R>(items: readonly T[], fn: (item: T, index: number) => R): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % ITEMS_PER_TURN === 0) await yieldToEventLoop();
    out[i] = fn(items[i]!, i);
  }
  return out;
}

export interface BatchedStreamOptions<C> {
  /** Written before the first batch (a CSV header, say). */
  head?: string;
  /** Where reading starts (a keyset cursor). */
  start: C;
  /** One batch: its text and the cursor after it, or `null` when it was the last. */
  next: (cursor: C) => Promise<{ text: string; cursor: C | null }>;
  /** Called exactly once when the stream ends for any reason: done, failed, cancelled or stalled. */
  release: () => void;
  /** A client that reads nothing for this long is dropped (its slot goes to someone else). */
  idleMs?: number;
}

/**
 * A response body read from the database one small batch at a time, only as fast as the client
 * takes it (each batch is read when the previous one has been handed on), so memory stays at one
 * batch whatever the size of the export. Between batches it yields to the event loop: on the
 * embedded database, which runs in this process, other requests (Agora's poll, /healthz) are
 * served between two batches. When the client goes away the stream is cancelled and no further
 * batch is read.
 */
export function batchedStream<C>(opts: BatchedStreamOptions<C>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let cursor: C | null = opts.start;
  let ended = false;
  let idle: NodeJS.Timeout | undefined;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(idle);
    opts.release();
  };
  const arm = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (!opts.idleMs) return;
    idle = setTimeout(() => {
      end();
      controller.error(new Error(`the client read nothing for ${opts.idleMs} ms`));
    }, opts.idleMs);
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (opts.head) controller.enqueue(encoder.encode(opts.head));
        arm(controller); // also when nobody ever reads it (the request was abandoned)
      },
      async pull(controller) {
        clearTimeout(idle);
        if (ended) return;
        try {
          if (cursor === null) {
            end();
            controller.close();
            return;
          }
          await yieldToEventLoop();
          const batch = await opts.next(cursor);
          if (ended) return; // cancelled while the batch was read
          cursor = batch.cursor;
          if (batch.text) controller.enqueue(encoder.encode(batch.text));
          if (cursor === null) {
            end();
            controller.close();
          } else {
            arm(controller);
          }
        } catch (err) {
          end();
          controller.error(err);
        }
      },
      cancel() {
        end();
      },
    },
    // One batch queued at most: the next is read only once this one has gone to the socket.
    { highWaterMark: 0 },
  );
}

/** A streamed `text/plain` answer (a whitelist export), typed as the route's text answer. */
export function streamedText(body: ReadableStream<Uint8Array>, filename: string): Response & TypedResponse<string, 200, 'text'> {
  const response = new Response(body, {
    status: 200,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'content-disposition': `attachment; filename="${filename}"` },
  });
  // The body is text, streamed: hono's `c.text` is typed the same way for a string.
  return response as Response & TypedResponse<string, 200, 'text'>;
}
