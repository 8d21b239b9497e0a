import { beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, dayStart, provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

const ctx = setupTestApp();
beforeEach(async () => {
  await provision(ctx.t, 'c1', [1, 2]);
});

const from = dayStart('2025-06-20');

async function post(body: unknown) {
  const r = await ctx.t.admin('POST', '/v1/usage-events', body);
  return { status: r.status, body: (await r.json()) as any };
}

const rollup = () => ctx.tdb.db.selectFrom('usage_day_rollup').select(['day', 'project_id', 'quantity']).orderBy('project_id').execute();
const storedIds = async () => (await ctx.tdb.db.selectFrom('usage_events').select('id').orderBy('id').execute()).map((r) => r.id);

describe('POST /v1/usage-events', () => {
  it('needs the admin token', async () => {
    const none = await ctx.t.app.request('/v1/usage-events', { method: 'POST', body: '{}' });
    expect(none.status).toBe(401);
    expect(((await none.json()) as any).error.code).toBe('unauthorized');
    const wrong = await ctx.t.app.request('/v1/usage-events', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}x`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [] }),
    });
    expect(wrong.status).toBe(401);
  });

  it('accepts, then reports duplicates, and stores each event once', async () => {
    const events = [
      { id: 'e1', projectId: 1, quantity: '1.5', occurredAt: from + 1 },
      { id: 'e2', projectId: '2', quantity: 2, occurredAt: '2025-06-20T10:00:00+02:00', description: 'call 42' },
    ];
    const first = await post({ events });
    expect(first.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0 });
    // The same content written differently (1.50 for 1.5, the same instant in Z) is still a duplicate.
    const again = await post({
      events: [
        { ...events[0], quantity: '1.50' },
        { ...events[1], occurredAt: '2025-06-20T08:00:00Z' },
      ],
    });
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 2, rejected: 0 });
    expect(await storedIds()).toEqual(['e1', 'e2']);
    const r = await rollup();
    expect(r.map((x) => [x.project_id, x.quantity])).toEqual([['1', '1.5'], ['2', '2']]);
  });

  it('keeps the valid events of a batch with rejected ones, and says why per event', async () => {
    await post({ events: [{ id: 'taken', projectId: 1, quantity: 1, occurredAt: from }] });
    const r = await post({
      events: [
        { id: 'ok1', projectId: 1, quantity: '0.25', occurredAt: from + 5 },
        { id: 'taken', projectId: 2, quantity: 1, occurredAt: from },
        { id: 'noproj', projectId: 999, quantity: 1, occurredAt: from },
        { id: 'neg', projectId: 1, quantity: '-1', occurredAt: from },
        { id: 'zero', projectId: 1, quantity: 0, occurredAt: from },
        { id: 'ms', projectId: 1, quantity: 1, occurredAt: from * 1000 },
        { id: 'x'.repeat(129), projectId: 1, quantity: 1, occurredAt: from },
        'not an object',
        { id: 'ok2', projectId: 2, quantity: '3', occurredAt: from + 6 },
        { id: 'ok2', projectId: 2, quantity: '4', occurredAt: from + 6 },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: any) => [x.index, x.status, x.code])).toEqual([
      [0, 'accepted', undefined],
      [1, 'rejected', 'conflict'],
      [2, 'rejected', 'unknown_project'],
      [3, 'rejected', 'invalid_parameter'],
      [4, 'rejected', 'invalid_parameter'],
      [5, 'rejected', 'invalid_parameter'],
      [6, 'rejected', 'invalid_parameter'],
      [7, 'rejected', 'invalid_parameter'],
      [8, 'accepted', undefined],
      [9, 'rejected', 'conflict'],
    ]);
    expect(r.body.results[5].message).toMatch(/milliseconds/);
    expect(r.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 8 });
    expect(await storedIds()).toEqual(['ok1', 'ok2', 'taken']);
  });

  it('keeps usage from before a project was deactivated and rejects usage after', async () => {
    const before = Math.floor(Date.now() / 1000) - 60;
    const d = await ctx.t.agoraSend('PUT', '/customers/c1/projects/1/deactivate', {});
    expect(d.status).toBe(200);
    const r = await post({
      events: [
        { id: 'before', projectId: 1, quantity: 1, occurredAt: before },
        { id: 'after', projectId: 1, quantity: 1, occurredAt: Math.floor(Date.now() / 1000) + 1 },
      ],
    });
    expect(r.body.results.map((x: any) => x.code ?? x.status)).toEqual(['accepted', 'project_deactivated']);
  });

  it('refuses usage dated while a project was off, and keeps every deactivation on record', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await ctx.t.agoraSend('PUT', '/customers/c1/projects/2/deactivate', {})).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const offAt = now + 1;
    expect((await ctx.t.agoraSend('POST', '/customers/c1/projects/new', { projectId: 2 })).status).toBe(200);
    const back = Math.floor(Date.now() / 1000) + 1;
    const r = await post({
      events: [
        { id: 'before', projectId: 2, quantity: 1, occurredAt: now - 30 },
        { id: 'gap', projectId: 2, quantity: 1, occurredAt: offAt },
        { id: 'after', projectId: 2, quantity: 1, occurredAt: back },
      ],
    });
    expect(r.body.results.map((x: any) => x.code ?? x.status)).toEqual(['accepted', 'project_deactivated', 'accepted']);
    expect(r.body.results[1].message).toMatch(/until/);
    const history = await ctx.tdb.db.selectFrom('deactivations').selectAll().execute();
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ customer_id: 'c1', project_id: '2' });
    expect(history[0]!.reactivated_at).toBeInstanceOf(Date);
  });

  it('records a customer deactivation for the customer and each project, and ends it on return', async () => {
    expect((await ctx.t.agoraSend('PUT', '/customers/c1/deactivate', {})).status).toBe(200);
    expect((await ctx.t.agoraSend('PUT', '/customers/c1/deactivate', {})).status).toBe(200);
    let history = await ctx.tdb.db.selectFrom('deactivations').selectAll().orderBy('id').execute();
    expect(history.map((h) => [h.project_id, h.reactivated_at])).toEqual([[null, null], ['1', null], ['2', null]]);
    expect((await ctx.t.agoraSend('POST', '/customers/new', { customerId: 'c1', planId: 'basic' })).status).toBe(200);
    history = await ctx.tdb.db.selectFrom('deactivations').selectAll().orderBy('id').execute();
    expect(history.map((h) => [h.project_id, h.reactivated_at !== null])).toEqual([[null, true], ['1', false], ['2', false]]);
  });

  it.each([
    ['no events field', {}, 'missing_parameter'],
    ['events not an array', { events: 'x' }, 'invalid_parameter'],
    ['empty events', { events: [] }, 'invalid_parameter'],
    ['over 1,000 events', { events: Array.from({ length: 1001 }, (_, i) => ({ id: `e${i}`, projectId: 1, quantity: 1, occurredAt: from })) }, 'invalid_parameter'],
  ])('rejects a request with %s as a whole', async (_label, body, code) => {
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect(await storedIds()).toEqual([]);
  });

  it('rejects a body that is not JSON, and one that is too large', async () => {
    const bad = await ctx.t.app.request('/v1/usage-events', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{"events": [',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toMatch(/invalid/);
    const huge = await ctx.t.app.request('/v1/usage-events', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id: 'a', projectId: 1, quantity: 1, occurredAt: from, description: 'x'.repeat(5 * 1024 * 1024) }] }),
    });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as any).error.code).toBe('payload_too_large');
  });

  it('asks for JSON when the body comes without a content type', async () => {
    const r = await ctx.t.app.request('/v1/usage-events', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: '{"events":[]}' });
    expect([400, 415]).toContain(r.status);
    expect(((await r.json()) as any).error.code).toMatch(/unsupported_media_type|invalid_parameter|missing_parameter/);
  });

  it('stores 1,000 events in one request', async () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({ id: `b${i}`, projectId: (i % 2) + 1, quantity: '0.001', occurredAt: from + i }));
    const r = await post({ events });
    expect(r.body.accepted).toBe(1000);
    const sums = await rollup();
    expect(sums.map((x) => x.quantity)).toEqual(['0.5', '0.5']);
  });

  it('concurrent senders of the same ids store each event once', async () => {
    const events = Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, projectId: 1, quantity: '1', occurredAt: from + i }));
    const results = await Promise.all([post({ events }), post({ events }), post({ events })]);
    expect(results.map((r) => r.body.accepted).reduce((a, b) => a + b, 0)).toBe(50);
    expect(results.map((r) => r.body.duplicates).reduce((a, b) => a + b, 0)).toBe(100);
    const sums = await rollup();
    expect(sums).toEqual([{ day: '2025-06-20', project_id: '1', quantity: '50' }]);
  });
});
