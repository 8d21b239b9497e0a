import { serve } from '@hono/node-server';
import type { Config } from './config.ts';
import { resolveCredentials } from './credentials.ts';
import { resolveSigningKeys } from './certificates/keys.ts';
import { openDatabase } from './db/database.ts';
import { migrateToLatestOrThrow } from './db/migrate.ts';
import type { Logger } from './http/context.ts';
import { batchedLogger } from './http/log.ts';
import { startRuntimeMaintenance } from './runtime/maintenance.ts';
import { buildSettings, resumeBuilds } from './statements/store.ts';
import { startNotifications, type Notifications } from './notifications/notifications.service.ts';
import { SignatureFailureCounter } from './notifications/signature-failures.ts';
import { startLineCounts } from './billing/line-counts.ts';
import { closeIdleConnections, keepConnectionsForLoadBalancers } from './http/node-server.ts';

/**
 * Opens the database, applies the migrations and listens, until SIGTERM or SIGINT: what `npm start`
 * (`main.ts`) and `agora-vendor serve` both run. Throws `ConfigError` for missing credentials and
 * `DataDirLockedError` for a DATA_DIR another process holds.
 */
export async function startServer(config: Config): Promise<void> {
  const creds = resolveCredentials(config);
  const signing = resolveSigningKeys(config);
  const log: Logger = config.logLevel === 'silent' ? () => {} : batchedLogger((text) => process.stdout.write(text));

  // The database opens (the embedded one compiles its WASM off the main thread and reads its
  // files) while the app's code loads: the build puts app.ts in a chunk of its own (bin/build.js).
  const opening = openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.databaseUrl ? undefined : config.dataDir,
    maxWaiting: config.databaseQueueMax,
    onPoolError: (err) => log({ at: new Date().toISOString(), level: 'warn', event: 'db_pool_error', error: err.message }),
  });
  // A refusal (a held DATA_DIR) is reported as such below, not as an unhandled rejection while the app loads.
  opening.catch(() => {});
  const { createApp } = await import('./app.ts');
  const database = await opening;
  const applied = await migrateToLatestOrThrow(database.db);

  // Lines of statements a stopped process left half-numbered are numbered in the background.
  buildSettings.report = (err, statementId) =>
    log({ at: new Date().toISOString(), level: 'error', event: 'statement_numbering_failed', statementId, error: err instanceof Error ? err.message : String(err) });
  void resumeBuilds(database.db).catch((err: unknown) => buildSettings.report(err, '*'));

  // Bill line counts kept as usage arrives (src/billing/line-counts.ts): months kept, rows passed
  // after a price change, plan changes applied, every 30 s (lineCountSettings), on one instance at a time.
  const stopLineCounts = startLineCounts(database.db, config, (err) =>
    log({ at: new Date().toISOString(), level: 'error', event: 'bill_line_counts_failed', error: err instanceof Error ? err.message : String(err) }),
    { embedded: database.kind === 'embedded' },
  );

  const signatureFailures = new SignatureFailureCounter();
  const clock = () => new Date();
  const app = createApp({ db: database.db, config, apiKeys: creds.apiKeys, adminToken: creds.adminToken, log, clock, signingKeys: signing.keys, signatureFailures });
  // Webhook deliveries and the jobs due by time (reminders): every instance runs them (docs/webhooks.md).
  const notifications: Notifications | null = config.webhooks.worker ? startNotifications(database.db, config, { log, clock, signatureFailures, onAttempt: (o) => app.metrics.webhookDelivery(o) }) : null;
  // Silent extension sessions and overage (src/runtime/maintenance.ts): a job of the scheduler; an
  // instance that runs no scheduler (NOTIFICATIONS_WORKER=off) still runs it on its own, as before.
  const stopRuntimeMaintenance = notifications ? () => {} : startRuntimeMaintenance(database.db, config.extMaintenanceIntervalMs, clock, log);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    log({
      at: new Date().toISOString(),
      event: 'listening',
      url: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}`,
      database: database.kind === 'embedded' ? `embedded (${config.dataDir})` : 'postgres',
      migrationsApplied: applied.map((m) => m.migrationName),
      // The key's id and where it came from; never the key.
      licenseSigningKey: signing.keys ? { kid: signing.keys.current.kid, from: signing.generatedFile ?? 'LICENSE_SIGNING_KEY' } : null,
    });
  });

  keepConnectionsForLoadBalancers(server);

  if (creds.generatedFile && creds.fromFile) {
    // Printed on purpose: with zero set-up these are the only way to reach the server. Only the
    // values from the file: a secret given in the environment is never echoed.
    const k = creds.apiKeys[0]!;
    const lines = [`Credentials ${creds.createdNow ? 'created' : 'loaded'} for the embedded database (${creds.generatedFile}):`];
    if (creds.fromFile.apiKey) lines.push(`  AGORA_API_KEY=${k.apiKey}`, `  AGORA_API_SECRET=${k.apiSecret}`);
    if (creds.fromFile.adminToken) lines.push(`  ADMIN_TOKEN=${creds.adminToken}`);
    lines.push('Set them in the environment to choose your own. In production they are required.');
    process.stdout.write(['', ...lines, ''].join('\n') + '\n');
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log({ at: new Date().toISOString(), event: 'stopping', signal });
    // Stop accepting, let requests in flight finish, then close the pool.
    stopRuntimeMaintenance();
    server.close(async () => {
      await stopLineCounts();
      await notifications?.stop();
      await app.agoraLog.flush();
      await database.close();
      log({ at: new Date().toISOString(), event: 'stopped' });
      process.exit(0);
    });
    // Keep-alive connections left idle by the requests that just finished would hold the close
    // open until their timeout; let them go as soon as they are idle.
    setInterval(() => closeIdleConnections(server), 50).unref();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
