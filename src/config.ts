import { z } from 'zod';

/** One Agora key pair. Several may be active at once so a vendor can rotate without downtime. */
export interface ApiKeyPair {
  apiKey: string;
  apiSecret: string;
}

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  /** Unset: the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  apiKeys: ApiKeyPair[];
  adminToken: string | undefined;
  /** The unit word written into usage descriptions ("12.5 Minute × plan"). */
  usageUnit: string;
  /** Decimals a bill amount is written with (rounded half-up). */
  billDecimals: number;
  /** The plan that prices customers whose planId has no plan here. */
  defaultPlanId: string;
  /** How long an Agora-facing request may take before it answers 503 so that Agora retries. */
  agoraDeadlineMs: number;
  logLevel: 'info' | 'silent';
  /** Agora's license query: `expireDate` is the latest or the earliest expiry among unexpired licenses. */
  licenseExpireRule: 'latest' | 'earliest';
  /** Agora's license query: `residueCount` is the licenses still available to activate, or the active ones. */
  licenseResidueRule: 'available' | 'active';
  /** License API requests per second per customer, per instance; 0: no limit. */
  licenseRateLimit: number;
  /** How long any request may take before it answers 503 deadline_exceeded (Agora's have their own). */
  requestDeadlineMs: number;
  /** Requests that may wait for a database connection before the next answers 503 overloaded. */
  databaseQueueMax: number;
  /** Heavy reads (exports, CSV, reconciliation, deep pages) running at once, and waiting beyond those. */
  heavyReadConcurrency: number;
  heavyReadQueue: number;
  /** Entries a project's pre-authorization whitelist may hold. */
  licenseWhitelistMax: number;
  /** Wrong credentials per minute from one source before its requests answer 429 without a lookup; 0: no limit. */
  authFailuresPerMinute: number;
  /** Certificates and license files (docs/certificates.md). PEM (PKCS#8) Ed25519 private key; unset: generated on the embedded database outside production. */
  licenseSigningKey: string | undefined;
  /** PEM public keys of earlier signing keys, still published so that what they signed verifies. */
  licenseRetiredPublicKeys: string | undefined;
  certificatePackageMaxBytes: number;
  licenseFiles: boolean;
  /** The server's public base URL, for the `licenseUrl` of provisioning. */
  publicUrl: string | undefined;
  licenseFileTtlDays: number;
  /** Notifications (docs/webhooks.md). */
  webhooks: WebhookConfig;
  /** Days the log of Agora's requests keeps each entry (src/agora-log/). */
  agoraLogRetentionDays: number;
  /** Entries of that log buffered in memory at most; past that they are dropped and counted. */
  agoraLogBuffer: number;
  /** Set: GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`. */
  metricsToken: string | undefined;
  /** Extension API (src/runtime): the heartbeat interval it asks for; silent for twice this, a session ends. */
  extHeartbeatSeconds: number;
  /** Extension API: how long a request may take before it answers 503 (the client then retries or fails open). */
  extDeadlineMs: number;
  /** Extension API requests per second per customer, per instance; 0: no limit. */
  extRateLimit: number;
  /** How often each instance ends silent sessions and writes overage usage events (ms); 0: never. */
  extMaintenanceIntervalMs: number;
  /** How long a console sign-in lasts. */
  consoleSessionHours: number;
  /** Console pages and download batches at once (ConsoleGate), and pages waiting beyond those. */
  consoleConcurrency: number;
  consoleQueue: number;
  /** At most this part of the time goes to console work (pieces paced: ConsoleGate). */
  consoleSharePercent: number;
}

