import { afterAll, beforeAll, beforeEach } from 'vitest';
import { buildApp, type TestApp } from './app.ts';
import { clearTables, openTestDatabase, settleBackgroundWork, type TestDatabase } from './db.ts';

export interface TestContext {
  tdb: TestDatabase;
  t: TestApp;
}

/**
 * A test file's database (migrated through the real migrations) and app, emptied (and the app
 * built anew) before each test unless `clearEach` is false. Read `ctx.t` and `ctx.tdb` inside hooks and tests.
 */
export function setupTestApp(opts: { clearEach?: boolean; env?: Record<string, string> } = {}): TestContext {
  const ctx = {} as TestContext;
  beforeAll(async () => {
    ctx.tdb = await openTestDatabase();
    ctx.t = buildApp(ctx.tdb.db, opts.env);
  });
  afterAll(async () => {
    await ctx.tdb?.close(); // after the background work of its apps (settleBackgroundWork)
  });
  if (opts.clearEach !== false) {
    beforeEach(() => resetTestApp(ctx, opts.env));
  }
  return ctx;
}

/**
 * Empties the tables and builds the app anew, as before each test: also for a property's runs,
 * each of which needs a world of its own (`env`: the app's settings for this run).
 */
export async function resetTestApp(ctx: TestContext, env?: Record<string, string>): Promise<void> {
  // The previous run's background numbering (or bill preview total) must not run into the truncate (a deadlock).
  await settleBackgroundWork(ctx.tdb.db);
  await clearTables(ctx.tdb.db);
  // A new app too: it keeps fixed statements in memory, and emptied tables reuse their ids.
  ctx.t = buildApp(ctx.tdb.db, env);
}
