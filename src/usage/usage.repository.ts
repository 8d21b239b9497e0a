import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB, Statement } from '../db/schema.ts';
import { storeBlocksAndTotal } from '../statements/statements.repository.ts';
import { LOCK } from '../db/locks.ts';
import { isoText, type UsageEventInput } from './usage-event.ts';

export interface EventRow {
  id: string;
  projectId: string;
  quantity: string;
  occurredAt: Date;
  description: string | null;
  late: boolean;
  billLate: boolean;
}

/** Windows already reported (usage and bill) that touch the given range of time. */
export function reportedWindows(db: Db, from: Date, to: Date) {
  return db
    .selectFrom('statements')
    .select(['kind', 'window_start', 'window_end'])
    .where('window_start', '<', to)
    .where('window_end', '>', from)
    .execute();
}

/** Rows per day of `usage_day_counts`: concurrent batches write different rows, mostly. */
const DAY_COUNT_SHARDS = 8;

/**
 * Inserts the events whose id is new and adds exactly what was inserted to the rollups, with each
 * event's classification as given (`late`, `billLate`), in one statement (the function
 * `usage_insert_events`, migration 20261201020000, which `usage_ingest` calls as well): each rollup
 * gains the stored rows that are on time for it. Returns the positions (from 0) in `rows` of the
 * events inserted, matched to the stored rows by the database itself, so the answer is what was
 * stored and never a comparison of JavaScript strings with what came back. An id that exists (or
 * is being inserted by a concurrent request) is left alone.
 *
 * Row locks are taken in one global order, so concurrent batches (the same ids, in any order)
 * wait for each other but never deadlock: events in id order, then day rollups and month rollups
 * in (period, project) order, the day counters last. The caller holds the periods' shared locks.
 */
export async function insertNewEvents(db: Db, rows: EventRow[]): Promise<Set<number>> {
  if (rows.length === 0) return new Set();
  const result = await sql<{ ord: number }>`
    select ord from usage_insert_events(
      ${rows.map((r) => r.id)}::text[],
      ${rows.map((r) => r.projectId)}::bigint[],
      ${rows.map((r) => r.quantity)}::numeric[],
      ${rows.map((r) => r.occurredAt.toISOString())}::timestamptz[],
      ${rows.map((r) => r.description)}::text[],
      ${rows.map((r) => r.late)}::boolean[],
      ${rows.map((r) => r.billLate)}::boolean[],
      ${DAY_COUNT_SHARDS}::int) as ord`.execute(db);
  return new Set(result.rows.map((r) => Number(r.ord) - 1));
}

/** What became of one event of a batch stored by `ingestBatch`. */
export type BatchVerdict =
  | { verdict: 'accepted' | 'same' | 'different' | 'missing' | 'unknown_project' }
  | { verdict: 'project_deactivated'; from: Date; until: Date | null };

/** One element of a PostgreSQL array literal: quoted, so any text (NULL, braces, commas, space) is itself. */
const arrayText = (s: string) => `"${s.includes('"') || s.includes('\\') ? s.replace(/["\\]/g, '\\$&') : s}"`;

/**
 * Stores a batch of events with distinct ids in one round trip (the function `usage_ingest_batch`,
 * migration 20261205100000, as `usage_ingest` of migrations 20261201020000 and 20261204090000):
 * the checks of each event's project, the shared month and day locks, the late and bill-late
 * classification under them, the insert with its rollups and day counts, and the comparison of
 * each existing id with the stored event, all in one implicit transaction. Answers each event's
 * verdict, in the order given. The database answers in one row: how many events it accepted, and
 * the position and verdict of every other one (usually none); every event not named is accepted,
 * and the count must say so. The events travel as five array literals (the database reads an array
 * once, where each field of a JSON element was lexed again); quantities and moments as text,
 * projectIds as digits, so none needs quoting; descriptions as one NULL when no event has one.
 */
