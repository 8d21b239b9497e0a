import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/database.ts';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Service {
  child: ChildProcess;
  url: string;
  /** What it wrote to stderr, for a failure message. */
  errors: () => string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Runs an entry point as its own Node process, so the load the benchmark generates does not share
 * the server's event loop, and waits until `readyPath` answers 200: a `.js` one with plain Node (the
 * server: `bin/start.js`, as `npm start` runs it), a TypeScript one through tsx (the ceilings). Its
 * stdout goes nowhere: the server's request log is written as in production, unread.
 */
/** Extra options of the server's node, e.g. `BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'` (NODE_OPTIONS refuses --cpu-prof). */
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

/** `BENCH_SERVER_ENV="CONSOLE_SHARE_PERCENT=100 POOL_SIZE=20"`: settings to compare, passed to the server. */
export function extraServerEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (process.env.BENCH_SERVER_ENV ?? '').split(' ').filter((p) => p !== '')) {
    const at = pair.indexOf('=');
    if (at > 0) out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

export async function startService(entry: string, env: Record<string, string>, readyPath: string): Promise<Service> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, ...(entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry])], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited (${child.exitCode}):\n${stderr}`);
    try {
      const r = await fetch(`${url}${readyPath}`);
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} did not answer ${readyPath} within 60 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    url,
    errors: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident memory of a process now and at its peak, in bytes (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used, in ms, from Linux /proc; null elsewhere. */
export function cpuMsOf(pid: number): number | null {
  try {
    // The fields after the command name (which may hold spaces) start at the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
/** USER_HZ: 100 on every Linux build that matters here. */
const CLOCK_TICKS = 100;

/** CPU ms used so far by each backend of the benchmark's database (Linux /proc; PostgreSQL on this machine). */
export async function backendCpu(dbUrl: string): Promise<Map<number, number>> {
  const probe = await openDatabase({ databaseUrl: dbUrl, poolSize: 1 });
  try {
    const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.execute(probe.db);
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      const ms = cpuMsOf(pid);
      if (ms !== null) out.set(pid, ms);
    }
    return out;
  } finally {
    await probe.close();
  }
}

/** CPU ms the backends used between two `backendCpu` readings (backends opened meanwhile from 0). */
export function backendCpuUsed(before: Map<number, number>, after: Map<number, number>): number | null {
  let used: number | null = null;
  for (const [pid, ms] of after) used = (used ?? 0) + ms - (before.get(pid) ?? 0);
  return used;
}

/**
 * The server's event-loop delay since the previous call (prom-client's histogram, reset at each
 * scrape of /metrics): how long the loop was held by one piece of work, which is what an Agora
 * request arriving meanwhile waits before its first line runs.
 */
export async function loopLag(url: string): Promise<{ p99Ms: number; maxMs: number } | undefined> {
  const r = await fetch(`${url}/metrics`);
  if (r.status !== 200) return undefined;
  const text = await r.text();
  const seconds = (name: string) => {
    const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) * 1000 : NaN;
  };
  return { p99Ms: seconds('nodejs_eventloop_lag_p99_seconds'), maxMs: seconds('nodejs_eventloop_lag_max_seconds') };
}
