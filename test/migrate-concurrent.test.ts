import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatestOrThrow } from '../src/db/migrate.ts';
import { onPostgres, TEST_DATABASE_URL } from './helpers/db.ts';

/**
 * Migrating one schema while other clients create and drop theirs in the same database (as the test
 * files do, or tenants of a shared server): Kysely's introspector reads every schema, and one
 * dropped under it failed the migration with `schema "<other>" does not exist` (seen in CI).
 */
describe.runIf(onPostgres)('migrations beside schemas dropped meanwhile', () => {
  it('bring every schema up to date while others come and go', async () => {
    const admin = await openDatabase({ databaseUrl: TEST_DATABASE_URL, poolSize: 4 });
    const mine: string[] = [];
    let churning = true;
    // Other clients: schemas with a table (so the introspector has columns to read) made and dropped.
    const churn = Promise.all(
      Array.from({ length: 3 }, async () => {
        while (churning) {
          const s = `churn_${randomBytes(5).toString('hex')}`;
          await sql`create schema ${sql.id(s)}`.execute(admin.db);
          await sql`create table ${sql.id(s, 't')} (id bigserial primary key, v text)`.execute(admin.db);
          await sql`drop schema ${sql.id(s)} cascade`.execute(admin.db);
        }
      }),
    );
    try {
      for (let i = 0; i < 6; i++) {
        const schema = `mig_${randomBytes(5).toString('hex')}`;
        mine.push(schema);
        await sql`create schema ${sql.id(schema)}`.execute(admin.db);
        const d = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2 });
        try {
          await migrateToLatestOrThrow(d.db);
          const { rows } = await sql<{ n: number }>`select count(*)::int as n from kysely_migration`.execute(d.db);
          expect(rows[0]!.n).toBeGreaterThan(0);
        } finally {
          await d.close();
        }
      }
    } finally {
      churning = false;
      await churn;
      for (const s of mine) await sql`drop schema if exists ${sql.id(s)} cascade`.execute(admin.db);
      await admin.close();
    }
  }, 300_000);
});
