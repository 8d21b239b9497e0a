import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from '../db/database.ts';
import type { BillPricing, DB, Statement } from '../db/schema.ts';
import { storeBlocksAndTotal } from '../statements/statements.repository.ts';
import type { FixTotals } from '../usage/usage.repository.ts';
import { Decimal } from '../decimal.ts';

/**
 * Marks every event that arrived after its month was billed and is not carried yet as carried by
 * bill `statementId`, and returns them grouped by project and month of the usage.
 */
export async function takePendingBillCorrections(trx: Transaction<DB>, statementId: string) {
  const r = await sql<{ project_id: string; month: string; quantity: string }>`
    with taken as (
      update usage_events set bill_statement_id = ${statementId}::bigint
      where bill_late and bill_statement_id is null
      returning project_id, occurred_at, quantity
    )
    select project_id, to_char(date_trunc('month', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as month,
           sum(quantity)::text as quantity
    from taken group by 1, 2 order by 1, 2`.execute(trx);
  return r.rows;
}

/** What `takePendingBillCorrections` would take now, without taking it. */
export async function peekPendingBillCorrections(db: Db) {
  const r = await sql<{ project_id: string; month: string; quantity: string }>`
    select project_id, to_char(date_trunc('month', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as month,
           sum(quantity)::text as quantity
    from usage_events where bill_late and bill_statement_id is null group by 1, 2 order by 1, 2`.execute(db);
  return r.rows;
}

/** A month's on-time quantity and the corrections already carried, for (project, month) pairs. */
export async function billedSoFar(db: Db, pairs: { projectId: string; month: string }[]) {
  if (pairs.length === 0) return new Map<string, string>();
  const r = await sql<{ project_id: string; month: string; quantity: string }>`
    with p as (select * from unnest(${pairs.map((x) => x.projectId)}::bigint[], ${pairs.map((x) => x.month)}::date[]) as p(project_id, month))
    select p.project_id, to_char(p.month, 'YYYY-MM-DD') as month,
           (coalesce((select r.quantity from usage_month_rollup r where r.month = p.month and r.project_id = p.project_id), 0)
            + coalesce((select sum(c.quantity) from bill_corrections c where c.month = p.month and c.project_id = p.project_id), 0))::text as quantity
    from p`.execute(db);
  return new Map(r.rows.map((x) => [`${x.project_id}|${x.month}`, x.quantity]));
}

