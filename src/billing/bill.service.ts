import type { RawBuilder, Transaction } from 'kysely';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { DB, Statement } from '../db/schema.ts';
import { Decimal } from '../decimal.ts';
import { AppError } from '../errors.ts';
import { monthNumberOf, monthStart, monthText } from '../periods.ts';
import { LOCK } from '../db/locks.ts';
import * as store from '../statements/store.ts';
import type { StatementLine } from '../statements/store.ts';
import { customerPlans } from '../provisioning/provisioning.repository.ts';
import * as repo from './bill.repository.ts';
import * as plans from './plans.repository.ts';
import { versionsInForce } from './plans.service.ts';
import { groupDigits, quantityReaching, tierCharges, tieredPrice } from './tiers.ts';

export { quantityReaching };
import type { BillPricing } from '../db/schema.ts';
import type { FixTotals } from '../statements/store.ts';
import { mapInTurns } from '../http/stream.ts';
import { keptLineCount } from './line-counts.ts';

/**
 * A bill window: inside one calendar month (UTC), start not after end, the month begun. Every
 * window inside a month stands for that month's bill, so the answer is the month's, whatever
 * part of it Agora names.
 */
export function billMonth(fromTs: number, toTs: number, nowMs = Date.now()): number {
  if (fromTs > toTs) throw new AppError('invalid_window', `fromTs (${fromTs}) is after toTs (${toTs})`);
  const month = monthNumberOf(new Date(fromTs * 1000));
  if (monthNumberOf(new Date(toTs * 1000)) !== month) {
    throw new AppError('invalid_window', 'A bill window must lie inside one calendar month (UTC)');
  }
  if (monthStart(month).getTime() > nowMs) throw new AppError('invalid_window', 'The month has not begun');
  return month;
}

/**
 * The bill of a month, fixed by the first request and never changed after. Fixing holds the
 * month's lock exclusive (ingestion of that month waits, and what arrives after is late for this
 * bill) and the plans lock shared (prices cannot change meanwhile).
 */
export function billStatement(db: Db, month: number, config: Pick<Config, 'defaultPlanId' | 'billDecimals'>): Promise<Statement> {
  const start = monthStart(month);
  const end = monthStart(month + 1);
  return store.fixedStatement(db, {
    kind: 'bill',
    start,
    end,
    unit: '',
    locks: [
      { lockClass: LOCK.PLAN, key: 0, shared: true },
      { lockClass: LOCK.MONTH, key: month },
    ],
    writeAll: (trx, id) => writeBill(trx, id, month, config),
    freeze: (trx, id) => freezeBill(trx, id, month, config),
  });
}

/** Knobs of the deferred fix (tests make it fall back or price more exactly). */
export const deferredBillSettings = {
  /**
   * At most this many projects whose month usage is too small to be sure to cost half of the
   * last decimal are priced exactly at the fix; more (a free first tier, say) and the bill is
   * fixed whole, as before.
   */
  exactLimit: 2000,
  /** At most this many distinct plans of customers are looked at (with no default version). */
  planLimit: 1000,
  /** false: every bill is fixed whole. */
  enabled: true,
};

/** The versions in force for `month` as the SQL pricing takes them. */
function pricedVersions(inForce: Map<string, plans.PlanVersion>): repo.PricedVersion[] {
  return [...inForce.values()].map((v) => ({
    versionId: v.id,
    planId: v.planId,
    monthlyFee: v.monthlyFee.toFixed(),
    tiers: v.tiers.map((t) => ({ from: t.from.toFixed(), upTo: t.upTo?.toFixed() ?? null, unitPrice: t.unitPrice.toFixed() })),
  }));
}


/**
 * The deferred fix of a bill (statements/store.ts), under the month's exclusive lock, the plans
 * lock and the plan-change lock: what is priced cannot change while the bill is fixed or after.
 * The month rollup is frozen (events arriving now are late for it), the versions of a billed month
 * cannot change (`month_already_billed`), a customer's plan at the fix is kept by
 * `customer_plan_changes`, and the default plan and BILL_DECIMALS are stored with the statement.
 * How the lines are counted without pricing every project: `deferredBillCount`. The totals are
 * summed as lines are numbered. Falls back to the whole fix (answers null, having written
 * nothing) when that count is not sure to be cheap or exact.
 */
