import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../src/config.ts';
import { resolveCredentials } from '../src/credentials.ts';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

describe('loadConfig', () => {
  it('uses the defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toEqual({
      nodeEnv: 'development',
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: './.data',
      apiKeys: [],
      adminToken: undefined,
      usageUnit: 'Minute',
      billDecimals: 6,
      defaultPlanId: 'default',
      agoraDeadlineMs: 480,
      logLevel: 'info',
      licenseExpireRule: 'latest',
      licenseResidueRule: 'available',
      licenseRateLimit: 10,
      requestDeadlineMs: 5000,
      databaseQueueMax: 1000,
      heavyReadConcurrency: 2,
      heavyReadQueue: 8,
      licenseWhitelistMax: 100_000,
      authFailuresPerMinute: 30,
      licenseSigningKey: undefined,
      licenseRetiredPublicKeys: undefined,
      certificatePackageMaxBytes: 16 * 1024 * 1024,
      licenseFiles: false,
      publicUrl: undefined,
      licenseFileTtlDays: 30,
      webhooks: {
        allowPrivate: false,
        retrySchedule: [5, 300, 1800, 7200, 18_000, 36_000, 36_000],
        timeoutMs: 10_000,
        concurrency: 16,
        pollMs: 500,
        retentionDays: 7,
        reminderDays: [45, 30, 15, 7, 6, 5, 4, 3, 2, 1],
        schedulerIntervalMs: 30_000,
        worker: true,
      },
      agoraLogRetentionDays: 90,
      agoraLogBuffer: 10_000,
      metricsToken: undefined,
      extHeartbeatSeconds: 30,
      extDeadlineMs: 2000,
      extRateLimit: 0,
      extMaintenanceIntervalMs: 5000,
      consoleSessionHours: 12,
      consoleConcurrency: 1,
      consoleQueue: 8,
      consoleSharePercent: 50,
    } satisfies Config);
  });

  it('treats empty strings as unset', () => {
    const c = loadConfig({ PORT: '', HOST: '', DATA_DIR: '', DATABASE_URL: '', AGORA_API_KEY: '', AGORA_API_SECRET: '' });
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.dataDir).toBe('./.data');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.apiKeys).toEqual([]);
  });

  it('reads the values it is given', () => {
    const c = loadConfig({
      NODE_ENV: 'production',
      PORT: '3000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u:p@db:5432/agora',
      DATA_DIR: '/var/lib/agora',
      AGORA_API_KEY: 'k1',
      AGORA_API_SECRET: 's1',
      ADMIN_TOKEN: 'a'.repeat(16),
      USAGE_UNIT: 'Times',
      BILL_DECIMALS: '2',
      DEFAULT_PLAN_ID: 'std',
      AGORA_DEADLINE_MS: '300',
      LOG_LEVEL: 'silent',
      LICENSE_EXPIRE_RULE: 'earliest',
      LICENSE_RESIDUE_RULE: 'active',
      LICENSE_RATE_LIMIT: '0',
      REQUEST_DEADLINE_MS: '3000',
      DATABASE_QUEUE_MAX: '50',
      HEAVY_READ_CONCURRENCY: '1',
      HEAVY_READ_QUEUE: '0',
      LICENSE_WHITELIST_MAX: '500',
      AUTH_FAILURES_PER_MINUTE: '0',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SCHEDULE: '1,2',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_CONCURRENCY: '4',
      WEBHOOK_POLL_MS: '100',
      WEBHOOK_RETENTION_DAYS: '30',
      REMINDER_DAYS: '1,10,3',
      SCHEDULER_INTERVAL_MS: '1000',
      NOTIFICATIONS_WORKER: 'off',
      AGORA_LOG_RETENTION_DAYS: '30',
      AGORA_LOG_BUFFER: '500',
      METRICS_TOKEN: 'm'.repeat(16),
      CONSOLE_CONCURRENCY: '2',
      CONSOLE_QUEUE: '0',
      CONSOLE_SHARE_PERCENT: '25',
    });
    expect(c).toEqual({
      nodeEnv: 'production',
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: 'postgres://u:p@db:5432/agora',
      dataDir: '/var/lib/agora',
      apiKeys: [{ apiKey: 'k1', apiSecret: 's1' }],
      adminToken: 'a'.repeat(16),
      usageUnit: 'Times',
      billDecimals: 2,
      defaultPlanId: 'std',
      agoraDeadlineMs: 300,
      logLevel: 'silent',
      licenseExpireRule: 'earliest',
      licenseResidueRule: 'active',
      licenseRateLimit: 0,
      requestDeadlineMs: 3000,
      databaseQueueMax: 50,
      heavyReadConcurrency: 1,
      heavyReadQueue: 0,
      licenseWhitelistMax: 500,
      authFailuresPerMinute: 0,
      licenseSigningKey: undefined,
      licenseRetiredPublicKeys: undefined,
      certificatePackageMaxBytes: 16 * 1024 * 1024,
      licenseFiles: false,
      publicUrl: undefined,
      licenseFileTtlDays: 30,
      webhooks: {
        allowPrivate: true,
        retrySchedule: [1, 2],
        timeoutMs: 2000,
        concurrency: 4,
        pollMs: 100,
        retentionDays: 30,
        reminderDays: [10, 3, 1],
        schedulerIntervalMs: 1000,
        worker: false,
      },
      agoraLogRetentionDays: 30,
      agoraLogBuffer: 500,
      metricsToken: 'm'.repeat(16),
      extHeartbeatSeconds: 30,
      extDeadlineMs: 2000,
      extRateLimit: 0,
      extMaintenanceIntervalMs: 5000,
      consoleSessionHours: 12,
      consoleConcurrency: 2,
      consoleQueue: 0,
      consoleSharePercent: 25,
    } satisfies Config);
    expect(loadConfig({ DATABASE_URL: 'postgresql://x/y' }).databaseUrl).toBe('postgresql://x/y');
  });

  it('reports a single problem with the variable name', () => {
    const e = configError(() => loadConfig({ PORT: '70000' }));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatch(/^PORT: /);
    expect(e.message).toMatch(/PORT/);
    expect(configError(() => loadConfig({ ADMIN_TOKEN: 'short' })).problems[0]).toMatch(/^ADMIN_TOKEN: .*16/);
    expect(configError(() => loadConfig({ NODE_ENV: 'staging' })).problems[0]).toMatch(/^NODE_ENV: /);
    expect(configError(() => loadConfig({ LICENSE_EXPIRE_RULE: 'middle' })).problems[0]).toMatch(/^LICENSE_EXPIRE_RULE: /);
    expect(configError(() => loadConfig({ LICENSE_RESIDUE_RULE: 'all' })).problems[0]).toMatch(/^LICENSE_RESIDUE_RULE: /);
    expect(configError(() => loadConfig({ LICENSE_RATE_LIMIT: '-1' })).problems[0]).toMatch(/^LICENSE_RATE_LIMIT: /);
    expect(configError(() => loadConfig({ REMINDER_DAYS: '45,x' })).problems[0]).toMatch(/^REMINDER_DAYS: /);
    expect(configError(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE: '0' })).problems[0]).toMatch(/^WEBHOOK_RETRY_SCHEDULE: /);
  });

  it('reports an AGORA_API_KEY without its secret, and a secret without its key', () => {
    const e1 = configError(() => loadConfig({ AGORA_API_KEY: 'k' }));
    expect(e1.problems).toHaveLength(1);
    expect(e1.problems[0]).toMatch(/AGORA_API_KEY and AGORA_API_SECRET must be set together/);
    const e2 = configError(() => loadConfig({ AGORA_API_SECRET: 's' }));
    expect(e2.problems).toHaveLength(1);
    expect(e2.problems[0]).toMatch(/AGORA_API_KEY and AGORA_API_SECRET must be set together/);
  });

  it('reports two field problems at once', () => {
    const e = configError(() => loadConfig({ PORT: 'abc', DATABASE_URL: 'mysql://x' }));
    expect(e.problems).toHaveLength(2);
    expect(e.problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(e.problems.some((p) => p.startsWith('DATABASE_URL:'))).toBe(true);
  });

  it('reports every problem at once, including the key/secret pairing', () => {
    const e = configError(() => loadConfig({ PORT: 'abc', DATABASE_URL: 'mysql://x', AGORA_API_KEY: 'k' }));
    expect(e.problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(e.problems.some((p) => p.startsWith('DATABASE_URL:') && /postgres/.test(p))).toBe(true);
    expect(e.problems.some((p) => /AGORA_API_SECRET/.test(p))).toBe(true);
    expect(e.problems).toHaveLength(3);
  });

  it('parses several pairs from AGORA_API_KEYS', () => {
    const c = loadConfig({ AGORA_API_KEYS: 'key1:secret1, key2:secret2,,key3:se:cret3 ' });
    expect(c.apiKeys).toEqual([
      { apiKey: 'key1', apiSecret: 'secret1' },
      { apiKey: 'key2', apiSecret: 'secret2' },
      { apiKey: 'key3', apiSecret: 'se:cret3' },
    ]);
  });

  it('reports each malformed pair, without revealing secrets', () => {
    const e = configError(() => loadConfig({ AGORA_API_KEYS: 'good:secret,nocolon,:nokey,nosecret:' }));
    expect(e.problems).toHaveLength(3);
    for (const p of e.problems) expect(p).toMatch(/^AGORA_API_KEYS: .*not of the form key:secret/);
    expect(e.message).not.toContain('secret,');
    const leaking = configError(() => loadConfig({ AGORA_API_KEYS: 'k1:s1,topsecretvalue' }));
    expect(leaking.problems.join('\n')).not.toContain('topsecretvalue');
  });

  it('merges AGORA_API_KEY/SECRET with AGORA_API_KEYS, the single pair first', () => {
    const c = loadConfig({ AGORA_API_KEY: 'k0', AGORA_API_SECRET: 's0', AGORA_API_KEYS: 'k1:s1,k2:s2' });
    expect(c.apiKeys).toEqual([
      { apiKey: 'k0', apiSecret: 's0' },
      { apiKey: 'k1', apiSecret: 's1' },
      { apiKey: 'k2', apiSecret: 's2' },
    ]);
  });

  it('keeps a key given twice with the same secret once', () => {
    const c = loadConfig({ AGORA_API_KEY: 'k0', AGORA_API_SECRET: 's0', AGORA_API_KEYS: 'k0:s0,k1:s1,k1:s1' });
    expect(c.apiKeys).toEqual([
      { apiKey: 'k0', apiSecret: 's0' },
      { apiKey: 'k1', apiSecret: 's1' },
    ]);
  });

  it('rejects a key given twice with different secrets', () => {
    const e = configError(() => loadConfig({ AGORA_API_KEY: 'k0', AGORA_API_SECRET: 's0', AGORA_API_KEYS: 'k0:other' }));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatch(/k0/);
    expect(e.problems[0]).toMatch(/different secrets/);
    expect(e.problems[0]).not.toContain('other');
    const e2 = configError(() => loadConfig({ AGORA_API_KEYS: 'k1:a,k1:b' }));
    expect(e2.problems[0]).toMatch(/k1.*different secrets/);
  });
});