export async function ingestBatch(db: Db, events: UsageEventInput[]): Promise<BatchVerdict[]> {
  const n = events.length;
  let ids = '{';
  let projects = '{';
  let quantities = '{';
  let ats = '{';
  let descriptions = '{';
  let described = false;
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    const sep = i === 0 ? '' : ',';
    ids += sep + arrayText(e.id);
    projects += sep + e.projectId;
    quantities += sep + e.quantity;
    ats += sep + isoText(e.occurredAt.getTime());
    if (e.description !== null) described = true;
    descriptions += sep + (e.description === null ? 'NULL' : arrayText(e.description));
  }
  const result = await sql<{ accepted: number; event_ord: number[]; verdict: string[]; off_from: (Date | null)[]; off_until: (Date | null)[] }>`
    select accepted, event_ord, verdict, off_from, off_until
    from usage_ingest_batch(${`${ids}}`}::text[], ${`${projects}}`}::bigint[], ${`${quantities}}`}::numeric[], ${`${ats}}`}::timestamptz[],
                            ${described ? `${descriptions}}` : null}::text[], ${LOCK.MONTH}::int, ${LOCK.DAY}::int, ${DAY_COUNT_SHARDS}::int)`.execute(db);
  if (result.rows.length !== 1) throw new Error(`usage_ingest_batch answered ${result.rows.length} rows, not 1`);
  const r = result.rows[0]!;
  const verdicts: (BatchVerdict | undefined)[] = new Array(n);
  for (let j = 0; j < r.event_ord.length; j++) {
    const at = Number(r.event_ord[j]) - 1;
    const v = r.verdict[j];
    if (!(at >= 0 && at < n) || verdicts[at] !== undefined) throw new Error(`usage_ingest_batch answered event ${at} of ${n} twice or out of range`);
    if (v === 'project_deactivated') verdicts[at] = { verdict: v, from: r.off_from[j]!, until: r.off_until[j] ?? null };
    else if (v === 'same' || v === 'different' || v === 'missing' || v === 'unknown_project') verdicts[at] = { verdict: v };
    else throw new Error(`usage_ingest_batch answered an unknown verdict ${v}`);
  }
  // Every event has exactly one answer from the database; anything else is a fault, not a guess.
  if (Number(r.accepted) + r.event_ord.length !== n) {
    throw new Error(`usage_ingest_batch accepted ${r.accepted} and named ${r.event_ord.length} of ${n} events`);
  }
  const accepted: BatchVerdict = { verdict: 'accepted' };
  // Array.from visits the holes too (map would skip them).
  return Array.from(verdicts, (v) => v ?? accepted);
}

export type { FixTotals } from '../statements/store.ts';
import type { FixTotals } from '../statements/store.ts';

/**
 * Writes the lines of usage statement `statementId` in one SQL statement. Usage on time is
 * reported by the first statement whose window holds its moment, so:
 * - a whole day reports the day's rollup less what shorter windows of the day already reported;
 * - a shorter window reports the day's events in it that no earlier window of the day held
 *   (nothing once the whole day was reported);
 * - every late event not yet carried, whatever its day, is carried here as a correction and
 *   marked so;
 * - one line per project with a non-zero amount, numbered in projectId order, in blocks.
 * The caller holds the day's exclusive lock, so no event of the day is being ingested meanwhile.
 */
export async function writeUsageLines(trx: Transaction<DB>, args: UsageLinesArgs): Promise<FixTotals> {
  // Sorting and hashing 100,000 lines fits in memory rather than spilling to disk (for this
  // transaction only: `set local`).
  await sql`set local work_mem = '64MB'`.execute(trx);
  const taken = sql`update usage_events set statement_id = ${args.statementId}::bigint where late and statement_id is null returning project_id, quantity`;
  const result = await sql<{ line_count: number; total: string; correction: string }>`
    with ${usageLinesCtes(args, taken)}, ${storeBlocksAndTotal(args.statementId, false)}`.execute(trx);
  const row = result.rows[0]!;
  return { lineCount: Number(row.line_count), total: row.total, correction: row.correction };
}

/** The late events not carried yet, as a fix would take them (without taking them): `project_id, quantity`. */
export const pendingCorrectionEvents = () => sql`select project_id, quantity from usage_events where late and statement_id is null`;