async function freezeBill(trx: Transaction<DB>, id: string, month: number, config: Pick<Config, 'defaultPlanId' | 'billDecimals'>): Promise<FixTotals | null> {
  if (!deferredBillSettings.enabled) return null;
  const priced = await billPricing(trx, month, config);
  const plan = await deferredBillCount(trx, month, config, priced, { kept: trx });
  if (plan === null) return null;
  await takeCorrections(trx, id, priced);
  const counted = await countDeferredBill(trx, month, plan, repo.statementCorrections(id));
  await repo.setBillPricing(trx, id, plan.pricing, counted.skips);
  return { lineCount: counted.lineCount, total: '0', correction: '0' };
}

/**
 * How a month's bill can be counted without pricing every project, decided from what the database
 * holds now (the fix: under its locks; a preview: in its snapshot), or null when it cannot be done
 * cheaply and exactly (the bill is then fixed, or previewed, whole).
 * - `usage`: no project owes a fee. Amounts are never negative and half-up rounding never lowers
 *   them, so a project is a line iff its amount is at least half of the last decimal (`bound`).
 *   Each version reaches that bound at some quantity; a project with at least the largest of them
 *   (`below`) is a line whatever its version, and the few below it (plus every project with a
 *   correction) are priced exactly (`repo.countBillLines`). Null when a version (or no default
 *   version) never reaches the bound, a customer is on a plan without prices and there is no
 *   default version to price it, or more than `exactLimit` quantities are below `below`.
 * - `fee`: a monthly fee is owed. A project owing a fee of at least `bound` is a line whatever its
 *   usage, so the lines are every project but a few: the projects that owe no fee (created at or
 *   after the month's end, off all of it, or on a plan whose version has no fee) are found by
 *   index (`repo.feeExceptions`) and priced exactly, and `line_count = projects − exceptions +
 *   exceptions that are lines`, the number of projects read from `vendor_counts`. At a fix,
 *   creating a project and recording or ending a deactivation wait for it (the plan-change lock,
 *   migration 20261202090000) and are stamped after `fixed_at`, so what the fix counted is what
 *   the lines numbered later read. Null when a fee is below `bound` (such a project may round to
 *   0), customers are on too many plans, or more than `exactLimit` projects owe no fee; counted as
 *   `usage` when no customer is on a plan with a fee.
 */
export async function deferredBillCount(
  db: Db,
  month: number,
  config: Pick<Config, 'defaultPlanId' | 'billDecimals'>,
  priced: Pick<BillPricingOf, 'inForce'>,
  /** A fix's transaction (holding its locks): the line count kept as usage arrived may serve it (`keptLineCount`). */
  options: { kept?: Transaction<DB> } = {},
): Promise<DeferredBillCount | null> {
  const inForce = priced.inForce;
  const bound = new Decimal(5).times(new Decimal(10).pow(-(config.billDecimals + 1)));
  const defaultVersion = inForce.get(config.defaultPlanId) ?? null;
  const limit = deferredBillSettings.exactLimit;
  // A fee is owed only by a project created before the month's end (and not off all month): when
  // one may, nearly every project is a line whatever its usage, and the count is made otherwise.
  const anyFee = [...inForce.values()].some((v) => !v.monthlyFee.isZero());
  if (anyFee && (await repo.anyProjectCreatedBefore(db, monthStart(month + 1)))) {
    const onPlans = await repo.customerPlanIds(db, deferredBillSettings.planLimit);
    if (onPlans.length > deferredBillSettings.planLimit) return null;
    const freePlans: string[] = [];
    for (const planId of onPlans) {
      const fee = (inForce.get(planId) ?? defaultVersion)?.monthlyFee ?? new Decimal(0);
      if (fee.isZero()) freePlans.push(planId);
      else if (fee.lt(bound)) return null;
    }
    // Some customer on a plan with a fee (else nobody owes one: the lines are the usage's alone).
    if (freePlans.length < onPlans.length) {
      const exceptions = await repo.feeExceptions(db, { start: monthStart(month), end: monthStart(month + 1), freePlans, limit });
      if (exceptions.length > limit) return null;
      const pricing: BillPricing = { decimals: config.billDecimals, defaultVersionId: defaultVersion?.id ?? null, versions: pricedVersions(inForce), byProject: true };
      return { kind: 'fee', pricing, exceptions };
    }
  }
  // No project owes a fee: the lines are priced by their tiers and corrections only.
  const usagePricing: BillPricing = {
    decimals: config.billDecimals,
    defaultVersionId: defaultVersion?.id ?? null,
    versions: pricedVersions(inForce).map((v) => ({ ...v, monthlyFee: '0' })),
  };
  if (options.kept) {
    const lines = await keptLineCount(options.kept, monthText(month), config, inForce);
    if (lines !== null) return { kind: 'kept', pricing: usagePricing, lines };
  }
  if (!defaultVersion) {
    // Without a default version a customer on a plan without prices pays nothing for any quantity:
    // such rows could not be told from lines without pricing them. Deferred only when no customer
    // is on such a plan (a plan without a version is then priced by nobody).
    const onPlans = await repo.customerPlanIds(db, deferredBillSettings.planLimit);
    if (onPlans.length > deferredBillSettings.planLimit || onPlans.some((p) => !inForce.has(p))) return null;
  }
  let below = new Decimal(0);
  for (const v of inForce.values()) {
    const q = quantityReaching(v.tiers, bound);
    if (q === null) return null;
    below = Decimal.max(below, q);
  }
  if ((await repo.countSmallUsage(db, monthText(month), below.toFixed(), limit)) > limit) return null;
  return { kind: 'usage', pricing: usagePricing, below: below.toFixed() };
}

