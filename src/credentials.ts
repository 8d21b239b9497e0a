import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, type ApiKeyPair, type Config } from './config.ts';
import { errnoCode } from './errors.ts';

export interface Credentials {
  apiKeys: ApiKeyPair[];
  adminToken: string;
}

const storedSchema = z.object({
  apiKey: z.string().min(1),
  apiSecret: z.string().min(1),
  adminToken: z.string().min(16),
});

/** 32 characters of [A-Za-z0-9], the shape of Agora's own apiKey. */
function token32(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  // Rejection sampling keeps every character equally likely.
  while (out.length < 32) {
    for (const b of randomBytes(48)) {
      if (b < 248 && out.length < 32) out += alphabet[b % 62];
    }
  }
  return out;
}

export interface ResolvedCredentials extends Credentials {
  /** Set when credentials were generated or loaded from DATA_DIR, so main can print where. */
  generatedFile?: string;
  createdNow?: boolean;
  /** Which values came from that file (the others came from the environment). */
  fromFile?: { apiKey: boolean; adminToken: boolean };
}

/**
 * Credentials come from the environment. With the embedded database outside production, missing
 * ones are created once and kept in DATA_DIR so `npm start` works with zero set-up and keeps the
 * same keys across restarts. In production, or against an external database, they must be given.
 */
export function resolveCredentials(config: Config): ResolvedCredentials {
  const missing: string[] = [];
  if (config.apiKeys.length === 0) missing.push('AGORA_API_KEY and AGORA_API_SECRET (or AGORA_API_KEYS)');
  if (!config.adminToken) missing.push('ADMIN_TOKEN');
  if (missing.length === 0) return { apiKeys: config.apiKeys, adminToken: config.adminToken! };

  if (config.nodeEnv === 'production' || config.databaseUrl !== undefined) {
    const why = config.nodeEnv === 'production' ? 'NODE_ENV=production' : 'DATABASE_URL is set';
    throw new ConfigError(missing.map((m) => `${m}: required when ${why}`));
  }

  const file = join(config.dataDir, 'credentials.json');
  const read = () => {
    const parsed = storedSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new ConfigError([`${file}: not a valid credentials file; delete it to create new ones`]);
    return parsed.data;
  };
  let stored: z.infer<typeof storedSchema>;
  let createdNow = false;
  if (existsSync(file)) {
    stored = read();
  } else {
    stored = { apiKey: token32(), apiSecret: token32(), adminToken: token32() + token32() };
    mkdirSync(config.dataDir, { recursive: true });
    try {
      // Exclusive: a second process starting at the same moment must not replace the pair the
      // first one has already printed; it reads that one instead.
      writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      createdNow = true;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      stored = read();
    }
  }
  return {
    apiKeys: config.apiKeys.length > 0 ? config.apiKeys : [{ apiKey: stored.apiKey, apiSecret: stored.apiSecret }],
    adminToken: config.adminToken ?? stored.adminToken,
    generatedFile: file,
    createdNow,
    fromFile: { apiKey: config.apiKeys.length === 0, adminToken: !config.adminToken },
  };
}
