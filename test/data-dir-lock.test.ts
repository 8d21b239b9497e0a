import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../src/db/data-dir-lock.ts';
import { ADMIN, KEY } from './helpers/app.ts';
import { PROCESS_START_LIMIT_MS, ROOT, spawnServer, startServer, stopServer } from './helpers/server-process.ts';

/**
 * One process at a time on the embedded database: a second server, or the CLI's migrate, on the
 * same DATA_DIR stops with a message naming the holder; a lock left by a dead process is taken over.
 */

const env = (dataDir: string) => ({ DATA_DIR: dataDir, AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret, ADMIN_TOKEN: ADMIN });

describe('the embedded database is held by one process', () => {
  it('refuses a second server and the CLI while a server runs, and lets go on exit', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lock-'));
    const first = await startServer(env(dataDir));
    try {
      const pid = String(first.child.pid);
      const second = spawnServer(env(dataDir));
      // A second server that starts is the defect: stop it rather than wait for an exit.
      const listening = new Promise<'listening'>((resolve) =>
        second.child.stdout!.on('data', () => second.output().includes('"event":"listening"') && resolve('listening')),
      );
      const outcome = await Promise.race([second.exited, listening]);
      if (outcome === 'listening') await stopServer(second);
      expect(outcome).toEqual({ code: 1, signal: null });
      expect(second.output()).toContain(`is in use by process ${pid} on ${hostname()}`);
      expect(second.output()).toContain('bin/start.js');
      expect(second.output()).not.toContain('"event":"listening"');

      const migrate = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/agora-vendor.js'), 'migrate', '--data-dir', dataDir], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '' },
        timeout: PROCESS_START_LIMIT_MS,
      }).catch((err: { code: number; stderr: string }) => err);
      expect((migrate as { code: number }).code).toBe(1);
      expect(migrate.stderr).toContain(`agora-vendor migrate: the embedded database in ${dataDir} is in use by process ${pid}`);

      // The first server still answers: nothing opened its files.
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await stopServer(first);
    }
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
  }, 4 * PROCESS_START_LIMIT_MS);

  it('takes over a lock left by a process that is gone', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lock-'));
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(
      join(dataDir, LOCK_FILE),
      JSON.stringify({ pid: dead, host: hostname(), command: 'killed', startedAt: '2026-01-01T00:00:00.000Z', token: 'old' }),
    );
    const server = await startServer(env(dataDir));
    try {
      const holder = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as { pid: number };
      expect(holder.pid).toBe(server.child.pid);
    } finally {
      await stopServer(server);
    }
  }, 2 * PROCESS_START_LIMIT_MS);
});
