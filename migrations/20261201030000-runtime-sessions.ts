import { sql, type Kysely } from 'kysely';

/**
 * Licenses at run time (shared/spec/runtime.md): extension sessions, PCU limits, minutes per
 * license and month, overage per PID, and Agora's license grants.
 *
 * - `ext_sessions`: one user of one device in a channel. Live while `ended_at` is null and
 *   `live_until` (last heartbeat + 2 × heartbeatSeconds) is ahead; a silent one is ended lazily
 *   (as of its last heartbeat) by whoever meets it first: its heartbeat, a join that finds a limit
 *   reached, or the periodic sweep, which reads the partial index on `live_until` in small
 *   batches, so its cost does not grow with the number of sessions.
 * - `ext_limits`: a customer's or a project's PCU limit and its live-session counter, taken by a
 *   conditional upsert (`live < pcu`): the row lock makes the limit exact on any number of
 *   instances. `live` counts sessions not yet ended (silent ones until they are ended).
 * - `ext_license_minutes`: seconds used per license and UTC month, added by every heartbeat and
 *   leave (a session crossing a month boundary adds to both). `over_seconds` is the part past the
 *   SKU's cap for PIDs that bill overage; `billed_seconds` how much of it became usage events;
 *   `pending_seconds` the target of an overage event being written, so a retry writes the same one.
 * - `ext_pid_overage`: `block` (the default, when there is no row) or `bill`.
 * - `license_grants`: Agora's license activation callback; one row per distinct grant, so Agora's
 *   retries of the same body find the row already there.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table ext_sessions (
      seq bigint generated always as identity primary key,
      id uuid not null unique,
      customer_id text not null references customers (customer_id),
      project_id bigint not null references projects (project_id),
      license_id bigint references licenses (id),
      grant_id bigint,
      license_key text not null,
      media text not null check (media in ('audio', 'video', 'audio+video')),
      platform text not null,
      channel text,
      user_id text,
      heartbeat_seconds integer not null check (heartbeat_seconds > 0),
      started_at timestamptz not null,
      last_seen_at timestamptz not null,
      live_until timestamptz not null,
      ended_at timestamptz,
      end_reason text check (end_reason in ('leave', 'silence', 'EXPIRE', 'MINUTES_EXCEED', 'LIMITED_PERIOD')),
      seconds bigint not null default 0 check (seconds >= 0),
      check ((ended_at is null) = (end_reason is null))
    )`.execute(db);
  await sql`create index ext_sessions_silent on ext_sessions (live_until) where ended_at is null`.execute(db);
  await sql`create index ext_sessions_customer_silent on ext_sessions (customer_id, live_until) where ended_at is null`.execute(db);
  await sql`create index ext_sessions_project_silent on ext_sessions (project_id, live_until) where ended_at is null`.execute(db);
  await sql`create index ext_sessions_customer on ext_sessions (customer_id, seq)`.execute(db);
  await sql`create index ext_sessions_project on ext_sessions (project_id, seq)`.execute(db);
  await sql`create index ext_sessions_license on ext_sessions (license_id, seq) where license_id is not null`.execute(db);
  await sql`create index ext_sessions_open on ext_sessions (seq) where ended_at is null`.execute(db);

  await sql`
    create table ext_limits (
      scope text not null check (scope in ('customer', 'project')),
      scope_id text not null,
      pcu integer check (pcu >= 0),
      live integer not null default 0 check (live >= 0),
      primary key (scope, scope_id)
    )`.execute(db);

  await sql`
    create table ext_license_minutes (
      license_id bigint not null references licenses (id),
      month date not null,
      seconds bigint not null default 0 check (seconds >= 0),
      over_seconds bigint not null default 0 check (over_seconds >= 0),
      billed_seconds bigint not null default 0 check (billed_seconds >= 0 and billed_seconds <= over_seconds),
      pending_seconds bigint,
      primary key (license_id, month)
    )`.execute(db);
  await sql`create index ext_license_minutes_unbilled on ext_license_minutes (license_id, month) where over_seconds > billed_seconds or pending_seconds is not null`.execute(
    db,
  );

  // A join's seats and session in one call (one round trip, one implicit transaction): the
  // customer's seat, then the project's (the order every writer of ext_limits keeps), then the
  // session. A full project undoes the customer's seat (the block's subtransaction) and nothing is
  // written. Answers null, or the scope that was full.
  await sql`
    create function ext_start_session(
      p_id uuid, p_customer text, p_project bigint, p_license bigint, p_grant bigint, p_license_key text,
      p_media text, p_platform text, p_channel text, p_user text, p_heartbeat integer, p_now timestamptz)
    returns text language plpgsql volatile as $$
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
                p_heartbeat, p_now, p_now, p_now + make_interval(secs => 2 * p_heartbeat));
      return null;
    end $$`.execute(db);

  await sql`
    create table ext_pid_overage (
      pid text primary key references license_pids (pid),
      mode text not null check (mode in ('block', 'bill')),
      updated_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table license_grants (
      id bigint generated always as identity primary key,
      customer_id text not null references customers (customer_id),
      platforms text[] not null check (cardinality(platforms) > 0),
      starts_at timestamptz not null,
      ends_at timestamptz not null,
      type text not null default '',
      created_at timestamptz not null default now(),
      check (ends_at > starts_at),
      unique (customer_id, starts_at, ends_at, platforms, type)
    )`.execute(db);
  await sql`create index license_grants_customer_end on license_grants (customer_id, ends_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists ext_start_session`.execute(db);
  for (const t of ['license_grants', 'ext_pid_overage', 'ext_license_minutes', 'ext_limits', 'ext_sessions']) {
    await sql.raw(`drop table if exists ${t}`).execute(db);
  }
}
