import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** `numeric` columns are read as strings and handed to Decimal; never a float. */
type Numeric = ColumnType<string, string, string>;
/** `bigint` columns are read as strings: ids, never arithmetic. */
type BigId = ColumnType<string, string | number, string | number>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface CustomersTable {
  customer_id: string;
  plan_id: string;
  customer_name: string | null;
  customer_email: string | null;
  customer_phone: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  deactivated_at: Date | null;
}

export interface ProjectsTable {
  project_id: BigId;
  customer_id: string;
  app_key: string;
  app_secret: string;
  created_at: CreatedAt;
  deactivated_at: Date | null;
}

export interface DeactivationsTable {
  id: Generated<string>;
  customer_id: string;
  project_id: BigId | null;
  deactivated_at: Date;
  reactivated_at: Date | null;
}

export interface StatementsTable {
  id: Generated<string>;
  kind: 'usage' | 'bill';
  window_start: Date;
  window_end: Date;
  fixed_at: ColumnType<Date, Date | undefined, never>;
  line_count: ColumnType<number, number | undefined, number>;
  total_amount: ColumnType<string, string | undefined, string>;
  correction_amount: ColumnType<string, string | undefined, string>;
  unit: string;
}

export interface StatementBlocksTable {
  statement_id: BigId;
  block_no: number;
  project_ids: string[];
  plan_ids: string[];
  amounts: string[];
  corrections: string[];
}

export interface UsageEventsTable {
  id: string;
  project_id: BigId;
  quantity: Numeric;
  occurred_at: Date;
  description: string | null;
  received_at: ColumnType<Date, Date | undefined, never>;
  late: boolean;
  statement_id: BigId | null;
}

export interface UsageDayRollupTable {
  /** `YYYY-MM-DD`, read as text (a JS Date would shift it to local time). */
  day: string;
  project_id: BigId;
  quantity: Numeric;
}

export interface DB {
  customers: CustomersTable;
  projects: ProjectsTable;
  deactivations: DeactivationsTable;
  statements: StatementsTable;
  statement_blocks: StatementBlocksTable;
  usage_events: UsageEventsTable;
  usage_day_rollup: UsageDayRollupTable;
}

export type Customer = Selectable<CustomersTable>;
export type Project = Selectable<ProjectsTable>;
export type Statement = Selectable<StatementsTable>;
export type NewUsageEvent = Insertable<UsageEventsTable>;
