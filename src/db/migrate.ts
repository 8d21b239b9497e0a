import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Migrator, sql, type Migration, type MigrationProvider, type MigrationResult } from 'kysely';
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
  return new Migrator({ db, provider: new MigrationFolder(), migrationTableSchema: rows[0]!.schema });
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
