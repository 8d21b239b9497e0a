import { sql, type Kysely } from 'kysely';

/**
 * Activation in one round trip: `license_activate` makes every check and the conditional take of
 * one license in one call, in the caller's one (implicit) transaction, and answers which check
 * failed instead of raising, so the server maps each outcome to the same error as before.
 *
 * It was eight to ten round trips (the project, the PID, an earlier license, BEGIN, the
 * pre-authorization switch, the whitelist entry, the insert, one or two quota updates, COMMIT); on
 * a busy machine each one is a wait for the event loop and for a database process, and the
 * transaction held its locks across all of them.
 *
 * The guarantees are those of the statements it replaces, in the same order:
 * - a whitelist entry is read `FOR SHARE` and held until the call commits, so a key deleted from the
 *   list can never activate after the deletion committed;
 * - the license is inserted with ON CONFLICT DO NOTHING before any quota is touched: a concurrent
 *   twin waits for the winner, inserts nothing and answers the winner's license (each statement of
 *   a VOLATILE function reads a fresh snapshot, so the re-read sees the winner's committed row);
 * - quota is taken by conditional UPDATEs (`used < capacity`) of one counter row, the project's own
 *   first, then the shared one: N left give exactly N activations, on any number of instances;
 * - with no room in either pool (read without a lock) nothing is inserted; when the room went
 *   between that read and the take, the inserted license is deleted again before the call returns,
 *   so nothing is written (the row was never visible to anyone else; a twin waiting on it inserts
 *   its own once this call commits, and is refused the same way).
 *
 * `p_caller_project` and `p_caller_customer` are the project and customer of the calling
 * credentials (null: the vendor's admin token, which reaches every project). The caller's project is
 * checked to be still active first, so the server may take the credentials' never-changing part
 * (key, secret, project, customer) from memory and still refuse a deactivated project's credentials
 * the moment the deactivation commits, on every instance (src/licensing/auth.ts). Outcomes:
 * caller_deactivated, unknown_project, project_forbidden, project_inactive, unknown_pid, existing,
 * not_preauthorized, quota_exhausted, created.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function license_activate(
      p_caller_project bigint, p_caller_customer text, p_project_id bigint, p_pid text, p_license_key text, p_license text, p_activated_at timestamptz)
    returns table (
      outcome text, project_customer text, lic licenses, pid_row license_pids, sku_row license_skus,
      own_capacity bigint, shared_capacity bigint, pool_count bigint)
    language plpgsql volatile as $$
    declare
      proj record;
      pad_on boolean;
      caller_off boolean;
    begin
      -- The credentials' project must still be active, checked here rather than from memory.
      if p_caller_project is not null then
        select c.deactivated_at is not null into caller_off from projects c where c.project_id = p_caller_project;
        if caller_off is distinct from false then
          outcome := 'caller_deactivated';
          return next;
          return;
        end if;
      end if;
      select p.customer_id, p.deactivated_at into proj from projects p where p.project_id = p_project_id;
      if not found then
        outcome := 'unknown_project';
        return next;
        return;
      end if;
      project_customer := proj.customer_id;
      if p_caller_customer is not null and proj.customer_id <> p_caller_customer then
        outcome := 'project_forbidden';
        return next;
        return;
      end if;
      if proj.deactivated_at is not null then
        outcome := 'project_inactive';
        return next;
        return;
      end if;

      select d.* into pid_row from license_pids d where d.pid = p_pid;
      if not found then
        outcome := 'unknown_pid';
        return next;
        return;
      end if;
      select s.* into sku_row from license_skus s where s.sku_id = pid_row.sku_id;

      -- A repeat (from any project of the customer) answers the license it has, whatever the
      -- whitelist or the quota say now.
      select l.* into lic from licenses l
        where l.customer_id = proj.customer_id and l.license_key = p_license_key and l.pid = p_pid;
      if found then
        outcome := 'existing';
        return next;
        return;
      end if;

      select s.enabled into pad_on from license_pad_settings s where s.project_id = p_project_id;
      if coalesce(pad_on, false) then
        perform 1 from license_pads w where w.project_id = p_project_id and w.license_key = p_license_key for share;
        if not found then
          outcome := 'not_preauthorized';
          return next;
          return;
        end if;
      end if;

      -- No room in either pool: refused without inserting (an insert deleted again would leave
      -- dead entries in six indexes for every refused retry). Read without a lock, so a twin
      -- that took the last license and committed since the repeat check above is looked for again.
      perform 1 from license_pools q
        where q.customer_id = proj.customer_id and q.pid = p_pid and (q.project_id = p_project_id or q.project_id is null)
          and q.used < q.capacity;
      if not found then
        select l.* into lic from licenses l
          where l.customer_id = proj.customer_id and l.license_key = p_license_key and l.pid = p_pid;
        if found then
          outcome := 'existing';
          return next;
          return;
        end if;
        select max(q.capacity) filter (where q.project_id = p_project_id),
               max(q.capacity) filter (where q.project_id is null),
               count(*)
          into own_capacity, shared_capacity, pool_count
          from license_pools q where q.customer_id = proj.customer_id and q.pid = p_pid;
        outcome := 'quota_exhausted';
        return next;
        return;
      end if;

      insert into licenses as l (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
        values (p_license, proj.customer_id, p_project_id, p_pid, p_license_key, p_activated_at,
                -- calendar months in UTC whatever the session's time zone
                ((p_activated_at at time zone 'UTC') + make_interval(months => pid_row.validity_months)) at time zone 'UTC')
        on conflict (customer_id, license_key, pid) do nothing
        returning l.* into lic;
      if not found then
        -- A concurrent twin won (the insert waited for it to commit): answer its license.
        select l.* into lic from licenses l
          where l.customer_id = proj.customer_id and l.license_key = p_license_key and l.pid = p_pid;
        if not found then
          raise exception 'a conflicting license of licenseKey % and PID % vanished', p_license_key, p_pid;
        end if;
        outcome := 'existing';
        return next;
        return;
      end if;

      update license_pools q set used = q.used + 1
        where q.customer_id = proj.customer_id and q.pid = p_pid and q.project_id = p_project_id and q.used < q.capacity;
      if not found then
        update license_pools q set used = q.used + 1
          where q.customer_id = proj.customer_id and q.pid = p_pid and q.project_id is null and q.used < q.capacity;
        if not found then
          delete from licenses l where l.id = (lic).id;
          lic := null;
          select max(q.capacity) filter (where q.project_id = p_project_id),
                 max(q.capacity) filter (where q.project_id is null),
                 count(*)
            into own_capacity, shared_capacity, pool_count
            from license_pools q where q.customer_id = proj.customer_id and q.pid = p_pid;
          outcome := 'quota_exhausted';
          return next;
          return;
        end if;
      end if;
      outcome := 'created';
      return next;
    end
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists license_activate(bigint, text, bigint, text, text, text, timestamptz)`.execute(db);
}
