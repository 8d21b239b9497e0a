import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { Statement } from '../db/schema.ts';
import { Decimal } from '../decimal.ts';
import { AppError } from '../errors.ts';
import { monthNumberOf, monthStart, monthText } from '../periods.ts';
import { LOCK } from '../db/locks.ts';
import * as store from '../statements/store.ts';
import type { StatementLine } from '../statements/store.ts';
import * as repo from './bill.repository.ts';
import * as plans from './plans.repository.ts';
import { versionsInForce } from './plans.service.ts';
import { groupDigits, tierCharges, tieredPrice } from './tiers.ts';

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
  });
}

/** Every line of bill `id` of `month`, written whole (see `repo.writeBillLines`). */
async function writeBill(trx: Db, id: string, month: number, config: Pick<Config, 'defaultPlanId' | 'billDecimals'>) {
  const start = monthStart(month);
  const end = monthStart(month + 1);
  const versions = await plans.loadVersions(trx);
  const versionFor = (planId: string | undefined, m: string) => {
    const inForce = versionsInForce(versions, m);
    return (planId !== undefined ? inForce.get(planId) : undefined) ?? inForce.get(config.defaultPlanId) ?? null;
  };

  // Late usage of months already billed, priced as the next units of its own month: what the
  // month would have cost with it, less what it cost without.
  const pending = await repo.takePendingBillCorrections(trx, id);
  if (pending.length > 0) {
    const owners = await repo.customerPlans(trx, [...new Set(pending.map((p) => p.project_id))]);
    const before = await repo.billedSoFar(trx, pending.map((p) => ({ projectId: p.project_id, month: p.month })));
    await repo.insertBillCorrections(
      trx,
      pending.map((p) => {
        const version = versionFor(owners.get(p.project_id), p.month);
        const base = new Decimal(before.get(`${p.project_id}|${p.month}`) ?? 0);
        const amount = version
          ? tieredPrice(version.tiers, base.plus(p.quantity)).minus(tieredPrice(version.tiers, base))
          : new Decimal(0);
        return { statementId: id, projectId: p.project_id, month: p.month, versionId: version?.id ?? null, quantity: p.quantity, amount: amount.toFixed() };
      }),
    );
  }

  const inForce = versionsInForce(versions, monthText(month));
  return repo.writeBillLines(trx, {
    statementId: id,
    month: monthText(month),
    monthStart: start,
    monthEnd: end,
    versions: [...inForce.values()].map((v) => ({
      versionId: v.id,
      planId: v.planId,
      monthlyFee: v.monthlyFee.toFixed(),
      tiers: v.tiers.map((t) => ({ from: t.from.toFixed(), upTo: t.upTo?.toFixed() ?? null, unitPrice: t.unitPrice.toFixed() })),
    })),
    defaultVersionId: inForce.get(config.defaultPlanId)?.id ?? null,
    decimals: config.billDecimals,
  });
}

/**
 * What a bill line says, showing the arithmetic: `1,200 Minute × gold: 1,000 × 0.002 + 200 × 0.0015`,
 * then the monthly fee and each correction carried, and `= <amount> <currency>`.
 */
export async function billDescriptions(db: Db, statementId: string, lines: StatementLine[]): Promise<string[]> {
  const versions = new Map(
    (await plans.loadVersions(db, { versionIds: [...new Set(lines.map((l) => l.versionId).filter((v): v is string => v !== null))] })).map((v) => [v.id, v]),
  );
  const corrections = await db
    .selectFrom('bill_corrections')
    .select(['project_id', 'month', 'quantity', 'amount', 'plan_version_id'])
    .where('bill_statement_id', '=', statementId)
    .where('project_id', 'in', lines.length ? lines.map((l) => l.projectId) : ['0'])
    .orderBy('month')
    .execute();
  return lines.map((l) => {
    const v = l.versionId ? versions.get(l.versionId) : undefined;
    const unit = v?.usageUnit ?? 'units';
    const parts: string[] = [];
    const quantity = new Decimal(l.quantity);
    if (quantity.gt(0)) {
      const charges = v ? tierCharges(v.tiers, quantity).map((c) => `${groupDigits(c.quantity)} × ${c.unitPrice.toFixed()}`) : ['no price'];
      parts.push(`${groupDigits(quantity)} ${unit} × ${l.planId}: ${charges.join(' + ')}`);
    }
    if (new Decimal(l.fee).gt(0)) parts.push(`monthly fee ${new Decimal(l.fee).toFixed()}`);
    for (const c of corrections.filter((c) => c.project_id === l.projectId)) {
      parts.push(`correction ${new Decimal(c.amount).toFixed()} for ${groupDigits(new Decimal(c.quantity))} ${unit} of ${c.month.slice(0, 7)} that arrived after it was billed`);
    }
    const priced = v && v.planId !== l.planId ? ` (plan ${l.planId} has no prices here: priced with plan ${v.planId})` : '';
    return `${parts.join(' + ')} = ${new Decimal(l.amount).toFixed()}${v ? ` ${v.currency}` : ''}${priced}`;
  });
}
