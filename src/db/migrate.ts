import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Migrator, sql, type DatabaseIntrospector, type Migration, type MigrationProvider, type MigrationResult, type TableMetadata } from 'kysely';
import type { Db } from './database.ts';

/**
 * `migrations/*.ts` beside the sources (tests, tsx); `dist/migrations/*.js` beside the bundle
 * `npm start` runs, `dist/main.js` (bin/build.js).
 */
const BUILT = import.meta.url.endsWith('.js');
const EXT = BUILT ? '.js' : '.ts';
export const MIGRATIONS_DIR = fileURLToPath(new URL(BUILT ? './migrations' : '../../migrations', import.meta.url));

/**
 * Reads `migrations/<UTC timestamp>-<name>.ts`. The import happens here rather than inside Kysely's
 * FileMigrationProvider so that whatever loads our TypeScript (tsx, vitest) loads these files too.
 */
const migrationFiles = () => readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{14}-[\w-]+$/.test(f.slice(0, -EXT.length)) && f.endsWith(EXT)).sort();

class MigrationFolder implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const file of migrationFiles()) {
      const mod = (await import(pathToFileURL(join(MIGRATIONS_DIR, file)).href)) as Migration;
      out[file.slice(0, -EXT.length)] = { up: mod.up, ...(mod.down ? { down: mod.down } : {}) };
    }
    return out;
  }
}

/**
 * The schema already has exactly the migrations of the folder, in order: one query, and no
 * migration module loaded, which is what nearly every start finds. Anything else (no table yet, a
 * migration to apply, one missing) goes through the Migrator, which applies or reports it.
 */
async function upToDate(db: Db): Promise<boolean> {
  const names = migrationFiles().map((f) => f.slice(0, -EXT.length));
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
    return rows.length === names.length && rows.every((r, i) => r.name === names[i]);
  } catch {
    return false;
  }
}

/**
 * Kysely's own bookkeeping tables live in the schema we work in: left unset, the Migrator looks
 * for them by name in any schema and is fooled by another schema's copy.
 */
export async function migrator(db: Db): Promise<Migrator> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]!.schema;
  return new Migrator({ db: withOwnSchemaIntrospection(db, schema), provider: new MigrationFolder(), migrationTableSchema: schema });
}

/**
 * The Migrator finds its tables with `db.introspection.getTables()`, and Kysely's Postgres
 * introspector reads the columns of every schema of the database, calling
 * `has_schema_privilege` and `pg_get_serial_sequence` by schema name: a schema another client drops
 * meanwhile (other test files, another tenant of a shared server) fails the migration with
 * `schema "<theirs>" does not exist` (seen in CI; test/migrate-concurrent.test.ts). The Migrator
 * only asks whether its own tables exist in our schema, so it is given an introspector that looks
 * at our schema alone; every other call goes to the real handle.
 */
function withOwnSchemaIntrospection(db: Db, schema: string): Db {
  const real = db.introspection;
  const introspection: DatabaseIntrospector = {
    getSchemas: () => real.getSchemas(),
    getMetadata: async () => ({ tables: await getTables() }),
    getTables: () => getTables(),
  };
  async function getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; is_view: boolean }>`
      select c.relname as name, c.relkind in ('v', 'm') as is_view
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relkind in ('r', 'p', 'v', 'm', 'f')`.execute(db);
    return rows.map((r) => ({ name: r.name, isView: r.is_view, schema, columns: [] }));
  }
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'introspection') return introspection;
      const v: unknown = Reflect.get(target, prop, target);
      // Kysely's methods use private fields: called on the proxy they would not find them.
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Brings the schema up to date or throws with the name of the migration that failed. */
export async function migrateToLatestOrThrow(db: Db): Promise<MigrationResult[]> {
  if (await upToDate(db)) return [];
  const { error, results } = await (await migrator(db)).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const cause = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${cause}`, { cause: error });
  }
  return results ?? [];
}
