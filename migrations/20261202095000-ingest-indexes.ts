import { sql, type Kysely } from 'kysely';

/**
 * Fewer index writes per ingested event (docs/usage.md "Ingestion speed"):
 *
 * - `usage_events` had two indexes on the moment alone: `usage_events_time_idx` (occurred_at)
 *   including (project_id, quantity) where not late, which windows shorter than a day sum their
 *   events from (src/usage/usage.repository.ts `usageLinesCtes`), and `usage_events_occurred_idx`
 *   (occurred_at), which reconciliation reads a month of every event through
 *   (src/billing/reconciliation.repository.ts). One index serves both: `usage_events_occurred_idx`
 *   on (occurred_at) including (project_id, quantity, late), so a short window's sum is still an
 *   index-only scan (`not late` is filtered on the included column) and reconciliation still a range
 *   read. Every event was written into both; now into one.
 * - `usage_day_rollup` is updated in place by every batch that adds usage to a project's day; its
 *   indexes do not hold the quantity, so the update can be HOT (no index write) when the row's page
 *   has room for the new version. Filled to 100% (the default), a page seldom has: each update then
 *   wrote a new entry into both of its indexes. Pages are now filled to 70% on insert. (Pages
 *   written before keep their fill; new days' rows go to new pages.)
 *
 * The other indexes of usage_events each serve a query: the primary key (an event's id, the
 * duplicate check), `usage_events_project_time_idx` (a project's events by time: src/browse),
 * and the three partial ones, which hold only the few late or carried events.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists usage_events_occurred_idx`.execute(db);
  await sql`create index usage_events_occurred_idx on usage_events (occurred_at) include (project_id, quantity, late)`.execute(db);
  await sql`drop index if exists usage_events_time_idx`.execute(db);
  await sql`alter table usage_day_rollup set (fillfactor = 70)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table usage_day_rollup reset (fillfactor)`.execute(db);
  await sql`create index usage_events_time_idx on usage_events (occurred_at) include (project_id, quantity) where not late`.execute(db);
  await sql`drop index if exists usage_events_occurred_idx`.execute(db);
  await sql`create index usage_events_occurred_idx on usage_events (occurred_at)`.execute(db);
}
