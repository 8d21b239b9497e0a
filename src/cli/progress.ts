import cliProgress from 'cli-progress';
import type { OutStream } from './io.ts';

/**
 * Progress of a long-running command: a bar when the stream is a terminal, otherwise a plain line
 * at most every `plainEveryMs` (CI logs and pipes stay readable), and always a last line.
 */
export interface Progress {
  /** `total` null: not known yet. */
  update(done: number, total: number | null, note?: string): void;
  /** A line above the bar (or a plain line). */
  log(line: string): void;
  stop(): void;
}

export interface ProgressOptions {
  stream?: OutStream;
  /** false: print nothing (`--quiet`). */
  enabled?: boolean;
  /** Force the plain form even on a terminal. */
  plain?: boolean;
  plainEveryMs?: number;
  unit?: string;
}

export function createProgress(label: string, o: ProgressOptions = {}): Progress {
  const stream = o.stream ?? process.stderr;
  if (o.enabled === false) return { update() {}, log() {}, stop() {} };
  const unit = o.unit ? ` ${o.unit}` : '';
  if (stream.isTTY && !o.plain) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {value}/{total}${unit} | {note}`,
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, note = '') {
        // Until the total is known the bar shows what is done as its own total.
        const t = total ?? Math.max(done, 1);
        if (!started) {
          bar.start(t, done, { note });
          started = true;
        } else {
          bar.setTotal(t);
          bar.update(done, { note });
        }
      },
      log(line) {
        // The bar restores the cursor to where it started when it stops, so a line printed under
        // a running bar would be overwritten: stop it, print, and let the next update start anew.
        if (started) {
          bar.stop();
          started = false;
        }
        stream.write(`${line}\n`);
      },
      stop() {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  const every = o.plainEveryMs ?? 1000;
  let lastAt = 0;
  type State = { done: number; total: number | null; note: string };
  let last: State | null = null;
  let printed: State | null = null;
  const print = () => {
    if (!last || last === printed) return;
    const { done, total, note } = last;
    stream.write(`${label}: ${done}${total === null ? '' : `/${total}`}${unit}${note ? ` · ${note}` : ''}\n`);
    printed = last;
  };
  return {
    update(done, total, note = '') {
      last = { done, total, note };
      const now = Date.now();
      if (now - lastAt >= every || (total !== null && done >= total)) {
        lastAt = now;
        print();
      }
    },
    log(line) {
      stream.write(`${line}\n`);
    },
    stop() {
      print();
    },
  };
}
