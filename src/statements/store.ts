import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import { LOCK, lockExclusive, lockShared, type LockClass } from '../db/locks.ts';
import type { DB, Statement } from '../db/schema.ts';
import { statementFixed } from '../notifications/events.ts';
import * as repo from './statements.repository.ts';
import { observer } from '../ops/observe.ts';

/**
 * The statement store: the one owner of a statement's lifecycle. It finds a statement, fixes it
 * under its period's locks the first time it is asked for, stores its lines and pages them. Usage
 * and billing only say what their lines are (`FixRecipe`, `defineDeferredLines`); agora/ serves.
 *
 * Two ways to fix:
 * - **Whole** (windows shorter than a day, a day after shorter windows, bills the deferred fix
 *   cannot count cheaply): every line is computed and written into blocks in the fixing
 *   transaction, as before.
 * - **Deferred** (a whole day nobody asked for before): the fixing transaction takes the late usage
 *   the statement carries (`statement_corrections`), reads the line count and totals ingestion keeps
 *   (`usage_day_counts`), numbers the first block of lines and commits: O(page), whatever the number
 *   of projects. The statement is `building`: its other lines are numbered into blocks afterwards,
 *   in projectId order, from rows frozen by the fix (the day's rollup, which no event touches once
 *   the day is reported; the corrections taken; the plan each customer had at `fixed_at`). A
 *   background job in the fixing process numbers them in chunks, and any request or instance that
 *   needs a line not numbered yet numbers it itself (up to that line), so a fix interrupted half-way
 *   is finished by whoever comes next. A deferred bill (billing/bill.service.ts `freezeBill`) is
 *   fixed the same way: its count is exact at the fix, its totals are summed as it is numbered.
 *   Numbering takes the statement's row lock, so two numberers
 *   never write the same block; every block is computed from frozen rows, so whoever writes it
 *   writes the same lines. Pages are always read from blocks: once answered, they never change.
 *
 * Safety is that of the whole fix: the fix holds its day's lock exclusive, so an event is either
 * in the frozen rollup (in this statement) or late (a correction in a later one). The statement
 * block check (`0 < all(amounts)`) refuses a non-positive line; the first block is numbered in
 * the fixing transaction, so a fix whose first lines would be refused is not fixed at all.
 */

export type StatementKind = repo.StatementKind;

export interface FixTotals {
  lineCount: number;
  total: string;
  correction: string;
}

export interface LockSpec {
  lockClass: LockClass;
  key: number;
  shared?: boolean;
}

/** What a statement is: its window, the locks that hold its period still, and how its lines are made. */
export interface FixRecipe {
  kind: StatementKind;
  start: Date;
  end: Date;
  /** The unit word of usage descriptions, fixed with the statement ('' for bills). */
  unit: string;
  /** Taken in order, in the fixing transaction, before the statement is looked for again. */
  locks: LockSpec[];
  /** Computes and stores every line now (blocks through `storeBlocksAndTotal`); answers the totals. */
  writeAll(trx: Transaction<DB>, statementId: string): Promise<FixTotals>;
  /**
   * The deferred fix, when it applies (decided under the locks): takes what the statement carries
   * and answers its count and totals, without writing lines; `defineDeferredLines(kind)` numbers them.
   */
  freeze?(trx: Transaction<DB>, statementId: string): Promise<FixTotals | null>;
}

/**
 * The lines of a deferred statement of one kind: SQL yielding up to `count` rows `(n, project_id,
 * plan_id, amount, correction)`, the lines after project `after` (null: from the first), in
 * projectId order, numbered `n` from `base`. Computed from frozen rows only: the same call gives
 * the same rows whenever and wherever it runs.
 */
export type DeferredLines = (st: Statement, after: string | null, base: number, count: number) => RawBuilder<unknown>;

const deferredLines = new Map<StatementKind, DeferredLines>();
/** Kinds whose totals are not known at the fix: each chunk numbered adds its lines' amounts. */
const totalledAsNumbered = new Set<StatementKind>();

