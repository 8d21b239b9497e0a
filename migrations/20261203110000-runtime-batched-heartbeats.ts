import { sql, type Kysely } from 'kysely';

/**
 * Heartbeats that arrive together go to the database together (src/runtime/heartbeat-batch.ts):
 * `ext_beat_sessions` does for each of up to a few hundred sessions what `ext_beat_session`
 * (migrations/20261201100000-runtime-heartbeat-function.ts) does for one, with the same checks, in
 * one call and one commit. On the small VMs this server runs on, a statement's cost is mostly the
 * socket write that sends it (the peer's wakeup), so under load N heartbeats cost about one.
 *
 * Locks, to stay free of deadlocks beside everything else that writes these rows: first every
 * session of the batch in id order (its own statement, so the rows are read after that, as they
 * are now), then the license months in (license, month) order. Every other writer takes at most
 * one session before license months, or only silent sessions (the sweep), which a heartbeat never
 * moves. `p_nows` is each heartbeat's own moment (whole seconds); its month is that moment's, and a
 * session last seen in an earlier month is not beaten here (the caller's locked path splits the
 * seconds by month). Ids are distinct (the caller's batcher sends a repeated id in a later call).
 * Answers one row per session beaten, by its position from 1; a session not answered is not
 * that case and nothing of it was written. Each answer's month seconds are the license month's
 * after the whole batch: minutes left are as of the batch, never more than the truth.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function ext_beat_sessions(p_ids uuid[], p_projects bigint[], p_nows timestamptz[])
    returns table (out_ord int, out_seconds text, out_cap_seconds integer, out_bill boolean, out_month_seconds text)
    language plpgsql volatile as $$
    begin
      perform 1 from ext_sessions e where e.id = any (p_ids) order by e.id for update;
      return query
      with input as (
        select i.id, i.project_id, i.now, i.ord::int as ord,
               date_trunc('month', i.now at time zone 'UTC') at time zone 'UTC' as month_start,
               date_trunc('month', i.now at time zone 'UTC')::date as month
        from unnest(p_ids, p_projects, p_nows) with ordinality as i(id, project_id, now, ord)
      ), facts as (
        select i.ord, i.now, i.month, s.id, s.license_id, s.last_seen_at, s.heartbeat_seconds,
               k.minutes * 60 as cap, (o.mode is not distinct from 'bill') as bill
        from input i
        join ext_sessions s on s.id = i.id and s.project_id = i.project_id
        join projects p on p.project_id = s.project_id
        join customers c on c.customer_id = s.customer_id
        join licenses l on l.id = s.license_id
        join license_pids d on d.pid = l.pid
        join license_skus k on k.sku_id = d.sku_id
        left join ext_pid_overage o on o.pid = l.pid
        where s.ended_at is null and s.live_until >= i.now
          and p.deactivated_at is null and c.deactivated_at is null and l.expires_at > i.now and k.period is null
          and s.last_seen_at < i.now and s.last_seen_at >= i.month_start
      ), beat as (
        update ext_sessions e
          set last_seen_at = f.now, live_until = f.now + make_interval(secs => 2 * f.heartbeat_seconds),
              seconds = e.seconds + extract(epoch from f.now - f.last_seen_at)::bigint
        from facts f
        where e.id = f.id and e.last_seen_at = f.last_seen_at and e.ended_at is null and e.live_until >= f.now
        returning f.ord, f.license_id, f.month, extract(epoch from f.now - f.last_seen_at)::bigint as delta, e.seconds, f.cap, f.bill
      ), per_license as (
        -- A license's cap and billing are its SKU's and PID's: the same for each of its sessions.
        select b.license_id, b.month, sum(b.delta) as delta, max(b.cap) as cap, bool_and(b.bill) as bill
        from beat b group by b.license_id, b.month
      ), minutes as (
        -- One row per license month, the batch's seconds added at once; overage past the cap as
        -- ext_beat_session records it (never less than already recorded).
        insert into ext_license_minutes as m (license_id, month, seconds, over_seconds)
        select p.license_id, p.month, p.delta, case when p.bill and p.cap is not null then greatest(0, p.delta - p.cap) else 0 end
        from per_license p order by p.license_id, p.month
        on conflict (license_id, month) do update set
          seconds = m.seconds + excluded.seconds,
          over_seconds = coalesce((select greatest(m.over_seconds, m.seconds + excluded.seconds - p.cap) from per_license p
                                   where p.license_id = m.license_id and p.month = m.month and p.bill and p.cap is not null),
                                  m.over_seconds)
        returning m.license_id, m.month, m.seconds
      )
      select b.ord, b.seconds::text, b.cap, b.bill, m.seconds::text
      from beat b join minutes m on m.license_id = b.license_id and m.month = b.month;
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists ext_beat_sessions(uuid[], bigint[], timestamptz[])`.execute(db);
}
