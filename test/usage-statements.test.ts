import { beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../src/decimal.ts';
import { onPostgres } from './helpers/db.ts';
import { buildApp, DAY, dayStart, provision, type TestApp } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();
beforeEach(async () => {
  await provision(ctx.t, 'c1', [1, 2, 3, 4, 5], 'gold');
});

const D1 = dayStart('2025-06-18');
const D2 = dayStart('2025-06-19');
const D3 = dayStart('2025-06-20');
const wholeDay = (d: number) => ({ fromTs: d, toTs: d + DAY - 1 });

let seq = 0;
const ev = (projectId: number, quantity: string, occurredAt: number) => ({ id: `ev-${++seq}`, projectId, quantity, occurredAt });

async function send(app: TestApp, events: unknown[]) {
  const r = await app.admin('POST', '/v1/usage-events', { events });
  expect(r.status).toBe(200);
  return (await r.json()) as { accepted: number; results: { status: string }[] };
}

interface Entry {
  projectId: string;
  amount: number;
  description: string;
}

/** Every page of a window, as Agora walks them; also returns the raw texts to compare exactly. */
async function pollAll(app: TestApp, window: { fromTs: number; toTs: number }, limit = 2): Promise<{ entries: Entry[]; texts: string[] }> {
  const entries: Entry[] = [];
  const texts: string[] = [];
  for (let pageNum = 1; pageNum < 1000; pageNum++) {
    const r = await app.agoraGet('/usage', { ...window, pageNum, limit });
    const text = await r.text();
    expect(r.status, text).toBe(200);
    texts.push(text);
    const body = JSON.parse(text);
    entries.push(...body.data.data);
    if (!body.data.hasNext) break;
  }
  return { entries, texts };
}

/** Exact total over all statement lines vs all events stored. */
async function totals() {
  const reported = await ctx.tdb.db.selectFrom('statements').select((eb) => eb.fn.sum<string>('total_amount').as('s')).executeTakeFirst();
  const ingested = await ctx.tdb.db.selectFrom('usage_events').select((eb) => eb.fn.sum<string>('quantity').as('s')).executeTakeFirst();
  return { reported: new Decimal(reported?.s ?? 0), ingested: new Decimal(ingested?.s ?? 0) };
}

describe('usage statements', () => {
  it('are fixed by the first request: later pages and repeated polls return the same entries', async () => {
    await send(ctx.t, [ev(1, '1', D1 + 10), ev(2, '2', D1 + 20), ev(3, '3', D1 + 30), ev(4, '4', D1 + 40)]);
    const first = await ctx.t.agoraGet('/usage', { ...wholeDay(D1), pageNum: 1, limit: 2 });
    const firstText = await first.text();
    // Usage for the reported day arrives after the first page: it must not change the statement.
    await send(ctx.t, [ev(5, '5', D1 + 50), ev(1, '10', D1 + 60)]);
    const again = await pollAll(ctx.t, wholeDay(D1));
    expect(again.texts[0]).toBe(firstText);
    expect(again.entries.map((e) => [e.projectId, e.amount])).toEqual([['1', 1], ['2', 2], ['3', 3], ['4', 4]]);
    const third = await pollAll(ctx.t, wholeDay(D1));
    expect(third.texts).toEqual(again.texts);
  });

  it('carry late usage into the next statement fixed, named as a correction, reported once', async () => {
    await send(ctx.t, [ev(1, '1', D1 + 10), ev(2, '2', D2 + 10)]);
    await pollAll(ctx.t, wholeDay(D1));
    await send(ctx.t, [ev(1, '0.5', D1 + 99), ev(3, '7', D1 + 100)]); // late for D1
    const d2 = await pollAll(ctx.t, wholeDay(D2));
    expect(d2.entries).toEqual([
      { projectId: '1', amount: 0.5, description: '0.5 Minute × gold (includes a correction of 0.5 Minute that arrived after its window was reported)' },
      { projectId: '2', amount: 2, description: '2 Minute × gold' },
      { projectId: '3', amount: 7, description: '7 Minute × gold (includes a correction of 7 Minute that arrived after its window was reported)' },
    ]);
    // Not again in a later statement.
    const d3 = await pollAll(ctx.t, wholeDay(D3));
    expect(d3.entries).toEqual([]);
    const { reported, ingested } = await totals();
    expect(reported.eq(ingested)).toBe(true);
  });

  it('leave windows nobody asked for untouched', async () => {
    await send(ctx.t, [ev(1, '1', D1 + 10), ev(2, '2', D2 + 10)]);
    await pollAll(ctx.t, wholeDay(D2));
    const late = await ctx.tdb.db.selectFrom('usage_events').select(['id', 'late', 'statement_id']).where('late', '=', true).execute();
    expect(late).toEqual([]);
    const d1 = await pollAll(ctx.t, wholeDay(D1));
    expect(d1.entries).toEqual([{ projectId: '1', amount: 1, description: '1 Minute × gold' }]);
  });

  it('report each event once across a partial window and its whole day', async () => {
    await send(ctx.t, [ev(1, '1', D1 + 100), ev(1, '2', D1 + 3700), ev(2, '4', D1 + 7200)]);
    const hour0 = await pollAll(ctx.t, { fromTs: D1, toTs: D1 + 3599 });
    expect(hour0.entries.map((e) => [e.projectId, e.amount])).toEqual([['1', 1]]);
    const day = await pollAll(ctx.t, wholeDay(D1));
    expect(day.entries.map((e) => [e.projectId, e.amount])).toEqual([['1', 2], ['2', 4]]);
    // An event late for the first hour is a correction in the next statement, not natural usage.
    await send(ctx.t, [ev(1, '8', D1 + 200)]);
    const hour1 = await pollAll(ctx.t, { fromTs: D1 + 3600, toTs: D1 + 7199 });
    expect(hour1.entries).toEqual([
      { projectId: '1', amount: 8, description: '8 Minute × gold (includes a correction of 8 Minute that arrived after its window was reported)' },
    ]);
    const { reported, ingested } = await totals();
    expect(reported.toFixed()).toBe('15');
    expect(reported.eq(ingested)).toBe(true);
  });

  it('report hourly windows that together cover a day exactly once', async () => {
    const events = Array.from({ length: 48 }, (_, i) => ev((i % 5) + 1, `${i + 1}.25`, D1 + i * 1800 + 7));
    await send(ctx.t, events);
    let sum = new Decimal(0);
    for (let h = 0; h < 24; h++) {
      const r = await pollAll(ctx.t, { fromTs: D1 + h * 3600, toTs: D1 + h * 3600 + 3599 }, 1000);
      for (const e of r.entries) sum = sum.plus(e.amount);
    }
    const expected = events.reduce((a, e) => a.plus(e.quantity), new Decimal(0));
    expect(sum.eq(expected)).toBe(true);
    // The whole day, asked after its hours, has nothing left to report.
    expect((await pollAll(ctx.t, wholeDay(D1))).entries).toEqual([]);
  });

  it('keep usage ingested while a statement is being fixed: nothing lost, nothing twice', async () => {
    for (let round = 0; round < 3; round++) {
      const day = D1 + round * DAY;
      const batches = Array.from({ length: 8 }, (_, b) =>
        Array.from({ length: 25 }, (_, i) => ev(((b + i) % 5) + 1, '0.001', day + b * 100 + i)),
      );
      await Promise.all([
        ...batches.map((events) => send(ctx.t, events)),
        ctx.t.agoraGet('/usage', { ...wholeDay(day), pageNum: 1 }).then((r) => expect(r.status).toBe(200)),
      ]);
    }
    // Whatever landed after a fix is carried by the next statement fixed.
    await pollAll(ctx.t, wholeDay(D1 + 5 * DAY));
    const { reported, ingested } = await totals();
    expect(ingested.toFixed()).toBe('0.6');
    expect(reported.toFixed()).toBe(ingested.toFixed());
  });

  it('hold for any interleaving of random events and polls (randomized)', async () => {
    let rnd = 42;
    const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const days = [D1, D2, D3];
    for (let step = 0; step < 30; step++) {
      if (random() < 0.6) {
        const events = Array.from({ length: 1 + Math.floor(random() * 5) }, () =>
          ev(1 + Math.floor(random() * 5), `${Math.floor(random() * 1000)}.${Math.floor(random() * 1000)}1`, days[Math.floor(random() * 3)]! + Math.floor(random() * DAY)),
        );
        // Re-send some earlier ids too: duplicates must not count.
        await send(ctx.t, events);
        if (random() < 0.3) await send(ctx.t, events);
      } else {
        const d = days[Math.floor(random() * 3)]!;
        const h = Math.floor(random() * 24);
        const window = random() < 0.5 ? wholeDay(d) : { fromTs: d + h * 3600, toTs: d + h * 3600 + 3599 + Math.floor(random() * 3600) };
        if (window.toTs >= d + DAY) window.toTs = d + DAY - 1;
        await pollAll(ctx.t, window, 3);
      }
    }
    for (const d of days) await pollAll(ctx.t, wholeDay(d), 1000);
    await pollAll(ctx.t, wholeDay(D3 + DAY), 1000); // carries the last corrections
    const { reported, ingested } = await totals();
    expect(reported.toFixed()).toBe(ingested.toFixed());
  });

  it.runIf(onPostgres)('agree across two server instances on one database', async () => {
    const other = await ctx.tdb.openAnother();
    try {
      const t2 = buildApp(other.db);
      await send(ctx.t, Array.from({ length: 40 }, (_, i) => ev((i % 5) + 1, '1.5', D1 + i)));
      // Both instances get the first page of an unasked window at the same moment, while a third
      // stream ingests for that day through the second instance.
      const [a, b] = await Promise.all([
        ctx.t.agoraGet('/usage', { ...wholeDay(D1), pageNum: 1 }).then((r) => r.text()),
        t2.agoraGet('/usage', { ...wholeDay(D1), pageNum: 1 }).then((r) => r.text()),
        send(t2, Array.from({ length: 40 }, (_, i) => ev((i % 5) + 1, '2', D1 + 100 + i))),
      ]);
      expect(a).toBe(b);
      const statements = await ctx.tdb.db.selectFrom('statements').selectAll().execute();
      expect(statements).toHaveLength(1);
      await pollAll(t2, wholeDay(D2));
      const { reported, ingested } = await totals();
      expect(ingested.toFixed()).toBe('140');
      expect(reported.toFixed()).toBe('140');
    } finally {
      await other.close();
    }
  });
});

describe('vendor statement reads', () => {
  it('list statements and their lines', async () => {
    await send(ctx.t, [ev(1, '1', D1 + 10), ev(2, '2.5', D1 + 20)]);
    await pollAll(ctx.t, wholeDay(D1));
    const list = await ctx.t.admin('GET', '/v1/statements?kind=usage');
    expect(list.status).toBe(200);
    const body = (await list.json()) as any;
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({ kind: 'usage', fromTs: D1, toTs: D1 + DAY - 1, lineCount: 2, totalAmount: 3.5, correctionAmount: 0 });
    const id = body.data[0].id;
    const one = (await (await ctx.t.admin('GET', `/v1/statements/${id}`)).json()) as any;
    expect(one.id).toBe(id);
    const lines = (await (await ctx.t.admin('GET', `/v1/statements/${id}/lines?limit=1&pageNum=2`)).json()) as any;
    expect(lines).toMatchObject({ totalSize: 2, pageNum: 2, hasNext: false });
    expect(lines.data).toEqual([
      { lineNo: 2, projectId: '2', customerId: 'c1', planId: 'gold', amount: 2.5, correctionAmount: 0, description: '2.5 Minute × gold' },
    ]);
    const missing = await ctx.t.admin('GET', '/v1/statements/999999');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as any).error.code).toBe('not_found');
    const bad = await ctx.t.admin('GET', '/v1/statements?kind=nope');
    expect(bad.status).toBe(400);
  });
});
