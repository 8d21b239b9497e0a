import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * How long a real process may take to start. Generous on purpose: on a busy machine a rebuild
 * (bin/build.js, when a source changed) and opening the embedded database can take many seconds;
 * a test must fail on a wrong answer, not a slow host.
 */
export const PROCESS_START_LIMIT_MS = 120_000;

export interface SpawnedProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ServerProcess extends SpawnedProcess {
  url: string;
}

/**
 * Starts the server exactly as `npm start` does (`node bin/start.js`: the build, rebuilt first if a
 * source is newer), on a free port, without waiting for it. Not through npm itself: npm would sit
 * between the test and the server, and a signal sent to the child must reach the server.
 */
export function spawnServer(env: Record<string, string>): SpawnedProcess {
  const child = spawn(process.execPath, ['bin/start.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** Starts the server as `npm start` does, on a free port, and waits for its "listening" line. */
export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const p = spawnServer(env);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`server did not start within ${PROCESS_START_LIMIT_MS} ms:\n${p.output()}`));
    }, PROCESS_START_LIMIT_MS);
    const check = () => {
      const m = /"event":"listening","url":"([^"]+)"/.exec(p.output());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    p.child.stdout!.on('data', check);
    void p.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited:\n${p.output()}`));
    });
  });
  return { ...p, url };
}

/** Stops a server with SIGTERM and waits for it to exit. */
export async function stopServer(p: SpawnedProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  await p.exited;
}

export { ROOT };
