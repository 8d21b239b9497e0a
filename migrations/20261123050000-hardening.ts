import { sql, type Kysely } from 'kysely';

/**
 * Constraints the schema had left to the code, a wider type for quota counters, and two cleanups:
 *
 * - Foreign keys on the licensing tables. Nothing ever deletes a customer, project, PID, license or
 *   renewal order, so the application cannot have written an orphan; a row written by hand might
 *   have. Before any key is added the migration counts orphans and, if there are any, stops naming
 *   the table, the column and an example, so that an operator decides what they are: deleting
 *   licenses or quota silently is not ours to do.
 * - A primary key on `license_pools`. Its natural key has a nullable column (project_id null: the
 *   shared pool), which a primary key cannot hold, so the key is a generated id and the natural key
 *   stays the `unique nulls not distinct` the upserts use.
 * - Quota counters in bigint: `capacity` is the sum of every purchase of a PID, and at 1,000,000
 *   per purchase the 2,148th overflowed `integer`. A single purchase, allocation or renewal order is
 *   capped far below 2^31, so those columns stay `integer`.
 * - Statement blocks hold one line per array position: every array of a block has the same length
 *   (the bill's three arrays are all there or all absent).
 * - `tiered_price` was never called: bills are priced by a join (src/billing/bill.repository.ts).
 * - Reconciliation reads a month of usage events of every kind (late or not); the only time index
 *   is partial (`where not late`), so it scanned the whole table. A plain index on the moment.
 */

/** Every licensing foreign key this migration adds: table, constraint, columns, referenced table and columns. */
const FOREIGN_KEYS = [
  ['license_pools', 'license_pools_customer_fk', 'customer_id', 'customers', 'customer_id'],
  ['license_pools', 'license_pools_pid_fk', 'pid', 'license_pids', 'pid'],
  ['license_pools', 'license_pools_project_fk', 'project_id', 'projects', 'project_id'],
  ['license_allocations', 'license_allocations_customer_fk', 'customer_id', 'customers', 'customer_id'],
  ['license_allocations', 'license_allocations_project_fk', 'project_id', 'projects', 'project_id'],
  ['license_allocations', 'license_allocations_pid_fk', 'pid', 'license_pids', 'pid'],
  ['licenses', 'licenses_customer_fk', 'customer_id', 'customers', 'customer_id'],
  ['licenses', 'licenses_project_fk', 'project_id', 'projects', 'project_id'],
  ['licenses', 'licenses_pid_fk', 'pid', 'license_pids', 'pid'],
  ['license_renewal_log', 'license_renewal_log_license_fk', 'license_id', 'licenses', 'id'],
  ['license_renewal_log', 'license_renewal_log_renewal_fk', 'renew_id', 'license_renewals', 'renew_id'],
  ['license_pad_settings', 'license_pad_settings_project_fk', 'project_id', 'projects', 'project_id'],
  ['license_pads', 'license_pads_project_fk', 'project_id', 'projects', 'project_id'],
  ['license_pads', 'license_pads_customer_fk', 'customer_id', 'customers', 'customer_id'],
] as const;

/**
 * The bill's arrays are all present or all absent, and every present array is as long as
 * project_ids. (A comparison with a null array is null, which a CHECK lets through: hence the
 * num_nulls and the coalesce.)
 */
const BLOCK_ARRAYS_CHECK = sql`check (
  cardinality(plan_ids) = cardinality(project_ids)
  and cardinality(amounts) = cardinality(project_ids)
  and cardinality(corrections) = cardinality(project_ids)
  and num_nulls(quantities, version_ids, fees) in (0, 3)
  and coalesce(cardinality(quantities) = cardinality(project_ids)
    and cardinality(version_ids) = cardinality(project_ids)
    and cardinality(fees) = cardinality(project_ids), true))`;

export async function up(db: Kysely<any>): Promise<void> {
  for (const [table, , column, target, targetColumn] of FOREIGN_KEYS) {
    const { rows } = await sql<{ n: string; example: string | null }>`
      select count(*)::text as n, min(t.${sql.ref(column)}::text) as example
      from ${sql.table(table)} t
      where t.${sql.ref(column)} is not null
        and not exists (select 1 from ${sql.table(target)} r where r.${sql.ref(targetColumn)} = t.${sql.ref(column)})`.execute(db);
    const orphans = rows[0]!;
    if (orphans.n !== '0') {
      throw new Error(
        `${table}.${column}: ${orphans.n} rows name a ${target}.${targetColumn} that does not exist (for example ${orphans.example}); ` +
          'they were not written by this server. Remove or correct them, then migrate again.',
      );
    }
  }
  for (const [table, name, column, target, targetColumn] of FOREIGN_KEYS) {
    await sql`alter table ${sql.table(table)} add constraint ${sql.id(name)}
      foreign key (${sql.ref(column)}) references ${sql.table(target)} (${sql.ref(targetColumn)})`.execute(db);
  }
  // Each key is checked on insert through the referenced table's primary key, taking a FOR KEY
  // SHARE lock on the row it names: plain UPDATEs of customers and projects (deactivation) do not
  // conflict with it, a SELECT … FOR UPDATE of them would (use FOR NO KEY UPDATE). No index for the
  // reverse direction: customers, projects, PIDs, licenses and renewal orders are never deleted.

  await sql`alter table license_pools add column id bigint generated always as identity primary key`.execute(db);
  await sql`alter table license_pools alter column capacity type bigint, alter column used type bigint`.execute(db);

  await sql`alter table statement_blocks add constraint statement_blocks_arrays_check ${BLOCK_ARRAYS_CHECK}`.execute(db);

  await sql`drop function tiered_price(bigint, numeric)`.execute(db);

  await sql`create index usage_events_occurred_idx on usage_events (occurred_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index usage_events_occurred_idx`.execute(db);
  // As migrations/20261123010000-billing.ts created it, so that its own `down` finds it.
  await sql`
    create function tiered_price(version_id bigint, q numeric) returns numeric
    language sql stable as $$
      select coalesce(sum((least(q, coalesce(t.up_to, q)) - t.from_qty) * t.unit_price), 0)
      from plan_tiers t where t.plan_version_id = version_id and t.from_qty < q
    $$`.execute(db);
  await sql`alter table statement_blocks drop constraint statement_blocks_arrays_check`.execute(db);
  // Fails (and changes nothing) when a pool holds more than an integer can: going back would lose it.
  await sql`alter table license_pools alter column capacity type integer, alter column used type integer`.execute(db);
  await sql`alter table license_pools drop column id`.execute(db);
  for (const [table, name] of [...FOREIGN_KEYS].reverse()) {
    await sql`alter table ${sql.table(table)} drop constraint ${sql.id(name)}`.execute(db);
  }
}
