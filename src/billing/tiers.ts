import { Decimal } from '../decimal.ts';

export interface Tier {
  /** Exclusive lower bound: the previous tier's upTo, or 0. */
  from: Decimal;
  /** Inclusive upper bound; null for the open-ended last tier. */
  upTo: Decimal | null;
  unitPrice: Decimal;
}

export interface TierInput {
  upTo: Decimal | null;
  unitPrice: Decimal;
}

/**
 * Checks and completes a plan's graduated tiers: at least one, `upTo` strictly increasing and
 * positive, only the last open-ended (and it must be, so every quantity has a price), prices not
 * negative. Returns the problem as text, or the tiers with their lower bounds.
 */
export function buildTiers(input: TierInput[]): Tier[] | string {
  if (input.length === 0) return 'a plan needs at least one tier';
  const tiers: Tier[] = [];
  let from = new Decimal(0);
  for (const [i, t] of input.entries()) {
    const last = i === input.length - 1;
    if (t.unitPrice.isNegative()) return `tier ${i + 1}: unitPrice must not be negative`;
    if (t.upTo === null && !last) return `tier ${i + 1}: only the last tier may be open-ended`;
    if (t.upTo !== null && last) return `tier ${i + 1}: the last tier must be open-ended (upTo null)`;
    if (t.upTo !== null && !t.upTo.gt(from)) {
      return `tier ${i + 1}: upTo ${t.upTo.toFixed()} must be greater than ${from.toFixed()} (tiers in increasing order, no overlap)`;
    }
    tiers.push({ from, upTo: t.upTo, unitPrice: t.unitPrice });
    if (t.upTo) from = t.upTo;
  }
  return tiers;
}

export interface TierCharge {
  quantity: Decimal;
  unitPrice: Decimal;
  amount: Decimal;
}

/** Graduated pricing: each tier prices the part of the quantity that falls inside it. */
export function tierCharges(tiers: Tier[], quantity: Decimal): TierCharge[] {
  const out: TierCharge[] = [];
  for (const t of tiers) {
    if (!quantity.gt(t.from)) break;
    const top = t.upTo === null ? quantity : Decimal.min(quantity, t.upTo);
    const part = top.minus(t.from);
    out.push({ quantity: part, unitPrice: t.unitPrice, amount: part.times(t.unitPrice) });
  }
  return out;
}

export function tieredPrice(tiers: Tier[], quantity: Decimal): Decimal {
  return tierCharges(tiers, quantity).reduce((sum, c) => sum.plus(c.amount), new Decimal(0));
}

/** `1200.5` → `1,200.5`: quantities in descriptions, as people read them. */
export function groupDigits(d: Decimal): string {
  const [int, frac] = d.toFixed().split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/**
 * The least quantity whose graduated price is at least `bound` (rounded up, so its price is at
 * least `bound`), or null when no quantity costs that much (every tier from some point is free).
 */
export function quantityReaching(tiers: Tier[], bound: Decimal): Decimal | null {
  let cumulative = new Decimal(0);
  for (const t of tiers) {
    const need = bound.minus(cumulative);
    const tierPrice = t.upTo === null ? null : t.upTo.minus(t.from).times(t.unitPrice);
    if (t.unitPrice.gt(0) && (tierPrice === null || need.lte(tierPrice))) {
      let q = t.from.plus(need.div(t.unitPrice)).toDecimalPlaces(24, Decimal.ROUND_UP);
      // Never past the tier's own top: at upTo the tier's whole price (≥ need) is reached.
      if (t.upTo !== null && q.gt(t.upTo)) q = t.upTo;
      return q;
    }
    if (tierPrice !== null) cumulative = cumulative.plus(tierPrice);
  }
  return null;
}
