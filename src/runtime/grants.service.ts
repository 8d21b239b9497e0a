import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { emit } from '../notifications/outbox.ts';
import { findCustomer } from '../provisioning/provisioning.repository.ts';
import { PLATFORMS } from './rules.ts';

export interface GrantInput {
  platforms: string[];
  startS: number;
  endS: number;
  type: string;
}

/** `android|ios` → the distinct platforms, in order; each must be one this server knows. */
export function parsePlatforms(text: string): string[] {
  const list = text.split('|').map((p) => p.trim().toLowerCase());
  if (list.length === 0 || list.some((p) => p === '')) throw new AppError('invalid_parameter', 'platform must list one or more platforms joined with |, e.g. android|ios');
  for (const p of list) {
    if (!PLATFORMS.some((x) => x === p)) throw new AppError('invalid_parameter', `platform ${p.slice(0, 32)} is not one of ${PLATFORMS.join(', ')}`);
  }
  return [...new Set(list)].sort();
}

/** `<startTs>-<endTs>`, Unix seconds: milliseconds, text, or an end not after the start are refused. */
export function parseExpire(text: string): { startS: number; endS: number } {
  const m = /^(\d{1,13})-(\d{1,13})$/.exec(text.trim());
  if (!m) throw new AppError('invalid_parameter', 'expire must be <startTs>-<endTs> in Unix seconds, e.g. 1735689600-1767225600');
  const startS = Number(m[1]);
  const endS = Number(m[2]);
  if (startS >= 1e11 || endS >= 1e11) throw new AppError('invalid_parameter', 'expire looks like milliseconds; send Unix seconds');
  if (endS <= startS) throw new AppError('invalid_parameter', 'expire: the end must be after the start');
  return { startS, endS };
}

/**
 * Records Agora's grant: the customer may use the extension on these platforms from start to end.
 * The same grant again (Agora's retries) finds its row and changes nothing, and sends nothing: the
 * `agora.grant` event is stored in the insert's transaction only when a row was inserted. The
 * insert also bumps the customer's license-file version (a trigger), so the files list it.
 */
export async function recordGrant(db: Db, customerId: string, g: GrantInput, now: Date): Promise<{ created: boolean }> {
  if (!(await findCustomer(db, customerId))) throw new AppError('unknown_customer', `Customer ${customerId} is not provisioned`);
  return db.transaction().execute(async (trx) => {
    const r = await trx
      .insertInto('license_grants')
      .values({ customer_id: customerId, platforms: g.platforms, starts_at: new Date(g.startS * 1000), ends_at: new Date(g.endS * 1000), type: g.type })
      .onConflict((oc) => oc.columns(['customer_id', 'starts_at', 'ends_at', 'platforms', 'type']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (r === undefined) return { created: false };
    await emit(
      trx,
      'agora.grant',
      { grantId: r.id, customerId, platforms: g.platforms, startsAt: new Date(g.startS * 1000).toISOString(), endsAt: new Date(g.endS * 1000).toISOString(), type: g.type },
      now,
    );
    return { created: true };
  });
}
