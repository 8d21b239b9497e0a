import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import type { DB } from './schema.ts';
import { PGliteDialect } from './pglite-dialect.ts';
import { PoolGate } from './pool-gate.ts';

export type Db = Kysely<DB>;

export interface DatabaseOptions {
  /** Unset: embedded PGlite. */
  databaseUrl?: string | undefined;
  /** Folder of the embedded database; unset with no URL: in memory (tests). */
  dataDir?: string | undefined;
  /** Postgres schema to work in (tests give each worker its own). */
  schema?: string;
  poolSize?: number;
  statementTimeoutMs?: number;
  /** How long opening a new connection may take before it counts as the database being down. */
  connectTimeoutMs?: number;
  /** Connections kept for Agora's requests (see PoolGate). */
  reservedConnections?: number;
  /** Requests that may wait for a connection before the next answers 503 overloaded. */
  maxWaiting?: number;
  onPoolError?: (err: Error) => void;
}

export interface Database {
  db: Db;
  kind: 'postgres' | 'embedded';
  close(): Promise<void>;
}

const OID = { int8: 20, date: 1082, numeric: 1700, timestamptz: 1184 } as const;

/**
 * Type parsers are chosen here on purpose: `numeric` and `int8` stay strings (money goes to
 * Decimal, ids stay exact), and `date` stays `YYYY-MM-DD` rather than a local-time JS Date.
 */
const keepText = (v: string) => v;

/** Postgres's shared buffers inside the embedded database (see openDatabase). */
const EMBEDDED_SHARED_BUFFERS = '32MB';

/** The pool gate of each Postgres handle, for /metrics (the embedded database has no pool). */
const gates = new WeakMap<Db, { inUse: number; waiting: number }>();

/** Connections in use and requests waiting of a handle's pool; undefined on the embedded database. */
export function poolStatsOf(db: Db): { inUse: number; waiting: number } | undefined {
  const gate = gates.get(db);
  return gate && { inUse: gate.inUse, waiting: gate.waiting };
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      // Only opening a connection is timed here: waiting for a busy pool's connection happens in
      // the PoolGate below, bounded by each request's deadline (a wait is not an outage). A
      // database that is down refuses at once; one that hangs is cut off by the deadline.
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      // No query may hang a request for ever on a database that is slow rather than down.
      statement_timeout: opts.statementTimeoutMs ?? 30_000,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
          if (oid === OID.int8 || oid === OID.date || oid === OID.numeric) return keepText;
          return pg.types.getTypeParser(oid, format);
        }) as typeof pg.types.getTypeParser,
      },
    });
    // An idle client whose server went away emits here; without a listener the process would die.
    pool.on('error', (err) => opts.onPoolError?.(err));
    // A client checked out when its server goes away emits 'error' too, outside any query; with no
    // listener that would end the process. Its queries still fail through their own callbacks.
    pool.on('connect', (client) => client.on('error', (err) => opts.onPoolError?.(err)));
    const size = opts.poolSize ?? 10;
    const gated = new PoolGate<pg.PoolClient>(pool, { size, reserved: opts.reservedConnections ?? (size > 2 ? 1 : 0), maxWaiting: opts.maxWaiting ?? 1000 });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: gated }) });
    gates.set(db, gated);
    return { db, kind: 'postgres', close: () => db.destroy() };
  }

  let lock: DataDirLock | undefined;
  if (opts.dataDir) {
    mkdirSync(opts.dataDir, { recursive: true });
    // Before PGlite reads a file: a second process on the folder must stop here (data-dir-lock.ts).
    lock = lockDataDir(opts.dataDir);
  }
  try {
    const liteOptions = {
      parsers: { [OID.int8]: keepText, [OID.date]: keepText, [OID.numeric]: keepText },
      // The WASM heap is the process's memory: Postgres's default 128 MB of shared buffers, once
      // touched, stay resident for good (~330 MB after start). Pages not in them are read through
      // the OS's file cache, so a smaller pool costs little here (~200 MB after start). Later
      // `-c` settings override PGlite's own defaults, which are kept.
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`],
    };
    if (opts.dataDir && !existsSync(join(opts.dataDir, 'PG_VERSION'))) {
      // A new folder: creating the database (initdb) leaves ~650 MB in WASM heaps that never
      // shrink. Created by an instance of its own and closed, then opened again (~150 ms): the
      // server keeps ~350 MB rather than ~700 MB for as long as it runs after its first start.
      const creating = new PGlite(opts.dataDir, liteOptions);
      await creating.waitReady;
      await creating.close();
    }
    const lite = new PGlite(opts.dataDir ?? 'memory://', liteOptions);
    await lite.waitReady;
    if (opts.schema) {
      await lite.exec(`create schema if not exists ${opts.schema}; set search_path to ${opts.schema}`);
    }
    const db = new Kysely<DB>({ dialect: new PGliteDialect(lite) });
    const close = async () => {
      try {
        await db.destroy();
      } finally {
        lock?.release();
      }
    };
    return { db, kind: 'embedded', close };
  } catch (err) {
    lock?.release();
    throw err;
  }
}
