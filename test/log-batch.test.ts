import { describe, expect, it } from 'vitest';
import { batchedLogger } from '../src/http/log.ts';

describe('the batched request log', () => {
  it('writes every line, in order, once per turn of the event loop', async () => {
    const writes: string[] = [];
    const log = batchedLogger((text) => writes.push(text));
    log({ n: 1 });
    log({ n: 2, path: '/usage' });
    expect(writes).toEqual([]); // not yet: the turn has not ended
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['{"n":1}\n{"n":2,"path":"/usage"}\n']);
    log({ n: 3 });
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['{"n":1}\n{"n":2,"path":"/usage"}\n', '{"n":3}\n']);
  });

  it('writes what is pending at once when flushed (as it is when the process exits), and nothing twice', async () => {
    const writes: string[] = [];
    const log = batchedLogger((text) => writes.push(text));
    log({ event: 'stopped' });
    log.flush();
    expect(writes).toEqual(['{"event":"stopped"}\n']);
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['{"event":"stopped"}\n']);
  });
});
