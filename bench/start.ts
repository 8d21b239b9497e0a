import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { freePort, memoryOf, ROOT } from './processes.ts';

export interface StartResult {
  /** From spawning `npm start` to the first 200 from /healthz. */
  ms: number;
  /** Resident memory of the server's own process (not npm's) 1 s after that answer, bytes. */
  rss: number | null;
  /** Its peak resident memory by then, bytes. */
  peak: number | null;
}

/** The processes of a process group (Linux /proc), with their command lines. */
function groupMembers(pgid: number): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 5 of stat is the group; the command name (field 2) may hold spaces, so count after ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      out.push({ pid: Number(name), argv: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * One start as a user makes it: `npm start` in the checkout, a fresh process (npm, then Node
 * running bin/start.js), timed until /healthz first answers 200, polled every 10 ms. The memory is
 * that of the server's process alone, read 1 s after: npm stays resident beside it but is not the
 * server. The build is made before (the benchmark's own start does it), so a rebuild is not timed.
 */
export async function measureStart(env: Record<string, string>): Promise<StartResult> {
  const port = await freePort();
  // Under `npm run bench`, npm names itself; otherwise the npm on the PATH.
  const npmCli = process.env.npm_execpath;
  const [cmd, args] = npmCli && npmCli.endsWith('.js') ? [process.execPath, [npmCli, 'start', '--silent']] : ['npm', ['start', '--silent']];
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const deadline = Date.now() + 120_000;
    let ms: number | null = null;
    while (ms === null) {
      if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}):\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`npm start: /healthz did not answer within 120 s:\n${stderr}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`);
        await r.arrayBuffer();
        if (r.status === 200) ms = performance.now() - t0;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    // Node itself running bin/start.js; not npm, nor the shell npm runs it with.
    const server = groupMembers(child.pid!).find((p) => (p.argv[0] === 'node' || p.argv[0]?.endsWith('/node') === true) && p.argv[1] === 'bin/start.js');
    const mem = server ? memoryOf(server.pid) : null;
    return { ms, rss: mem?.rss ?? null, peak: mem?.peak ?? null };
  } finally {
    // The whole group: npm, its shell and the server. SIGTERM lets the server close its database.
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 15_000);
    await exited;
    // npm may exit before the server has let go of the embedded database's lock.
    for (let i = 0; i < 150 && groupMembers(child.pid!).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    clearTimeout(timer);
  }
}
