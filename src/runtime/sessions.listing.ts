import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { ExtSession } from '../db/schema.ts';
import type { Listing } from '../http/paging.ts';

export interface SessionFilter {
  customerId?: string | undefined;
  projectId?: string | undefined;
  license?: string | undefined;
  live?: boolean | undefined;
  now: Date;
}

export type SessionRow = ExtSession & { license: string | null };

/** Counted up to this many rows (the list changes with the clock: no counter can be kept). */
const COUNT_CAP = 10_000;

/**
 * Sessions in join order (`seq`), as keyset pages (src/http/paging.ts): each filter has an index
 * in that order (customer, project, license, live), so a page reads `size` entries at any depth.
 */
export function sessionsListing(db: Db, f: SessionFilter): Listing<SessionRow> {
  const matching = () => {
    let q = db.selectFrom('ext_sessions as s').leftJoin('licenses as l', 'l.id', 's.license_id');
    if (f.customerId !== undefined) q = q.where('s.customer_id', '=', f.customerId);
    if (f.projectId !== undefined) q = q.where('s.project_id', '=', f.projectId);
    if (f.license !== undefined) q = q.where('l.license', '=', f.license);
    if (f.live === true) q = q.where('s.ended_at', 'is', null).where('s.live_until', '>=', f.now);
    if (f.live === false) q = q.where((eb) => eb.or([eb('s.ended_at', 'is not', null), eb('s.live_until', '<', f.now)]));
    return q;
  };
  const counted = async () => {
    const r = await sql<{ n: string; top: string | null }>`
      select count(*)::text as n, max(seq)::text as top from (${matching().select('s.seq').limit(COUNT_CAP + 1)}) m`.execute(db);
    const n = Number(r.rows[0]?.n ?? 0);
    return { count: Math.min(n, COUNT_CAP), exact: n <= COUNT_CAP, version: `${n}:${r.rows[0]?.top ?? 0}` };
  };
  return {
    scope: `sessions:${JSON.stringify({ ...f, now: undefined })}`,
    async read({ after, offset, limit }) {
      let q = matching().selectAll('s').select('l.license');
      if (after !== undefined) q = q.where('s.seq', '>', after);
      const [rows, c] = await Promise.all([q.orderBy('s.seq').offset(offset).limit(limit).execute(), counted()]);
      return { rows, ...c };
    },
    counted,
    cursorOf: (row) => row.seq,
  };
}
