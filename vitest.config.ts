import { defineConfig } from 'vitest/config';

/**
 * Test files that start real processes (the server, the CLI, a browser). Each process compiles
 * TypeScript and opens a database: 8–30 s on a busy machine. They run as a project of their own,
 * one file at a time and after every other file, so they never compete with the rest for the CPU,
 * with limits generous enough for a slow host (test/helpers/server-process.ts).
 */
const PROCESS_TESTS = ['test/process.test.ts', 'test/data-dir-lock.test.ts', 'test/docs-browser.test.ts', 'test/console-browser.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'app',
          include: ['test/**/*.test.ts'],
          exclude: PROCESS_TESTS,
          // Two cores: more workers only queue on the database.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'process',
          include: PROCESS_TESTS,
          fileParallelism: false,
          maxWorkers: 1,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
