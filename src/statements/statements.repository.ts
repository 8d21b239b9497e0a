import { sql, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB, Statement } from '../db/schema.ts';
import { LOCK } from '../db/locks.ts';

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

/**
 * A new statement, in the transaction that fixes it (its totals and first lines are written before
 * it commits: nobody sees a statement without them). The writes below likewise.
 */
export async function insertStatement(trx: Transaction<DB>, kind: StatementKind, start: Date, end: Date, unit: string): Promise<string> {
  const row = await trx
    .insertInto('statements')
    .values({ kind, window_start: start, window_end: end, unit })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function setStatementTotals(
  trx: Transaction<DB>,
  id: string,
  totals: { lineCount: number; total: string; correction: string },
  building: boolean,
): Promise<Statement> {
  return trx
    .updateTable('statements')
    .set({ line_count: totals.lineCount, total_amount: totals.total, correction_amount: totals.correction, building })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Adds a chunk's amounts to the statement's totals (statements totalled as they are numbered). */
export function addToTotals(trx: Transaction<DB>, id: string, chunk: { total: string; correction: string }): Promise<Statement> {
  return trx
    .updateTable('statements')
    .set({
      total_amount: sql<string>`total_amount + ${chunk.total}::numeric`,
      correction_amount: sql<string>`correction_amount + ${chunk.correction}::numeric`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function setBuilding(trx: Transaction<DB>, id: string, building: boolean): Promise<Statement> {
  return trx.updateTable('statements').set({ building }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** The statement, its row locked until the transaction ends (numbering its lines). */
export function lockStatement(trx: Transaction<DB>, id: string): Promise<Statement | undefined> {
  return trx.selectFrom('statements').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** The last block written of a statement: its number, how many lines it holds, its last project. */
export async function lastBlock(db: Db, id: string) {
  const r = await sql<{ block_no: number; lines: number; last_project_id: string }>`
    select block_no, cardinality(project_ids) as lines, project_ids[cardinality(project_ids)]::text as last_project_id
    from statement_blocks where statement_id = ${id}::bigint order by block_no desc limit 1`.execute(db);
  return r.rows[0];
}

/** Statements whose lines are still being numbered (in a period, when given). */
export async function buildingIds(db: Db, filter?: { kind?: StatementKind; from: Date; to: Date }): Promise<string[]> {
  let q = db.selectFrom('statements').select('id').where('building', '=', true);
  if (filter?.kind) q = q.where('kind', '=', filter.kind);
  if (filter) q = q.where('window_end', '>', filter.from).where('window_start', '<', filter.to);
  return (await q.orderBy('id').execute()).map((r) => r.id);
}

/** Lines per row of `statement_blocks`. */
export const BLOCK_SIZE = 100;

/**
 * The end of the SQL statement that fixes a statement: stores the CTE `numbered` (`n` from 0 in
 * projectId order, project_id, plan_id, amount, correction; bills also quantity, version_id, fee)
 * in blocks of BLOCK_SIZE lines and selects the statement's line count and totals. A line whose
 * amount is not positive fails the insert (check `statement_block_amounts_positive`): the fix rolls
 * back and nothing is sent, rather than Agora being told a negative amount.
 */
export function storeBlocksAndTotal(statementId: string, bill: boolean) {
  const block = sql`n / ${sql.lit(BLOCK_SIZE)}`;
  const billColumns = bill ? sql`, quantities, version_ids, fees` : sql``;
  const billArrays = bill
    ? sql`, array_agg(quantity order by n), array_agg(version_id order by n), array_agg(fee order by n)`
    : sql``;
  return sql`
    blocks as (
      insert into statement_blocks (statement_id, block_no, project_ids, plan_ids, amounts, corrections${billColumns})
      select ${statementId}::bigint, ${block}, array_agg(project_id order by n), array_agg(plan_id order by n),
             array_agg(amount order by n), array_agg(correction order by n)${billArrays}
      from numbered
      group by ${block}
      returning 1
    )
    select count(*)::int as line_count,
           coalesce(sum(amount), 0)::text as total,
           coalesce(sum(correction), 0)::text as correction,
           (select count(*) from blocks) as block_count
    from numbered`;
}

export interface StatementLine {
  /** 1-based position in projectId order. */
  lineNo: number;
  projectId: string;
  planId: string;
  amount: string;
  correction: string;
  /** Bill lines only: the quantity priced, the plan version that priced it, the monthly fee. */
  quantity: string;
  versionId: string | null;
  fee: string;
}

/**
 * Lines `offset + 1` to `offset + limit`: the one or few blocks that hold them, read by key, so a
 * page costs the same at any depth.
 */
export async function linesPage(db: Db, statementId: string, offset: number, limit: number): Promise<StatementLine[]> {
  const firstBlock = Math.floor(offset / BLOCK_SIZE);
  const lastBlock = Math.floor((offset + limit - 1) / BLOCK_SIZE);
  const blocks = await db
    .selectFrom('statement_blocks')
    .select([
      'block_no',
      sql<string[]>`project_ids::text[]`.as('project_ids'),
      'plan_ids',
      sql<string[]>`amounts::text[]`.as('amounts'),
      sql<string[]>`corrections::text[]`.as('corrections'),
      sql<string[] | null>`quantities::text[]`.as('quantities'),
      sql<string[] | null>`version_ids::text[]`.as('version_ids'),
      sql<string[] | null>`fees::text[]`.as('fees'),
    ])
    .where('statement_id', '=', statementId)
    .where('block_no', '>=', firstBlock)
    .where('block_no', '<=', lastBlock)
    .orderBy('block_no')
    .execute();
  const lines: StatementLine[] = [];
  for (const b of blocks) {
    b.project_ids.forEach((projectId, i) => {
      const lineNo = b.block_no * BLOCK_SIZE + i + 1;
      if (lineNo > offset && lineNo <= offset + limit) {
        lines.push({
          lineNo,
          projectId,
          planId: b.plan_ids[i]!,
          amount: b.amounts[i]!,
          correction: b.corrections[i]!,
          quantity: b.quantities?.[i] ?? b.amounts[i]!,
          versionId: b.version_ids?.[i] ?? null,
          fee: b.fees?.[i] ?? '0',
        });
      }
    });
  }
  return lines;
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

/** Kept for callers of the former home of the day lock class; all classes: src/db/locks.ts. */
export const DAY_LOCK_CLASS = LOCK.DAY;
