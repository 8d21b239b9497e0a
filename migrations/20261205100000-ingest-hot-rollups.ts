import { sql, type Kysely } from 'kysely';

/**
 * Cheaper ingestion of a batch (docs/usage.md "Ingestion speed"), every guarantee of migrations
 * 20261201020000 and 20261204090000 kept (their comments): the same checks, locks, lock order,
 * classification and answers.
 *
 * - The month rollup's updates can be HOT (no index write): `usage_month_rollup_quantity_idx`
 *   (month, quantity), which the bill's deferred fix reads the few small quantities of a month
 *   through (src/billing/bill.repository.ts `countSmallUsage`, `countBillLines`), held the value
 *   every batch changes. It is replaced by `usage_month_rollup_size_idx` on (month, size_class):
 *   `size_class` is a lower bound of the row's size class (`usage_size_class`: how many of the
 *   thresholds 1, 2, 5 × 10^k, k from −18 to 20, are at most the quantity), so a row whose quantity
 *   is below `b` has a class at most `usage_size_class(b)`, and the fix reads those rows by index
 *   and checks the quantity itself. Ingestion raises the class only once the quantity reaches the
 *   threshold two classes up (then to the exact class): a row's index entry is rewritten at most
 *   once per two classes of growth (a quantity at least 6.25 times as large), and a batch that
 *   doubles a row's quantity at most crosses one threshold (each is at least twice the one
 *   before), so it leaves the class as it was. The fix reads at most the rows of two classes more
 *   than it keeps. Triggers keep the bound for any other writer: a row inserted with class 0 (the
 *   default: a seed, a hand-made row) gets its exact class, and an update that lowers the quantity
 *   or raises the class leaves at most the exact class. Ingestion fires them only when it raises
 *   a class, to the exact one, which they leave as it is (it writes a class on insert and never
 *   lowers a quantity).
 * - Both rollups' pages are filled to 50% on insert: a HOT update needs room for the row's new
 *   version in its page, and a batch that updates rows a previous batch inserted (the same
 *   projects again: a sender's periodic report) updates every row of their pages in one
 *   transaction, before any old version can be pruned; at 70% only about 4 in 10 of those found
 *   room.
 * - `usage_insert_new_events` runs its statement from PL/pgSQL, whose plan is kept for the
 *   session; as a SQL function the statement was parsed and planned again for every batch.
 * - `usage_ingest_batch` is `usage_ingest` (20261204090000) answering in one row: how many events
 *   were accepted, and the position, verdict and deactivation period of every other one as arrays
 *   (usually empty), instead of a row per event; the descriptions may be one null when no event
 *   has one. `usage_ingest` (both signatures) stays for an instance not upgraded yet.
 */
const SIZE_THRESHOLDS = Array.from({ length: 39 }, (_, i) => i - 18)
  .flatMap((e) => [`1e${e}`, `2e${e}`, `5e${e}`])
  .join(',');

/**
 * The statement both insert paths run, in parts: the events (`input`, numbered when the answer is
 * their positions), their insert (`ins`, with "on conflict" on the path that may meet stored ids),
 * the day rollup, the month rollup (keeping its size class since this migration, plainly before)
 * and the day counters, locked last (after every rollup row: the global lock order), in day order.
 * Raw SQL text, no parameters; down() builds the earlier functions from the same parts.
 */
const inputCte = (numbered: boolean) => `with input as (
        select * from unnest(p_id, p_project, p_quantity, p_at, p_description, p_late, p_bill_late)
          ${numbered ? 'with ordinality ' : ''}as i(id, project_id, quantity, occurred_at, description, late, bill_late${numbered ? ', ord' : ''})
      )`;
const insCte = (onConflict: boolean) => `ins as (
        insert into usage_events (id, project_id, quantity, occurred_at, description, late, bill_late)
        select i.id, i.project_id, i.quantity, i.occurred_at, i.description, i.late, i.bill_late from input i order by i.id
        ${onConflict ? 'on conflict (id) do nothing\n        returning usage_events.id,' : 'returning'} usage_events.project_id, usage_events.quantity, usage_events.occurred_at, usage_events.late, usage_events.bill_late
      )`;
const DAY_ROLLUP = `day_rollup as (
        -- trim_scale: the sum written as its shortest decimal, as each quantity is
        insert into usage_day_rollup (day, project_id, quantity)
        select (n.occurred_at at time zone 'UTC')::date, n.project_id, trim_scale(sum(n.quantity))
        from ins n where not n.late group by 1, 2 order by 1, 2
        on conflict (day, project_id) do update set quantity = usage_day_rollup.quantity + excluded.quantity
        returning usage_day_rollup.day, xmax::text = '0' as fresh
      )`;
