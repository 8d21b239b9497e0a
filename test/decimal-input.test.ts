import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, parseDecimalInput } from '../src/decimal.ts';
import { FUTURE_TOLERANCE_MS, parseOccurredAt, parseUsageEvent, type ParsedEvent } from '../src/usage/usage-event.ts';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0); // 2026-11-23T12:00:00Z

function fixed(value: unknown): string | null {
  const d = parseDecimalInput(value);
  return d === null ? null : d.toFixed();
}

describe('parseDecimalInput', () => {
  it('accepts plain decimal strings', () => {
    expect(fixed('0')).toBe('0');
    expect(fixed('12.5')).toBe('12.5');
    expect(fixed('12.000001')).toBe('12.000001');
    expect(fixed('250')).toBe('250');
    expect(fixed('007.50')).toBe('7.5');
    expect(fixed('  3.25 ')).toBe('3.25');
    expect(fixed('99999999999999999999')).toBe('99999999999999999999'); // 20 integer digits
    expect(fixed('0.000000000000000001')).toBe('0.000000000000000001'); // 18 fraction digits
    expect(fixed('12345678901234567890.123456789012345678')).toBe('12345678901234567890.123456789012345678');
  });

  it('returns a Decimal', () => {
    const d = parseDecimalInput('1.25');
    expect(d).toBeInstanceOf(Decimal);
    expect(d!.eq('1.25')).toBe(true);
  });

  it('accepts JSON numbers by their shortest written form', () => {
    expect(fixed(12.5)).toBe('12.5');
    expect(fixed(0.1)).toBe('0.1');
    expect(fixed(250)).toBe('250');
    expect(fixed(0)).toBe('0');
    expect(fixed(1e-7)).toBe('0.0000001');
    expect(fixed(1e19)).toBe('10000000000000000000');
    expect(fixed(1e20)).toBeNull(); // 21 integer digits
    expect(fixed(0.30000000000000004)).toBe('0.30000000000000004');
  });

  it('rejects exponent strings', () => {
    for (const s of ['1e5', '1E5', '1.5e-3', '1e+2', '2E0']) expect(fixed(s), s).toBeNull();
  });

  it('rejects negative values', () => {
    expect(fixed('-1')).toBeNull();
    expect(fixed('-0.5')).toBeNull();
    expect(fixed(-1)).toBeNull();
    expect(fixed(-0.0001)).toBeNull();
  });

  it('rejects more than 18 fraction digits or more than 20 integer digits', () => {
    expect(fixed('0.0000000000000000001')).toBeNull(); // 19 fraction digits
    expect(fixed('1.1234567890123456789')).toBeNull();
    expect(fixed('123456789012345678901')).toBeNull(); // 21 integer digits
    expect(fixed(1e21)).toBeNull();
    expect(fixed(1e-19)).toBeNull();
  });

  it('rejects other forms', () => {
    for (const v of ['', ' ', '.5', '5.', '+5', '1,5', '1.2.3', '0x10', 'NaN', 'Infinity', '1 2', '١٢', 'abc', '5 apples']) {
      expect(fixed(v), JSON.stringify(v)).toBeNull();
    }
    for (const v of [NaN, Infinity, -Infinity, null, undefined, true, {}, [], [1], 10n]) {
      expect(fixed(v), String(v)).toBeNull();
    }
  });

  it('property: a valid decimal string parses to its canonical form', () => {
    const digits = (min: number, max: number) =>
      fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), minLength: min, maxLength: max });
    const decimalTextArb = fc
      .tuple(digits(1, 20), fc.option(digits(1, 18), { nil: undefined }))
      .map(([int, frac]) => (frac === undefined ? int : `${int}.${frac}`));
    fc.assert(
      fc.property(decimalTextArb, (s) => {
        const d = parseDecimalInput(s);
        expect(d).not.toBeNull();
        expect(d!.toFixed()).toBe(new Decimal(s).toFixed());
        expect(d!.eq(s)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: a non-negative float within range parses to its shortest form', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e15, noNaN: true }), (x) => {
        const d = parseDecimalInput(x);
        const text = new Decimal(String(x)).toFixed();
        if (/^\d{1,20}(\.\d{1,18})?$/.test(text)) {
          expect(d?.toFixed()).toBe(text);
          expect(Number(d!.toFixed())).toBe(x);
        } else {
          expect(d).toBeNull();
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseOccurredAt', () => {
  const at = (v: unknown) => {
    const r = parseOccurredAt(v, NOW);
    return 'at' in r ? r.at.toISOString() : null;
  };
  const error = (v: unknown) => {
    const r = parseOccurredAt(v, NOW);
    return 'error' in r ? r.error : null;
  };

  it('accepts ISO-8601 with Z', () => {
    expect(at('2026-11-23T10:15:00Z')).toBe('2026-11-23T10:15:00.000Z');
    expect(at('2026-11-23T10:15:00.250Z')).toBe('2026-11-23T10:15:00.250Z');
    expect(at('2026-11-23T10:15Z')).toBe('2026-11-23T10:15:00.000Z');
    expect(at('2024-02-29T00:00:00Z')).toBe('2024-02-29T00:00:00.000Z');
  });

  it('accepts ISO-8601 with an offset', () => {
    expect(at('2026-11-23T10:15:00+02:00')).toBe('2026-11-23T08:15:00.000Z');
    expect(at('2026-11-23T10:15:00+05:30')).toBe('2026-11-23T04:45:00.000Z');
    expect(at('2026-11-23T01:15:00-05:00')).toBe('2026-11-23T06:15:00.000Z');
    expect(at('2026-11-23T10:15:00+0530')).toBe('2026-11-23T04:45:00.000Z');
    expect(at('2026-11-23T10:15:00+00:00')).toBe('2026-11-23T10:15:00.000Z');
  });

  it('accepts Unix seconds as a number or a digit string', () => {
    expect(at(1763892900)).toBe('2025-11-23T10:15:00.000Z');
    expect(at('1763892900')).toBe('2025-11-23T10:15:00.000Z');
    expect(at(1000080000)).toBe('2001-09-10T00:00:00.000Z');
  });

  it('rejects ISO without a time zone', () => {
    expect(error('2026-11-23T10:15:00')).toMatch(/time zone/);
    expect(error('2026-11-23T10:15:00.000')).toMatch(/time zone/);
    expect(error('2026-11-23')).not.toBeNull();
    expect(error('2026-11-23 10:15:00Z')).not.toBeNull();
    expect(error('Mon, 23 Nov 2026 10:15:00 GMT')).not.toBeNull();
  });

  it('rejects impossible dates and times', () => {
    expect(error('2026-02-30T00:00:00Z')).toMatch(/not a valid date/);
    expect(error('2026-02-29T00:00:00Z')).toMatch(/not a valid date/);
    expect(error('2026-04-31T00:00:00Z')).toMatch(/not a valid date/);
    expect(error('2026-13-01T00:00:00Z')).toMatch(/not a valid date/);
    expect(error('2026-00-10T00:00:00Z')).toMatch(/not a valid date/);
    expect(error('2026-11-00T00:00:00Z')).toMatch(/not a valid date/);
    expect(error('2026-11-23T24:00:00Z')).toMatch(/not a valid date/);
    expect(error('2026-11-23T10:60:00Z')).toMatch(/not a valid date/);
    expect(error('2026-11-23T10:15:60Z')).toMatch(/not a valid date/);
  });

  it('rejects 13-digit millisecond numbers, naming milliseconds', () => {
    expect(error(1763892900000)).toMatch(/milliseconds/);
    expect(error('1763892900000')).toMatch(/milliseconds/);
    expect(error(Date.UTC(2026, 10, 23))).toMatch(/milliseconds/);
  });

  it('rejects fractional, negative and unsafe numbers', () => {
    expect(error(1763892900.5)).not.toBeNull();
    expect(error(-1)).not.toBeNull();
    expect(error(Number.MAX_SAFE_INTEGER + 2)).not.toBeNull();
    expect(error(NaN)).not.toBeNull();
  });

  it('rejects times more than 5 minutes in the future', () => {
    expect(FUTURE_TOLERANCE_MS).toBe(5 * 60_000);
    expect(at(new Date(NOW + FUTURE_TOLERANCE_MS).toISOString())).toBe('2026-11-23T12:05:00.000Z');
    expect(error(new Date(NOW + FUTURE_TOLERANCE_MS + 1000).toISOString())).toMatch(/future/);
    expect(error('2026-11-23T12:05:01Z')).toMatch(/future/);
    expect(error((NOW + FUTURE_TOLERANCE_MS) / 1000 + 1)).toMatch(/future/);
    expect(at((NOW + FUTURE_TOLERANCE_MS) / 1000)).toBe('2026-11-23T12:05:00.000Z');
    expect(error('2027-01-01T00:00:00Z')).toMatch(/future/);
  });

  it('rejects times before 2001-09-10, the first UTC day Agora can poll whole with 10-digit seconds', () => {
    expect(error('1999-12-31T23:59:59Z')).toMatch(/2001-09-10/);
    expect(error('2001-09-10T00:30:00+01:00')).toMatch(/2001-09-10/);
    expect(error('2000-06-01T00:00:00Z')).toMatch(/2001-09-10/);
    expect(error(1000079999)).toMatch(/2001-09-10/);
    expect(error(999999999)).toMatch(/2001-09-10/);
    expect(error(0)).toMatch(/2001-09-10/);
    expect(error('0')).toMatch(/2001-09-10/);
  });

  it('requires a value', () => {
    expect(error(undefined)).toMatch(/required/);
    expect(error(null)).toMatch(/required/);
    expect(error({})).toMatch(/required/);
  });
});

describe('parseUsageEvent', () => {
  const valid = {
    id: 'evt-2026-11-23-0001',
    projectId: '430892',
    quantity: '12.5',
    occurredAt: '2026-11-23T10:15:00Z',
    description: 'a call',
  };
  const parse = (over: Record<string, unknown>) => parseUsageEvent({ ...valid, ...over }, NOW);
  const message = (r: ParsedEvent) => (r.ok ? null : r.message);

  it('accepts a valid event and writes canonical values', () => {
    const r = parseUsageEvent({ ...valid, quantity: '012.50' }, NOW);
    expect(r).toEqual({
      ok: true,
      event: {
        id: 'evt-2026-11-23-0001',
        projectId: '430892',
        quantity: '12.5',
        occurredAt: new Date('2026-11-23T10:15:00Z'),
        description: 'a call',
      },
    });
  });

  it('rejects what is not an object', () => {
    for (const raw of [null, undefined, 'x', 1, [], [valid]]) {
      expect(parseUsageEvent(raw, NOW)).toEqual({ ok: false, id: null, message: 'an event must be a JSON object' });
    }
  });

  it('requires an id of 1 to 128 characters', () => {
    expect(message(parse({ id: undefined }))).toMatch(/id is required/);
    expect(message(parse({ id: '' }))).toMatch(/id is required/);
    expect(message(parse({ id: 5 }))).toMatch(/id is required/);
    expect(parse({ id: 'x'.repeat(128) }).ok).toBe(true);
    const long = parse({ id: 'x'.repeat(129) });
    expect(long.ok).toBe(false);
    expect(message(long)).toMatch(/128/);
    // A too-long id is not echoed back.
    expect(long.ok ? undefined : long.id).toBeNull();
  });

  it('rejects control characters in the id', () => {
    for (const id of ['a\nb', 'a\u0000', '\tx', 'x\u007f', 'x\u001f']) {
      const r = parse({ id });
      expect(r.ok, JSON.stringify(id)).toBe(false);
      expect(message(r)).toMatch(/control characters/);
    }
    expect(parse({ id: 'émoji 😀 ok' }).ok).toBe(true);
  });

  it('reports the id of a rejected event', () => {
    const r = parse({ quantity: 'abc' });
    expect(r).toMatchObject({ ok: false, id: valid.id });
  });

  it('accepts projectId as a digit string or a safe integer, canonically', () => {
    const pid = (v: unknown) => {
      const r = parse({ projectId: v });
      return r.ok ? r.event.projectId : null;
    };
    expect(pid('430892')).toBe('430892');
    expect(pid(430892)).toBe('430892');
    expect(pid('00042')).toBe('42');
    expect(pid('9223372036854775807')).toBe('9223372036854775807');
    expect(pid(Number.MAX_SAFE_INTEGER)).toBe(String(Number.MAX_SAFE_INTEGER));
  });

  it('rejects other projectId forms', () => {
    expect(message(parse({ projectId: undefined }))).toBe('projectId is required');
    for (const v of ['', '0', 0, -1, '-1', 1.5, '1.5', 'abc', ' 42', '9223372036854775808', '12345678901234567890', Number.MAX_SAFE_INTEGER + 1]) {
      const r = parse({ projectId: v });
      expect(r.ok, String(v)).toBe(false);
      expect(message(r)).toMatch(/projectId/);
    }
  });

  it('names projectId when it has the wrong JSON type', () => {
    for (const v of [null, true, {}, []]) {
      const r = parse({ projectId: v });
      expect(r.ok, JSON.stringify(v)).toBe(false);
      expect(message(r), JSON.stringify(v)).toMatch(/projectId/);
    }
  });

  it('requires a quantity greater than 0', () => {
    expect(message(parse({ quantity: '0' }))).toMatch(/greater than 0/);
    expect(message(parse({ quantity: 0 }))).toMatch(/greater than 0/);
    expect(message(parse({ quantity: '-1' }))).toMatch(/decimal number/);
    expect(message(parse({ quantity: '1e3' }))).toMatch(/decimal number/);
    expect(message(parse({ quantity: undefined }))).toMatch(/decimal number/);
    const n = parse({ quantity: 0.5 });
    expect(n.ok && n.event.quantity).toBe('0.5');
  });

  it('passes occurredAt errors through', () => {
    expect(message(parse({ occurredAt: '2026-11-23T10:15:00' }))).toMatch(/time zone/);
    expect(message(parse({ occurredAt: 1763892900000 }))).toMatch(/milliseconds/);
    expect(message(parse({ occurredAt: '2026-02-30T00:00:00Z' }))).toMatch(/not a valid date/);
    expect(message(parse({ occurredAt: undefined }))).toMatch(/required/);
  });

  it('limits the description to 256 characters of text', () => {
    const ok = parse({ description: 'd'.repeat(256) });
    expect(ok.ok && ok.event.description).toBe('d'.repeat(256));
    expect(message(parse({ description: 'd'.repeat(257) }))).toMatch(/256/);
    expect(message(parse({ description: 5 }))).toMatch(/string/);
    const none = parse({ description: undefined });
    expect(none.ok && none.event.description).toBeNull();
    const nul = parse({ description: null });
    expect(nul.ok && nul.event.description).toBeNull();
  });
});
