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
  /** Days the log of Agora's requests keeps each entry (src/agora-log/). */
  agoraLogRetentionDays: number;
  /** Entries of that log buffered in memory at most; past that they are dropped and counted. */
  agoraLogBuffer: number;
  /** Set: GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`. */
  metricsToken: string | undefined;
  /** How long a console sign-in lasts. */
  consoleSessionHours: number;
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

function redact(item: string): string {
  const at = item.indexOf(':');
  return at < 0 ? `${item.slice(0, 4)}…` : `${item.slice(0, at)}:…`;
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
    DATA_DIR: z.string().min(1).default('./.data'),
    AGORA_API_KEY: z.string().min(1).optional(),
    AGORA_API_SECRET: z.string().min(1).optional(),
    AGORA_API_KEYS: keyPairText.optional(),
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
    AGORA_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
    AGORA_LOG_BUFFER: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    CONSOLE_SESSION_HOURS: z.coerce.number().int().min(1).max(720).default(12),
  })
  .superRefine((env, ctx) => {
    if ((env.AGORA_API_KEY === undefined) !== (env.AGORA_API_SECRET === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['AGORA_API_KEY'],
        message: PAIRING,
      });
    }
  });

/** Empty strings in the environment mean "unset", as a shell's `FOO= npm start` intends. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/**
 * Parses the environment once. Every problem is reported together, so an operator fixes them in
 * one go. Missing credentials are not an error here: `resolveCredentials` decides (generate them
 * for the embedded database, refuse in production).
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw = withoutEmpty(env);
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
    // zod skips the object-level check once a field has failed; report the pairing anyway.
    const pairing = `AGORA_API_KEY: ${PAIRING}`;
    if ((raw.AGORA_API_KEY === undefined) !== (raw.AGORA_API_SECRET === undefined) && !problems.includes(pairing)) {
      problems.push(pairing);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const apiKeys: ApiKeyPair[] = [];
  if (e.AGORA_API_KEY && e.AGORA_API_SECRET) apiKeys.push({ apiKey: e.AGORA_API_KEY, apiSecret: e.AGORA_API_SECRET });
  for (const pair of e.AGORA_API_KEYS ?? []) {
    const same = apiKeys.find((p) => p.apiKey === pair.apiKey);
    if (same && same.apiSecret !== pair.apiSecret) {
      throw new ConfigError([`AGORA_API_KEYS: key ${pair.apiKey} is given twice with different secrets`]);
    }
    if (!same) apiKeys.push(pair);
  }
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
    agoraLogRetentionDays: e.AGORA_LOG_RETENTION_DAYS,
    agoraLogBuffer: e.AGORA_LOG_BUFFER,
    metricsToken: e.METRICS_TOKEN,
    consoleSessionHours: e.CONSOLE_SESSION_HOURS,
  };
}
