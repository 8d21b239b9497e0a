import { z } from 'zod';

/**
 * What the console reads of each API answer. Numbers arrive as the exact text the API wrote
 * (`api.ts`), so every figure is a string here and is shown as it is. Unknown fields are ignored:
 * the API may grow without breaking the console.
 */
const num = z.string();
const text = z.string();
const opt = z.string().nullable().optional();

export const statementList = z.object({
  data: z.array(
    z.object({
      id: text,
      kind: z.enum(['usage', 'bill']),
      windowStart: text,
      windowEnd: text,
      fixedAt: text,
      lineCount: num,
      totalAmount: num,
      correctionAmount: num,
      unit: text,
    }),
  ),
  nextBefore: text.nullable(),
});
export type StatementRow = z.infer<typeof statementList>['data'][number];
export const statement = statementList.shape.data.element;

export const statementLines = z.object({
  totalSize: num,
  pageNum: num,
  hasNext: z.boolean(),
  data: z.array(
    z.object({ lineNo: num, projectId: text, customerId: opt, planId: text, amount: num, correctionAmount: num, description: text }),
  ),
});

export const RECONCILIATION_COLUMNS = [
  'ingested',
  'dailyReported',
  'dailyPending',
  'dailyDifference',
  'billedQuantity',
  'billPending',
  'billDifference',
  'billedAmount',
  'correctionsInAmount',
  'correctionsOutAmount',
] as const;

export const reconciliation = z.object({
  month: text,
  billed: z.boolean(),
  billStatementId: text.nullable(),
  totals: z.record(z.string(), num),
  projects: z.array(
    z
      .object({ projectId: text, customerId: opt, planId: opt, flags: z.array(text) })
      .extend(Object.fromEntries(RECONCILIATION_COLUMNS.map((c) => [c, num])) as Record<(typeof RECONCILIATION_COLUMNS)[number], typeof num>),
  ),
  next: text.nullable(),
});

export const skus = z.object({
  data: z.array(z.object({ id: text, product: num, name: text, mediaType: num, minutes: num.nullable(), period: text.nullable(), createdAt: text })),
});
export const pids = z.object({
  data: z.array(
    z.object({ pid: text, sku: text, category: text, type: text, validityMonths: num.nullable(), validityYears: num.nullable(), createdAt: text }),
  ),
});

const counts = z.object({ total: num, used: num, available: num });
export const quotas = z.object({
  data: z.array(counts.extend({ pid: text, shared: counts, projects: z.array(counts.extend({ projectId: text })) })),
});

const paged = <T extends z.ZodType>(item: T) =>
  z.object({ count: num, countExact: z.boolean(), next: text.nullable(), data: z.array(item) });

export const licenses = paged(
  z.object({
    license: text,
    licenseKey: text,
    pid: text,
    customerId: text,
    projectId: text,
    activatedAt: text,
    expiresAt: text,
    status: text,
    renewTimes: num,
  }),
);
export type LicenseRow = z.infer<typeof licenses>['data'][number];

// The listing and preview API (GET /v1/customers, /v1/projects, /v1/usage…, /v1/preview…, /v1/agora-requests…).

const customerFields = {
  customerId: text,
  customerName: opt,
  customerEmail: opt,
  customerPhone: opt,
  planId: opt,
  active: z.boolean(),
  createdAt: text,
  deactivatedAt: opt,
};
export const customers = z.object({
  data: z.array(z.object({ ...customerFields, projectCount: num })),
  count: num,
  countExact: z.boolean(),
  next: text.nullable(),
});
export const customer = z.object({
  ...customerFields,
  projects: z.array(z.object({ projectId: text, active: z.boolean(), createdAt: text, deactivatedAt: opt, appKeyMasked: opt })),
  deactivations: z.array(z.object({ projectId: text.nullable(), from: text, to: text.nullable() })),
});

export const projects = z.object({
  data: z.array(z.object({ projectId: text, customerId: text, active: z.boolean(), createdAt: text, deactivatedAt: opt, appKeyMasked: opt })),
  count: num,
  countExact: z.boolean(),
  next: text.nullable(),
});