/** How a bill is counted without pricing every project (`deferredBillCount`), and what it is priced with. */
export type DeferredBillCount =
  | { kind: 'usage'; pricing: BillPricing; below: string }
  /** No fee owed, and `lines` rows of the month's rollup reach their thresholds (src/billing/line-counts.ts). */
  | { kind: 'kept'; pricing: BillPricing; lines: number }
  | { kind: 'fee'; pricing: BillPricing; exceptions: string[] };

/**
 * The exact line count of a month's bill counted as `plan` says, with the corrections it carries
 * read from `corrections` (rows `project_id, amount`, one a project), and `skips`: the candidates
 * priced exactly that round to 0 (how far past a page its lines have to be read).
 */
export async function countDeferredBill(db: Db, month: number, plan: DeferredBillCount, corrections: RawBuilder<unknown>): Promise<{ lineCount: number; skips: number }> {
  if (plan.kind === 'usage') return repo.countBillLines(db, { month: monthText(month), below: plan.below, pricing: plan.pricing, corrections });
  if (plan.kind === 'kept') return repo.countKeptBillLines(db, { month: monthText(month), kept: plan.lines, pricing: plan.pricing, corrections });
  const projects = await repo.projectCount(db);
  const counted = await repo.countFeeExceptionLines(db, { month: monthText(month), ids: plan.exceptions, pricing: plan.pricing, corrections });
  return { lineCount: projects - plan.exceptions.length + counted.lines, skips: counted.skips };
}

store.defineDeferredLines('bill', repo.billLines, { totalsAsNumbered: true });

/** Every line of bill `id` of `month`, written whole (see `repo.writeBillLines`). */
async function writeBill(trx: Transaction<DB>, id: string, month: number, config: Pick<Config, 'defaultPlanId' | 'billDecimals'>) {
  const pricing = await billPricing(trx, month, config);
  await takeCorrections(trx, id, pricing);
  return repo.writeBillLines(trx, pricing.linesArgs(id));
}

/** Takes the late usage of months already billed into bill `id` (`bill_corrections`). */
async function takeCorrections(trx: Transaction<DB>, id: string, pricing: Pick<BillPricingOf, 'priceCorrections'>) {
  const pending = await repo.takePendingBillCorrections(trx, id);
  await repo.insertBillCorrections(trx, (await pricing.priceCorrections(pending)).map((c) => ({ ...c, statementId: id })));
}

type BillPricingOf = Awaited<ReturnType<typeof billPricing>>;

/**
 * How a bill of `month` is priced, as the fix does it and a preview repeats it: corrections of late
 * usage priced as the next units of their own month (what the month would have cost with them,
 * less what it cost without), and the arguments of the lines' SQL (`repo.billLinesCtes`).
 */