/**
 * `totalsAsNumbered`: the fix answers the line count only (totals 0), and the statement's totals
 * are the sums of the lines numbered so far, exact once it is no longer `building` (bills: what
 * each line costs is known only by pricing it).
 */
export function defineDeferredLines(kind: StatementKind, lines: DeferredLines, options: { totalsAsNumbered?: boolean } = {}): void {
  deferredLines.set(kind, lines);
  if (options.totalsAsNumbered) totalledAsNumbered.add(kind);
}

/** Knobs of the numbering; tests shorten the chunks, stop the background job or make a chunk fail. */
export const buildSettings: {
  /** Lines numbered per transaction (a multiple of BLOCK_SIZE). */
  chunkLines: number;
  /** Number the rest of a deferred statement in the background after its fix. */
  background: boolean;
  /** How long after the fix the background numbering starts (the first page is read meanwhile). */
  backgroundDelayMs: number;
  /** The background job's pause between chunks, so pages asked meanwhile are not held up. */
  pauseMs: number;
  /** Called before each chunk is numbered (tests: a numbering that dies half-way). */
  beforeChunk: ((statementId: string, fromLine: number) => void | Promise<void>) | null;
  /** Where a background numbering's failure is told (main: the log). */
  report: (err: unknown, statementId: string) => void;
} = {
  chunkLines: 1000,
  background: true,
  backgroundDelayMs: 100,
  pauseMs: 20,
  beforeChunk: null,
  report: (err, id) => process.stderr.write(`statement ${id}: numbering its lines failed: ${err instanceof Error ? err.message : String(err)}\n`),
};

export const findStatement = repo.findStatement;
export const findStatementById = repo.findStatementById;
export const listStatements = repo.listStatements;
export type StatementLine = repo.StatementLine;
export const BLOCK_SIZE = repo.BLOCK_SIZE;

async function takeLocks(trx: Transaction<DB>, locks: LockSpec[]): Promise<void> {
  for (const l of locks) {
    if (l.shared) await lockShared(trx, l.lockClass, [l.key]);
    else await lockExclusive(trx, l.lockClass, l.key);
  }
}

/**
 * The statement of a window, fixed the first time it is asked for and never changed after. The
 * period's locks make a second instance asking for the same window wait and then find it.
 */
export async function fixedStatement(db: Db, recipe: FixRecipe): Promise<Statement> {
  const found = await repo.findStatement(db, recipe.kind, recipe.start, recipe.end);
  if (found) return found;
  const started = performance.now();
  let fixedHere = false;
  const statement = await db.transaction().execute(async (trx) => {
    await takeLocks(trx, recipe.locks);
    const again = await repo.findStatement(trx, recipe.kind, recipe.start, recipe.end);
    if (again) return again;
    fixedHere = true;
    const deferred = recipe.freeze && deferredLines.has(recipe.kind) ? await freezeOrGiveBack(trx, recipe, recipe.freeze) : null;
    if (deferred === null) {
      const id = await repo.insertStatement(trx, recipe.kind, recipe.start, recipe.end, recipe.unit);
      return statementFixed(trx, await repo.setStatementTotals(trx, id, await recipe.writeAll(trx, id), false));
    }
    const st = await repo.setStatementTotals(trx, deferred.id, deferred.frozen, deferred.frozen.lineCount > 0);
    // The first block now, in the fixing transaction: the first page is ready, and a first line the
    // blocks refuse leaves nothing fixed.
    return statementFixed(trx, st.building ? await numberChunk(trx, st, repo.BLOCK_SIZE) : st);
  });
  if (fixedHere) observer()?.statementFixed(recipe.kind, (performance.now() - started) / 1000);
  // A moment later: the first page is read right after the fix, and on a small machine the
  // numbering would compete with it.
  if (statement.building && buildSettings.background) scheduleBuild(db, statement.id);
  return statement;
}