const usageEventFields = z.object({
  id: text,
  projectId: text,
  quantity: num,
  occurredAt: text,
  receivedAt: text,
  description: opt,
  late: z.boolean(),
  billLate: z.boolean(),
  carriedBy: z.object({ usageStatementId: text.nullable(), billStatementId: text.nullable() }),
});
export const usageEvent = usageEventFields;
export const usageEvents = z.object({ data: z.array(usageEventFields), next: text.nullable() });
export type UsageEventRow = z.infer<typeof usageEventFields>;

export const usageDaily = z.object({ data: z.array(z.object({ day: text, quantity: num, projects: num })) });
export type UsageDay = z.infer<typeof usageDaily>['data'][number];

/** A preview's total: `pending` while a bill preview computes it off the request. */
export const previewTotal = z.discriminatedUnion('status', [
  z.object({ status: z.literal('pending') }),
  z.object({ status: z.literal('ready'), amount: num, lineCount: num, asOf: text }),
]);
export type PreviewTotalView = z.infer<typeof previewTotal>;

export const preview = z.object({
  period: text,
  fixed: z.boolean(),
  totalSize: num,
  total: previewTotal,
  lines: z.array(z.object({ lineNo: num, projectId: text, planId: text, amount: num, correction: num, description: text })),
});

const agoraRequest = z.object({
  id: text,
  at: text,
  kind: text,
  method: text,
  path: text,
  query: z.object({ fromTs: num.nullable(), toTs: num.nullable(), pageNum: num.nullable(), limit: num.nullable(), customerId: text.nullable() }),
  apiKeyId: opt,
  status: num,
  durationMs: num,
  errorCode: opt,
});
export const agoraRequests = z.object({ data: z.array(agoraRequest), next: text.nullable() });
export type AgoraRequestRow = z.infer<typeof agoraRequest>;

/** Per kind of Agora request (usage, bill, license, provisioning): the last one, and the last that succeeded. */
const kindSummary = z.object({ last: agoraRequest.nullable(), lastSucceeded: agoraRequest.nullable() });
export const agoraSummary = z.object({ usage: kindSummary, bill: kindSummary, license: kindSummary, provisioning: kindSummary });

const pendingKind = z.object({ events: num, quantity: num, projects: num });
export const pendingCorrections = z.object({ usage: pendingKind, bill: pendingKind });

// Webhooks (GET /v1/webhook-endpoints, /v1/webhook-deliveries) and licenses at run time (GET /v1/sessions, /v1/…/limits).

export const webhookEndpoints = z.object({
  data: z.array(z.object({ id: text, url: text, events: z.array(text), enabled: z.boolean(), disabledReason: text.nullable(), failingSince: text.nullable() })),
});
export type WebhookEndpointRow = z.infer<typeof webhookEndpoints>['data'][number];
export const webhookDeliveries = z.object({
  data: z.array(
    z.object({
      id: text,
      eventId: text,
      type: text,
      endpointId: text,
      status: text,
      attempts: num,
      createdAt: text,
      attemptLog: z.array(z.object({ at: text, httpStatus: num.nullable(), error: text.nullable() })),
    }),
  ),
  next: text.nullable(),
});

export const pcu = z.object({ pcu: num.nullable(), live: num });
export const customerLimits = pcu.extend({ projects: z.array(pcu.extend({ projectId: text })).optional() });
export const sessions = z.object({
  count: num,
  countExact: z.boolean(),
  next: text.nullable(),
  data: z.array(
    z.object({
      sessionId: text,
      customerId: text,
      projectId: text,
      license: text.nullable(),
      licenseKey: text,
      media: text,
      platform: text,
      startedAt: text,
      lastHeartbeatAt: text,
      live: z.boolean(),
      minutes: text,
    }),
  ),
});

const expiry = { active: z.boolean(), expiresAt: text.nullable(), permanent: z.boolean() };
export const customerCertificates = z.object({
  count: num,
  next: text.nullable(),
  data: z.array(
    z.object({ id: text, type: text, mode: text, validityDays: num.nullable(), status: text, agentId: text.nullable(), activatedAt: text.nullable(), expiresAt: text.nullable() }),
  ),
  platform: z.object({ ...expiry, unlimitedAgents: z.boolean() }),
  agents: z.array(z.object({ ...expiry, agentId: text, registeredAt: text, unlimited: z.boolean() })),
  agentsMore: z.boolean(),
});
