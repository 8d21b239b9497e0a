import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

export interface EventView {
  id: string;
  project_id: string;
  quantity: string;
  occurred_at: Date;
  received_at: Date;
  description: string | null;
  late: boolean;
  bill_late: boolean;
  statement_id: string | null;
  bill_statement_id: string | null;
}

const eventColumns = ['id', 'project_id', 'quantity', 'occurred_at', 'received_at', 'description', 'late', 'bill_late', 'statement_id', 'bill_statement_id'] as const;

/**
 * A project's events with `from <= occurredAt < to`, in (occurredAt, id) order, after event
 * `after` (an unknown cursor compares with null: no rows). A range read of
 * usage_events_project_time_idx, `limit` entries at any depth.
 */
export function eventsOfProject(db: Db, f: { projectId: string; from: Date; to: Date; after?: string | undefined; limit: number }): Promise<EventView[]> {
  let q = db
    .selectFrom('usage_events')
    .select(eventColumns)
    .where('project_id', '=', f.projectId)
    .where('occurred_at', '>=', f.from)
    .where('occurred_at', '<', f.to);
  if (f.after !== undefined) {
    q = q.where(sql<boolean>`(occurred_at, id) > (select e.occurred_at, e.id from usage_events e where e.id = ${f.after})`);
  }
  return q.orderBy('project_id').orderBy('occurred_at').orderBy('id').limit(f.limit).execute();
}

export function findEvent(db: Db, id: string): Promise<EventView | undefined> {
  return db.selectFrom('usage_events').select(eventColumns).where('id', '=', id).executeTakeFirst();
}

export interface DayTotal {
  day: string;
  quantity: string;
  projects: number;
}

/**
 * On-time usage per day from `from` to `to` (inclusive, `YYYY-MM-DD`), days without usage left
 * out: of everyone from the day counters ingestion keeps (a few rows a day), of a project or a
 * customer's projects from the day rollup by project (usage_day_rollup_project_idx).
 */
export async function dailyTotals(db: Db, f: { from: string; to: string; projectId?: string | undefined; customerId?: string | undefined }): Promise<DayTotal[]> {
  let r;
  if (f.projectId !== undefined) {
    r = await sql<{ day: string; quantity: string; projects: string }>`
      select day::text as day, quantity::text as quantity, 1 as projects
      from usage_day_rollup where project_id = ${f.projectId}::bigint and day between ${f.from}::date and ${f.to}::date`.execute(db);
  } else if (f.customerId !== undefined) {
    r = await sql<{ day: string; quantity: string; projects: string }>`
      select r.day::text as day, sum(r.quantity)::text as quantity, count(*)::text as projects
      from projects p
      join usage_day_rollup r on r.project_id = p.project_id and r.day between ${f.from}::date and ${f.to}::date
      where p.customer_id = ${f.customerId}
      group by r.day`.execute(db);
  } else {
    r = await sql<{ day: string; quantity: string; projects: string }>`
      select day::text as day, sum(quantity)::text as quantity, sum(projects)::text as projects
      from usage_day_counts where day between ${f.from}::date and ${f.to}::date
      group by day`.execute(db);
  }
  return r.rows.map((x) => ({ day: x.day, quantity: x.quantity, projects: Number(x.projects) }));
}