export interface WebhookConfig {
  /** Loopback, private, link-local and metadata addresses allowed as endpoints (always outside production). */
  allowPrivate: boolean;
  /** Seconds before each retry after a failed attempt; then the delivery is failed. */
  retrySchedule: number[];
  timeoutMs: number;
  concurrency: number;
  /** Deliveries of one endpoint in flight at once (default: half of `concurrency`). */
  perEndpoint?: number;
  pollMs: number;
  /** Delivered events are deleted this long after they were created. */
  retentionDays: number;
  /** Days before an expiry that license.expiring is sent (0 is license.expired, always). */
  reminderDays: number[];
  schedulerIntervalMs: number;
  /** Off: this instance neither delivers nor runs the scheduler (events are still stored). */
  worker: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const PAIRING = 'AGORA_API_KEY and AGORA_API_SECRET must be set together';

const keyPairText = z
  .string()
  .transform((text, ctx) => {
    const pairs: ApiKeyPair[] = [];
    for (const item of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
      const at = item.indexOf(':');
      if (at <= 0 || at === item.length - 1) {
        ctx.addIssue({ code: 'custom', message: `"${redact(item)}" is not of the form key:secret` });
        continue;
      }
      pairs.push({ apiKey: item.slice(0, at), apiSecret: item.slice(at + 1) });
    }
    return pairs;
  });

/** `5,300,1800`: whole numbers from min to max, at most `most` of them (seconds or days). */
function secondsList(min: number, max: number, most: number) {
  return z
    .string()
    .transform((text, ctx) => {
      const items = text.split(',').map((s) => s.trim());
      const out: number[] = [];
      for (const item of items) {
        if (!/^\d{1,10}$/.test(item) || Number(item) < min || Number(item) > max) {
          ctx.addIssue({ code: 'custom', message: `"${item.slice(0, 20)}" is not a whole number from ${min} to ${max}` });
          return z.NEVER;
        }
        out.push(Number(item));
      }
      if (out.length > most) ctx.addIssue({ code: 'custom', message: `at most ${most} values` });
      return out;
    });
}

function redact(item: string): string {
  const at = item.indexOf(':');
  return at < 0 ? `${item.slice(0, 4)}…` : `${item.slice(0, at)}:…`;
}

/** The variables of the key pairs Agora signs with (and the folder of generated ones): also the CLI's. */
const credentialVariables = {
  DATA_DIR: z.string().min(1).default('./.data'),
  AGORA_API_KEY: z.string().min(1).optional(),
  AGORA_API_SECRET: z.string().min(1).optional(),
  AGORA_API_KEYS: keyPairText.optional(),
};

function keyWithSecret(env: { AGORA_API_KEY?: string | undefined; AGORA_API_SECRET?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((env.AGORA_API_KEY === undefined) !== (env.AGORA_API_SECRET === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['AGORA_API_KEY'],
      message: PAIRING,
    });
  }
}

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('127.0.0.1'),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    ...credentialVariables,
    ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    USAGE_UNIT: z.string().min(1).max(32).default('Minute'),
    BILL_DECIMALS: z.coerce.number().int().min(0).max(12).default(6),
    DEFAULT_PLAN_ID: z.string().min(1).max(16).default('default'),
    // Agora gives up at 500 ms; an answer by 480 ms still reaches it on a nearby network, and
    // past that a fast 503 (Agora retries) beats a timeout.
    AGORA_DEADLINE_MS: z.coerce.number().int().min(50).max(10_000).default(480),
    LOG_LEVEL: z.enum(['info', 'silent']).default('info'),
    LICENSE_EXPIRE_RULE: z.enum(['latest', 'earliest']).default('latest'),
    LICENSE_RESIDUE_RULE: z.enum(['available', 'active']).default('available'),
    LICENSE_RATE_LIMIT: z.coerce.number().int().min(0).max(100_000).default(10),
    // Long enough for a 1,000-event batch or a 1 MiB whitelist upload on a busy machine; short
    // enough that a frozen database never holds a client for long.
    REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
    DATABASE_QUEUE_MAX: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    HEAVY_READ_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(2),
    HEAVY_READ_QUEUE: z.coerce.number().int().min(0).max(10_000).default(8),
    LICENSE_WHITELIST_MAX: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
    AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(30),
    LICENSE_SIGNING_KEY: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key (-----BEGIN PRIVATE KEY-----)' }).optional(),
    LICENSE_RETIRED_PUBLIC_KEYS: z.string().includes('PUBLIC KEY', { message: 'must hold PEM public keys (-----BEGIN PUBLIC KEY-----)' }).optional(),
    // 10,000 certificates are about 2 MB; 16 MiB leaves room and still bounds what one upload reads.
    CERTIFICATE_PACKAGE_MAX_BYTES: z.coerce.number().int().min(1024).max(256 * 1024 * 1024).default(16 * 1024 * 1024),
    LICENSE_FILES: z.enum(['on', 'off']).default('off'),
    PUBLIC_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    LICENSE_FILE_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
    WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
    WEBHOOK_RETRY_SCHEDULE: secondsList(1, 30 * 86_400, 20).default([5, 300, 1800, 7200, 18_000, 36_000, 36_000]),
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
    WEBHOOK_CONCURRENCY_PER_ENDPOINT: z.coerce.number().int().min(1).max(256).optional(),
    WEBHOOK_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
    WEBHOOK_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(7),
    REMINDER_DAYS: secondsList(1, 3650, 50).default([45, 30, 15, 7, 6, 5, 4, 3, 2, 1]),
    SCHEDULER_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    NOTIFICATIONS_WORKER: z.enum(['on', 'off']).default('on'),
    AGORA_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
    AGORA_LOG_BUFFER: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    EXT_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
    EXT_DEADLINE_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
    EXT_RATE_LIMIT: z.coerce.number().int().min(0).max(1_000_000).default(0),
    EXT_MAINTENANCE_INTERVAL_MS: z.coerce.number().int().min(0).max(3_600_000).default(5000),
    CONSOLE_SESSION_HOURS: z.coerce.number().int().min(1).max(720).default(12),
    CONSOLE_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(1),
    CONSOLE_QUEUE: z.coerce.number().int().min(0).max(10_000).default(8),
    CONSOLE_SHARE_PERCENT: z.coerce.number().int().min(1).max(100).default(50),
  })
  .superRefine(keyWithSecret);

