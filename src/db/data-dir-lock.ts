import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { isJsonObject } from '../json.ts';
import { errnoCode } from '../errors.ts';

/**
 * The embedded database (PGlite) is one process's files: a second process opening the same folder
 * works on its own copy in memory and writes over the first one's, so acknowledged writes are lost.
 * This lock file makes the second process stop instead, naming the one that holds the folder.
 */
export const LOCK_FILE = 'agora-vendor.lock';

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
  /** Tells this lock from a later one that happens to have the same pid. */
  token: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    const file = join(dataDir, LOCK_FILE);
    const who = holder
      ? `process ${holder.pid} on ${holder.host} (${holder.command}), started ${holder.startedAt}`
      : 'another process (its lock file cannot be read)';
    super(
      `the embedded database in ${dataDir} is in use by ${who}. ` +
        'One process at a time may open it: stop that one first (or give this one another DATA_DIR). ' +
        `If that process is gone for sure, delete ${file}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  release(): void;
}

/** A lock file still being written (or a takeover interrupted) this long ago is abandoned. */
const UNREADABLE_GRACE_MS = 10_000;

function readHolder(file: string): LockHolder | undefined {
  try {
    const h: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (isJsonObject(h) && typeof h['pid'] === 'number' && typeof h['host'] === 'string' && typeof h['token'] === 'string') {
      return { pid: h['pid'], host: h['host'], command: String(h['command'] ?? '?'), startedAt: String(h['startedAt'] ?? '?'), token: h['token'] };
    }
  } catch {
    // Missing, half written or not ours: the caller decides by the file's age.
  }
  return undefined;
}

/** Only a holder on this host can be checked; one elsewhere (a shared folder) is taken as alive. */
function isAlive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true;
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return errnoCode(err) !== 'ESRCH';
  }
}

function olderThan(file: string, ms: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs > ms;
  } catch {
    return true;
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}

/** Creates `file` with `content` only if it does not exist (O_EXCL: atomic on a local disk). */
function createExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the folder's lock or throws DataDirLockedError naming the holder. A lock left by a process
 * that no longer runs on this host (killed, crashed) is taken over. The lock goes when `release` is
 * called or the process exits.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  const file = join(dir, LOCK_FILE);
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command: process.argv.slice(1).join(' ') || process.argv0,
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const content = JSON.stringify(me) + '\n';

  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(file, content)) return holdUntilExit(file, me.token);
    const holder = readHolder(file);
    if (holder ? isAlive(holder) : !olderThan(file, UNREADABLE_GRACE_MS)) throw new DataDirLockedError(dir, holder);
    // Stale. Two processes may find it stale at once: only the one that creates the takeover file
    // removes it, after checking it is still the same stale lock, so nobody removes a fresh one.
    const takeover = `${file}.takeover`;
    if (olderThan(takeover, UNREADABLE_GRACE_MS)) unlinkQuietly(takeover);
    if (!createExclusive(takeover, content)) continue;
    try {
      const again = readHolder(file);
      if (again?.token === holder?.token) unlinkQuietly(file);
    } finally {
      unlinkQuietly(takeover);
    }
  }
  throw new DataDirLockedError(dir, readHolder(file));
}

function holdUntilExit(file: string, token: string): DataDirLock {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.removeListener('exit', release);
    // Only our own lock: never one another process took over meanwhile.
    if (readHolder(file)?.token === token) unlinkQuietly(file);
  };
  process.on('exit', release);
  return { release };
}
