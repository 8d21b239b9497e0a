import { sql, type Kysely } from 'kysely';

/**
 * Cheaper ingestion of a batch of new events (docs/usage.md "Ingestion speed"), with every
 * guarantee of migration 20261201020000 kept (its comment):
 *
 * - `usage_ingest` takes the events as five arrays (ids, projects, quantities, moments,
 *   descriptions: decimal and ISO text, so still no float) instead of one JSON array: each `->>` of
 *   a `json` element lexed the element again; arrays are read once (~3.6 ms of a batch's ~4.6 ms of
 *   parsing). The JSON signature stays as it was, for callers of the old one (an instance not
 *   upgraded yet); `usage_insert_events` too: the fallback below calls it.
 * - The insert first runs as a plain insert, in events' id order as before, inside a subtransaction
 *   (`usage_insert_new_events`): a batch of new ids, the usual case, skips per event the
 *   speculative insertion of `on conflict`: its pre-check of the primary key, its speculative lock
 *   and the confirm record (6–8 ms of CPU a batch, measured). Any `unique_violation` (an id stored
 *   before, or by a concurrent batch: the insert waited for it, as `on conflict` waits) rolls that
 *   subtransaction back whole — events, rollups, counters — and the batch takes the previous path
 *   (`usage_insert_events`, unchanged), so what is stored and answered is as before.
 * - The period locks are computed from the batch's distinct days (the same keys, the same order),
 *   not per event through numeric `extract`.
 * - When no reported window touches the batch's range (the usual case), every event is on time for
 *   both without a subquery per event.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function usage_insert_new_events(
      p_id text[], p_project bigint[], p_quantity numeric[], p_at timestamptz[], p_description text[], p_late boolean[], p_bill_late boolean[],
      p_shards int)
    returns bigint
    language sql volatile as $$
      -- The statement of usage_insert_events without "on conflict": a stored id raises
      -- unique_violation, which the caller answers by taking that path instead.
      with input as (
        select * from unnest(p_id, p_project, p_quantity, p_at, p_description, p_late, p_bill_late)
          as i(id, project_id, quantity, occurred_at, description, late, bill_late)
      ), ins as (
        insert into usage_events (id, project_id, quantity, occurred_at, description, late, bill_late)
        select i.id, i.project_id, i.quantity, i.occurred_at, i.description, i.late, i.bill_late from input i order by i.id
        returning usage_events.project_id, usage_events.quantity, usage_events.occurred_at, usage_events.late, usage_events.bill_late
      ), day_rollup as (
        insert into usage_day_rollup (day, project_id, quantity)
        select (n.occurred_at at time zone 'UTC')::date, n.project_id, trim_scale(sum(n.quantity))
        from ins n where not n.late group by 1, 2 order by 1, 2
        on conflict (day, project_id) do update set quantity = usage_day_rollup.quantity + excluded.quantity
        returning usage_day_rollup.day, xmax::text = '0' as fresh
      ), month_rollup as (
        insert into usage_month_rollup (month, project_id, quantity)
        select date_trunc('month', n.occurred_at at time zone 'UTC')::date, n.project_id, trim_scale(sum(n.quantity))
        from ins n where not n.bill_late group by 1, 2 order by 1, 2
        on conflict (month, project_id) do update set quantity = usage_month_rollup.quantity + excluded.quantity
        returning 1
      ), day_counts as (
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
      )
      select count(*) from ins cross join (select count(*) from day_counts) c
    $$`.execute(db);
  await sql`
    create function usage_ingest(p_ids text[], p_projects bigint[], p_quantities numeric[], p_ats timestamptz[], p_descriptions text[],
                                 p_month_lock int, p_day_lock int, p_shards int)
    returns table (event_ord int, verdict text, off_from timestamptz, off_until timestamptz)
    language plpgsql volatile as $$
    declare
      bad_ord int[]; bad_known boolean[]; bad_from timestamptz[]; bad_until timestamptz[];
      v_ord int[]; v_id text[]; v_project bigint[]; v_quantity numeric[]; v_at timestamptz[]; v_description text[];
      v_late boolean[]; v_bill_late boolean[]; v_inserted int[]; v_days date[];
      k int;
    begin
      if cardinality(p_ids) is distinct from cardinality(p_projects) or cardinality(p_ids) is distinct from cardinality(p_quantities)
         or cardinality(p_ids) is distinct from cardinality(p_ats) or cardinality(p_ids) is distinct from cardinality(p_descriptions) then
        raise exception 'usage_ingest: the arrays of a batch differ in length';
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
             array_agg(c.occurred_at) filter (where c.ok), array_agg(c.description) filter (where c.ok)
      into bad_ord, bad_known, bad_from, bad_until, v_ord, v_id, v_project, v_quantity, v_at, v_description
      from checked c;

      if bad_ord is not null then
        return query
          select u.o, case when u.known then 'project_deactivated' else 'unknown_project' end, u.f, u.t
          from unnest(bad_ord, bad_known, bad_from, bad_until) as u(o, known, f, t);
      end if;
      if cardinality(v_ord) = 0 then
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
      if not exists (select 1 from statements s
                     where s.window_start <= (select max(a) from unnest(v_at) as a) and s.window_end > (select min(a) from unnest(v_at) as a)) then
        v_late := array_fill(false, array[cardinality(v_at)]);
        v_bill_late := v_late;
      else
        with reported as materialized (
          select s.kind, s.window_start, s.window_end from statements s
          where s.window_start <= (select max(a) from unnest(v_at) as a) and s.window_end > (select min(a) from unnest(v_at) as a)
        )
        select array_agg(exists (select 1 from reported r where r.kind = 'usage' and r.window_start <= u.at and u.at < r.window_end) order by u.n),
               array_agg(exists (select 1 from reported r where r.kind = 'bill' and r.window_start <= u.at and u.at < r.window_end) order by u.n)
        into v_late, v_bill_late
        from unnest(v_at) with ordinality as u(at, n);
      end if;

      -- New ids (the usual case): a plain insert. A stored or concurrently stored id: the whole
      -- attempt is rolled back and the batch goes through on conflict, as before.
      begin
        perform usage_insert_new_events(v_id, v_project, v_quantity, v_at, v_description, v_late, v_bill_late, p_shards);
        return query select a, 'accepted'::text, null::timestamptz, null::timestamptz from unnest(v_ord) as a;
        return;
      exception when unique_violation then
        null;
      end;

      select coalesce(array_agg(v_ord[x]), '{}') into v_inserted
      from usage_insert_events(v_id, v_project, v_quantity, v_at, v_description, v_late, v_bill_late, p_shards) as x;

      return query select a, 'accepted'::text, null::timestamptz, null::timestamptz from unnest(v_inserted) as a;
      if cardinality(v_inserted) = cardinality(v_ord) then
        return;
      end if;

      -- 4. The others exist: the same event or a different one, read by a statement of its own.
      return query
        select u.ord,
               case when e.id is null then 'missing'
                    when e.project_id = u.project_id and e.quantity = u.quantity and e.occurred_at = u.occurred_at
                         and e.description is not distinct from u.description then 'same'
                    else 'different' end,
               null::timestamptz, null::timestamptz
        from unnest(v_ord, v_id, v_project, v_quantity, v_at, v_description) as u(ord, id, project_id, quantity, occurred_at, description)
        left join usage_events e on e.id = u.id
        where u.ord <> all (v_inserted);
    end
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists usage_ingest(text[], bigint[], numeric[], timestamptz[], text[], int, int, int)`.execute(db);
  await sql`drop function if exists usage_insert_new_events(text[], bigint[], numeric[], timestamptz[], text[], boolean[], boolean[], int)`.execute(db);
}
