import type { Db } from '../db/database.ts';
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

export async function addKey(db: Db, caller: LicenseCaller, appid: string, licenseKey: string) {
  const project = await projectFor(db, caller, appid, { change: true });
  const added = await repo.addKeys(db, project.project_id, project.customer_id, [licenseKey]);
  return { added, alreadyListed: 1 - added };
}

export async function upload(db: Db, caller: LicenseCaller, appid: string, file: PadFile) {
  const project = await projectFor(db, caller, appid, { change: true });
  const added = await repo.addKeys(db, project.project_id, project.customer_id, file.keys);
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

export async function list(db: Db, caller: LicenseCaller, appid: string, page: number, size: number) {
  const project = await projectFor(db, caller, appid, { change: false });
  return repo.page(db, project.project_id, (page - 1) * size, size);
}

/** Every listed key, one per line, read in batches. */
export async function exportText(db: Db, caller: LicenseCaller, appid: string): Promise<string> {
  const project = await projectFor(db, caller, appid, { change: false });
  const lines: string[] = [];
  let after = '0';
  for (;;) {
    const batch = await repo.keysAfter(db, project.project_id, after, 10_000);
    for (const r of batch) lines.push(r.license_key);
    if (batch.length < 10_000) break;
    after = batch[batch.length - 1]!.id;
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
