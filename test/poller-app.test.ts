import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../src/decimal.ts';
import { dayWindow, monthWindow, pollLicense, pollPaged, type Fetcher } from '../src/cli/poller/poller.ts';
import { seedLicenses } from '../bench/license-seed.ts';
import { openTestDatabase, type TestDatabase } from './helpers/db.ts';
import { buildApp, DAY, KEY, provision, type TestApp } from './helpers/app.ts';

/** The poller against the real server in-process: what it adds up is exactly what was ingested. */

let tdb: TestDatabase;
let t: TestApp;
let fetcher: Fetcher;

const PROJECTS = Array.from({ length: 230 }, (_, i) => 500_000 + i);
const DAY_TEXT = '2026-10-15';
const WINDOW = dayWindow(DAY_TEXT);

beforeAll(async () => {
  tdb = await openTestDatabase();
  t = buildApp(tdb.db);
  fetcher = (url, init) => Promise.resolve(t.app.request(url, init));
  // basic: 1 per unit, so a bill line is the month's quantity; gold: graduated.
  for (const plan of [
    { planId: 'basic', tiers: [{ upTo: null, unitPrice: '1' }] },
    { planId: 'gold', tiers: [{ upTo: '100', unitPrice: '0.5' }, { upTo: null, unitPrice: '0.25' }] },
  ]) {
    const r = await t.admin('POST', '/v1/plans', { ...plan, effectiveFrom: '2026-01', currency: 'USD', usageUnit: 'Minute' });
    expect(r.status, await r.clone().text()).toBeLessThan(300);
  }
  await provision(t, 'poll-1', PROJECTS.slice(0, 120), 'basic');
  await provision(t, 'poll-2', PROJECTS.slice(120), 'gold');
});
afterAll(async () => {
  await tdb?.close();
});

/** Deterministic quantities with up to six decimals: sums a float would get wrong. */
function quantity(i: number): string {
  const whole = 1 + ((i * 7919) % 50);
  const frac = String((i * 104_729) % 1_000_000).padStart(6, '0');
  return `${whole}.${frac}`;
}

async function ingest(events: { id: string; projectId: number; quantity: string; occurredAt: number }[]) {
  for (let i = 0; i < events.length; i += 1000) {
    const r = await t.admin('POST', '/v1/usage-events', { events: events.slice(i, i + 1000) });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { accepted: number; rejected: number };
    expect(body.rejected).toBe(0);
  }
}

const options = { baseUrl: 'http://vendor.test', apiKey: KEY.apiKey, apiSecret: KEY.apiSecret };

describe('a day of usage ingested, then polled as Agora', () => {
  const expected = new Map<string, Decimal>();

  beforeAll(async () => {
    const events = [];
    // 3,000 events over 200 of the 230 projects (30 have no usage: no entry), spread over the day,
    // plus events either side of the day that must not count.
    for (let i = 0; i < 3000; i++) {
      const projectId = PROJECTS[i % 200]!;
      const q = quantity(i);
      events.push({ id: `poll-ev-${i}`, projectId, quantity: q, occurredAt: WINDOW.fromTs + ((i * 29) % DAY) });
      expected.set(String(projectId), (expected.get(String(projectId)) ?? new Decimal(0)).plus(q));
    }
    events.push({ id: 'before', projectId: PROJECTS[0]!, quantity: '5', occurredAt: WINDOW.fromTs - 1 });
    events.push({ id: 'after', projectId: PROJECTS[1]!, quantity: '5', occurredAt: WINDOW.toTs + 1 });
    await ingest(events);
    for (const [k, v] of expected) if (v.isZero()) expected.delete(k);
  });

  it('agrees with the ingested totals exactly, page by page with the default limit', async () => {
    const r = await pollPaged('usage', WINDOW, { ...options, fetch: fetcher });
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.pageSize).toBe(100);
    expect(r.pages).toBe(Math.ceil(expected.size / 100));
    expect(r.totalSize).toBe(expected.size);
    const got = new Map(r.entries.map((e) => [e.projectId, e.amount.toFixed()]));
    expect(got).toEqual(new Map([...expected].map(([k, v]) => [k, v.toFixed()])));
    const ingested = [...expected.values()].reduce((a, b) => a.plus(b), new Decimal(0));
    expect(r.total.toFixed()).toBe(ingested.toFixed());
    expect(r.totalRoundedUp.toFixed()).toBe(ingested.ceil().toFixed());
    // The database's own sum of the day's events, to the last digit.
    const db = await tdb.db
      .selectFrom('usage_events')
      .select((eb) => eb.fn.sum<string>('quantity').as('s'))
      .where('occurred_at', '>=', new Date(WINDOW.fromTs * 1000))
      .where('occurred_at', '<=', new Date(WINDOW.toTs * 1000))
      .executeTakeFirstOrThrow();
    expect(r.total.eq(db.s)).toBe(true);
  });

  it('a second poll, with another page size, gets the same fixed entries', async () => {
    const first = await pollPaged('usage', WINDOW, { ...options, fetch: fetcher });
    const again = await pollPaged('usage', WINDOW, { ...options, fetch: fetcher, limit: 7 });
    expect(again.ok).toBe(true);
    expect(again.pages).toBe(Math.ceil(expected.size / 7));
    expect(again.entries.map((e) => [e.projectId, e.amount.toFixed(), e.description])).toEqual(
      first.entries.map((e) => [e.projectId, e.amount.toFixed(), e.description]),
    );
  });

  it('a wrong key is an HTTP 401, which breaks the contract', async () => {
    const r = await pollPaged('usage', WINDOW, { ...options, apiSecret: 'not-the-secret', fetch: fetcher });
    expect(r.ok).toBe(false);
    expect(Object.keys(r.violationCounts)).toEqual(['http_status']);
    expect(r.violations[0]!.message).toContain('invalid_signature');
  });
});