const credentialSchema = z.object(credentialVariables).superRefine(keyWithSecret);

/** Empty strings in the environment mean "unset", as a shell's `FOO= npm start` intends. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/** The parsed environment, or every problem together (the key pairing too) as a ConfigError. */
function parsedOrThrow<S extends z.ZodType>(schema: S, raw: Record<string, string>): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
  // zod skips the object-level check once a field has failed; report the pairing anyway.
  const pairing = `AGORA_API_KEY: ${PAIRING}`;
  if ((raw.AGORA_API_KEY === undefined) !== (raw.AGORA_API_SECRET === undefined) && !problems.includes(pairing)) {
    problems.push(pairing);
  }
  throw new ConfigError(problems);
}

/** AGORA_API_KEY/SECRET first, then AGORA_API_KEYS, repeats once; one key with two secrets is refused. */
function keyPairsOf(e: { AGORA_API_KEY?: string | undefined; AGORA_API_SECRET?: string | undefined; AGORA_API_KEYS?: ApiKeyPair[] | undefined }): ApiKeyPair[] {
  const apiKeys: ApiKeyPair[] = [];
  if (e.AGORA_API_KEY && e.AGORA_API_SECRET) apiKeys.push({ apiKey: e.AGORA_API_KEY, apiSecret: e.AGORA_API_SECRET });
  for (const pair of e.AGORA_API_KEYS ?? []) {
    const same = apiKeys.find((p) => p.apiKey === pair.apiKey);
    if (same && same.apiSecret !== pair.apiSecret) {
      throw new ConfigError([`AGORA_API_KEYS: key ${pair.apiKey} is given twice with different secrets`]);
    }
    if (!same) apiKeys.push(pair);
  }
  return apiKeys;
}

