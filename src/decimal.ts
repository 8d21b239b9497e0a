import { Decimal } from 'decimal.js';

// Precision far beyond any amount we store; rounding is always explicit where it happens.
Decimal.set({ precision: 60, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -1e9, toExpPos: 1e9 });

export { Decimal };

const DECIMAL_TEXT = /^\d{1,20}(\.\d{1,18})?$/;

/**
 * A quantity or price from a client: a string of plain decimal digits, or a JSON number (taken by
 * its shortest written form, which is what the sender wrote for any value a float holds exactly).
 * Returns null when it is not such a value.
 */
export function parseDecimalInput(value: unknown): Decimal | null {
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if (typeof value === 'number' && Number.isFinite(value)) text = new Decimal(String(value)).toFixed();
  else return null;
  if (!DECIMAL_TEXT.test(text)) return null;
  return new Decimal(text);
}