const MONTH_ROLLUP_SIZED = `month_rollup as (
        insert into usage_month_rollup (month, project_id, quantity, size_class)
        select m.month, m.project_id, m.quantity, usage_size_class(m.quantity)
        from (select date_trunc('month', n.occurred_at at time zone 'UTC')::date as month, n.project_id, trim_scale(sum(n.quantity)) as quantity
              from ins n where not n.bill_late group by 1, 2) m
        order by 1, 2
        on conflict (month, project_id) do update set
          quantity = usage_month_rollup.quantity + excluded.quantity,
          size_class = case when usage_month_rollup.quantity + excluded.quantity >= usage_size_class_floor(usage_month_rollup.size_class + 2)
                            then usage_size_class(usage_month_rollup.quantity + excluded.quantity)
                            else usage_month_rollup.size_class end
        returning 1
      )`;
const MONTH_ROLLUP_PLAIN = `month_rollup as (
        insert into usage_month_rollup (month, project_id, quantity)
        select date_trunc('month', n.occurred_at at time zone 'UTC')::date, n.project_id, trim_scale(sum(n.quantity))
        from ins n where not n.bill_late group by 1, 2 order by 1, 2
        on conflict (month, project_id) do update set quantity = usage_month_rollup.quantity + excluded.quantity
        returning 1
      )`;
const DAY_COUNTS = `day_counts as (
        -- Per day: the projects that got their first rollup row (xmax 0: inserted, not updated)
        -- and the quantity added, into the shard of this connection.
        insert into usage_day_counts (day, shard, projects, quantity)
        select d.day, pg_backend_pid() % p_shards, d.projects, s.quantity
        from (select r.day, count(*) filter (where r.fresh) as projects from day_rollup r group by r.day) d
        join (select (n.occurred_at at time zone 'UTC')::date as day, trim_scale(sum(n.quantity)) as quantity
              from ins n where not n.late group by 1) s on s.day = d.day
        cross join (select count(*) from month_rollup) m
        order by d.day
        on conflict (day, shard) do update set projects = usage_day_counts.projects + excluded.projects,
                                        quantity = usage_day_counts.quantity + excluded.quantity
        returning 1
      )`;
/** The arguments of both insert paths: the events as arrays, and the shards of the day counters. */
const INSERT_ARGS = sql.raw(
  'p_id text[], p_project bigint[], p_quantity numeric[], p_at timestamptz[], p_description text[], p_late boolean[], p_bill_late boolean[], p_shards int',
);
/** The CTEs of one insert path: numbered events and "on conflict" for the path that may meet stored ids. */
const insertCtes = (anyIds: boolean, sized: boolean) =>
  sql.raw([inputCte(anyIds), insCte(anyIds), DAY_ROLLUP, sized ? MONTH_ROLLUP_SIZED : MONTH_ROLLUP_PLAIN, DAY_COUNTS].join(', '));


/**
 * `usage_insert_events`, the path that may meet stored ids ("on conflict"), answering the positions
 * of the events it stored: with the month rollup keeping its size class (this migration), or as
 * migration 20261201020000 left it (down).
 */
