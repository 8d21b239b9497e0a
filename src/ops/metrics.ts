import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgoraRequestEntry } from '../agora-log/agora-log.ts';
import type { AppEnv } from '../http/context.ts';
import type { DeliveryOutcome } from '../notifications/worker.ts';
import { observerScope, type Observer } from './observe.ts';

/** What /metrics reads of the database pool (src/db/pool-gate.ts): absent on the embedded database. */
export interface PoolStats {
  inUse: number;
  waiting: number;
}

/** How long a scrape waits for the live-session count (one small read) before it answers without it. */
const LIVE_SESSIONS_WAIT_MS = 1000;

/** The signature failures counted by reason: the codes Agora's signature check answers. */
const SIGNATURE_CODES = new Set(['invalid_signature', 'unknown_api_key', 'repeated_parameter']);

/**
 * The metrics of one app (a registry per instance, never prom-client's global one, so tests can
 * build several apps). Prometheus text at GET /metrics (ops.routes: metricsRoutes).
 */
export class AppMetrics implements Observer {
  readonly registry = new Registry();
  #defaults = false;

  readonly requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.48, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly agoraRequests = new Counter({
    name: 'agora_requests_total',
    help: "Agora's requests, by kind (usage, bill, license, provisioning) and status",
    labelNames: ['kind', 'status'] as const,
    registers: [this.registry],
  });
  readonly agoraPagesFromMemory = new Counter({
    name: 'agora_pages_from_memory_total',
    help: "Agora's page polls answered from memory because the same URL was answered before (also counted in agora_requests_total), by kind",
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly agoraDeadlineOverruns = new Counter({
    name: 'agora_deadline_overruns_total',
    help: "Agora's requests answered 503 deadline_exceeded, by kind",
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly signatureFailures = new Counter({
    name: 'agora_signature_failures_total',
    help: "Agora's requests refused by the signature check, by reason (the error code)",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly statementsFixed = new Counter({
    name: 'statements_fixed_total',
    help: 'Statements fixed by this instance, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly statementFixDuration = new Histogram({
    name: 'statement_fix_duration_seconds',
    help: 'Time to fix a statement (its transaction), by kind',
    labelNames: ['kind'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly usageEventsTotal = new Counter({
    name: 'usage_events_total',
    help: 'Usage events received, by outcome (accepted, duplicate, rejected)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly activations = new Counter({
    name: 'license_activations_total',
    help: 'License activation requests, by outcome (ok or the error code)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly agoraLogDropped = new Counter({
    name: 'agora_log_dropped_total',
    help: "Entries of the log of Agora's requests dropped (buffer full, or a write that failed)",
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'webhook_deliveries_total',
    help: "Webhook delivery attempts recorded by this instance's worker, by outcome (delivered, retry: failed and tried again later, failed: failed for good)",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(opts: { poolStats?: () => PoolStats | undefined; heavyReadsRunning?: () => number; liveSessions?: () => Promise<number> }) {
    const pool = opts.poolStats;
    new Gauge({
      name: 'db_pool_connections_in_use',
      help: 'Database connections checked out of the pool',
      registers: [this.registry],
      collect() {
        const s = pool?.();
        if (s) this.set(s.inUse);
      },
    });
    new Gauge({
      name: 'db_pool_requests_waiting',
      help: 'Requests waiting for a database connection',
      registers: [this.registry],
      collect() {
        const s = pool?.();
        if (s) this.set(s.waiting);
      },
    });
    const live = opts.liveSessions;
    new Gauge({
      name: 'ext_sessions_live',
      help: 'Extension sessions not yet ended, on every instance (the runtime keeps the count per customer)',
      registers: [this.registry],
      // A database that fails or hangs must not take the rest of the scrape with it: after
      // LIVE_SESSIONS_WAIT_MS the gauge keeps its last value.
      async collect() {
        if (!live) return;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), LIVE_SESSIONS_WAIT_MS)));
        try {
          const n = await Promise.race([live(), late]);
          if (n !== undefined) this.set(n);
        } catch {
          // Kept: the last value read.
        } finally {
          clearTimeout(timer);
        }
      },
    });
    const heavy = opts.heavyReadsRunning;
    new Gauge({
      name: 'heavy_reads_running',
      help: 'Heavy reads (exports, reconciliation, previews, deep pages) running',
      registers: [this.registry],
      collect() {
        if (heavy) this.set(heavy());
      },
    });
  }

  statementFixed(kind: 'usage' | 'bill', seconds: number): void {
    this.statementsFixed.inc({ kind });
    this.statementFixDuration.observe({ kind }, seconds);
  }

  usageEvents(outcome: { accepted: number; duplicates: number; rejected: number }): void {
    if (outcome.accepted) this.usageEventsTotal.inc({ outcome: 'accepted' }, outcome.accepted);
    if (outcome.duplicates) this.usageEventsTotal.inc({ outcome: 'duplicate' }, outcome.duplicates);
    if (outcome.rejected) this.usageEventsTotal.inc({ outcome: 'rejected' }, outcome.rejected);
  }

  /** One attempt the webhook worker recorded (src/notifications/worker.ts). */
  webhookDelivery(outcome: DeliveryOutcome): void {
    this.webhookDeliveries.inc({ outcome });
  }

  /** An entry of Agora's request log (src/agora-log/), once answered. */
  agoraRequest(e: AgoraRequestEntry): void {
    this.agoraRequests.inc({ kind: e.kind, status: String(e.status) });
    if (e.errorCode === 'deadline_exceeded') this.agoraDeadlineOverruns.inc({ kind: e.kind });
    if (e.errorCode !== null && SIGNATURE_CODES.has(e.errorCode)) this.signatureFailures.inc({ reason: e.errorCode });
  }

  /** The text Prometheus scrapes; the process's own metrics are started with the first scrape. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    if (!this.#defaults) {
      this.#defaults = true;
      collectDefaultMetrics({ register: this.registry });
    }
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** One answered request: its duration by route pattern (never the path: ids would make a series each), and the activations' outcome. */
  observeRequest(r: { method: string; route: string; status: number; seconds: number; errorCode?: string | undefined }): void {
    this.requestDuration.observe({ method: r.method, route: r.route, status: String(r.status) }, r.seconds);
    if (r.method === 'POST' && r.route === '/dabiz/license/v2/active') {
      this.activations.inc({ outcome: r.status < 400 ? 'ok' : (r.errorCode ?? String(r.status)) });
    }
  }

  /** Times every request (`observeRequest`), and makes this app the observer of the services the request calls. */
  middleware(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      const started = performance.now();
      try {
        await observerScope.run(this, next);
      } finally {
        this.observeRequest({ method: c.req.method, route: routeOf(c), status: c.res.status, seconds: (performance.now() - started) / 1000, errorCode: c.get('errorCode') });
      }
    };
  }
}

/** The pattern of the route that answered (the last one of a method), or 'unmatched'. */
export function routeOf(c: Context<AppEnv>): string {
  return [...matchedRoutes(c)].reverse().find((r) => r.method !== 'ALL')?.path ?? 'unmatched';
}
