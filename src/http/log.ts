import type { Logger } from './context.ts';

/**
 * A logger writing one JSON line per call, the lines of one turn of the event loop in one write:
 * under load a write per request (a system call each, on a file or a pipe) cost more than the rest
 * of a cached page's answer. Every line is still written, in order, at the latest when the turn
 * ends; what is pending when the process exits is written then (stdout on files and pipes is
 * synchronous on Linux, so it is not lost).
 */
export function batchedLogger(write: (text: string) => void): Logger & { flush(): void } {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    write(text);
  };
  process.on('exit', flush);
  const logLine: Logger = (line) => {
    pending += JSON.stringify(line) + '\n';
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return Object.assign(logLine, { flush });
}
