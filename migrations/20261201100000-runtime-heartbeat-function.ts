import { sql, type Kysely } from 'kysely';

/**
 * The extension API's commonest heartbeat as one function call (src/runtime/sessions.repository.ts,
 * `beatSession`): one round trip and one commit per heartbeat, and the statements' plans are
 * cached per connection by PL/pgSQL instead of planned again on every request (an eight-table
 * join planned each time cost more than running it). A live license session of an active project,
 * valid at `p_now`, of a SKU without a usage period, last seen in the month `p_month` (starting
 * `p_month_start`) moves on to `p_now`, re-checked as it is written (the same last heartbeat, not
 * ended, not silent), and its seconds are added to its license's month, overage past the cap
 * included for PIDs that bill it. No row: not that case, nothing written.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function ext_beat_session(p_id uuid, p_project bigint, p_now timestamptz, p_month_start timestamptz, p_month date)
    returns table (out_seconds text, out_cap_seconds integer, out_bill boolean, out_month_seconds text)
    language plpgsql volatile as $$
    declare
      v record;
      v_delta bigint;
      v_seconds bigint;
      v_month bigint;
    begin
      select s.license_id, s.last_seen_at, s.heartbeat_seconds, k.minutes * 60 as cap, (o.mode is not distinct from 'bill') as bill
        into v
        from ext_sessions s
        join projects p on p.project_id = s.project_id
        join customers c on c.customer_id = s.customer_id
        join licenses l on l.id = s.license_id
        join license_pids d on d.pid = l.pid
        join license_skus k on k.sku_id = d.sku_id
        left join ext_pid_overage o on o.pid = l.pid
        where s.id = p_id and s.project_id = p_project and s.ended_at is null and s.live_until >= p_now
          and p.deactivated_at is null and c.deactivated_at is null and l.expires_at > p_now and k.period is null
          and s.last_seen_at < p_now and s.last_seen_at >= p_month_start;
      if not found then
        return;
      end if;
      v_delta := extract(epoch from p_now - v.last_seen_at)::bigint;
      update ext_sessions e set last_seen_at = p_now, live_until = p_now + make_interval(secs => 2 * v.heartbeat_seconds), seconds = e.seconds + v_delta
        where e.id = p_id and e.last_seen_at = v.last_seen_at and e.ended_at is null and e.live_until >= p_now
        returning e.seconds into v_seconds;
      if not found then
        return;
      end if;
      insert into ext_license_minutes as m (license_id, month, seconds, over_seconds)
        values (v.license_id, p_month, v_delta, case when v.bill and v.cap is not null then greatest(0, v_delta - v.cap) else 0 end)
        on conflict (license_id, month) do update set
          seconds = m.seconds + excluded.seconds,
          over_seconds = case when v.bill and v.cap is not null then greatest(m.over_seconds, m.seconds + excluded.seconds - v.cap) else m.over_seconds end
        returning m.seconds into v_month;
      out_seconds := v_seconds::text;
      out_cap_seconds := v.cap;
      out_bill := v.bill;
      out_month_seconds := v_month::text;
      return next;
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists ext_beat_session`.execute(db);
}
