import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../src/decimal.ts';
import { exactJsonResponse, isJsonObject, stringifyExact } from '../src/json.ts';

describe('stringifyExact: decimals', () => {
  it('writes decimals as exact JSON numbers', () => {
    expect(stringifyExact(new Decimal('12.000001'))).toBe('12.000001');
    expect(stringifyExact(new Decimal('0.1'))).toBe('0.1');
    expect(stringifyExact(new Decimal('250'))).toBe('250');
    expect(stringifyExact(new Decimal('0'))).toBe('0');
    expect(stringifyExact(new Decimal('-3.5'))).toBe('-3.5');
  });

  it('never uses exponent notation', () => {
    expect(stringifyExact(new Decimal('1e-10'))).toBe('0.0000000001');
    expect(stringifyExact(new Decimal('1e25'))).toBe('10000000000000000000000000');
    expect(stringifyExact(new Decimal('1.5e-7'))).toBe('0.00000015');
    expect(stringifyExact(new Decimal('123456789012345678901234567890.123456789012345678'))).toBe(
      '123456789012345678901234567890.123456789012345678',
    );
  });

  it('keeps digits a float would lose', () => {
    const s = '12345678901234567890.123456789012345678';
    expect(stringifyExact({ amount: new Decimal(s) })).toBe(`{"amount":${s}}`);
    expect(JSON.stringify({ amount: Number(s) })).not.toBe(`{"amount":${s}}`);
  });

  it('writes the canonical form (no trailing fraction zeros)', () => {
    expect(stringifyExact(new Decimal('1.500'))).toBe('1.5');
    expect(stringifyExact(new Decimal('007'))).toBe('7');
  });

  it('refuses non-finite decimals', () => {
    expect(() => stringifyExact(new Decimal(NaN))).toThrow(TypeError);
    expect(() => stringifyExact({ a: new Decimal(Infinity) })).toThrow(TypeError);
    expect(() => stringifyExact([new Decimal(-Infinity)])).toThrow(TypeError);
  });

  it('writes decimals inside nested objects and arrays', () => {
    const body = {
      status: 0,
      statusReason: 'Success getting usage data',
      data: {
        totalSize: 2,
        pageNum: 2,
        hasNext: false,
        data: [
          { projectId: '430892', amount: new Decimal('12.000001'), description: '1 Minute × plan' },
          { projectId: '7', amount: new Decimal('250'), description: 'x' },
        ],
      },
    };
    expect(stringifyExact(body)).toBe(
      '{"status":0,"statusReason":"Success getting usage data","data":{"totalSize":2,"pageNum":2,"hasNext":false,' +
        '"data":[{"projectId":"430892","amount":12.000001,"description":"1 Minute × plan"},' +
        '{"projectId":"7","amount":250,"description":"x"}]}}',
    );
    expect(stringifyExact([[new Decimal('0.1')], { a: [new Decimal('1e-10')] }])).toBe('[[0.1],{"a":[0.0000000001]}]');
  });
});

describe('stringifyExact: everything else as JSON.stringify', () => {
  it('drops undefined and function fields in objects, writes null for them in arrays', () => {
    expect(stringifyExact({ a: 1, b: undefined, c: () => 1, d: null })).toBe('{"a":1,"d":null}');
    expect(stringifyExact([1, undefined, 2])).toBe('[1,null,2]');
    expect(JSON.parse(stringifyExact({ a: 1, b: undefined }))).toEqual({ a: 1 });
  });

  it('escapes strings like JSON.stringify', () => {
    for (const s of ['plain', 'quote " and \\ backslash', 'line\nbreak\ttab\r', '\u0000\u001f\u007f', '× 😀 中', '\u2028\u2029', '</script>', '\ud800']) {
      expect(stringifyExact(s)).toBe(JSON.stringify(s));
      expect(stringifyExact({ [s]: s })).toBe(JSON.stringify({ [s]: s }));
    }
  });

  it('writes numbers, booleans and null like JSON.stringify, non-finite numbers as null', () => {
    expect(stringifyExact(0)).toBe('0');
    expect(stringifyExact(-0)).toBe('0');
    expect(stringifyExact(1.5)).toBe('1.5');
    expect(stringifyExact(1e21)).toBe(JSON.stringify(1e21));
    expect(stringifyExact(true)).toBe('true');
    expect(stringifyExact(null)).toBe('null');
    expect(stringifyExact(NaN)).toBe('null');
    expect(stringifyExact(Infinity)).toBe('null');
    expect(stringifyExact({ x: NaN })).toBe('{"x":null}');
  });

  it('writes dates as ISO strings', () => {
    const d = new Date(Date.UTC(2026, 10, 23, 10, 15, 0));
    expect(stringifyExact({ at: d })).toBe('{"at":"2026-11-23T10:15:00.000Z"}');
    expect(stringifyExact({ at: d })).toBe(JSON.stringify({ at: d }));
  });

  it('writes an empty object and an empty array', () => {
    expect(stringifyExact({})).toBe('{}');
    expect(stringifyExact([])).toBe('[]');
  });
});

describe('exactJsonResponse', () => {
  it('answers JSON with exact decimals and the given status', async () => {
    const res = exactJsonResponse({ amount: new Decimal('0.1') }, 400);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.text()).toBe('{"amount":0.1}');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), minLength: min, maxLength: max });
/** Plain decimal text: up to 20 integer digits and up to 18 fraction digits, optionally negative. */
const decimalTextArb = fc
  .tuple(fc.boolean(), digits(1, 20), fc.option(digits(1, 18), { nil: undefined }))
  .map(([neg, int, frac]) => `${neg ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}`);

describe('properties', () => {
  it('a decimal is written with exactly its value and never with an exponent', () => {
    fc.assert(
      fc.property(decimalTextArb, (s) => {
        const out = stringifyExact({ a: new Decimal(s) });
        expect(out).not.toMatch(/[eE]/);
        const m = /^\{"a":(-?\d+(?:\.\d+)?)\}$/.exec(out);
        expect(m).not.toBeNull();
        expect(new Decimal(m![1]!).eq(s)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('a decimal with a large exponent is still written without one', () => {
    fc.assert(
      fc.property(digits(1, 10), fc.integer({ min: -40, max: 40 }), (mantissa, exp) => {
        const d = new Decimal(`${mantissa}e${exp}`);
        const out = stringifyExact([d]);
        expect(out).not.toMatch(/[eE]/);
        expect(new Decimal(out.slice(1, -1)).eq(d)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('without decimals, the output parses to what JSON.stringify gives', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(JSON.parse(stringifyExact(v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 500 },
    );
  });

  it('without decimals, the output is the same text as JSON.stringify', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(stringifyExact(v)).toBe(JSON.stringify(v));
      }),
      { numRuns: 500 },
    );
  });
});

describe('isJsonObject', () => {
  it('is true for every parsed JSON object and for nothing else JSON.parse answers', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const parsed: unknown = JSON.parse(JSON.stringify(v));
        expect(isJsonObject(parsed)).toBe(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed));
      }),
    );
    expect([{}, { a: 1 }, [], null, 'x', 0, true].map(isJsonObject)).toEqual([true, true, false, false, false, false, false]);
  });
});