export interface UsageLinesArgs {
  statementId: string;
  day: string;
  start: Date;
  end: Date;
  wholeDay: boolean;
  /** Windows of the day fixed before this one. */
  earlier: { start: Date; end: Date; wholeDay: boolean }[];
}

/**
 * The CTEs of `writeUsageLines` up to `numbered` (n from 0 in projectId order, project_id, plan_id,
 * amount, correction), with the corrections carried read from `correctionEvents` (rows
 * `project_id, quantity`): the fix takes them (an update), a preview reads them.
 */
export function usageLinesCtes(args: UsageLinesArgs, correctionEvents: RawBuilder<unknown>) {
  const { statementId: s, day } = args;
  const dayStart = `${day}T00:00:00Z`;
  let natural;
  if (args.wholeDay) {
    natural = sql`
      select r.project_id, r.quantity - coalesce(e.quantity, 0) as quantity
      from usage_day_rollup r
      left join (
        select u.project_id, sum(u.amount - u.correction) as quantity
        from statements st
        join statement_blocks b on b.statement_id = st.id
        cross join lateral unnest(b.project_ids, b.amounts, b.corrections) as u(project_id, amount, correction)
        where st.kind = 'usage' and st.window_start >= ${dayStart}::timestamptz
          and st.window_end <= ${dayStart}::timestamptz + interval '1 day' and st.id <> ${s}::bigint
        group by u.project_id
      ) e on e.project_id = r.project_id
      where r.day = ${day}::date`;
  } else if (args.earlier.some((w) => w.wholeDay)) {
    natural = sql`select null::bigint as project_id, null::numeric as quantity where false`;
  } else {
    natural = sql`
      select project_id, sum(quantity) as quantity
      from usage_events ev
      where not late
        and occurred_at >= ${args.start.toISOString()}::timestamptz
        and occurred_at < ${args.end.toISOString()}::timestamptz
        and not exists (
          select 1 from unnest(${args.earlier.map((w) => w.start.toISOString())}::timestamptz[],
                               ${args.earlier.map((w) => w.end.toISOString())}::timestamptz[]) as w(s, e)
          where ev.occurred_at >= w.s and ev.occurred_at < w.e)
      group by project_id`;
  }
  return sql`
    nat as (${natural}),
    corr_events as (${correctionEvents}),
    corr as (
      select project_id, sum(quantity) as quantity from corr_events group by project_id
    ), numbered as (
      select row_number() over (order by m.project_id) - 1 as n, m.project_id, cu.plan_id, m.amount, m.correction
      from (
        select coalesce(n.project_id, c.project_id) as project_id,
               coalesce(n.quantity, 0) + coalesce(c.quantity, 0) as amount,
               coalesce(c.quantity, 0) as correction
        from nat n full join corr c on c.project_id = n.project_id
      ) m
      join projects p on p.project_id = m.project_id
      join customers cu on cu.customer_id = p.customer_id
      where m.amount <> 0
    )`;
}

/**
 * The deferred fix of a whole day no shorter window of which was reported (statements/store.ts),
 * under the day's exclusive lock: takes every late event not carried yet into statement
 * `statementId` (per project in `statement_corrections`), and answers the line count and totals
 * from what ingestion keeps: one line per project of the day's rollup (every rollup row is on-time
 * usage, so positive), plus one per project that only has corrections. Nothing is copied.
 */
export async function freezeUsageDay(trx: Transaction<DB>, statementId: string, day: string): Promise<FixTotals> {
  const s = statementId;
  const r = await sql<{ line_count: string; total: string; correction: string }>`
    with taken as (
      update usage_events set statement_id = ${s}::bigint
      where late and statement_id is null
      returning project_id, quantity
    ), corr as (
      insert into statement_corrections (statement_id, project_id, quantity)
      select ${s}::bigint, project_id, sum(quantity) from taken group by project_id order by project_id
      returning project_id, quantity
    ), ${dayTotals(day)}`.execute(trx);
  const row = r.rows[0]!;
  return { lineCount: Number(row.line_count), total: row.total, correction: row.correction };
}

