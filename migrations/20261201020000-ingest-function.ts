import { sql, type Kysely } from 'kysely';

/**
 * Ingestion of a batch in one round trip: `usage_ingest` does what `ingestUsageEvents` did in one
 * transaction of eight round trips (BEGIN, the projects, their deactivations, the month locks, the
 * day locks, the reported windows, the insert with its rollups, COMMIT), in the caller's one
 * implicit transaction, with the same guarantees in the same order:
 * - an event of an unknown project, or dated while its project was deactivated (the earliest such
 *   period), is refused and touches nothing;
 * - the shared locks of the months, then of the days, the valid events fall in, each class in
 *   ascending order (two batches never wait on each other in a cycle), so no statement of those
 *   periods is being fixed meanwhile (README "The day lock");
 * - then, in a later statement (so with a snapshot taken after the locks were granted: a statement
 *   fixed while this call waited is seen), each event is classified late (its moment lies in a
 *   reported usage window) and bill-late (in a billed month), and inserted with its rollups: events
 *   in id order, day rollups then month rollups in (period, project) order, the day counters last
 *   in day order (the global order of row locks: no deadlock);
 * - an event whose id exists (or was being inserted by a concurrent call, waited for) is compared
 *   with the stored one by a later statement, whose snapshot sees the winner's committed row.
 *
 * `p_events` is a JSON array of `[id, projectId, quantity, occurredAt, description]`, ids distinct
 * (the server answers an id repeated in one request after its first use); quantities are decimal
 * text, moments ISO-8601 text, so nothing passes through a float. Each event is answered by its
 * position from 1 (`event_ord`): `accepted`, `same` or `different` (a stored event of that id),
 * `missing` (neither inserted nor found: the caller answers "send it again"), `unknown_project`,
 * or `project_deactivated` with the period (`off_from`, `off_until`). The lock classes and the
 * number of counter shards are the caller's (src/db/locks.ts, src/usage/usage.repository.ts).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function usage_insert_events(
      p_id text[], p_project bigint[], p_quantity numeric[], p_at timestamptz[], p_description text[], p_late boolean[], p_bill_late boolean[],
      p_shards int)
    returns setof int
    language plpgsql volatile as $$
    begin
      return query
      with input as (
        select * from unnest(p_id, p_project, p_quantity, p_at, p_description, p_late, p_bill_late)
          with ordinality as i(id, project_id, quantity, occurred_at, description, late, bill_late, ord)
      ), ins as (
        insert into usage_events (id, project_id, quantity, occurred_at, description, late, bill_late)
        select i.id, i.project_id, i.quantity, i.occurred_at, i.description, i.late, i.bill_late from input i order by i.id
        on conflict (id) do nothing
        returning usage_events.id, usage_events.project_id, usage_events.quantity, usage_events.occurred_at,
                  usage_events.late, usage_events.bill_late
      ), day_rollup as (
        -- trim_scale: the sum written as its shortest decimal, as each quantity is
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
        -- Per day: the projects that got their first rollup row (xmax 0: inserted, not updated) and
        -- the quantity added, into the shard of this connection. Reads month_rollup too, so the
        -- counter rows are locked last, after every rollup row (the global lock order), in day order.
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
      select i.ord::int from input i join ins n on n.id = i.id
      cross join (select count(*) from day_counts) c;
    end
    $$`.execute(db);
  await sql`
    create function usage_ingest(p_events json, p_month_lock int, p_day_lock int, p_shards int)
    returns table (event_ord int, verdict text, off_from timestamptz, off_until timestamptz)
    language plpgsql volatile as $$
    declare
      bad_ord int[]; bad_known boolean[]; bad_from timestamptz[]; bad_until timestamptz[];
      v_ord int[]; v_id text[]; v_project bigint[]; v_quantity numeric[]; v_at timestamptz[]; v_description text[];
      v_late boolean[]; v_bill_late boolean[]; v_inserted int[];
      k int;
    begin
      -- 1. The checks of every event; the valid ones go on. (Aggregates of one query see the rows
      -- in one order, so the arrays stay aligned; each carries its event's position.)
      with input as (
        select j.ord::int as ord, j.e->>0 as id, (j.e->>1)::bigint as project_id, (j.e->>2)::numeric as quantity,
               (j.e->>3)::timestamptz as occurred_at, j.e->>4 as description
        from json_array_elements(p_events) with ordinality as j(e, ord)
      ), off as (
        -- The batch's projects' deactivations, usually none: read once, not once per event.
        select d.id, d.project_id, d.deactivated_at, d.reactivated_at from deactivations d
        where d.project_id in (select i.project_id from input i)
      ), off_event as (
        -- Per event, the earliest period it falls in.
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

      -- 2. Hold the months, then the days, steady: shared, each class in ascending order.
      for k in select distinct (extract(year from a at time zone 'UTC') * 12 + extract(month from a at time zone 'UTC') - 1)::int
               from unnest(v_at) as a order by 1 loop
        perform pg_advisory_xact_lock_shared(p_month_lock, k);
      end loop;
      for k in select distinct (a at time zone 'UTC')::date - date '1970-01-01' from unnest(v_at) as a order by 1 loop
        perform pg_advisory_xact_lock_shared(p_day_lock, k);
      end loop;

      -- 3. Classify against the windows reported so far (read now, under the locks), then insert.
      with reported as materialized (
        select s.kind, s.window_start, s.window_end from statements s
        where s.window_start <= (select max(a) from unnest(v_at) as a) and s.window_end > (select min(a) from unnest(v_at) as a)
      )
      select array_agg(exists (select 1 from reported r where r.kind = 'usage' and r.window_start <= u.at and u.at < r.window_end) order by u.n),
             array_agg(exists (select 1 from reported r where r.kind = 'bill' and r.window_start <= u.at and u.at < r.window_end) order by u.n)
      into v_late, v_bill_late
      from unnest(v_at) with ordinality as u(at, n);

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
  await sql`drop function if exists usage_ingest(json, int, int, int)`.execute(db);
  await sql`drop function if exists usage_insert_events(text[], bigint[], numeric[], timestamptz[], text[], boolean[], boolean[], int)`.execute(db);
}