export async function billPricing(db: Db, month: number, config: Pick<Config, 'defaultPlanId' | 'billDecimals'>) {
  const versions = await plans.loadVersions(db);
  const versionFor = (planId: string | undefined, m: string) => {
    const inForce = versionsInForce(versions, m);
    return (planId !== undefined ? inForce.get(planId) : undefined) ?? inForce.get(config.defaultPlanId) ?? null;
  };
  const inForce = versionsInForce(versions, monthText(month));
  return {
    versions,
    inForce,
    priceCorrections: async (pending: { project_id: string; month: string; quantity: string }[]) => {
      if (pending.length === 0) return [];
      const owners = await customerPlans(db, [...new Set(pending.map((p) => p.project_id))]);
      const before = await repo.billedSoFar(db, pending.map((p) => ({ projectId: p.project_id, month: p.month })));
      return pending.map((p) => {
        const version = versionFor(owners.get(p.project_id), p.month);
        const base = new Decimal(before.get(`${p.project_id}|${p.month}`) ?? 0);
        const amount = version ? tieredPrice(version.tiers, base.plus(p.quantity)).minus(tieredPrice(version.tiers, base)) : new Decimal(0);
        return { projectId: p.project_id, month: p.month, versionId: version?.id ?? null, quantity: p.quantity, amount: amount.toFixed() };
      });
    },
    linesArgs: (statementId: string): repo.BillLinesArgs => ({
      statementId,
      month: monthText(month),
      monthStart: monthStart(month),
      monthEnd: monthStart(month + 1),
      versions: pricedVersions(inForce),
      defaultVersionId: inForce.get(config.defaultPlanId)?.id ?? null,
      decimals: config.billDecimals,
    }),
  };
}

/**
 * What a bill line says, showing the arithmetic: `1,200 Minute × gold: 1,000 × 0.002 + 200 × 0.0015`,
 * then the monthly fee and each correction carried, and `= <amount> <currency>`.
 */
export async function billDescriptions(
  db: Db,
  statementId: string,
  lines: StatementLine[],
  /** A preview's corrections (no statement holds them yet); else those bill `statementId` carries. */
  carried?: { project_id: string; month: string; quantity: string; amount: string }[],
): Promise<string[]> {
  const versions = new Map(
    (await plans.loadVersions(db, { versionIds: [...new Set(lines.map((l) => l.versionId).filter((v): v is string => v !== null))] })).map((v) => [v.id, v]),
  );
  const corrections = carried ?? await db
    .selectFrom('bill_corrections')
    .select(['project_id', 'month', 'quantity', 'amount', 'plan_version_id'])
    .where('bill_statement_id', '=', statementId)
    .where('project_id', 'in', lines.length ? lines.map((l) => l.projectId) : ['0'])
    .orderBy('month')
    .execute();
  // Each project's corrections in their order, found by key (a filter per line was lines × corrections).
  const correctionsOf = new Map<string, typeof corrections>();
  for (const c of corrections) {
    const list = correctionsOf.get(c.project_id);
    if (list) list.push(c);
    else correctionsOf.set(c.project_id, [c]);
  }
  // A CSV batch describes a thousand lines (tens of ms): the loop is yielded every few hundred.
  return mapInTurns(lines, (l) => {
    const v = l.versionId ? versions.get(l.versionId) : undefined;
    const unit = v?.usageUnit ?? 'units';
    const parts: string[] = [];
    const quantity = new Decimal(l.quantity);
    if (quantity.gt(0)) {
      const charges = v ? tierCharges(v.tiers, quantity).map((c) => `${groupDigits(c.quantity)} × ${c.unitPrice.toFixed()}`) : ['no price'];
      parts.push(`${groupDigits(quantity)} ${unit} × ${l.planId}: ${charges.join(' + ')}`);
    }
    if (new Decimal(l.fee).gt(0)) parts.push(`monthly fee ${new Decimal(l.fee).toFixed()}`);
    for (const c of correctionsOf.get(l.projectId) ?? []) {
      parts.push(`correction ${new Decimal(c.amount).toFixed()} for ${groupDigits(new Decimal(c.quantity))} ${unit} of ${c.month.slice(0, 7)} that arrived after it was billed`);
    }
    const priced = v && v.planId !== l.planId ? ` (plan ${l.planId} has no prices here: priced with plan ${v.planId})` : '';
    return `${parts.join(' + ')} = ${new Decimal(l.amount).toFixed()}${v ? ` ${v.currency}` : ''}${priced}`;
  });
}