/**
 * The end of a statement whose CTE `corr` holds a whole day's corrections (`project_id, quantity`,
 * one row a project): its line count and totals from what ingestion keeps (`usage_day_counts`).
 */
export function dayTotals(day: string) {
  return sql`
    counts as (
      select coalesce(sum(projects), 0) as projects, coalesce(sum(quantity), 0) as quantity
      from usage_day_counts where day = ${day}::date
    )
    select ((select projects from counts)
            + (select count(*) from corr c
               where not exists (select 1 from usage_day_rollup r where r.day = ${day}::date and r.project_id = c.project_id)))::text as line_count,
           ((select quantity from counts) + coalesce((select sum(quantity) from corr), 0))::text as total,
           coalesce((select sum(quantity) from corr), 0)::text as correction`;
}

/**
 * The lines of a whole day fixed by `freezeUsageDay`, after project `after`, numbered from `base`:
 * the day's rollup (frozen: events arriving after the fix are late) plus the corrections the
 * statement took, merged by project, with the plan each customer had when the statement was fixed
 * (a later change left the plan before it in `customer_plan_changes`). Both sides are read by key
 * from `after`, `count` rows at most, so a chunk costs its size.
 */
export function usageDayLines(st: Statement, after: string | null, base: number, count: number) {
  return dayLines({
    day: st.window_start.toISOString().slice(0, 10),
    corrections: (from, upTo) =>
      sql`select project_id, quantity from statement_corrections
          where statement_id = ${st.id}::bigint and project_id > ${from} order by project_id limit ${upTo}::int`,
    planAsOf: sql`(select fixed_at from statements where id = ${st.id}::bigint)`,
    after,
    base,
    skip: 0,
    count,
  });
}

/**
 * The lines of a whole day: the day's rollup plus the corrections `corrections(from, upTo)` yields
 * (at most `upTo` rows `project_id, quantity` after project `from`, in projectId order, one a
 * project), merged by project, after project `after`, skipping `skip` of them, numbered from
 * `base`, with the plan each customer had at `planAsOf` (a later change left the plan before it
 * in `customer_plan_changes`). Both sides are read by key, `skip + count` rows at most.
 */
export function dayLines(a: {
  day: string;
  corrections: (from: RawBuilder<unknown>, upTo: number) => RawBuilder<unknown>;
  planAsOf: RawBuilder<unknown>;
  after: string | null;
  base: number;
  skip: number;
  count: number;
}) {
  const from = sql`coalesce(${a.after}::bigint, -9223372036854775808)`;
  const upTo = a.skip + a.count;
  return sql`
    select ${a.base}::bigint + row_number() over (order by m.project_id) - 1 as n, m.project_id, o.plan_id, m.amount, m.correction
    from (
      select coalesce(r.project_id, c.project_id) as project_id,
             coalesce(r.quantity, 0) + coalesce(c.quantity, 0) as amount,
             coalesce(c.quantity, 0) as correction
      from (select project_id, quantity from usage_day_rollup
            where day = ${a.day}::date and project_id > ${from} order by project_id limit ${upTo}::int) r
      full join (${a.corrections(from, upTo)}) c
        on c.project_id = r.project_id
      order by 1 offset ${a.skip}::int limit ${a.count}::int
    ) m
    -- By key for each line (limit 1 keeps the planner from hashing every project instead).
    cross join lateral (
      select coalesce((select ch.plan_id from customer_plan_changes ch
                       where ch.customer_id = p.customer_id
                         and ch.changed_at > ${a.planAsOf}
                       order by ch.changed_at limit 1), cu.plan_id) as plan_id
      from projects p join customers cu on cu.customer_id = p.customer_id
      where p.project_id = m.project_id
      limit 1
    ) o`;
}

/**
 * Recounts `usage_day_counts` from the day rollups, for a database whose rollups were written
 * by something else than ingestion (the benchmark's seed).
 */
export async function recountDays(db: Db): Promise<void> {
  await sql`delete from usage_day_counts`.execute(db);
  await sql`
    insert into usage_day_counts (day, shard, projects, quantity)
    select day, 0, count(*), coalesce(sum(quantity), 0) from usage_day_rollup group by day`.execute(db);
}