/** The corrections a bill takes, in the transaction that fixes it. */
export async function insertBillCorrections(
  trx: Transaction<DB>,
  rows: { statementId: string; projectId: string; month: string; versionId: string | null; quantity: string; amount: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  await trx
    .insertInto('bill_corrections')
    .values(
      rows.map((r) => ({
        bill_statement_id: r.statementId,
        project_id: r.projectId,
        month: r.month,
        plan_version_id: r.versionId,
        quantity: r.quantity,
        amount: r.amount,
      })),
    )
    .execute();
}

/** A version's prices as SQL: its tiers and fee become one expression, evaluated per project. */
export interface PricedVersion {
  versionId: string;
  planId: string;
  monthlyFee: string;
  tiers: { from: string; upTo: string | null; unitPrice: string }[];
}

/**
 * `case version_id when … then <graduated price of quantity> … end`: each tier adds
 * `greatest(0, least(q, upTo) - from) * unitPrice`. An expression rather than a join with the tiers
 * table, so pricing 100,000 projects costs one pass.
 */
export function priceExpression(versions: PricedVersion[], column: 'tiers' | 'fee') {
  if (versions.length === 0) return sql`0::numeric`;
  const arms = versions.map((v) => {
    const value =
      column === 'fee'
        ? sql`${v.monthlyFee}::numeric`
        : sql.join(
            v.tiers.map((t) =>
              t.upTo === null
                ? sql`greatest(0, pr.quantity - ${t.from}::numeric) * ${t.unitPrice}::numeric`
                : sql`greatest(0, least(pr.quantity, ${t.upTo}::numeric) - ${t.from}::numeric) * ${t.unitPrice}::numeric`,
            ),
            sql` + `,
          );
    return sql`when ${v.versionId}::bigint then ${value}`;
  });
  return sql`(case pr.version_id ${sql.join(arms, sql` `)} else 0 end)`;
}

/**
 * Writes the lines of bill `statementId` for one month in one SQL statement. Per project: the
 * month's on-time quantity priced with the graduated tiers of the version in force for the
 * customer's plan (or the default plan's), the version's monthly fee when the project was enabled
 * during the month, and the corrections this bill carries; the sum rounded half-up to `decimals`.
 * Lines in projectId order, in blocks; only non-zero amounts.
 */
export async function writeBillLines(trx: Transaction<DB>, a: BillLinesArgs): Promise<FixTotals> {
  const s = a.statementId;
  // For this transaction only (`set local`), as writeUsageLines.
  await sql`set local work_mem = '64MB'`.execute(trx);
  const result = await sql<{ line_count: number; total: string; correction: string }>`
    with ${billLinesCtes(a, statementCorrections(s))}, ${storeBlocksAndTotal(s, true)}`.execute(trx);
  const row = result.rows[0]!;
  return { lineCount: Number(row.line_count), total: row.total, correction: row.correction };
}

export interface BillLinesArgs {
  statementId: string;
  month: string;
  monthStart: Date;
  monthEnd: Date;
  /** Versions in force this month, one per plan. */
  versions: PricedVersion[];
  defaultVersionId: string | null;
  decimals: number;
}

/**
 * The CTEs of `writeBillLines` up to `numbered` (n from 0 in projectId order, project_id, plan_id,
 * version_id, quantity, correction, fee, amount), with the corrections the bill carries read from
 * `corrections` (rows `project_id, amount`, one a project): the fix's are stored first, a
 * preview's are given.
 */
export function billLinesCtes(a: BillLinesArgs, corrections: RawBuilder<unknown>) {
  const anyFee = a.versions.some((v) => !new Decimal(v.monthlyFee).isZero());
  const start = a.monthStart.toISOString();
  const end = a.monthEnd.toISOString();
  return sql`
    versions as (
      select * from unnest(${a.versions.map((v) => v.planId)}::text[], ${a.versions.map((v) => v.versionId)}::bigint[]) as v(plan_id, version_id)
    ), corr as (${corrections}), off_all_month as (
      select distinct project_id from deactivations
      where ${anyFee}::boolean and project_id is not null and deactivated_at <= ${start}::timestamptz
        and (reactivated_at is null or reactivated_at >= ${end}::timestamptz)
    ), pr as (
      select p.project_id, cu.plan_id, coalesce(v.version_id, ${a.defaultVersionId}::bigint) as version_id,
             coalesce(r.quantity, 0) as quantity, coalesce(c.amount, 0) as correction,
             (${anyFee}::boolean and p.created_at < ${end}::timestamptz and o.project_id is null) as owes_fee
      from projects p
      join customers cu on cu.customer_id = p.customer_id
      left join usage_month_rollup r on r.month = ${a.month}::date and r.project_id = p.project_id
      left join corr c on c.project_id = p.project_id
      left join versions v on v.plan_id = cu.plan_id
      left join off_all_month o on o.project_id = p.project_id
    ), lines as (
      select pr.project_id, pr.plan_id, pr.version_id, pr.quantity, pr.correction,
             case when pr.owes_fee then ${priceExpression(a.versions, 'fee')} else 0 end as fee,
             ${priceExpression(a.versions, 'tiers')} as usage_amount
      from pr
    ), numbered as (
      select row_number() over (order by project_id) - 1 as n, project_id, plan_id, version_id, quantity, correction, fee,
             round(usage_amount + fee + correction, ${a.decimals}::int) as amount
      from lines
      where round(usage_amount + fee + correction, ${a.decimals}::int) <> 0
    )`;
}

/**
 * The rows of `month`'s rollup whose quantity is below `below`, through the index on (month,
 * size_class): a row's `size_class` is at most the class of its quantity (migration
 * 20261205100000), so every such row has a class at most `below`'s. The index hands those, the
 * quantity is checked on each: the rows read are the answer's and those of at most two classes
 * above it, not the month's.
 */
const smallUsage = (month: string, below: string) =>
  sql`select project_id from usage_month_rollup
      where month = ${month}::date and size_class <= usage_size_class(${below}::numeric) and quantity < ${below}::numeric`;

/** How many rows of `month`'s rollup have a quantity below `below`, counting at most `limit + 1` (`smallUsage`). */
export async function countSmallUsage(db: Db, month: string, below: string, limit: number): Promise<number> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from (${smallUsage(month, below)} limit ${limit + 1}::int) x`.execute(db);
  return Number(r.rows[0]!.n);
}

/**
 * The plans customers are on, at most `limit + 1` of them: a skip scan of the index on
 * `customers (plan_id)`, one probe per plan, whatever the number of customers.
 */
export async function customerPlanIds(db: Db, limit: number): Promise<string[]> {
  const r = await sql<{ plan_id: string }>`
    with recursive p(plan_id, n) as (
      (select plan_id, 1 from customers order by plan_id limit 1)
      union all
      select (select c.plan_id from customers c where c.plan_id > p.plan_id order by c.plan_id limit 1), p.n + 1
      from p where p.plan_id is not null and p.n <= ${limit}::int
    )
    select plan_id from p where plan_id is not null`.execute(db);
  return r.rows.map((x) => x.plan_id);
}

/** Whether any project was created before `end` (only those can owe a month's fee). */
export async function anyProjectCreatedBefore(db: Db, end: Date): Promise<boolean> {
  const r = await sql<{ found: boolean }>`select exists (select 1 from projects where created_at < ${end.toISOString()}::timestamptz) as found`.execute(db);
  return r.rows[0]!.found;
}

const versionsTable = (p: BillPricing) =>
  sql`select * from unnest(${p.versions.map((v) => v.planId)}::text[], ${p.versions.map((v) => v.versionId)}::bigint[]) as v(plan_id, version_id)`;

const roundedAmount = (p: BillPricing) => sql`round(${priceExpression(p.versions, 'tiers')} + pr.correction, ${p.decimals}::int)`;

/**
 * The corrections bill `statementId` took (rows `project_id, amount`, one a project): what the
 * deferred count and lines of a fixed bill read (a preview reads the pending ones instead).
 */
export const statementCorrections = (statementId: string) =>
  sql`select project_id, sum(amount) as amount from bill_corrections where bill_statement_id = ${statementId}::bigint group by project_id`;

/**
 * The deferred fix's count (see `freezeBill` in bill.service.ts), with the corrections the bill
 * carries read from `corrections` (rows `project_id, amount`, one a project: those the fix took,
 * or those a preview would take). The line count is that of the projects with a rollup row
 * (`usage_month_counts`), less the candidates priced exactly here that round to 0, plus those
 * priced here that have no rollup row (corrections only) and do not. Priced here: every project
 * whose rollup quantity is below `below` (under it an amount may round to 0) and every project
 * with a correction in this bill. Every other rollup row is a line: its quantity is at least
 * `below`, so it costs at least half of the last decimal under any version in force.
 */
export async function countBillLines(db: Db, a: { month: string; below: string; pricing: BillPricing; corrections: RawBuilder<unknown> }) {
  const r = await sql<{ projects: number; in_rollup: number; lines: number; skips: number }>`
    with ver as (${versionsTable(a.pricing)}),
    corr as (${a.corrections}), e as (
      select project_id from corr
      union
      ${smallUsage(a.month, a.below)}
    ), pr as (
      select e.project_id, coalesce(v.version_id, ${a.pricing.defaultVersionId}::bigint) as version_id,
             coalesce(r.quantity, 0) as quantity, coalesce(c.amount, 0) as correction, r.project_id is not null as in_rollup
      from e
      join projects p on p.project_id = e.project_id
      join customers cu on cu.customer_id = p.customer_id
      left join ver v on v.plan_id = cu.plan_id
      left join usage_month_rollup r on r.month = ${a.month}::date and r.project_id = e.project_id
      left join corr c on c.project_id = e.project_id
    )
    select (select coalesce(sum(projects), 0) from usage_month_counts where month = ${a.month}::date)::int as projects,
           count(*) filter (where in_rollup)::int as in_rollup,
           count(*) filter (where ${roundedAmount(a.pricing)} <> 0)::int as lines,
           count(*) filter (where ${roundedAmount(a.pricing)} = 0)::int as skips
    from pr`.execute(db);
  const row = r.rows[0]!;
  return { lineCount: Number(row.projects) - Number(row.in_rollup) + Number(row.lines), skips: Number(row.skips) };
}

/**
 * The count of a month kept as usage arrived (src/billing/line-counts.ts): `kept` rollup rows reach
 * their thresholds, so they are the lines but for the projects with a correction in this bill
 * (rows `project_id, amount` of `corrections`), which are priced exactly here. `skips`: every
 * other candidate the lines are read among (the rollup rows and the corrections without one) that
 * is no line.
 */
export async function countKeptBillLines(db: Db, a: { month: string; kept: number; pricing: BillPricing; corrections: RawBuilder<unknown> }) {
  const r = await sql<{ rows: number; counted: number; extra: number; lines: number }>`
    with ver as (${versionsTable(a.pricing)}),
    corr as (${a.corrections}), pr as (
      select c.project_id, coalesce(v.version_id, ${a.pricing.defaultVersionId}::bigint) as version_id,
             coalesce(r.quantity, 0) as quantity, c.amount as correction, r.project_id is not null as in_rollup,
             coalesce(r.quantity >= r.line_at, false) as counted
      from corr c
      join projects p on p.project_id = c.project_id
      join customers cu on cu.customer_id = p.customer_id
      left join ver v on v.plan_id = cu.plan_id
      -- By key for each correction (a month's statistics may not know its rows yet).
      left join lateral (select x.project_id, x.quantity, x.line_at from usage_month_rollup x
                         where x.month = ${a.month}::date and x.project_id = c.project_id) r on true
    )
    select (select coalesce(sum(projects), 0) from usage_month_counts where month = ${a.month}::date)::int as rows,
           count(*) filter (where counted)::int as counted,
           count(*) filter (where not in_rollup)::int as extra,
           count(*) filter (where ${roundedAmount(a.pricing)} <> 0)::int as lines
    from pr`.execute(db);
  const row = r.rows[0]!;
  const lineCount = a.kept - Number(row.counted) + Number(row.lines);
  return { lineCount, skips: Number(row.rows) + Number(row.extra) - lineCount };
}

/** The pricing a deferred bill is numbered with, stored by the transaction that fixes it. */
export async function setBillPricing(trx: Transaction<DB>, statementId: string, pricing: BillPricing, skips: number): Promise<void> {
  await trx.updateTable('statements').set({ bill_pricing: JSON.stringify(pricing), bill_skips: skips }).where('id', '=', statementId).execute();
}

/**
 * What the lines of a deferred bill are read from: the rows its fix froze (`fixedBillSource`), or
 * what one snapshot holds now (a preview, browse/preview.service.ts).
 */
export interface BillLinesSource {
  /** The month's first day (`YYYY-MM-DD`) and its bounds. */
  month: string;
  start: Date;
  end: Date;
  pricing: BillPricing;
  /** Candidates that round to 0 in the whole bill (the count's `skips`): how far past a page to read. */
  skips: number;
  /** At most `upTo` rows `project_id, amount` (one a project) of the corrections the bill carries, after project `from`, in projectId order. */
  corrections: (from: RawBuilder<unknown>, upTo: number) => RawBuilder<unknown>;
  /** The amount of the corrections the bill carries for project `projectId` (null: none), by key. */
  correctionOf: (projectId: RawBuilder<unknown>) => RawBuilder<unknown>;
  /**
   * The moment the lines are of: the fix's `fixed_at` (each customer's plan then, the projects and
   * deactivation records recorded before it); null: everything as the reading snapshot sees it.
   */
  asOf: RawBuilder<unknown> | null;
}

/** A fixed deferred bill's frozen rows. */
export function fixedBillSource(st: Statement): BillLinesSource {
  const pricing = st.bill_pricing;
  if (!pricing || st.bill_skips === null) throw new Error(`bill ${st.id} was not fixed deferred`);
  return {
    month: st.window_start.toISOString().slice(0, 10),
    start: st.window_start,
    end: st.window_end,
    pricing,
    skips: st.bill_skips,
    corrections: (from, upTo) => sql`
      select project_id, sum(amount) as amount from bill_corrections
      where bill_statement_id = ${st.id}::bigint and project_id > ${from}
      group by project_id order by project_id limit ${upTo}::int`,
    correctionOf: (projectId) => sql`(select sum(c.amount) from bill_corrections c where c.bill_statement_id = ${st.id}::bigint and c.project_id = ${projectId})`,
    asOf: sql`(select fixed_at from statements where id = ${st.id}::bigint)`,
  };
}

/** The numbering of a bill fixed by `freezeBill` (statements/store.ts `defineDeferredLines`). */
export function billLines(st: Statement, after: string | null, base: number, count: number) {
  return billLinesOf(fixedBillSource(st), after, base, 0, count);
}

/**
 * The lines of a deferred bill after project `after`, skipping `skip` of them, at most `count`,
 * numbered from `base` (the first line after `after` is `base`). At most `src.skips` candidates
 * round to 0 in the whole bill, so `skip + count + skips` candidates from `after` hold the lines
 * wanted: they are read by key, and a page costs its size plus what it skips.
 */
export function billLinesOf(src: BillLinesSource, after: string | null, base: number, skip: number, count: number) {
  return src.pricing.byProject ? linesByProject(src, after, base, skip, count) : linesByUsage(src, after, base, skip, count);
}

/**
 * The plan of customer `p.customer_id` (`cu` its row): the one it had at `asOf` (a later change
 * left the plan before it in `customer_plan_changes`), or its plan now.
 */
const planAt = (asOf: RawBuilder<unknown> | null) =>
  asOf === null
    ? sql`cu.plan_id`
    : sql`coalesce((select ch.plan_id from customer_plan_changes ch
                    where ch.customer_id = p.customer_id and ch.changed_at > ${asOf}
                    order by ch.changed_at limit 1), cu.plan_id)`;

/**
 * Past this many candidates a page deep in a preview (plans as they are now) joins the projects
 * and customers instead of probing them line by line: a hash of every project costs less than
 * that many probes (about 60 ms against 160 ms for lines 19,001–20,000 of 20,000 projects).
 */
const JOINED_REACH = 5000;

/**
 * The lines of a month no project owes a fee in: the month's rollup (frozen at a fix: events
 * arriving after it are late for it) and the corrections the bill carries, merged by project,
 * priced with the bill's versions for the plan of each customer (`planAt`); the lines that
 * round to 0 left out. Both sides are read by key from `after`; the plans too, but for a preview's
 * deep page (`JOINED_REACH`).
 */
function linesByUsage(src: BillLinesSource, after: string | null, base: number, skip: number, count: number) {
  const pricing = src.pricing;
  const from = sql`coalesce(${after}::bigint, -9223372036854775808)`;
  const reach = skip + count + src.skips;
  return sql`
    select ${base}::bigint + row_number() over (order by x.project_id) - 1 as n,
           x.project_id, x.plan_id, x.version_id, x.quantity, x.correction, 0::numeric as fee, x.amount
    from (
      select pr.project_id, pr.plan_id, pr.version_id, pr.quantity, pr.correction, ${roundedAmount(pricing)} as amount
      from (
        select m.project_id, o.plan_id, coalesce(v.version_id, ${pricing.defaultVersionId}::bigint) as version_id, m.quantity, m.correction
        from (
          -- The rollup rows in projectId order, each with its correction (a probe by key), merged
          -- with the corrections of projects that have no rollup row: two ordered streams, so the
          -- chunk reads rows only until it has its lines, not the whole reach (a full join's
          -- coalesced key would be sorted, every row of the reach read first).
          select u.project_id, u.quantity, u.correction from (
            select r.project_id, r.quantity, coalesce(${src.correctionOf(sql`r.project_id`)}, 0) as correction
            from (select project_id, quantity from usage_month_rollup
                  where month = ${src.month}::date and project_id > ${from} order by project_id limit ${reach}::int) r
            union all
            select c.project_id, 0::numeric, c.amount
            from (${src.corrections(from, reach)}) c
            where not exists (select 1 from usage_month_rollup r where r.month = ${src.month}::date and r.project_id = c.project_id)
          ) u
          order by u.project_id limit ${reach}::int
        ) m
        ${
          src.asOf === null && reach > JOINED_REACH
            ? sql`join (select p.project_id, cu.plan_id from projects p join customers cu on cu.customer_id = p.customer_id) o on o.project_id = m.project_id`
            : // By key for each line (limit 1 keeps the planner from hashing every project instead).
              sql`cross join lateral (
                select ${planAt(src.asOf)} as plan_id
                from projects p join customers cu on cu.customer_id = p.customer_id
                where p.project_id = m.project_id
                limit 1
              ) o`
        }
        left join (${versionsTable(pricing)}) v on v.plan_id = o.plan_id
      ) pr
    ) x
    where x.amount <> 0
    order by x.project_id
    offset ${skip}::int limit ${count}::int`;
}

/** How many projects exist (`vendor_counts`, kept by triggers on `projects`): a few rows. */
export async function projectCount(db: Db): Promise<number> {
  const r = await sql<{ n: string }>`
    select coalesce(sum(n), 0)::text as n from vendor_counts where name in ('projects:active', 'projects:deactivated')`.execute(db);
  return Number(r.rows[0]!.n);
}

/**
 * The projects that owe no fee for a month though a version with a fee is in force (see
 * `freezeFeeBill`): created at or after its end, off all of it (a period of the project begun by
 * its start and not ended before its end, as `billLinesCtes` reads it), or of a customer on one of
 * `freePlans` (plans whose version charges no fee). Each kind read by index and cut at `limit + 1`,
 * so the answer holds more than `limit` ids exactly when there are more than `limit` such projects.
 */
export async function feeExceptions(db: Db, a: { start: Date; end: Date; freePlans: string[]; limit: number }): Promise<string[]> {
  const start = a.start.toISOString();
  const end = a.end.toISOString();
  const cut = a.limit + 1;
  const r = await sql<{ project_id: string }>`
    select project_id::text from (
      (select project_id from projects where created_at >= ${end}::timestamptz limit ${cut}::int)
      union
      (select distinct project_id from deactivations
       where project_id is not null and deactivated_at <= ${start}::timestamptz
         and (reactivated_at is null or reactivated_at >= ${end}::timestamptz)
       limit ${cut}::int)
      union
      (select p.project_id from customers c join projects p on p.customer_id = c.customer_id
       where c.plan_id = any(${a.freePlans}::text[]) limit ${cut}::int)
    ) x`.execute(db);
  return r.rows.map((x) => x.project_id);
}

/**
 * The fee-owing fix's exceptions priced exactly (they owe no fee, so a usage amount and the
 * corrections the bill carries, rows `project_id, amount` of `corrections`, decide whether each is
 * a line): how many are lines and how many round to 0.
 */
export async function countFeeExceptionLines(db: Db, a: { month: string; ids: string[]; pricing: BillPricing; corrections: RawBuilder<unknown> }) {
  const r = await sql<{ lines: number; skips: number }>`
    with ver as (${versionsTable(a.pricing)}),
    corr as (${a.corrections}), pr as (
      select e.project_id, coalesce(v.version_id, ${a.pricing.defaultVersionId}::bigint) as version_id,
             coalesce(r.quantity, 0) as quantity, coalesce(c.amount, 0) as correction
      from unnest(${a.ids}::bigint[]) as e(project_id)
      join projects p on p.project_id = e.project_id
      join customers cu on cu.customer_id = p.customer_id
      left join ver v on v.plan_id = cu.plan_id
      left join usage_month_rollup r on r.month = ${a.month}::date and r.project_id = e.project_id
      left join corr c on c.project_id = e.project_id
    )
    select count(*) filter (where ${roundedAmount(a.pricing)} <> 0)::int as lines,
           count(*) filter (where ${roundedAmount(a.pricing)} = 0)::int as skips
    from pr`.execute(db);
  return { lines: Number(r.rows[0]!.lines), skips: Number(r.rows[0]!.skips) };
}

/**
 * The lines of a fee month's bill (`pricing.byProject`): every project (at a fix, every project
 * recorded before it), in projectId order, with its month usage, the corrections the bill carries,
 * the plan of its customer (`planAt`) and the fee it owes: created before the month's end and not
 * off all of it, as the deactivations tell (at a fix, those recorded before it, and a reactivation
 * recorded after it is not seen). The lines that round to 0 are left out; at most `skips` projects
 * do in the whole bill (projects recorded after a fix are passed over, not counted).
 */
function linesByProject(src: BillLinesSource, after: string | null, base: number, skip: number, count: number) {
  const pricing = src.pricing;
  const start = src.start.toISOString();
  const end = src.end.toISOString();
  const asOf = src.asOf;
  const from = sql`coalesce(${after}::bigint, -9223372036854775808)`;
  const reach = skip + count + src.skips;
  return sql`
    select ${base}::bigint + row_number() over (order by x.project_id) - 1 as n,
           x.project_id, x.plan_id, x.version_id, x.quantity, x.correction, x.fee, x.amount
    from (
      select f.project_id, f.plan_id, f.version_id, f.quantity, f.correction, f.fee,
             round(f.usage_amount + f.fee + f.correction, ${pricing.decimals}::int) as amount
      from (
        select pr.project_id, pr.plan_id, pr.version_id, pr.quantity, pr.correction,
               case when pr.owes_fee then ${priceExpression(pricing.versions, 'fee')} else 0 end as fee,
               ${priceExpression(pricing.versions, 'tiers')} as usage_amount
        from (
          select p.project_id, o.plan_id, coalesce(v.version_id, ${pricing.defaultVersionId}::bigint) as version_id,
                 -- Scalar subqueries, each a probe by key: as joins the planner hashes the whole
                 -- month (or every deactivation) for a chunk of a thousand lines.
                 coalesce((select r.quantity from usage_month_rollup r where r.month = ${src.month}::date and r.project_id = p.project_id), 0) as quantity,
                 coalesce(${src.correctionOf(sql`p.project_id`)}, 0) as correction,
                 (p.created_at < ${end}::timestamptz and coalesce((
                   select false from deactivations d
                   where d.project_id = p.project_id ${asOf === null ? sql`` : sql`and d.recorded_at < ${asOf}`}
                     and d.deactivated_at <= ${start}::timestamptz
                     and (d.reactivated_at is null or d.reactivated_at >= ${end}::timestamptz
                          ${asOf === null ? sql`` : sql`or d.reactivation_recorded_at >= ${asOf}`})
                   limit 1
                 ), true)) as owes_fee
          from (select project_id, customer_id, created_at from projects
                where project_id > ${from} ${asOf === null ? sql`` : sql`and recorded_at < ${asOf}`}
                order by project_id limit ${reach}::int) p
          -- By key for each line (limit 1 keeps the planner from hashing every project instead).
          cross join lateral (
            select ${planAt(asOf)} as plan_id
            from customers cu where cu.customer_id = p.customer_id
            limit 1
          ) o
          left join (${versionsTable(pricing)}) v on v.plan_id = o.plan_id
          -- Not flattened into the expressions above, which name each column several times (each
          -- subquery would run once per mention).
          offset 0
        ) pr
      ) f
    ) x
    where x.amount <> 0
    order by x.project_id
    offset ${skip}::int limit ${count}::int`;
}
