import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import type { LicenseCaller } from '../http/context.ts';
import { keysetPage, nextCursor, type PageBookmarks } from '../http/paging.ts';
import { projectFor } from './access.ts';
import * as catalogue from './catalogue.repository.ts';
import * as listings from './listings.repository.ts';

/** The license API's listings of a project, as keyset pages (see src/http/paging.ts). */

export interface PageQuery {
  page: number;
  size: number;
  after: string | undefined;
}
export interface PagingDeps {
  bookmarks: PageBookmarks;
  heavy: () => Promise<() => void>;
}

async function knownPid(db: Db, pid: string): Promise<void> {
  if (!(await catalogue.findProduct(db, pid))) throw new AppError('unknown_pid', `No PID ${pid}`);
}

export async function allocations(db: Db, caller: LicenseCaller, input: { appid: string; pid: string | undefined } & PageQuery, deps: PagingDeps) {
  const project = await projectFor(db, caller, input.appid, { change: false });
  if (input.pid !== undefined) await knownPid(db, input.pid);
  const listing = listings.allocations(db, { projectId: project.project_id, pid: input.pid });
  const page = await keysetPage(listing, input, deps);
  return { ...page, next: nextCursor(listing, page, input.size) };
}

/** Licenses expiring after `now` and at most `days` days from it. */
export async function expiring(db: Db, caller: LicenseCaller, input: { appid: string; pid: string; days: number } & PageQuery, now: Date, deps: PagingDeps) {
  const project = await projectFor(db, caller, input.appid, { change: false });
  await knownPid(db, input.pid);
  const listing = listings.expiring(db, { projectId: project.project_id, pid: input.pid, days: input.days, now });
  const page = await keysetPage(listing, input, deps);
  return { ...page, next: nextCursor(listing, page, input.size) };
}