/**
 * The deferred fix of `recipe`, or null, having left nothing behind, when it does not apply.
 * The plan-change lock is taken before `fixed_at` is stamped: a plan change either committed
 * before (the fix sees it) or is stamped after `fixed_at` (lines numbered later see the plan as it
 * was). It is taken inside a savepoint, so a fix that finds it cannot defer gives the lock back
 * (rolling back to a savepoint releases the advisory locks taken after it) before writing every
 * line: a whole fix reads and writes its lines in one statement and needs no such lock, and held
 * through it (45 s for a bill of 1,000,000 projects) every other fix and plan change would wait.
 */
async function freezeOrGiveBack(
  trx: Transaction<DB>,
  recipe: FixRecipe,
  freeze: NonNullable<FixRecipe['freeze']>,
): Promise<{ id: string; frozen: FixTotals } | null> {
  await sql`savepoint deferred_fix`.execute(trx);
  await lockExclusive(trx, LOCK.PLAN_CHANGE, 0);
  const id = await repo.insertStatement(trx, recipe.kind, recipe.start, recipe.end, recipe.unit);
  const frozen = await freeze(trx, id);
  if (frozen === null) {
    await sql`rollback to savepoint deferred_fix`.execute(trx);
    return null;
  }
  await sql`release savepoint deferred_fix`.execute(trx);
  return { id, frozen };
}

/**
 * Numbers the next `want` lines (at most) of building statement `st`, which the caller holds
 * (row lock), after the blocks already written. Answers the statement as it is after.
 */
async function numberChunk(trx: Transaction<DB>, st: Statement, want: number): Promise<Statement> {
  const lines = deferredLines.get(st.kind);
  if (!lines) throw new Error(`no deferred lines for ${st.kind} statements`);
  const done = await repo.lastBlock(trx, st.id);
  const base = done ? done.block_no * repo.BLOCK_SIZE + done.lines : 0;
  if (done && done.lines < repo.BLOCK_SIZE && base < st.line_count) {
    throw new Error(`statement ${st.id}: block ${done.block_no} holds ${done.lines} lines, not the last`);
  }
  // Every line numbered: nothing may follow the last. If something does (the count ingestion kept
  // was wrong), Agora was told the count already: the statement stays as answered, the log says
  // so, and reconciliation shows the difference.
  const complete = async () => {
    const last = await repo.lastBlock(trx, st.id);
    const more = await sql<{ n: string }>`select count(*)::text as n from (${lines(st, last?.last_project_id ?? null, st.line_count, 1)}) x`.execute(trx);
    if (more.rows[0]!.n !== '0') buildSettings.report(new Error(`more lines than the count ${st.line_count} it was fixed with`), st.id);
    return repo.setBuilding(trx, st.id, false);
  };
  if (base >= st.line_count) return complete();
  const count = Math.min(want, st.line_count - base);
  await buildSettings.beforeChunk?.(st.id, base);
  const r = await sql<{ line_count: number; total: string; correction: string }>`
    with numbered as (${lines(st, done?.last_project_id ?? null, base, count)}),
    ${repo.storeBlocksAndTotal(st.id, st.kind === 'bill')}`.execute(trx);
  const produced = Number(r.rows[0]!.line_count);
  if (produced !== count) throw new Error(`statement ${st.id}: ${produced} lines from line ${base + 1} where ${count} were due`);
  // In the chunk's transaction: the totals always are those of the blocks written.
  const now = totalledAsNumbered.has(st.kind) ? await repo.addToTotals(trx, st.id, r.rows[0]!) : { ...st };
  return base + count === st.line_count ? complete() : now;
}

/**
 * Numbers the lines of statement `id` up to block `throughBlock` (all: Infinity), a chunk per
 * transaction, each under the statement's row lock. Whoever holds the lock, this waits for it and
 * then goes on from what is written, so any number of callers (pages, background jobs, instances)
 * finish the statement together and never write a block twice.
 */
