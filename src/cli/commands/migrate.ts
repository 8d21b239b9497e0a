import { ConfigError, loadConfig } from '../../config.ts';
import { openDatabase } from '../../db/database.ts';
import { migrateToLatestOrThrow, migrator } from '../../db/migrate.ts';
import { EXIT, parseCommand, UsageError, type CliIo } from '../io.ts';

export const MIGRATE_USAGE = `Usage: agora-vendor migrate [up|status] [--database-url URL] [--data-dir DIR]

  up       apply every pending migration (the default); the server also does this at start
  status   list the migrations, applied (with when) or pending; exit 1 when any is pending

The database is the server's: DATABASE_URL, else the embedded one in DATA_DIR (default ./.data).
The embedded database is one process: stop the server before migrating it.`;

export async function migrateCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(
    args,
    { 'database-url': { type: 'string' }, 'data-dir': { type: 'string' } },
    true,
  );
  const [action = 'up', ...extra] = positionals;
  if (action !== 'up' && action !== 'status') throw new UsageError(`migrate ${action}? up or status`);
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);

  let config;
  try {
    config = loadConfig({
      ...io.env,
      ...(values['database-url'] !== undefined ? { DATABASE_URL: values['database-url'] } : {}),
      ...(values['data-dir'] !== undefined ? { DATA_DIR: values['data-dir'] } : {}),
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const where = config.databaseUrl ? redactUrl(config.databaseUrl) : `embedded database in ${config.dataDir}`;
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? undefined : config.dataDir });
  try {
    if (action === 'up') {
      const applied = await migrateToLatestOrThrow(database.db);
      if (applied.length === 0) io.stdout.write(`${where}: already up to date\n`);
      for (const m of applied) io.stdout.write(`${where}: applied ${m.migrationName}\n`);
      return EXIT.ok;
    }
    const list = await (await migrator(database.db)).getMigrations();
    io.stdout.write(`${where}\n`);
    for (const m of list) {
      io.stdout.write(`  ${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending                          '}  ${m.name}\n`);
    }
    const pending = list.filter((m) => !m.executedAt).length;
    io.stdout.write(`${list.length - pending} applied, ${pending} pending\n`);
    return pending === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await database.close();
  }
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the database';
  }
}