describe('resolveCredentials', () => {
  const dirs: string[] = [];
  const freshDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'agora-creds-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('returns the configured credentials when they are all given, without touching DATA_DIR', () => {
    const dir = freshDir();
    const config = loadConfig({
      DATA_DIR: dir,
      AGORA_API_KEYS: 'k1:s1,k2:s2',
      ADMIN_TOKEN: 't'.repeat(20),
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://x/y',
    });
    const r = resolveCredentials(config);
    expect(r.apiKeys).toEqual([
      { apiKey: 'k1', apiSecret: 's1' },
      { apiKey: 'k2', apiSecret: 's2' },
    ]);
    expect(r.adminToken).toBe('t'.repeat(20));
    expect(r.generatedFile).toBeUndefined();
    expect(existsSync(join(dir, 'credentials.json'))).toBe(false);
  });

  it('creates credentials.json with the embedded database and no credentials, and keeps them', () => {
    const dir = join(freshDir(), 'nested', 'data');
    const config = loadConfig({ DATA_DIR: dir });
    const first = resolveCredentials(config);
    const file = join(dir, 'credentials.json');
    expect(first.generatedFile).toBe(file);
    expect(first.createdNow).toBe(true);
    expect(first.apiKeys).toHaveLength(1);
    const pair = first.apiKeys[0]!;
    expect(pair.apiKey).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(pair.apiSecret).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(pair.apiSecret).not.toBe(pair.apiKey);
    expect(first.adminToken.length).toBeGreaterThanOrEqual(16);

    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(stored).toEqual({ apiKey: pair.apiKey, apiSecret: pair.apiSecret, adminToken: first.adminToken });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const second = resolveCredentials(loadConfig({ DATA_DIR: dir }));
    expect(second.createdNow).toBe(false);
    expect(second.apiKeys).toEqual(first.apiKeys);
    expect(second.adminToken).toBe(first.adminToken);
  });

  it('creates different credentials in different directories', () => {
    const a = resolveCredentials(loadConfig({ DATA_DIR: freshDir() }));
    const b = resolveCredentials(loadConfig({ DATA_DIR: freshDir() }));
    expect(a.apiKeys[0]!.apiKey).not.toBe(b.apiKeys[0]!.apiKey);
    expect(a.apiKeys[0]!.apiSecret).not.toBe(b.apiKeys[0]!.apiSecret);
    expect(a.adminToken).not.toBe(b.adminToken);
  });

  it('fills in only what is missing', () => {
    const dir = freshDir();
    const withKeys = resolveCredentials(loadConfig({ DATA_DIR: dir, AGORA_API_KEY: 'mine', AGORA_API_SECRET: 'mysecret' }));
    expect(withKeys.apiKeys).toEqual([{ apiKey: 'mine', apiSecret: 'mysecret' }]);
    const stored = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as { adminToken: string };
    expect(withKeys.adminToken).toBe(stored.adminToken);

    const withToken = resolveCredentials(loadConfig({ DATA_DIR: dir, ADMIN_TOKEN: 'x'.repeat(16) }));
    expect(withToken.adminToken).toBe('x'.repeat(16));
    expect(withToken.apiKeys[0]!.apiKey).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('refuses a corrupt credentials file', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'credentials.json'), JSON.stringify({ apiKey: 'k' }));
    const e = configError(() => resolveCredentials(loadConfig({ DATA_DIR: dir })));
    expect(e.problems[0]).toMatch(/credentials\.json/);
  });

  it('with NODE_ENV=production and missing credentials, names the missing variables', () => {
    const dir = freshDir();
    const e = configError(() => resolveCredentials(loadConfig({ NODE_ENV: 'production', DATA_DIR: dir })));
    expect(e.problems).toHaveLength(2);
    expect(e.problems.join('\n')).toMatch(/AGORA_API_KEY/);
    expect(e.problems.join('\n')).toMatch(/ADMIN_TOKEN/);
    expect(e.problems.join('\n')).toMatch(/NODE_ENV=production/);
    expect(existsSync(join(dir, 'credentials.json'))).toBe(false);

    const onlyToken = configError(() =>
      resolveCredentials(loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, AGORA_API_KEYS: 'k:s' })),
    );
    expect(onlyToken.problems).toHaveLength(1);
    expect(onlyToken.problems[0]).toMatch(/^ADMIN_TOKEN/);
  });

  it('with DATABASE_URL set and missing credentials, refuses', () => {
    const dir = freshDir();
    const e = configError(() =>
      resolveCredentials(loadConfig({ DATABASE_URL: 'postgres://u@h/db', DATA_DIR: dir, ADMIN_TOKEN: 'y'.repeat(16) })),
    );
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatch(/AGORA_API_KEY/);
    expect(e.problems[0]).toMatch(/DATABASE_URL/);
    expect(existsSync(join(dir, 'credentials.json'))).toBe(false);
  });
});