/**
 * The key pairs and the data folder alone, by the same rules and with the same messages as
 * `loadConfig`: for the CLI's `sign` and `poll`, which need no other setting (a bad PORT is no
 * reason to refuse to sign a request).
 */
export function loadCredentialConfig(env: Record<string, string | undefined> = process.env): Pick<Config, 'apiKeys' | 'dataDir'> {
  const e = parsedOrThrow(credentialSchema, withoutEmpty(env));
  return { apiKeys: keyPairsOf(e), dataDir: e.DATA_DIR };
}

/**
 * Parses the environment once. Every problem is reported together, so an operator fixes them in
 * one go. Missing credentials are not an error here: `resolveCredentials` decides (generate them
 * for the embedded database, refuse in production).
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw = withoutEmpty(env);
  const e = parsedOrThrow(envSchema, raw);
  const apiKeys = keyPairsOf(e);
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    apiKeys,
    adminToken: e.ADMIN_TOKEN,
    usageUnit: e.USAGE_UNIT,
    billDecimals: e.BILL_DECIMALS,
    defaultPlanId: e.DEFAULT_PLAN_ID,
    agoraDeadlineMs: e.AGORA_DEADLINE_MS,
    logLevel: e.LOG_LEVEL,
    licenseExpireRule: e.LICENSE_EXPIRE_RULE,
    licenseResidueRule: e.LICENSE_RESIDUE_RULE,
    licenseRateLimit: e.LICENSE_RATE_LIMIT,
    requestDeadlineMs: e.REQUEST_DEADLINE_MS,
    databaseQueueMax: e.DATABASE_QUEUE_MAX,
    heavyReadConcurrency: e.HEAVY_READ_CONCURRENCY,
    heavyReadQueue: e.HEAVY_READ_QUEUE,
    licenseWhitelistMax: e.LICENSE_WHITELIST_MAX,
    authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
    licenseSigningKey: e.LICENSE_SIGNING_KEY,
    licenseRetiredPublicKeys: e.LICENSE_RETIRED_PUBLIC_KEYS,
    certificatePackageMaxBytes: e.CERTIFICATE_PACKAGE_MAX_BYTES,
    licenseFiles: e.LICENSE_FILES === 'on',
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    licenseFileTtlDays: e.LICENSE_FILE_TTL_DAYS,
    webhooks: {
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE === 'true',
      retrySchedule: e.WEBHOOK_RETRY_SCHEDULE,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      perEndpoint: e.WEBHOOK_CONCURRENCY_PER_ENDPOINT,
      pollMs: e.WEBHOOK_POLL_MS,
      retentionDays: e.WEBHOOK_RETENTION_DAYS,
      reminderDays: [...new Set(e.REMINDER_DAYS)].sort((a, b) => b - a),
      schedulerIntervalMs: e.SCHEDULER_INTERVAL_MS,
      worker: e.NOTIFICATIONS_WORKER === 'on',
    },
    agoraLogRetentionDays: e.AGORA_LOG_RETENTION_DAYS,
    agoraLogBuffer: e.AGORA_LOG_BUFFER,
    metricsToken: e.METRICS_TOKEN,
    extHeartbeatSeconds: e.EXT_HEARTBEAT_SECONDS,
    extDeadlineMs: e.EXT_DEADLINE_MS,
    extRateLimit: e.EXT_RATE_LIMIT,
    extMaintenanceIntervalMs: e.EXT_MAINTENANCE_INTERVAL_MS,
    consoleSessionHours: e.CONSOLE_SESSION_HOURS,
    consoleConcurrency: e.CONSOLE_CONCURRENCY,
    consoleQueue: e.CONSOLE_QUEUE,
    consoleSharePercent: e.CONSOLE_SHARE_PERCENT,
  };
}
