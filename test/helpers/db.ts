import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { openDatabase, type Database, type Db } from '../../src/db/database.ts';
import { migrateToLatestOrThrow } from '../../src/db/migrate.ts';
import { flushBuiltApps } from './app.ts';
import { settlePreviewTotals } from '../../src/browse/preview.service.ts';
import { settleBuilds } from '../../src/statements/store.ts';

/** Real Postgres when TEST_DATABASE_URL (or DATABASE_URL) is set, else the embedded PGlite. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;
export const onPostgres = TEST_DATABASE_URL !== undefined;

export interface TestDatabase extends Database {
  schema: string | undefined;
  /** Another handle on the same database: a second server instance. */
  openAnother(): Promise<Database>;
}

/**
 * A database for one test file, migrated through the real migrations. On Postgres each file gets
 * its own schema, so files run in parallel; on PGlite each gets its own in-memory instance.
 */
export async function openTestDatabase(): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) {
    const d = await openDatabase({});
    await migrateToLatestOrThrow(d.db);
    return {
      ...d,
      close: async () => {
        await settleBackgroundWork(d.db);
        await d.close();
      },
      schema: undefined,
      openAnother: () => {
        throw new Error('the embedded database is one process; a second instance needs Postgres');
      },
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = await openDatabase({ databaseUrl: TEST_DATABASE_URL, poolSize: 1 });
  await sql`create schema ${sql.id(schema)}`.execute(admin.db);
  await admin.close();
  const d = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 10 });
  try {
    await migrateToLatestOrThrow(d.db);
  } catch (err) {
    await d.close();
    await dropSchema(schema);
    throw err;
  }
  return {
    ...d,
    schema,
    openAnother: () => openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 10 }),
    close: async () => {
      await settleBackgroundWork(d.db);
      await d.close();
      await dropSchema(schema);
    },
  };
}

/**
 * What the apps on `db` still do after their answers: background numbering, bill preview totals,
 * buffered logs of Agora's requests. Waited for before the database is closed (or emptied), so
 * none of it fails on a closed handle (`driver has already been destroyed`) or writes into the
 * next test's tables.
 */
export async function settleBackgroundWork(db: Db): Promise<void> {
  await Promise.all([settleBuilds(db), settlePreviewTotals(db)]);
  await flushBuiltApps();
}

async function dropSchema(schema: string): Promise<void> {
  const cleanup = await openDatabase({ databaseUrl: TEST_DATABASE_URL, poolSize: 1 });
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(cleanup.db);
  await cleanup.close();
}

export const TABLES = ['ext_session_sweeps', 'ext_sessions', 'ext_limits', 'ext_license_minutes', 'ext_pid_overage', 'license_grants', 'vendor_counts', 'customer_project_counts', 'agora_requests', 'webhook_attempts', 'webhook_deliveries', 'webhook_events', 'webhook_endpoints', 'reminders_sent', 'signature_failures', 'license_certificates', 'license_agents', 'license_platforms', 'license_file_tokens', 'license_file_versions', 'license_renewal_log', 'licenses', 'license_pads', 'license_pad_counts', 'listing_counts', 'license_pad_settings', 'license_renewals', 'license_allocations', 'license_pools', 'license_purchases', 'license_pids', 'license_skus', 'bill_corrections', 'usage_month_rollup', 'usage_month_counts', 'usage_month_lines', 'bill_line_thresholds', 'bill_line_months', 'reconciliation_month_counts', 'plan_tiers', 'plan_versions', 'plans', 'statement_blocks', 'statement_corrections', 'usage_day_counts', 'customer_plan_changes', 'usage_day_rollup', 'usage_events', 'statements', 'deactivations', 'projects', 'customers'];

/** Empties every table the app writes, between tests. */
export async function clearTables(db: Db): Promise<void> {
  // A previous test's app writes its buffered log a second later, by a timer: written now, before
  // the truncate, it can neither refill the emptied tables nor be counted as the next test's.
  await flushBuiltApps();
  await sql.raw(`truncate ${TABLES.join(', ')} restart identity cascade`).execute(db);
}
