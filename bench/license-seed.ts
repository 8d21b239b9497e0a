import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';

export interface LicenseSeedOptions {
  /** Licenses to store as already activated, spread round-robin over the existing projects. */
  licenses: number;
  /** Licenses each customer may still activate (its shared quota beyond what is used). */
  sparePerCustomer: number;
  /** Progress lines. */
  progress?: (message: string) => void;
}

export interface LicenseSeed {
  skuId: string;
  /** A commercial device PID of one year: every seeded license is of it. */
  pid: string;
  licenses: number;
}

export const SEED_SKU = 'bench-sku';
export const SEED_PID = 'BE0C0000000000000000000000000001';

const CHUNK = 200_000;

/**
 * Seeds licensing for the benchmark straight through SQL (generate_series), over the customers and
 * projects already there (seed those first): one SKU and PID, `licenses` activated licenses
 * (license `g`: key `dev-g`, value the uppercase MD5 of `lic-g`, project number `g % projects` in
 * projectId order, activated up to 300 days ago for one year, so some have expired), and per
 * customer a shared pool holding its licenses plus `sparePerCustomer` left to activate. Running it
 * twice adds nothing twice: licenses and pools are keyed.
 */
export async function seedLicenses(db: Db, o: LicenseSeedOptions): Promise<LicenseSeed> {
  const say = o.progress ?? (() => {});
  const { rows } = await sql<{ n: string }>`select count(*) as n from projects`.execute(db);
  const projects = Number(rows[0]!.n);
  if (projects === 0) throw new Error('seedLicenses: seed customers and projects first');

  await sql`insert into license_skus (sku_id, product, name, media_type, minutes, period)
    values (${SEED_SKU}, 2, 'Benchmark IoT audio+video', 3, null, null) on conflict do nothing`.execute(db);
  await sql`insert into license_pids (pid, sku_id, category, type, validity_months)
    values (${SEED_PID}, ${SEED_SKU}, 'device', 'commercial', 12) on conflict do nothing`.execute(db);

  say(`licenses: ${o.licenses} over ${projects} projects`);
  for (let start = 1; start <= o.licenses; start += CHUNK) {
    const end = Math.min(o.licenses, start + CHUNK - 1);
    await sql`
      with p as (
        select project_id, customer_id, (row_number() over (order by project_id) - 1)::int as n from projects
      )
      insert into licenses (license, customer_id, project_id, pid, license_key, activated_at, expires_at)
      select upper(md5('lic-' || g)), p.customer_id, p.project_id, ${SEED_PID}, 'dev-' || g,
             date_trunc('second', now()) - make_interval(days => g % 300),
             date_trunc('second', now()) - make_interval(days => g % 300) + interval '1 year'
      from generate_series(${start}::int, ${end}::int) g
      join p on p.n = g % ${projects}::int
      on conflict do nothing`.execute(db);
    say(`licenses: ${end} of ${o.licenses}`);
  }

  say(`pools: every customer with projects, ${o.sparePerCustomer} spare each`);
  await sql`
    insert into license_pools (customer_id, pid, project_id, capacity, used)
    select c.customer_id, ${SEED_PID}, null, coalesce(l.n, 0) + ${o.sparePerCustomer}::int, coalesce(l.n, 0)
    from (select distinct customer_id from projects) c
    left join (select customer_id, count(*)::int as n from licenses where pid = ${SEED_PID} group by customer_id) l using (customer_id)
    on conflict (customer_id, pid, project_id) do update set capacity = excluded.capacity, used = excluded.used`.execute(db);
  await sql`analyze licenses`.execute(db);
  await sql`analyze license_pools`.execute(db);
  return { skuId: SEED_SKU, pid: SEED_PID, licenses: o.licenses };
}
