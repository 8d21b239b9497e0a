import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastUsageEvent, parseUsageEvent, usageEventSchema } from '../src/usage/usage-event.ts';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0); // 2026-11-23T12:00:00Z

/** Values near each field's edges, in the forms senders use, and some that no field takes. */
const odd = fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.double(), fc.integer(), fc.string(), fc.array(fc.integer()), fc.object());
const idArb = fc.oneof(
  fc.string({ minLength: 0, maxLength: 130 }),
  fc.string({ unit: 'binary', maxLength: 8 }), // control characters, lone surrogates
  fc.constantFrom('a'.repeat(128), 'a'.repeat(129), 'evt-1', ''),
  odd,
);
const projectArb = fc.oneof(
  fc.bigInt({ min: -2n, max: 9223372036854775809n }).map(String),
  fc.integer({ min: -3, max: 1e9 }),
  fc.constantFrom('0', '00', '007', '9223372036854775807', '9223372036854775808', '09223372036854775807', ' 1', '1.0', 1.5, Number.MAX_SAFE_INTEGER + 2),
  odd,
);
const quantityArb = fc.oneof(
  fc.tuple(fc.stringMatching(/^\d{1,22}$/), fc.option(fc.stringMatching(/^\d{0,20}$/))).map(([i, f]) => (f === null ? i : `${i}.${f}`)),
  fc.constantFrom('0', '0.0', '000', '0.000000000000000001', '1e3', '-1', ' 2', '2 ', '.5', '5.', 12.5, 0, -1),
  odd,
);
const occurredArb = fc.oneof(
  fc.integer({ min: 999_000_000, max: Math.floor(NOW / 1000) + 400 }),
  fc.date({ min: new Date(Date.UTC(2001, 8, 9)), max: new Date(NOW + 600_000), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-11-23T10:15:00Z', '2026-02-30T00:00:00Z', '2026-11-23T10:15:00', '1763892900000', '1763892900'),
  odd,
);
const descriptionArb = fc.oneof(fc.string({ maxLength: 260 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constant('d'.repeat(257)), odd);

const eventArb = fc.record(
  { id: idArb, projectId: projectArb, quantity: quantityArb, occurredAt: occurredArb, description: descriptionArb },
  { requiredKeys: [] },
);

describe('usage event checks', () => {
  it('the hand-read fast path accepts only what the schema accepts, as the same event', () => {
    const schema = usageEventSchema(NOW);
    let fastTaken = 0;
    fc.assert(
      fc.property(fc.oneof(eventArb, odd), (raw) => {
        const fast = fastUsageEvent(raw, NOW);
        if (fast === null) return;
        fastTaken++;
        const parsed = schema.safeParse(raw);
        expect(parsed.success).toBe(true);
        if (!parsed.success) return;
        expect(fast).toEqual({ ...parsed.data, description: parsed.data.description ?? null });
      }),
      { numRuns: 20_000 },
    );
    // The property says something only if the fast path is taken often.
    expect(fastTaken).toBeGreaterThan(100);
  });

  it('an event the schema refuses gets the schema’s first problem, whatever path was tried', () => {
    const schema = usageEventSchema(NOW);
    fc.assert(
      fc.property(eventArb, (raw) => {
        const r = parseUsageEvent(raw, NOW);
        const parsed = schema.safeParse(raw);
        expect(r.ok).toBe(parsed.success);
      }),
      { numRuns: 5_000 },
    );
  });

  it('takes the common forms by hand', () => {
    expect(fastUsageEvent({ id: 'e1', projectId: '007', quantity: '1.50', occurredAt: '2026-11-23T10:15:00Z' }, NOW)).toEqual({
      id: 'e1',
      projectId: '7',
      quantity: '1.5',
      occurredAt: new Date('2026-11-23T10:15:00Z'),
      description: null,
    });
    // A number quantity is left to the schema (decimal.js words it), with the same answer.
    expect(fastUsageEvent({ id: 'e1', projectId: 7, quantity: 2, occurredAt: 1763892900 }, NOW)).toBeNull();
    expect(parseUsageEvent({ id: 'e1', projectId: 7, quantity: 2, occurredAt: 1763892900 }, NOW)).toMatchObject({ ok: true, event: { projectId: '7', quantity: '2' } });
    expect(parseUsageEvent({ id: 'e1', projectId: '1', quantity: '0.000', occurredAt: 1763892900 }, NOW)).toEqual({ ok: false, id: 'e1', message: 'quantity must be greater than 0' });
  });
});
