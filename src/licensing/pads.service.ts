import type { Db } from '../db/database.ts';
import type { Project } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { keysetPage, type Listing, type PageBookmarks } from '../http/paging.ts';
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

/**
 * A page of the whitelist, by number or after an entry id (see keysetPage): a keyset read on
 * `(project_id, id)` at any depth; only a jump to a deep page nobody walked to reads its offset,
 * bounded by the cap and through the heavy-read gate. `count` is the maintained counter.
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
  const listing: Listing<repo.PadPage['rows'][number]> = {
    scope: `pads:${pid}`,
    read: async (p) => {
      const page = await repo.page(db, pid, { after: p.after ?? '0', offset: p.offset, limit: p.limit });
      return { ...page, exact: true };
    },
    counted: async () => {
      const c = await repo.counter(db, pid);
      return { count: c.entries, exact: true, version: c.version };
    },
    cursorOf: (row) => row.id,
  };
  const { rows, count, version } = await keysetPage(listing, q, opts);
  return { rows, count, version };
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
