import type { ColumnType, Generated, Selectable } from 'kysely';

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
  /** Count and totals fixed; lines still being numbered into statement_blocks (see statements/store.ts). */
  building: ColumnType<boolean, boolean | undefined, boolean>;
  /** Deferred bills: the prices their lines are numbered with, frozen at the fix (billing/bill.service.ts). */
  bill_pricing: ColumnType<BillPricing | null, string | null | undefined, string | null>;
  /** Deferred bills: candidate projects whose amount rounds to 0 (not lines). */
  bill_skips: ColumnType<number | null, number | null | undefined, number | null>;
}

/** What a deferred bill's lines are priced with (`statements.bill_pricing`). */
export interface BillPricing {
  decimals: number;
  defaultVersionId: string | null;
  versions: { versionId: string; planId: string; monthlyFee: string; tiers: { from: string; upTo: string | null; unitPrice: string }[] }[];
  /**
   * A month with fees owed (bill.service.ts `freezeFeeBill`): every project recorded before the fix
   * is a candidate line, read in projectId order; else only the rollup rows and corrections are.
   */
  byProject?: boolean;
}

export interface UsageMonthCountsTable {
  /** `YYYY-MM-DD`, the first of the month. */
  month: string;
  shard: number;
  projects: number;
}

export interface StatementCorrectionsTable {
  statement_id: BigId;
  project_id: BigId;
  quantity: Numeric;
}

export interface UsageDayCountsTable {
  /** `YYYY-MM-DD`. */
  day: string;
  /** The connection's shard: a day's count is the sum of its rows. */
  shard: number;
  projects: number;
  quantity: Numeric;
}

