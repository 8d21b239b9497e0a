import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Statement } from '../db/schema.ts';

export type StatementKind = 'usage' | 'bill';

export function findStatement(db: Db, kind: StatementKind, start: Date, end: Date): Promise<Statement | undefined> {
  return db
    .selectFrom('statements')
    .selectAll()
    .where('kind', '=', kind)
    .where('window_start', '=', start)
    .where('window_end', '=', end)
    .executeTakeFirst();
}

export function findStatementById(db: Db, id: string): Promise<Statement | undefined> {
  return db.selectFrom('statements').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertStatement(db: Db, kind: StatementKind, start: Date, end: Date): Promise<string> {
  const row = await db
    .insertInto('statements')
    .values({ kind, window_start: start, window_end: end })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function setStatementTotals(
  db: Db,
  id: string,
  totals: { lineCount: number; total: string; correction: string },
): Promise<Statement> {
  return db
    .updateTable('statements')
    .set({ line_count: totals.lineCount, total_amount: totals.total, correction_amount: totals.correction })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A page is a range of line numbers: one index range scan, whatever the page's depth. */
export function linesPage(db: Db, statementId: string, offset: number, limit: number) {
  return db
    .selectFrom('statement_lines')
    .select(['line_no', 'project_id', 'customer_id', 'plan_id', 'amount', 'correction_amount', 'description'])
    .where('statement_id', '=', statementId)
    .where('line_no', '>', offset)
    .where('line_no', '<=', offset + limit)
    .orderBy('line_no')
    .execute();
}

export function listStatements(
  db: Db,
  filter: { kind?: StatementKind | undefined; from?: Date | undefined; to?: Date | undefined; beforeId?: string | undefined; limit: number },
) {
  let q = db.selectFrom('statements').selectAll();
  if (filter.kind) q = q.where('kind', '=', filter.kind);
  if (filter.from) q = q.where('window_end', '>', filter.from);
  if (filter.to) q = q.where('window_start', '<', filter.to);
  if (filter.beforeId) q = q.where('id', '<', filter.beforeId);
  return q.orderBy('id', 'desc').limit(filter.limit).execute();
}

/** The day's lock: ingestion of events of that day takes it shared, fixing a window exclusive. */
export const DAY_LOCK_CLASS = 7301;

export async function lockDayExclusive(db: Db, dayNumber: number): Promise<void> {
  await sql`select pg_advisory_xact_lock(${DAY_LOCK_CLASS}::int, ${dayNumber}::int)`.execute(db);
}

export async function lockDaysShared(db: Db, dayNumbers: number[]): Promise<void> {
  // Ascending order, always, so two ingestions never wait on each other in a cycle.
  const sorted = [...new Set(dayNumbers)].sort((a, b) => a - b);
  for (const d of sorted) {
    await sql`select pg_advisory_xact_lock_shared(${DAY_LOCK_CLASS}::int, ${d}::int)`.execute(db);
  }
}