async function createInsertEvents(db: Kysely<any>, sized: boolean): Promise<void> {
  await sql`
    create or replace function usage_insert_events(${INSERT_ARGS})
    returns setof int
    language plpgsql volatile as $$
    begin
      return query
      ${insertCtes(true, sized)}
      select i.ord::int from input i join ins n on n.id = i.id
      cross join (select count(*) from day_counts) c;
    end
    $$`.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function usage_size_class(q numeric) returns smallint
    language sql immutable parallel safe as $$
      select width_bucket(q, ${sql.lit(`{${SIZE_THRESHOLDS}}`)}::numeric[])::smallint
    $$`.execute(db);
  // The least quantity of class k (null past the last class).
  await sql`
    create function usage_size_class_floor(k int) returns numeric
    language sql immutable parallel safe as $$
      select (${sql.lit(`{${SIZE_THRESHOLDS}}`)}::numeric[])[k]
    $$`.execute(db);

  await sql`alter table usage_month_rollup add column size_class smallint not null default 0`.execute(db);
  await sql`update usage_month_rollup set size_class = usage_size_class(quantity)`.execute(db);
  await sql`
    create function usage_month_rollup_sized() returns trigger language plpgsql as $$
    begin
      new.size_class := least(new.size_class, usage_size_class(new.quantity));
      if tg_op = 'INSERT' and new.size_class = 0 then
        new.size_class := usage_size_class(new.quantity);
      end if;
      return new;
    end
    $$`.execute(db);
  await sql`
    create trigger usage_month_rollup_sized_insert before insert on usage_month_rollup
    for each row when (new.size_class = 0) execute function usage_month_rollup_sized()`.execute(db);
  await sql`
    create trigger usage_month_rollup_sized_update before update on usage_month_rollup
    for each row when (new.quantity < old.quantity or new.size_class > old.size_class) execute function usage_month_rollup_sized()`.execute(db);
  await sql`create index usage_month_rollup_size_idx on usage_month_rollup (month, size_class)`.execute(db);
  await sql`drop index if exists usage_month_rollup_quantity_idx`.execute(db);
  await sql`alter table usage_month_rollup set (fillfactor = 50)`.execute(db);
  await sql`alter table usage_day_rollup set (fillfactor = 50)`.execute(db);

  await createInsertEvents(db, true);

  await sql`
    create or replace function usage_insert_new_events(${INSERT_ARGS})
    returns bigint
    language plpgsql volatile as $$
    declare
      v_count bigint;
    begin
      -- As in migration 20261204090000 (a stored id raises unique_violation, which the caller
      -- answers by taking usage_insert_events instead), the month rollup keeping its size class.
      ${insertCtes(false, true)}
      select count(*) into v_count from ins cross join (select count(*) from day_counts) c;
      return v_count;
    end
    $$`.execute(db);

  await sql`
    create function usage_ingest_batch(p_ids text[], p_projects bigint[], p_quantities numeric[], p_ats timestamptz[], p_descriptions text[],
                                       p_month_lock int, p_day_lock int, p_shards int)
    returns table (accepted int, event_ord int[], verdict text[], off_from timestamptz[], off_until timestamptz[])
    language plpgsql volatile as $$
    declare
      bad_ord int[]; bad_known boolean[]; bad_from timestamptz[]; bad_until timestamptz[];
      v_ord int[]; v_id text[]; v_project bigint[]; v_quantity numeric[]; v_at timestamptz[]; v_description text[];
      v_late boolean[]; v_bill_late boolean[]; v_inserted int[]; v_days date[];
      r_ord int[]; r_verdict text[]; r_from timestamptz[]; r_until timestamptz[];
      o_ord int[]; o_verdict text[];
      v_min timestamptz; v_max timestamptz;
      k int;
    begin
      if cardinality(p_ids) is distinct from cardinality(p_projects) or cardinality(p_ids) is distinct from cardinality(p_quantities)
         or cardinality(p_ids) is distinct from cardinality(p_ats)
         or (p_descriptions is not null and cardinality(p_ids) is distinct from cardinality(p_descriptions)) then
        -- p_descriptions null: no event has a description (unnest pads it with nulls).
        raise exception 'usage_ingest_batch: the arrays of a batch differ in length';
      end if;
      -- 1. The checks of every event; the valid ones go on (as in migration 20261201020000).
      with input as (
        select u.ord::int as ord, u.id, u.project_id, u.quantity, u.occurred_at, u.description
        from unnest(p_ids, p_projects, p_quantities, p_ats, p_descriptions) with ordinality as u(id, project_id, quantity, occurred_at, description, ord)
      ), off as (
        select d.id, d.project_id, d.deactivated_at, d.reactivated_at from deactivations d
        where d.project_id in (select i.project_id from input i)
      ), off_event as (
        select distinct on (i.ord) i.ord, o.deactivated_at, o.reactivated_at
        from input i join off o on o.project_id = i.project_id
        where i.occurred_at >= o.deactivated_at and (o.reactivated_at is null or i.occurred_at < o.reactivated_at)
        order by i.ord, o.deactivated_at, o.id
      ), checked as (
        select i.*, p.project_id is not null as known, d.deactivated_at, d.reactivated_at,
               p.project_id is not null and d.deactivated_at is null as ok
        from input i
        left join projects p on p.project_id = i.project_id
        left join off_event d on d.ord = i.ord
      )
      select array_agg(c.ord) filter (where not c.ok), array_agg(c.known) filter (where not c.ok),
             array_agg(c.deactivated_at) filter (where not c.ok), array_agg(c.reactivated_at) filter (where not c.ok),
             coalesce(array_agg(c.ord) filter (where c.ok), '{}'), array_agg(c.id) filter (where c.ok),
             array_agg(c.project_id) filter (where c.ok), array_agg(c.quantity) filter (where c.ok),
             array_agg(c.occurred_at) filter (where c.ok), array_agg(c.description) filter (where c.ok),
             min(c.occurred_at) filter (where c.ok), max(c.occurred_at) filter (where c.ok)
      into bad_ord, bad_known, bad_from, bad_until, v_ord, v_id, v_project, v_quantity, v_at, v_description, v_min, v_max
      from checked c;

      r_ord := coalesce(bad_ord, '{}');
      r_verdict := array(select case when b.known then 'project_deactivated' else 'unknown_project' end
                          from unnest(bad_known) with ordinality as b(known, n) order by b.n);
      r_from := coalesce(bad_from, '{}');
      r_until := coalesce(bad_until, '{}');
      if cardinality(v_ord) = 0 then
        return query select 0, r_ord, r_verdict, r_from, r_until;
        return;
      end if;

      -- 2. Hold the months, then the days, steady: shared, each class in ascending order; the keys
      -- from the batch's distinct UTC days (year * 12 + month index; days since 1970-01-01).
      v_days := array(select distinct (a at time zone 'UTC')::date from unnest(v_at) as a order by 1);
      for k in select distinct (extract(year from d) * 12 + extract(month from d) - 1)::int from unnest(v_days) as d order by 1 loop
        perform pg_advisory_xact_lock_shared(p_month_lock, k);
      end loop;
      foreach k in array array(select d - date '1970-01-01' from unnest(v_days) as d order by 1) loop
        perform pg_advisory_xact_lock_shared(p_day_lock, k);
      end loop;

      -- 3. Classify against the windows reported so far (read now, under the locks), then insert.
      if not exists (select 1 from statements s where s.window_start <= v_max and s.window_end > v_min) then
        v_late := array_fill(false, array[cardinality(v_at)]);
        v_bill_late := v_late;
      else
        with reported as materialized (
          select s.kind, s.window_start, s.window_end from statements s
          where s.window_start <= v_max and s.window_end > v_min
        )
        select array_agg(exists (select 1 from reported r where r.kind = 'usage' and r.window_start <= u.at and u.at < r.window_end) order by u.n),
               array_agg(exists (select 1 from reported r where r.kind = 'bill' and r.window_start <= u.at and u.at < r.window_end) order by u.n)
        into v_late, v_bill_late
        from unnest(v_at) with ordinality as u(at, n);
      end if;

      -- New ids (the usual case): a plain insert. A stored or concurrently stored id: the whole
      -- attempt is rolled back and the batch goes through on conflict (as in 20261204090000).
      begin
        perform usage_insert_new_events(v_id, v_project, v_quantity, v_at, v_description, v_late, v_bill_late, p_shards);
        return query select cardinality(v_ord), r_ord, r_verdict, r_from, r_until;
        return;
      exception when unique_violation then
        null;
      end;

      select coalesce(array_agg(v_ord[x]), '{}') into v_inserted
      from usage_insert_events(v_id, v_project, v_quantity, v_at, v_description, v_late, v_bill_late, p_shards) as x;

      if cardinality(v_inserted) < cardinality(v_ord) then
        -- 4. The others exist: the same event or a different one, read by a statement of its own.
        select array_agg(u.ord),
               array_agg(case when e.id is null then 'missing'
                              when e.project_id = u.project_id and e.quantity = u.quantity and e.occurred_at = u.occurred_at
                                   and e.description is not distinct from u.description then 'same'
                              else 'different' end)
        into o_ord, o_verdict
        from unnest(v_ord, v_id, v_project, v_quantity, v_at, v_description) as u(ord, id, project_id, quantity, occurred_at, description)
        left join usage_events e on e.id = u.id
        where u.ord <> all (v_inserted);
        r_ord := r_ord || o_ord;
        r_verdict := r_verdict || o_verdict;
        r_from := r_from || array_fill(null::timestamptz, array[cardinality(o_ord)]);
        r_until := r_until || array_fill(null::timestamptz, array[cardinality(o_ord)]);
      end if;
      return query select cardinality(v_inserted), r_ord, r_verdict, r_from, r_until;
    end
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists usage_ingest_batch(text[], bigint[], numeric[], timestamptz[], text[], int, int, int)`.execute(db);

  // usage_insert_new_events and usage_insert_events as migrations 20261204090000 and 20261201020000 left them.
  await sql`
    create or replace function usage_insert_new_events(${INSERT_ARGS})
    returns bigint
    language sql volatile as $$
      -- The statement of usage_insert_events without "on conflict": a stored id raises
      -- unique_violation, which the caller answers by taking that path instead.
      ${insertCtes(false, false)}
      select count(*) from ins cross join (select count(*) from day_counts) c
    $$`.execute(db);
  await createInsertEvents(db, false);

  await sql`alter table usage_day_rollup set (fillfactor = 70)`.execute(db);
  await sql`alter table usage_month_rollup reset (fillfactor)`.execute(db);
  await sql`create index if not exists usage_month_rollup_quantity_idx on usage_month_rollup (month, quantity)`.execute(db);
  await sql`drop index if exists usage_month_rollup_size_idx`.execute(db);
  await sql`drop trigger if exists usage_month_rollup_sized_update on usage_month_rollup`.execute(db);
  await sql`drop trigger if exists usage_month_rollup_sized_insert on usage_month_rollup`.execute(db);
  await sql`drop function if exists usage_month_rollup_sized()`.execute(db);
  await sql`alter table usage_month_rollup drop column if exists size_class`.execute(db);
  await sql`drop function if exists usage_size_class_floor(int)`.execute(db);
  await sql`drop function if exists usage_size_class(numeric)`.execute(db);
}
