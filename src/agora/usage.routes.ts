import type { AppDeps } from '../http/context.ts';
import { usageDescription, usageStatement } from '../usage/usage.service.ts';
import { pagedPollRoutes } from './paged.ts';
import { usageWindow } from '../statements/windows.ts';

/** Mounted at /usage. */
export function usageRoutes(deps: AppDeps) {
  return pagedPollRoutes(deps, {
    summary: "Agora's daily usage poll",
    description:
      'Usage per project inside one UTC day, in pages. The first request for a window fixes its content; every later page and repeated poll returns the same entries.',
    statusReason: 'Success getting usage data',
    statementKey: (q) => `${q.fromTs}-${q.toTs}`,
    statement: (q) => usageStatement(deps.db, usageWindow(q.fromTs, q.toTs, deps.clock().getTime()), deps.config.usageUnit),
    describe: (statement, lines) => lines.map((l) => usageDescription(l, statement.unit)),
  });
}
