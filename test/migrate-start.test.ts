import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatestOrThrow, migrator } from '../src/db/migrate.ts';
import { openTestDatabase, type TestDatabase } from './helpers/db.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await openTestDatabase();
});
afterAll(async () => {
  await tdb?.close();
});

/**
 * Every start checks the migrations with one query and loads no migration when the schema has them
 * all (src/db/migrate.ts): the shortcut must never skip one that is pending.
 */
describe('the migrations check at start', () => {
  it('applies nothing on an up-to-date schema, and exactly what is pending otherwise', async () => {
    expect(await migrateToLatestOrThrow(tdb.db)).toEqual([]);

    const m = await migrator(tdb.db);
    const names = (await m.getMigrations()).map((x) => x.name);
    const last = names[names.length - 1]!;
    await m.migrateTo(names[names.length - 2]!);
    const { rows } = await sql<{ n: string }>`select count(*) as n from kysely_migration`.execute(tdb.db);
    expect(Number(rows[0]!.n)).toBe(names.length - 1);

    const applied = await migrateToLatestOrThrow(tdb.db);
    expect(applied.map((r) => [r.migrationName, r.status])).toEqual([[last, 'Success']]);
    expect(await migrateToLatestOrThrow(tdb.db)).toEqual([]);
  });
});
