import { sql, type Kysely } from 'kysely';

/**
 * The extension API at its target load (issue 11: 500 requests/s, 100,000 live sessions).
 *
 * 1. A heartbeat writes nothing any index holds, so Postgres updates the row in place (a HOT
 *    update: no index entry written, the old version pruned within its page). Before, `live_until`
 *    (which every heartbeat moves) was the key of three partial indexes, so each heartbeat wrote a
 *    new entry into all nine indexes of `ext_sessions`. The sweep of silent sessions now reads
 *    `ext_session_sweeps`: one narrow row per open session whose `sweep_at` is a lower bound of
 *    the session's `live_until` (set at join; heartbeats never touch it, they only move
 *    `live_until` forward). The sweep reads the rows past their `sweep_at`, oldest first, a batch
 *    at a time: a silent session is ended (as of its last heartbeat) and its row deleted; a live
 *    one gets `sweep_at = live_until` and is looked at again then. So a session's schedule is
 *    written about once per one to two heartbeat intervals, by the sweep, never in a request, and
 *    the sweep locks only rows of this table, which no request ever waits for. A session ended by
 *    its leave or its heartbeat keeps its row until the sweep next meets it (and deletes it).
 *    `fillfactor = 70` leaves room in each page for the in-place versions.
 * 2. `ext_join`: a join's facts, its checks and its seats and session in one call (one round
 *    trip, one commit) for the common case (a license of a SKU without a usage period that passes
 *    every check); anything else answers the facts with nothing written, and the code decides (the
 *    refusal's reason, or the seats in a second call), as it did before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table ext_session_sweeps (
      session_seq bigint primary key references ext_sessions (seq),
      customer_id text not null,
      project_id bigint not null,
      sweep_at timestamptz not null
    )`.execute(db);
  await sql`
    insert into ext_session_sweeps (session_seq, customer_id, project_id, sweep_at)
    select seq, customer_id, project_id, live_until from ext_sessions where ended_at is null`.execute(db);
  await sql`create index ext_session_sweeps_due on ext_session_sweeps (sweep_at)`.execute(db);
  await sql`create index ext_session_sweeps_customer on ext_session_sweeps (customer_id, sweep_at)`.execute(db);
  await sql`create index ext_session_sweeps_project on ext_session_sweeps (project_id, sweep_at)`.execute(db);
  await sql`drop index ext_sessions_silent`.execute(db);
  await sql`drop index ext_sessions_customer_silent`.execute(db);
  await sql`drop index ext_sessions_project_silent`.execute(db);
  await sql`alter table ext_sessions set (fillfactor = 70)`.execute(db);

  await sql`
    create or replace function ext_start_session(
      p_id uuid, p_customer text, p_project bigint, p_license bigint, p_grant bigint, p_license_key text,
      p_media text, p_platform text, p_channel text, p_user text, p_heartbeat integer, p_now timestamptz)
    returns text language plpgsql volatile as $$
    declare
      v_seq bigint;
      v_until timestamptz := p_now + make_interval(secs => 2 * p_heartbeat);
    begin
      -- Leaving the block by its exception undoes what it wrote (its subtransaction): a full
      -- project gives the customer's seat back.
      begin
        insert into ext_limits as l (scope, scope_id, live) values ('customer', p_customer, 1)
          on conflict (scope, scope_id) do update set live = l.live + 1 where l.pcu is null or l.live < l.pcu;
        if not found then
          raise exception 'customer' using errcode = 'P0001';
        end if;
        insert into ext_limits as l (scope, scope_id, live) values ('project', p_project::text, 1)
          on conflict (scope, scope_id) do update set live = l.live + 1 where l.pcu is null or l.live < l.pcu;
        if not found then
          raise exception 'project' using errcode = 'P0001';
        end if;
      exception when sqlstate 'P0001' then
        return sqlerrm;
      end;
      insert into ext_sessions (id, customer_id, project_id, license_id, grant_id, license_key, media, platform, channel, user_id,
                                heartbeat_seconds, started_at, last_seen_at, live_until)
        values (p_id, p_customer, p_project, p_license, p_grant, p_license_key, p_media, p_platform, p_channel, p_user,
                p_heartbeat, p_now, p_now, v_until)
        returning seq into v_seq;
      insert into ext_session_sweeps (session_seq, customer_id, project_id, sweep_at) values (v_seq, p_customer, p_project, v_until);
      return null;
    end $$`.execute(db);

  // The checks are those of join() in src/runtime/sessions.service.ts, never looser: whatever
  // this starts, the code would have started (p_now is a whole second; the code compares whole
  // seconds, hence the "+ 1 second"). Anything it does not start, the code decides again.
  await sql`
    create function ext_join(
      p_id uuid, p_customer text, p_project bigint, p_license text, p_license_key text, p_media text, p_platform text,
      p_channel text, p_user text, p_heartbeat integer, p_now timestamptz, p_month date)
    returns table (out_project_off timestamptz, out_customer_off timestamptz, out_id bigint, out_customer text, out_project bigint,
                   out_license_key text, out_activated_at timestamptz, out_expires_at timestamptz, out_media_type integer,
                   out_minutes integer, out_period text, out_mode text, out_month_seconds bigint, out_started boolean, out_full text)
    language plpgsql volatile as $$
    declare
      v record;
    begin
      select p.deactivated_at as project_off, c.deactivated_at as customer_off, x.*
        into v
        from projects p
        join customers c on c.customer_id = p.customer_id
        left join lateral (
          select l.id, l.customer_id, l.project_id, l.license_key, l.activated_at, l.expires_at, k.media_type, k.minutes, k.period,
                 o.mode, m.seconds as month_seconds
            from licenses l
            join license_pids d on d.pid = l.pid
            join license_skus k on k.sku_id = d.sku_id
            left join ext_pid_overage o on o.pid = l.pid
            left join ext_license_minutes m on m.license_id = l.id and m.month = p_month
            where l.license = p_license) x on true
        where p.project_id = p_project;
      if not found then
        return;
      end if;
      out_project_off := v.project_off;
      out_customer_off := v.customer_off;
      out_id := v.id;
      out_customer := v.customer_id;
      out_project := v.project_id;
      out_license_key := v.license_key;
      out_activated_at := v.activated_at;
      out_expires_at := v.expires_at;
      out_media_type := v.media_type;
      out_minutes := v.minutes;
      out_period := v.period;
      out_mode := v.mode;
      out_month_seconds := v.month_seconds;
      out_started := false;
      if v.project_off is null and v.customer_off is null and v.id is not null
         and v.customer_id = p_customer and v.project_id = p_project
         and v.activated_at < p_now + interval '1 second' and v.expires_at >= p_now + interval '1 second'
         and v.license_key = p_license_key
         and (v.media_type = 3 or (v.media_type = 1 and p_media = 'audio') or (v.media_type = 2 and p_media = 'video'))
         and v.period is null
         and (v.minutes is null or v.mode is not distinct from 'bill' or v.minutes::bigint * 60 - coalesce(v.month_seconds, 0) > 0) then
        out_full := ext_start_session(p_id, p_customer, p_project, v.id, null, p_license_key, p_media, p_platform, p_channel, p_user, p_heartbeat, p_now);
        out_started := out_full is null;
      end if;
      return next;
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists ext_join`.execute(db);
  await sql`
    create or replace function ext_start_session(
      p_id uuid, p_customer text, p_project bigint, p_license bigint, p_grant bigint, p_license_key text,
      p_media text, p_platform text, p_channel text, p_user text, p_heartbeat integer, p_now timestamptz)
    returns text language plpgsql volatile as $$
    begin
      begin
        insert into ext_limits as l (scope, scope_id, live) values ('customer', p_customer, 1)
          on conflict (scope, scope_id) do update set live = l.live + 1 where l.pcu is null or l.live < l.pcu;
        if not found then
          raise exception 'customer' using errcode = 'P0001';
        end if;
        insert into ext_limits as l (scope, scope_id, live) values ('project', p_project::text, 1)
          on conflict (scope, scope_id) do update set live = l.live + 1 where l.pcu is null or l.live < l.pcu;
        if not found then
          raise exception 'project' using errcode = 'P0001';
        end if;
      exception when sqlstate 'P0001' then
        return sqlerrm;
      end;
      insert into ext_sessions (id, customer_id, project_id, license_id, grant_id, license_key, media, platform, channel, user_id,
                                heartbeat_seconds, started_at, last_seen_at, live_until)
        values (p_id, p_customer, p_project, p_license, p_grant, p_license_key, p_media, p_platform, p_channel, p_user,
                p_heartbeat, p_now, p_now, p_now + make_interval(secs => 2 * p_heartbeat));
      return null;
    end $$`.execute(db);
  await sql`alter table ext_sessions reset (fillfactor)`.execute(db);
  await sql`create index ext_sessions_silent on ext_sessions (live_until) where ended_at is null`.execute(db);
  await sql`create index ext_sessions_customer_silent on ext_sessions (customer_id, live_until) where ended_at is null`.execute(db);
  await sql`create index ext_sessions_project_silent on ext_sessions (project_id, live_until) where ended_at is null`.execute(db);
  await sql`drop table if exists ext_session_sweeps`.execute(db);
}
