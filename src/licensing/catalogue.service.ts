import { randomBytes } from 'node:crypto';
import type { Db } from '../db/database.ts';
import type { LicensePid, LicenseSku } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import * as repo from './catalogue.repository.ts';

/** 32 uppercase hex digits, the form of Agora's own PIDs and license values. */
export const randomCode = () => randomBytes(16).toString('hex').toUpperCase();

export interface SkuInput {
  skuId: string;
  product: number;
  name: string;
  mediaType: number;
  minutes: number | null;
  period: string | null;
}

const sameSku = (a: LicenseSku, b: SkuInput) =>
  a.product === b.product && a.name === b.name && a.media_type === b.mediaType && a.minutes === b.minutes && a.period === b.period;

/**
 * SKUs never change once created: the licenses activated under them carry their capability set.
 * Creating the same SKU again answers the existing one (a retry); a different one under a taken id
 * is a conflict.
 */
export async function createSku(db: Db, input: SkuInput): Promise<{ sku: LicenseSku; created: boolean }> {
  const created = await repo.insertSkuIfAbsent(db, {
    sku_id: input.skuId,
    product: input.product,
    name: input.name,
    media_type: input.mediaType,
    minutes: input.minutes,
    period: input.period,
  });
  const sku = (await repo.findSku(db, input.skuId))!;
  if (!created && !sameSku(sku, input)) {
    throw new AppError('sku_conflict', `SKU ${input.skuId} exists with other values; SKUs cannot be changed, create another id`);
  }
  return { sku, created };
}

export interface PidInput {
  /** Unset: generated. */
  pid: string | undefined;
  skuId: string;
  category: LicensePid['category'];
  type: LicensePid['type'];
  validityMonths: number | undefined;
  validityYears: number | undefined;
}

/** The seed's rule: trial validity in months, at least 3; commercial in years, at least 1. */
export function validityMonths(input: Pick<PidInput, 'type' | 'validityMonths' | 'validityYears'>): number {
  if (input.type === 'trial') {
    if (input.validityYears !== undefined) throw new AppError('invalid_validity', 'A trial validity is given in months (validityMonths), not years');
    if (input.validityMonths === undefined) throw new AppError('invalid_validity', 'A trial PID needs validityMonths (at least 3)');
    if (input.validityMonths < 3) throw new AppError('invalid_validity', `A trial validity is at least 3 months; ${input.validityMonths} was given`);
    return input.validityMonths;
  }
  if (input.validityMonths !== undefined) throw new AppError('invalid_validity', 'A commercial validity is given in years (validityYears), not months');
  if (input.validityYears === undefined) throw new AppError('invalid_validity', 'A commercial PID needs validityYears (at least 1)');
  if (input.validityYears < 1) throw new AppError('invalid_validity', `A commercial validity is at least 1 year; ${input.validityYears} was given`);
  return input.validityYears * 12;
}

/**
 * One PID per SKU, category, type and validity. Creating the same definition again answers its
 * PID (whatever PID the request proposed is then a conflict if it differs).
 */
export async function createPid(db: Db, input: PidInput): Promise<{ pid: LicensePid; created: boolean }> {
  const months = validityMonths(input);
  if (!(await repo.findSku(db, input.skuId))) throw new AppError('unknown_sku', `No SKU ${input.skuId}`);
  const definition = { skuId: input.skuId, category: input.category, type: input.type, validityMonths: months };
  const created = await repo.insertPidIfAbsent(db, {
    pid: input.pid ?? randomCode(),
    sku_id: input.skuId,
    category: input.category,
    type: input.type,
    validity_months: months,
  });
  const existing = await repo.findPidByDefinition(db, definition);
  if (existing && (input.pid === undefined || existing.pid === input.pid)) return { pid: existing, created };
  if (existing) {
    throw new AppError('pid_conflict', `SKU ${input.skuId}, ${input.category}, ${input.type} with this validity already has PID ${existing.pid}`);
  }
  // Not inserted and no such definition: the proposed pid is taken by another definition.
  throw new AppError('pid_conflict', `PID ${input.pid} already exists with another SKU, category, type or validity`);
}