export interface CustomerPlanChangesTable {
  customer_id: string;
  /** The plan before the change. */
  plan_id: string;
  changed_at: ColumnType<Date, Date | undefined, never>;
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
  /** A lower bound of `usage_size_class(quantity)` (migration 20261205100000); 0 on insert: the exact class. */
  size_class: Generated<number>;
  /** The quantity from which the row is a bill line (migration 20261208090000); null: not assigned yet. */
  line_at: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A month whose bill lines are counted as usage arrives (migration 20261208090000, src/billing/line-counts.ts). */
export interface BillLineMonthsTable {
  month: string;
  decimals: number;
  default_plan_id: string;
  generation: Generated<number>;
  passed: Generated<number>;
  plans_seen_at: Date;
}

export interface BillLineThresholdsTable {
  month: string;
  /** A plan id, or '' for the default plan's version. */
  plan_key: string;
  /** `Infinity`: never a line. */
  line_at: Numeric;
}

export interface UsageMonthLinesTable {
  month: string;
  shard: number;
  lines: Counter;
  unknown: Counter;
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
  statement_corrections: StatementCorrectionsTable;
  usage_day_counts: UsageDayCountsTable;
  customer_plan_changes: CustomerPlanChangesTable;
  usage_events: UsageEventsTable;
  usage_day_rollup: UsageDayRollupTable;
  usage_month_rollup: UsageMonthRollupTable;
  usage_month_counts: UsageMonthCountsTable;
  usage_month_lines: UsageMonthLinesTable;
  bill_line_months: BillLineMonthsTable;
  bill_line_thresholds: BillLineThresholdsTable;
  plans: PlansTable;
  plan_versions: PlanVersionsTable;
  plan_tiers: PlanTiersTable;
  bill_corrections: BillCorrectionsTable;
  license_skus: LicenseSkusTable;
  license_pids: LicensePidsTable;
  license_purchases: LicensePurchasesTable;
  license_pools: LicensePoolsTable;
  license_allocations: LicenseAllocationsTable;
  license_renewals: LicenseRenewalsTable;
  licenses: LicensesTable;
  license_renewal_log: LicenseRenewalLogTable;
  license_pad_settings: LicensePadSettingsTable;
  license_pads: LicensePadsTable;
  license_pad_counts: LicensePadCountsTable;
  listing_counts: ListingCountsTable;
  license_platforms: LicensePlatformsTable;
  license_agents: LicenseAgentsTable;
  license_certificates: LicenseCertificatesTable;
  license_file_tokens: LicenseFileTokensTable;
  license_file_versions: LicenseFileVersionsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  reminders_sent: RemindersSentTable;
  signature_failures: SignatureFailuresTable;
  vendor_counts: VendorCountsTable;
  customer_project_counts: CustomerProjectCountsTable;
  agora_requests: AgoraRequestsTable;
  ext_sessions: ExtSessionsTable;
  ext_limits: ExtLimitsTable;
  ext_session_sweeps: ExtSessionSweepsTable;
  ext_license_minutes: ExtLicenseMinutesTable;
  ext_pid_overage: ExtPidOverageTable;
  license_grants: LicenseGrantsTable;
}

export type Customer = Selectable<CustomersTable>;
export type Project = Selectable<ProjectsTable>;
export type Statement = Selectable<StatementsTable>;

// Licensing (migrations/20261123020000-licensing.ts, widened by 20261123050000-hardening.ts).

export interface LicenseSkusTable {
  sku_id: string;
  /** 1 Video SDK, 2 IoT SDK, 3 FPA. */
  product: number;
  name: string;
  /** 1 audio, 2 video, 3 audio and video. */
  media_type: number;
  minutes: number | null;
  /** `HH:MM~HH:MM`. */
  period: string | null;
  created_at: CreatedAt;
}

export interface LicensePidsTable {
  pid: string;
  sku_id: string;
  category: 'device' | 'account';
  type: 'trial' | 'commercial';
  /** Trial: months (at least 3); commercial: years × 12 (at least one year). */
  validity_months: number;
  created_at: CreatedAt;
}

export interface LicensePurchasesTable {
  id: Generated<string>;
  order_id: string | null;
  customer_id: string;
  pid: string;
  count: number;
  created_at: CreatedAt;
}

/**
 * A quota counter: `bigint` in Postgres, read as a string (the sum of many purchases can pass
 * 2^31, and nothing stops it at 2^53), handled as a JS `bigint` in code.
 */
type Counter = ColumnType<string, string | number, string | number>;

export interface LicensePoolsTable {
  id: ColumnType<string, never, never>;
  customer_id: string;
  pid: string;
  /** null: shared by all the customer's projects. */
  project_id: BigId | null;
  capacity: Counter;
  used: ColumnType<string, string | number | undefined, string | number>;
}

export interface LicenseAllocationsTable {
  id: Generated<string>;
  customer_id: string;
  project_id: BigId;
  pid: string;
  count: number;
  creator: string | null;
  created_at: CreatedAt;
}

export interface LicenseRenewalsTable {
  renew_id: string;
  customer_id: string;
  pid: string;
  capacity: number;
  used: ColumnType<number, number | undefined, number>;
  created_at: CreatedAt;
}

export interface LicensesTable {
  id: Generated<string>;
  license: string;
  customer_id: string;
  project_id: BigId;
  pid: string;
  license_key: string;
  activated_at: Date;
  expires_at: Date;
  renew_times: ColumnType<number, number | undefined, number>;
  last_renew_at: Date | null;
}

export interface LicenseRenewalLogTable {
  id: Generated<string>;
  license_id: BigId;
  renew_id: string;
  previous_expires_at: Date;
  expires_at: Date;
  renewed_at: Date;
}

export interface LicensePadSettingsTable {
  project_id: BigId;
  enabled: boolean;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface LicensePadsTable {
  id: Generated<string>;
  project_id: BigId;
  customer_id: string;
  license_key: string;
  created_at: CreatedAt;
}

/** Kept by triggers on license_pads (migrations/20261123060000-whitelist-counts.ts); never written by the app. */
export interface LicensePadCountsTable {
  project_id: BigId;
  entries: string;
  version: string;
}

/**
 * Rows per listing and group (customer, project, PID), kept by triggers on licenses, allocations,
 * purchases and renewals (migrations/20261123070000-listing-counts.ts); never written by the app.
 */
export interface ListingCountsTable {
  listing: 'licenses' | 'allocations' | 'purchases' | 'renewals';
  customer_id: string;
  /** 0 for the listings not kept per project (purchases, renewals). */
  project_id: BigId;
  pid: string;
  n: string;
  version: string;
}

export type LicenseSku = Selectable<LicenseSkusTable>;
export type LicensePid = Selectable<LicensePidsTable>;
export type LicenseRow = Selectable<LicensesTable>;

// Certificates and license files (migrations/20261201040000-certificates.ts).

export interface LicensePlatformsTable {
  customer_id: string;
  expires_at: Date | null;
  permanent: ColumnType<boolean, boolean | undefined, boolean>;
  unlimited_until: Date | null;
  unlimited_permanent: ColumnType<boolean, boolean | undefined, boolean>;
}

export interface LicenseAgentsTable {
  customer_id: string;
  agent_id: string;
  registered_at: Date;
  deleted_at: Date | null;
  expires_at: Date | null;
  permanent: ColumnType<boolean, boolean | undefined, boolean>;
  /** Registered while a platform-unlimited certificate was valid: licensed until the platform's expiry. */
  unlimited: ColumnType<boolean, boolean | undefined, boolean>;
}

export type CertificateType = 'platform' | 'agent' | 'platform-unlimited';

export interface LicenseCertificatesTable {
  id: string;
  customer_id: string;
  type: CertificateType;
  mode: string;
  /** null: permanent. */
  validity_days: number | null;
  package_id: string;
  registered_at: Date;
  agent_id: string | null;
  activated_at: Date | null;
  starts_at: Date | null;
  /** null once activated: permanent. */
  expires_at: Date | null;
}

export interface LicenseFileTokensTable {
  project_id: BigId;
  token: string;
  /** sha256 of the token, hex: what a request is looked up by. */
  token_hash: string;
  created_at: CreatedAt;
}

/** Kept by triggers (migration 20261201040000); never written by the app. */
export interface LicenseFileVersionsTable {
  scope: string;
  version: string;
}

export type LicenseCertificateRow = Selectable<LicenseCertificatesTable>;
export type LicenseAgentRow = Selectable<LicenseAgentsTable>;
export type LicensePlatformRow = Selectable<LicensePlatformsTable>;
// Notifications (migrations/20261201050000-notifications.ts, docs/webhooks.md).

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  disabled_reason: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
  failing_since: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface WebhookEventsTable {
  seq: Generated<string>;
  id: string;
  type: string;
  data: ColumnType<unknown, string, string>;
  created_at: Date;
  dispatched: ColumnType<boolean, boolean | undefined, boolean>;
}

export interface WebhookDeliveriesTable {
  id: Generated<string>;
  event_seq: BigId;
  endpoint_id: string;
  status: ColumnType<'pending' | 'delivered' | 'failed', 'pending' | 'delivered' | 'failed' | undefined, 'pending' | 'delivered' | 'failed'>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Date;
  locked_until: Date | null;
  last_attempt_at: Date | null;
  created_at: Date;
}

export interface WebhookAttemptsTable {
  id: Generated<string>;
  delivery_id: BigId;
  at: Date;
  http_status: number | null;
  duration_ms: number;
  error: string | null;
  response: string | null;
}

export interface RemindersSentTable {
  kind: string;
  thing_id: string;
  expires_at: Date;
  /** Days before the expiry; 0: the expiry itself (license.expired). */
  threshold: number;
  sent_at: Date;
}

export interface SignatureFailuresTable {
  minute: Date;
  count: Counter;
  first_at: Date;
  last_at: Date;
}

// The vendor console's reads (migrations/20261201060000-vendor-console.ts).

/** Customers and projects by status (`customers:active`, `projects:deactivated`…), per shard; kept by triggers. */
export interface VendorCountsTable {
  name: string;
  shard: number;
  n: string;
}

/** A customer's projects and active projects; kept by triggers on projects. */
export interface CustomerProjectCountsTable {
  customer_id: string;
  projects: string;
  active: string;
}

/** One request of Agora's, written in batches off the request path (src/agora-log/). */
export interface AgoraRequestsTable {
  id: Generated<string>;
  at: Date;
  kind: 'usage' | 'bill' | 'license' | 'provisioning';
  method: string;
  path: string;
  from_ts: string | null;
  to_ts: string | null;
  page_num: string | null;
  page_limit: string | null;
  customer_id: string | null;
  api_key_id: string | null;
  status: number;
  duration_ms: Numeric;
  error_code: string | null;
}
// Licenses at run time (migrations/20261201030000-runtime-sessions.ts).

export type SessionEndReason = 'leave' | 'silence' | 'EXPIRE' | 'MINUTES_EXCEED' | 'LIMITED_PERIOD';

export interface ExtSessionsTable {
  seq: ColumnType<string, never, never>;
  id: string;
  customer_id: string;
  project_id: BigId;
  license_id: BigId | null;
  grant_id: BigId | null;
  license_key: string;
  media: 'audio' | 'video' | 'audio+video';
  platform: string;
  channel: string | null;
  user_id: string | null;
  heartbeat_seconds: number;
  started_at: Date;
  last_seen_at: Date;
  /** last_seen_at + 2 × heartbeat_seconds: past it, the session is silent and ends as of last_seen_at. */
  live_until: Date;
  ended_at: Date | null;
  end_reason: SessionEndReason | null;
  seconds: ColumnType<string, string | number | undefined, string | number>;
}

/** When the sweep next looks at an open session (migrations/20261202110000-runtime-hot-heartbeat.ts). */
export interface ExtSessionSweepsTable {
  session_seq: string;
  customer_id: string;
  project_id: BigId;
  /** Never after the session's live_until: heartbeats move live_until on, the sweep moves this up to it. */
  sweep_at: Date;
}

export interface ExtLimitsTable {
  scope: 'customer' | 'project';
  scope_id: string;
  pcu: number | null;
  live: ColumnType<number, number | undefined, number>;
}

export interface ExtLicenseMinutesTable {
  license_id: BigId;
  /** `YYYY-MM-01`. */
  month: string;
  seconds: ColumnType<string, string | number | undefined, string | number>;
  over_seconds: ColumnType<string, string | number | undefined, string | number>;
  billed_seconds: ColumnType<string, string | number | undefined, string | number>;
  pending_seconds: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export interface ExtPidOverageTable {
  pid: string;
  mode: 'block' | 'bill';
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface LicenseGrantsTable {
  id: Generated<string>;
  customer_id: string;
  platforms: string[];
  starts_at: Date;
  ends_at: Date;
  type: ColumnType<string, string | undefined, string>;
  created_at: CreatedAt;
}

export type ExtSession = Selectable<ExtSessionsTable>;
