import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../http/context.ts';
import { runtimeMaintenance } from '../runtime/maintenance.ts';
import { Scheduler } from './scheduler.ts';
import type { SignatureFailureCounter } from './signature-failures.ts';
import { DeliveryWorker, type DeliveryOutcome } from './worker.ts';

export interface Notifications {
  worker: DeliveryWorker;
  scheduler: Scheduler;
  stop(): Promise<void>;
}

/** The delivery worker and the scheduler of one instance (every instance runs both). */
export function startNotifications(db: Db, config: Config, deps: { log: Logger; clock: () => Date; signatureFailures?: SignatureFailureCounter; onAttempt?: (outcome: DeliveryOutcome) => void }): Notifications {
  const w = config.webhooks;
  const worker = new DeliveryWorker(db, {
    clock: deps.clock,
    log: deps.log,
    retryScheduleMs: w.retrySchedule.map((s) => s * 1000),
    timeoutMs: w.timeoutMs,
    concurrency: w.concurrency,
    perEndpoint: w.perEndpoint,
    pollMs: w.pollMs,
    allowPrivate: w.allowPrivate || config.nodeEnv !== 'production',
    ...(deps.onAttempt ? { onAttempt: deps.onAttempt } : {}),
  });
  const scheduler = new Scheduler(db, {
    clock: deps.clock,
    log: deps.log,
    intervalMs: w.schedulerIntervalMs,
    reminderDays: w.reminderDays,
    retentionDays: w.retentionDays,
    maintenance: { intervalMs: config.extMaintenanceIntervalMs, run: runtimeMaintenance },
    ...(deps.signatureFailures ? { signatureFailures: deps.signatureFailures } : {}),
  });
  worker.start();
  scheduler.start();
  return {
    worker,
    scheduler,
    stop: async () => {
      await Promise.all([worker.stop(), scheduler.stop()]);
    },
  };
}