export async function numberLines(db: Db, id: string, throughBlock = Infinity, pauseMs = 0): Promise<void> {
  for (let first = true; ; first = false) {
    // The background job leaves the database to requests between its chunks.
    if (!first && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    const finished = await db.transaction().execute(async (trx) => {
      const st = await repo.lockStatement(trx, id);
      if (!st || !st.building) return true;
      const done = await repo.lastBlock(trx, id);
      if (done && done.block_no >= throughBlock) return true;
      // A chunk at a time, and at least up to the block a page needs (a poller reading page after
      // page then numbers once every chunk and reads the pages between), but never so much in one
      // transaction that a page far ahead holds the lock for long: what it numbered stays numbered
      // if its answer comes too late for Agora, and the retry goes on from there.
      const base = done ? done.block_no * repo.BLOCK_SIZE + done.lines : 0;
      const needed = Number.isFinite(throughBlock) ? (throughBlock + 1) * repo.BLOCK_SIZE - base : 0;
      const chunk = buildSettings.chunkLines;
      const after = await numberChunk(trx, st, Math.min(Math.max(chunk, needed), 10 * chunk));
      return !after.building;
    });
    if (finished) return;
  }
}

const inFlight = new WeakMap<Db, Map<string, Promise<void>>>();
/** Statements this process saw numbered to the end (ids of one database; bounded by its statements). */
const complete = new Set<string>();

/** Numbers a building statement's lines in this process, once per database handle and statement. */
export function buildInBackground(db: Db, id: string): Promise<void> {
  let running = inFlight.get(db);
  if (!running) inFlight.set(db, (running = new Map()));
  const existing = running.get(id);
  if (existing) return existing;
  const job = numberLines(db, id, Infinity, buildSettings.pauseMs)
    .then(() => void complete.add(id))
    .catch((err: unknown) => buildSettings.report(err, id))
    .finally(() => running.delete(id));
  running.set(id, job);
  return job;
}

const scheduled = new WeakMap<Db, Set<Promise<void>>>();

/** `buildInBackground` a moment from now (`buildSettings.backgroundDelayMs`). */
function scheduleBuild(db: Db, id: string): void {
  let pending = scheduled.get(db);
  if (!pending) scheduled.set(db, (pending = new Set()));
  const set = pending;
  const job: Promise<void> = new Promise<void>((resolve) => setTimeout(resolve, buildSettings.backgroundDelayMs))
    .then(() => buildInBackground(db, id))
    .finally(() => set.delete(job));
  set.add(job);
}

/** Resumes the numbering of every statement left building (a process that stopped half-way). */
export async function resumeBuilds(db: Db): Promise<void> {
  for (const id of await repo.buildingIds(db)) void buildInBackground(db, id);
}

/** Waits for the background numberings of this process (tests). */
export async function settleBuilds(db: Db): Promise<void> {
  await Promise.all([...(scheduled.get(db) ?? [])]);
  await Promise.all([...(inFlight.get(db)?.values() ?? [])]);
}

/** Finishes every statement building in a period, before reading lines straight from blocks. */
export async function finishBuilds(db: Db, filter: { kind?: StatementKind; from: Date; to: Date }): Promise<void> {
  for (const id of await repo.buildingIds(db, filter)) await numberLines(db, id);
}

/**
 * Lines `offset + 1` to `offset + limit` of a statement, from its blocks; lines not numbered yet
 * are numbered first (up to them).
 */
export async function linesPage(db: Db, st: Statement, offset: number, limit: number): Promise<StatementLine[]> {
  // A statement fixed by another process that stopped half-way: this one finishes it.
  if (st.building && buildSettings.background && !complete.has(st.id)) void buildInBackground(db, st.id);
  if (offset >= st.line_count) return [];
  const lastLine = Math.min(offset + limit, st.line_count);
  const lastBlock = Math.floor((lastLine - 1) / repo.BLOCK_SIZE);
  const lines = await repo.linesPage(db, st.id, offset, limit);
  if (lines.length === lastLine - offset) return lines;
  await numberLines(db, st.id, lastBlock);
  return repo.linesPage(db, st.id, offset, limit);
}

export { LOCK };
