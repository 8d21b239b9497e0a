import { describe, expect, it } from 'vitest';
import { ConsoleGate, inTurns } from '../src/console/gate.ts';
import { requestScope } from '../src/db/pool-gate.ts';
import { AppError } from '../src/errors.ts';
import { ADMIN, provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * The console's share of the server (src/console/gate.ts): pages and download batches take turns,
 * at most CONSOLE_CONCURRENCY at once; pages beyond the queue are refused with 503 `overloaded`; a
 * page that waits past its deadline gets `deadline_exceeded`; a download in progress is never
 * refused a batch; one download too many is refused at once. Then the same through the real app.
 */

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'granted',
    (e: unknown) => (e instanceof AppError ? e.code : String(e)),
  );

/** Lets queued promise callbacks run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('ConsoleGate', () => {
  it('grants turns in order, at most `concurrency` at once, and refuses pages beyond the queue', async () => {
    const gate = new ConsoleGate(1, 2);
    const first = await gate.enter();
    expect(gate.running).toBe(1);
    const order: string[] = [];
    const second = gate.enter().then((r) => (order.push('second'), r));
    const third = gate.enter().then((r) => (order.push('third'), r));
    expect(gate.waiting).toBe(2);
    await expect(gate.enter()).rejects.toMatchObject({ code: 'overloaded', status: 503 });
    await settle();
    expect(order).toEqual([]);

    first();
    first(); // a second call changes nothing
    const releaseSecond = await second;
    await settle();
    expect(order).toEqual(['second']);
    expect(gate.running).toBe(1);
    releaseSecond();
    (await third)();
    expect(order).toEqual(['second', 'third']);
    expect(gate.running).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  it('keeps to its share of the time: a piece that ran T ms holds the turn T × (100 − share) / share ms more', async () => {
    let clock = 0;
    const gate = new ConsoleGate(1, 8, 25, () => clock);
    const first = await gate.enter();
    clock += 40; // the page ran 40 ms (fake clock): at 25%, the next piece starts 120 ms later
    let next = false;
    const second = gate.turn().then((r) => ((next = true), r));
    const released = performance.now();
    first();
    await settle();
    expect(next).toBe(false);
    expect(gate.running).toBe(1); // the pause holds the turn
    const release = await second;
    // A lower bound only: a busy machine can only make the pause longer.
    expect(performance.now() - released).toBeGreaterThanOrEqual(110);
    release(); // it ran 0 ms: no pause
    expect(gate.running).toBe(0);

    // At 100% there is no pause at all: the next piece starts on release.
    const whole = new ConsoleGate(1, 8, 100, () => clock);
    const a = await whole.enter();
    clock += 1_000;
    const b = whole.enter();
    a();
    (await b)();
    expect(whole.running).toBe(0);
  });

  it("a download's batches wait for their turn but are never refused, even with the page queue full", async () => {
    const gate = new ConsoleGate(1, 0);
    const page = await gate.enter();
    await expect(gate.enter()).rejects.toMatchObject({ code: 'overloaded' });
    const batch = gate.turn();
    expect(gate.waiting).toBe(1);
    page();
    (await batch)();
    expect(gate.running).toBe(0);
  });

  it('a page that waits past its request deadline gets deadline_exceeded and leaves the queue', async () => {
    const gate = new ConsoleGate(1, 8);
    const holder = await gate.enter();
    const waited = requestScope.run({ priority: 'normal', deadlineAt: performance.now() + 30 }, () => gate.enter());
    expect(await codeOf(waited)).toBe('deadline_exceeded');
    expect(gate.waiting).toBe(0);
    holder();
    expect(gate.running).toBe(0);
  });

  it('one download more than `concurrency` is refused at once; ending one frees its place', () => {
    const gate = new ConsoleGate(2, 8);
    const a = gate.startDownload();
    gate.startDownload();
    expect(() => gate.startDownload()).toThrow(expect.objectContaining({ code: 'overloaded' }));
    a();
    a();
    expect(gate.downloads).toBe(1);
    gate.startDownload();
    expect(gate.downloads).toBe(2);
  });

  it('inTurns reads each chunk of a body in a turn of its own and ends the download once, at the end', async () => {
    const gate = new ConsoleGate(1, 8);
    const chunks = ['a,b\n', '1,2\n', '3,4\n'].map((s) => new TextEncoder().encode(s));
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Every chunk is read while holding the gate's one turn.
        expect(gate.running).toBe(1);
        const next = chunks[pulled++];
        if (next) controller.enqueue(next);
        else controller.close();
      },
    }, { highWaterMark: 0 }); // like the API's batchedStream: nothing read before it is asked for
    let ended = 0;
    const body = inTurns(source, gate, () => ended++);
    // A page holds the turn: the body waits for it.
    const page = await gate.enter();
    const text = new Response(body).text();
    await settle();
    expect(pulled).toBe(0);
    page();
    expect(await text).toBe('a,b\n1,2\n3,4\n');
    await settle();
    expect(ended).toBe(1);
    expect(gate.running).toBe(0);
  });

  it('a download whose reader gives up ends it (its place is freed)', async () => {
    const gate = new ConsoleGate(1, 8);
    const end = gate.startDownload();
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(10));
      },
    });
    const body = inTurns(source, gate, end);
    const reader = body.getReader();
    await reader.read();
    await reader.cancel('client went away');
    await settle();
    expect(gate.downloads).toBe(0);
    expect(gate.running).toBe(0);
  });
});

const ctx = setupTestApp({ env: { CONSOLE_CONCURRENCY: '1', CONSOLE_QUEUE: '2' } });

async function session(): Promise<string> {
  const form = await ctx.t.app.request('/console/sign-in');
  const html = await form.text();
  const cookie = form.headers.getSetCookie().find((c) => c.startsWith('console_sign_in='))!.split(';')[0]!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const r = await ctx.t.app.request('/console/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ csrf, token: ADMIN, next: '/console/statements' }).toString(),
  });
  expect(r.status).toBe(303);
  return r.headers.getSetCookie().find((c) => c.startsWith('console_session='))!.split(';')[0]!;
}

describe('the console takes turns in the real app', () => {
  it('a second download while one is in progress is refused with Retry-After; pages still answer; after it, downloads work again', async () => {
    ctx.t.setNow('2026-11-15T12:00:00Z');
    await provision(ctx.t, 'gate-co', [4101, 4102]);
    await ctx.t.admin('POST', '/v1/usage-events', {
      events: [
        { id: 'gate-1', projectId: 4101, quantity: '1.5', occurredAt: '2026-10-03T10:00:00Z' },
        { id: 'gate-2', projectId: 4102, quantity: '2.25', occurredAt: '2026-10-04T10:00:00Z' },
      ],
    });
    const cookie = await session();
    const url = '/console/reconciliation.csv?month=2026-10';
    const first = await ctx.t.app.request(url, { headers: { cookie } });
    expect(first.status).toBe(200);
    // The first download's body is not read yet: it is in progress.
    const second = await ctx.t.app.request(url, { headers: { cookie } });
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('10');
    // Pages take turns with the download's batches, they are not refused.
    expect((await ctx.t.app.request('/console/statements', { headers: { cookie } })).status).toBe(200);

    const expected = await (await ctx.t.app.request('/v1/reconciliation?month=2026-10', { headers: { authorization: `Bearer ${ADMIN}`, accept: 'text/csv' } })).text();
    expect(expected).toContain('4101');
    expect(await first.text()).toBe(expected);
    await settle();
    const third = await ctx.t.app.request(url, { headers: { cookie } });
    expect(third.status).toBe(200);
    expect(await third.text()).toBe(expected);
  });
});
