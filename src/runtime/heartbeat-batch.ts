import type { Db } from '../db/database.ts';
import { requestScope } from '../db/pool-gate.ts';
import { beatSessions, type BeatInput, type BeatRow } from './sessions.repository.ts';

/** Most heartbeats of one call: a few milliseconds of database work, whatever the load. */
const MAX_BATCH = 200;
/** Calls in flight at once: more heartbeats than that wait and go together in the next one. */
const MAX_IN_FLIGHT = 2;

interface Waiting {
  item: BeatInput;
  deadlineAt: number | undefined;
  resolve: (row: BeatRow | undefined) => void;
}

/**
 * Sends the commonest heartbeat (`ext_beat_sessions`) for every request that asks in the same turn
 * of the event loop, or while earlier calls are in flight, in one statement. On a small VM most of
 * a statement's cost is the socket write that sends it, so at 500 heartbeats a second one call
 * carrying ten costs about what one heartbeat did; when the server is idle a heartbeat still goes
 * at once (the next turn), alone. A call that fails (a deadlock the database broke, a lost
 * connection) answers `undefined` for each of its heartbeats, which then take the one-at-a-time
 * path, so one heartbeat's trouble never fails the others.
 */
export class HeartbeatBatcher {
  readonly #queue: Waiting[] = [];
  #inFlight = 0;
  #scheduled = false;
  /**
   * Sessions whose heartbeat is in a call in flight: a repeat waits for that call's answer, so two
   * calls never beat the same session at once (they would lock its row in opposite orders with the
   * others they carry, and the database would break the deadlock by failing one).
   */
  readonly #busy = new Set<string>();
  /** Calls made and heartbeats they carried, since the start (for tests and metrics). */
  readonly sent = { calls: 0, beats: 0 };

  constructor(private readonly db: Db) {}

  beat(item: BeatInput): Promise<BeatRow | undefined> {
    return new Promise((resolve) => {
      this.#queue.push({ item, deadlineAt: requestScope.getStore()?.deadlineAt, resolve });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= MAX_IN_FLIGHT || this.#queue.length === 0) return;
    this.#scheduled = true;
    // Not in the scope of the request that happened to come first: the call serves them all.
    requestScope.exit(() =>
      setImmediate(() => {
        this.#scheduled = false;
        while (this.#inFlight < MAX_IN_FLIGHT && this.#queue.length > 0) {
          const batch = this.#take();
          if (batch.length === 0) break; // every one waiting repeats a session in flight
          this.#send(batch);
        }
      }),
    );
  }

  /** Up to MAX_BATCH waiting heartbeats of distinct sessions not in flight (a repeat waits for a later call). */
  #take(): Waiting[] {
    const batch: Waiting[] = [];
    const later: Waiting[] = [];
    while (this.#queue.length > 0 && batch.length < MAX_BATCH) {
      const w = this.#queue.shift()!;
      if (this.#busy.has(w.item.id)) later.push(w);
      else {
        this.#busy.add(w.item.id);
        batch.push(w);
      }
    }
    this.#queue.unshift(...later);
    return batch;
  }

  #send(batch: Waiting[]): void {
    this.#inFlight++;
    this.sent.calls++;
    this.sent.beats += batch.length;
    // It waits for a connection as long as the most patient of its requests would.
    const deadlines = batch.map((w) => w.deadlineAt).filter((d): d is number => d !== undefined);
    const run = () => beatSessions(this.db, batch.map((w) => w.item));
    const call = deadlines.length === 0 ? run() : requestScope.run({ priority: 'normal', deadlineAt: Math.max(...deadlines) }, run);
    call
      .then(
        (rows) => batch.forEach((w, i) => w.resolve(rows[i])),
        () => batch.forEach((w) => w.resolve(undefined)),
      )
      .finally(() => {
        this.#inFlight--;
        for (const w of batch) this.#busy.delete(w.item.id);
        this.#schedule();
      });
  }
}

const batchers = new WeakMap<Db, HeartbeatBatcher>();

/** The batcher of a database handle: one per handle, so two apps on two databases never mix. */
export function heartbeatBatcherOf(db: Db): HeartbeatBatcher {
  let b = batchers.get(db);
  if (!b) {
    b = new HeartbeatBatcher(db);
    batchers.set(db, b);
  }
  return b;
}