describe('a month of usage ingested, then its bill polled as Agora', () => {
  const MONTH = monthWindow('2026-09');
  const DAYS = ['2026-09-01', '2026-09-11', '2026-09-30'];
  const perProject = new Map<number, Decimal>();
  const perDay = new Map<string, Decimal>();

  beforeAll(async () => {
    const events = [];
    for (let i = 0; i < 2400; i++) {
      const projectId = PROJECTS[(i * 13) % PROJECTS.length]!;
      const day = DAYS[i % DAYS.length]!;
      const q = quantity(i + 7);
      events.push({ id: `bill-ev-${i}`, projectId, quantity: q, occurredAt: dayWindow(day).fromTs + ((i * 31) % DAY) });
      perProject.set(projectId, (perProject.get(projectId) ?? new Decimal(0)).plus(q));
      perDay.set(day, (perDay.get(day) ?? new Decimal(0)).plus(q));
    }
    // Outside the month: not billed in it.
    events.push({ id: 'bill-before', projectId: PROJECTS[0]!, quantity: '3', occurredAt: MONTH.fromTs - 1 });
    events.push({ id: 'bill-after', projectId: PROJECTS[0]!, quantity: '3', occurredAt: MONTH.toTs + 1 });
    await ingest(events);
  });

  /** The straightforward reference of each plan's price. */
  function price(projectId: number, q: Decimal): Decimal {
    if (PROJECTS.indexOf(projectId) < 120) return q; // basic
    return q.lte(100) ? q.times('0.5') : new Decimal(50).plus(q.minus(100).times('0.25'));
  }

  it('the bill agrees with the ingested usage, priced, to the last digit', async () => {
    const r = await pollPaged('bill', MONTH, { ...options, fetch: fetcher, limit: 50 });
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.pages).toBe(Math.ceil(perProject.size / 50));
    const got = new Map(r.entries.map((e) => [e.projectId, e.amount.toFixed()]));
    const want = new Map([...perProject].map(([p, q]) => [String(p), price(p, q).toDecimalPlaces(6, Decimal.ROUND_HALF_UP).toFixed()]));
    expect(got).toEqual(want);
    const total = [...want.values()].reduce((a, b) => a.plus(b), new Decimal(0));
    expect(r.total.toFixed()).toBe(total.toFixed());
    expect(r.totalRoundedUp.toFixed()).toBe(total.ceil().toFixed());
  });

  it("the days' usage polls add up to the month's usage", async () => {
    let sum = new Decimal(0);
    for (const day of DAYS) {
      const r = await pollPaged('usage', dayWindow(day), { ...options, fetch: fetcher });
      expect(r.ok, JSON.stringify(r.violations)).toBe(true);
      expect(r.total.toFixed()).toBe(perDay.get(day)!.toFixed());
      sum = sum.plus(r.total);
    }
    expect(sum.toFixed()).toBe([...perProject.values()].reduce((a, b) => a.plus(b), new Decimal(0)).toFixed());
  });
});

describe("a customer's license polled as Agora", () => {
  beforeAll(async () => {
    // 40 licenses over the 230 projects (of both customers), and 3 more to activate each.
    await seedLicenses(tdb.db, { licenses: 40, sparePerCustomer: 3 });
  });

  it('answers the documented shape, signed as Agora signs it', async () => {
    const r = await pollLicense('poll-1', { ...options, fetch: fetcher });
    expect(r.violations).toEqual([]);
    expect(r.license).toMatchObject({ status: 'success', residueCountText: '3' });
    expect(r.license!.expireDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('an unknown customer is the documented 404 failed answer, which keeps the contract', async () => {
    const r = await pollLicense('nobody', { ...options, fetch: fetcher });
    expect(r.violations).toEqual([]);
    expect(r.httpStatus).toBe(404);
    expect(r.license).toMatchObject({ status: 'failed' });
  });
});
