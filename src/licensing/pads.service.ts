import type { Db } from '../db/database.ts';
import type { Project } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { LruCache } from '../http/lru.ts';
import { DEEP_OFFSET } from '../http/middleware.ts';
import { batchedStream } from '../http/stream.ts';
import type { LicenseCaller } from '../http/context.ts';
import { projectFor } from './access.ts';
import * as repo from './pads.repository.ts';
import type { PadFile } from './pad-file.ts';

/**
 * Pre-authorization of a project: while its switch is on, only licenseKeys on its whitelist
 * activate. Every change is one statement, so concurrent changes each take effect once: adding a
 * listed key again adds nothing, deleting or clearing removes what is there.
 */

/** Flips the switch, or sets it when `enabled` is given (idempotent); answers the new state. */
export async function switchPad(db: Db, caller: LicenseCaller, appid: string, enabled: boolean | undefined): Promise<boolean> {
  const project = await projectFor(db, caller, appid, { change: true });
  return enabled === undefined ? repo.toggle(db, project.project_id) : repo.set(db, project.project_id, enabled);
}

/**
 * Adds keys to the whitelist, all or nothing: when the list would then hold more than `max`
 * entries, nothing is added (409 whitelist_full). The counter row the insert's trigger updates is
 * held until commit, so concurrent additions to one project are counted one after another and
 * together never pass the cap.
 */
async function addWithinCap(db: Db, project: Project, keys: string[], max: number): Promise<number> {
  // A file that alone passes the cap is refused before any write. A full list is not refused up
  // front: keys already on it add nothing, so re-sending an upload that succeeded still succeeds.
  if (keys.length > max) throw whitelistFull(project.project_id, max);
  return db.transaction().execute(async (trx) => {
    const added = await repo.addKeys(trx, project.project_id, project.customer_id, keys);
    if (added > 0 && (await repo.entries(trx, project.project_id)) > max) throw whitelistFull(project.project_id, max);
    return added;
  });
}

const whitelistFull = (projectId: string, max: number) =>
  new AppError('whitelist_full', `The whitelist of project ${projectId} may hold at most ${max} licenseKeys (LICENSE_WHITELIST_MAX); nothing was added. Delete entries or clear it first`);

export async function addKey(db: Db, caller: LicenseCaller, appid: string, licenseKey: string, max: number) {
  const project = await projectFor(db, caller, appid, { change: true });
  const added = await addWithinCap(db, project, [licenseKey], max);
  return { added, alreadyListed: 1 - added };
}

export async function upload(db: Db, caller: LicenseCaller, appid: string, file: PadFile, max: number) {
  const project = await projectFor(db, caller, appid, { change: true });
  const added = await addWithinCap(db, project, file.keys, max);
  return { added, alreadyListed: file.keys.length - added, repeatedInFile: file.repeated };
}

/** Deletes the entries with these ids that belong to the project; other ids are ignored. */
export async function deleteIds(db: Db, caller: LicenseCaller, appid: string, ids: string[]) {
  const project = await projectFor(db, caller, appid, { change: true });
  const deleted = await repo.deleteIds(db, project.project_id, ids);
  return { deleted, notFound: new Set(ids).size - deleted };
}

export async function clear(db: Db, caller: LicenseCaller, appid: string) {
  const project = await projectFor(db, caller, appid, { change: true });
  return { deleted: await repo.clear(db, project.project_id) };
}

export async function search(db: Db, caller: LicenseCaller, appid: string, licenseKey: string) {
  const project = await projectFor(db, caller, appid, { change: false });
  return repo.find(db, project.project_id, licenseKey);
}

/** Where each page of a walk ended, per project, page size and list version. */
export type PageBookmarks = LruCache<string>;

/**
 * A page of the whitelist. With `after` (an entry id): the entries after it, a keyset read that
 * costs the same at any depth. With `page`: a walk page 1, 2, 3… continues from where the previous
 * page ended (remembered per list version, so a page is exactly what OFFSET would give), also a
 * keyset read; only a jump to a deep page nobody walked to reads its offset, and that is bounded by
 * the cap and goes through the heavy-read gate. `count` is the maintained counter, never count(*).
 */
export async function list(
  db: Db,
  caller: LicenseCaller,
  appid: string,
  q: { page: number; size: number; after: string | undefined },
  opts: { bookmarks: PageBookmarks; heavy: () => Promise<() => void> },
): Promise<repo.PadPage> {
  const project = await projectFor(db, caller, appid, { change: false });
  const pid = project.project_id;
  if (q.after !== undefined) return repo.page(db, pid, { after: q.after, offset: 0, limit: q.size });
  const key = (page: number, version: string) => `${pid}:${version}:${q.size}:${page}`;
  const remember = (result: repo.PadPage) => {
    opts.bookmarks.set(`${pid}:version`, result.version);
    const last = result.rows[result.rows.length - 1];
    if (last && result.rows.length === q.size) opts.bookmarks.set(key(q.page, result.version), last.id);
    return result;
  };
  const offset = (q.page - 1) * q.size;
  if (offset === 0) return remember(await repo.page(db, pid, { after: '0', offset: 0, limit: q.size }));
  // The version is not known before reading; try the bookmark of the version last seen.
  const seen = opts.bookmarks.get(`${pid}:version`);
  const from = seen === undefined ? undefined : opts.bookmarks.get(key(q.page - 1, seen));
  if (from !== undefined) {
    const result = await repo.page(db, pid, { after: from, offset: 0, limit: q.size });
    if (result.version === seen) return remember(result);
  }
  // A page past the end is empty: say so from the counter instead of walking the whole index.
  const counter = await repo.counter(db, pid);
  if (offset >= counter.entries) return { rows: [], count: counter.entries, version: counter.version };
  const release = offset > DEEP_OFFSET ? await opts.heavy() : () => {};
  try {
    return remember(await repo.page(db, pid, { after: '0', offset, limit: q.size }));
  } finally {
    release();
  }
}

/**
 * Every listed key, one per line, streamed in keyset batches as the client reads (see
 * batchedStream); `release` is called when the stream ends, whatever the reason.
 */
export async function exportStream(db: Db, caller: LicenseCaller, appid: string, release: () => void): Promise<ReadableStream<Uint8Array>> {
  const project = await projectFor(db, caller, appid, { change: false });
  return batchedStream<string>({
    start: '0',
    release,
    idleMs: EXPORT_IDLE_MS,
    next: async (after) => {
      const batch = await repo.keysAfter(db, project.project_id, after, EXPORT_BATCH);
      return {
        text: batch.map((r) => r.license_key + '\n').join(''),
        cursor: batch.length < EXPORT_BATCH ? null : batch[batch.length - 1]!.id,
      };
    },
  });
}

/** Small enough that one batch is a millisecond or two of database time, also on the embedded one. */
export const EXPORT_BATCH = 2000;
export const EXPORT_IDLE_MS = 30_000;
