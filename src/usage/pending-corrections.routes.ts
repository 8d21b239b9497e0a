import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { AppDeps } from '../http/context.ts';
import { newRouter } from '../http/router.ts';

interface Pending {
  events: string;
  quantity: string;
  projects: string;
}

/**
 * Late usage not carried yet, for the next usage statement and for the next bill. Each sum reads
 * only the pending rows, through the partial indexes kept for exactly them
 * (usage_events_pending_correction_idx, usage_events_pending_bill_idx): it costs what is pending,
 * never the table.
 */
export async function pendingCorrections(db: Db): Promise<{ usage: Pending; bill: Pending }> {
  const { rows } = await sql<Pending & { kind: 'usage' | 'bill' }>`
    select 'usage' as kind, count(*)::text as events, coalesce(sum(quantity), 0)::text as quantity, count(distinct project_id)::text as projects
      from usage_events where statement_id is null and late
    union all
    select 'bill', count(*)::text, coalesce(sum(quantity), 0)::text, count(distinct project_id)::text
      from usage_events where bill_late and bill_statement_id is null`.execute(db);
  const of = (kind: 'usage' | 'bill') => {
    const r = rows.find((x) => x.kind === kind);
    return { events: r?.events ?? '0', quantity: r?.quantity ?? '0', projects: r?.projects ?? '0' };
  };
  return { usage: of('usage'), bill: of('bill') };
}

const pending$ = z.object({
  events: z.string().openapi({ description: 'late events waiting to be carried' }),
  quantity: z.string().openapi({ description: 'their quantity, exact decimal' }),
  projects: z.string().openapi({ description: 'projects they belong to' }),
});

/** Mounted at /v1/usage/pending-corrections. */
export function pendingCorrectionsRoutes(deps: AppDeps) {
  const router = newRouter();
  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Vendor'],
      summary: 'Late usage waiting to be carried as a correction, into the next usage statement and the next bill',
      security: [{ adminToken: [] }],
      responses: { 200: { description: 'pending corrections', content: { 'application/json': { schema: z.object({ usage: pending$, bill: pending$ }) } } } },
    }),
    async (c) => c.json(await pendingCorrections(deps.db), 200),
  );
  return router;
}
