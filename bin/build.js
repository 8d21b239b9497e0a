#!/usr/bin/env node
// The server's build: src/main.ts bundled by esbuild into dist/main.js and two chunks beside it,
// with its libraries (but PGlite, which loads its WASM from beside its own files), and each
// migration transpiled to dist/migrations/. `npm start` then runs plain Node: no TypeScript
// compiled on every start (tsx's compile was ~1 s of a ~2 s start on Postgres), and three files
// parsed instead of hundreds of modules resolved one by one (kysely alone has ~500). Types are
// checked by `npm run typecheck`, not here: esbuild only strips them.
//
// Nobody runs this by hand: `npm install`/`npm ci` run it (the `prepare` script), and every start
// (bin/start.js) calls ensureBuilt() first, which rebuilds when a source is newer than the build.
// That check is what makes a stale build impossible to run after a `git pull` without
// `npm install`: it stats ~100 files and folders (a few ms), and a rebuild takes a few seconds.
// Folders are stat'ed too, so that a deleted source (a migration!) also counts as a change.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import esbuild from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.build-stamp.json');
const LOCK = join(ROOT, '.dist-build.lock');
const SOURCES = ['src', 'migrations', 'package.json', 'package-lock.json', 'bin/build.js'];

/** The newest modification time (ms) of the sources, folders included. */
function newestSource() {
  let newest = 0;
  const visit = (path) => {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return;
    newest = Math.max(newest, st.mtimeMs);
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  for (const s of SOURCES) visit(join(ROOT, s));
  return newest;
}

/** The build is there and no source changed since it started. */
export function isFresh() {
  try {
    const stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
    return typeof stamp.sourcesAsOf === 'number' && newestSource() <= stamp.sourcesAsOf;
  } catch {
    return false;
  }
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * One build at a time (tests and a user may start several servers at once): a lock folder, taken
 * over when older than 2 minutes (a build that was killed).
 */
function withLock(fn) {
  const until = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const st = statSync(LOCK, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > until) throw new Error(`another build holds ${LOCK}; remove it if no build is running`);
      sleep(100);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Compiles into a folder of its own, then swaps it in whole: a process starting meanwhile sees the
 * old build or the new one, never half of one, and files of deleted sources do not survive.
 */
export function build({ quiet = false } = {}) {
  const sourcesAsOf = newestSource();
  const tmp = join(ROOT, `.dist-build-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const started = Date.now();
  const common = { platform: 'node', format: 'esm', target: 'node20', sourcemap: true, logLevel: 'warning', absWorkingDir: ROOT };
  try {
    esbuild.buildSync({
      ...common,
      entryPoints: ['src/main.ts'],
      outdir: tmp,
      bundle: true,
      // main.js and chunks beside it: what main.ts imports dynamically (the app) loads while the
      // database opens.
      splitting: true,
      chunkNames: '[name]-[hash]',
      // Half the text to parse at every start; names are kept, so stack traces stay readable.
      minifyWhitespace: true,
      minifySyntax: true,
      // PGlite finds its .wasm and .data files next to its own modules; swagger-ui-dist is only
      // read as files (src/http/docs.ts).
      external: ['@electric-sql/pglite', 'swagger-ui-dist'],
      // pg is CommonJS and calls require(): give the ES module bundle one.
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    });
    const migrations = readdirSync(join(ROOT, 'migrations')).filter((f) => f.endsWith('.ts'));
    esbuild.buildSync({ ...common, entryPoints: migrations.map((f) => `migrations/${f}`), outdir: join(tmp, 'migrations') });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(join(tmp, '.build-stamp.json'), `${JSON.stringify({ sourcesAsOf, builtAt: new Date().toISOString() })}\n`);
  const old = join(ROOT, `.dist-old-${process.pid}`);
  if (existsSync(DIST)) renameSync(DIST, old);
  renameSync(tmp, DIST);
  rmSync(old, { recursive: true, force: true });
  if (!quiet) process.stderr.write(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

/** Builds unless the build is fresh. */
export function ensureBuilt() {
  if (isFresh()) return;
  withLock(() => {
    if (!isFresh()) build();
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--force')) withLock(() => build());
  else ensureBuilt();
}
