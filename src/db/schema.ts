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
  /** Bill lines only: the quantity priced, the plan version, the monthly fee. */
  quantities: string[] | null;
  version_ids: string[] | null;
  fees: string[] | null;
}

export interface PlansTable {
  plan_id: string;
  name: string | null;
  created_at: CreatedAt;
}

export interface PlanVersionsTable {
  id: Generated<string>;
  plan_id: string;
  /** `YYYY-MM-01`. */
  effective_month: string;
  currency: string;
  usage_unit: string;
  monthly_fee: Numeric;
  created_at: CreatedAt;
}

export interface PlanTiersTable {
  plan_version_id: BigId;
  tier_no: number;
  from_qty: Numeric;
  up_to: string | null;
  unit_price: Numeric;
}

export interface UsageMonthRollupTable {
  month: string;
  project_id: BigId;
  quantity: Numeric;
}

export interface BillCorrectionsTable {
  bill_statement_id: BigId;
  project_id: BigId;
  month: string;
  plan_version_id: BigId | null;
  quantity: Numeric;
  amount: Numeric;
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
  bill_late: ColumnType<boolean, boolean | undefined, boolean>;
  bill_statement_id: BigId | null;
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
  usage_month_rollup: UsageMonthRollupTable;
  plans: PlansTable;
  plan_versions: PlanVersionsTable;
  plan_tiers: PlanTiersTable;
  bill_corrections: BillCorrectionsTable;
}

export type Customer = Selectable<CustomersTable>;
export type Project = Selectable<ProjectsTable>;
export type Statement = Selectable<StatementsTable>;
export type NewUsageEvent = Insertable<UsageEventsTable>;
