import { sql, type Transaction } from 'kysely';
import type { DB, LicenseRow, Statement } from '../db/schema.ts';
import { emit } from './outbox.ts';

/** Projects named in one usage.correction_carried event; `projectCount` says how many there are. */
const CORRECTION_PROJECTS = 100;

/**
 * statement.fixed, and usage.correction_carried when the statement carries late usage: in the
 * fixing transaction, after its totals are set. Answers the statement, so a fix can return
 * through it.
 */
export async function statementFixed(trx: Transaction<DB>, st: Statement, at: Date = new Date()): Promise<Statement> {
  const window = { windowStart: st.window_start.toISOString(), windowEnd: st.window_end.toISOString() };
  await emit(
    trx,
    'statement.fixed',
    { statementId: st.id, kind: st.kind, ...window, lineCount: st.line_count, total: st.total_amount, correctionTotal: st.correction_amount },
    at,
  );
  if (st.kind === 'usage' && !/^0(\.0*)?$/.test(st.correction_amount)) {
    const { rows } = await sql<{ project_id: string; quantity: string; n: string }>`
      select project_id::text as project_id, quantity::text as quantity, count(*) over ()::text as n
      from statement_corrections where statement_id = ${st.id} order by project_id limit ${CORRECTION_PROJECTS}`.execute(trx);
    await emit(
      trx,
      'usage.correction_carried',
      {
        statementId: st.id,
        ...window,
        correctionTotal: st.correction_amount,
        projectCount: Number(rows[0]?.n ?? 0),
        projects: rows.map((r) => ({ projectId: r.project_id, quantity: r.quantity })),
      },
      at,
    );
  }
  return st;
}

export function licenseData(l: LicenseRow) {
  return { license: l.license, licenseKey: l.license_key, pid: l.pid, customerId: l.customer_id, projectId: l.project_id, expiresAt: l.expires_at.toISOString() };
}
