import { billDescriptions, billMonth, billStatement } from '../billing/bill.service.ts';
import type { AppDeps } from '../http/context.ts';
import { pagedPollRoutes } from './paged.ts';

/** Mounted at /bill. */
export function billRoutes(deps: AppDeps) {
  return pagedPollRoutes(deps, {
    summary: "Agora's monthly bill poll",
    description:
      'What each project owes for one calendar month (UTC), in pages. Any window inside the month stands for the month; its first request fixes the bill. Usage that arrives after is carried into the next bill as a correction.',
    statusReason: 'Success getting bill data',
    statementKey: (q) => String(billMonth(q.fromTs, q.toTs, deps.clock().getTime())),
    statement: (q) => billStatement(deps.db, billMonth(q.fromTs, q.toTs, deps.clock().getTime()), deps.config),
    describe: (statement, lines) => billDescriptions(deps.db, statement.id, lines),
  });
}
