import type { Row } from '../report.ts';
import type { Service } from '../processes.ts';
import type { Calendar, Settings } from '../settings.ts';
import type { AgoraCaller, FirstPages } from './server.ts';

/** The server's Agora credentials and vendor token in the benchmark (never used anywhere else). */
export const KEY = { apiKey: 'BenchKey0123456789abcdefghijklmn', apiSecret: 'bench-secret-not-for-production-0001' };
export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
/** The CI gate: a steady run it watches fails with any error or a p99 at or above this. */
export const GATE_P99_MS = 500;

/** What must be seeded before a scenario runs (customers, projects and plans always are). */
export type Need = 'usage' | 'licenses';

/** What every scenario gets. */
export interface BenchContext {
  s: Settings;
  cal: Calendar;
  /** The seeded database (PostgreSQL URL). */
  dbUrl: string;
  key: typeof KEY;
  adminToken: string;
  /** Stores a scenario's figures in the results JSON under `name`. */
  record(name: string, value: unknown): void;
  /** A gated figure missed its gate; with `--gate` the run then exits 1. */
  gateFailed(line: string): void;
  /** Processes a scenario starts and pushes here are stopped at the end, also after a failure. */
  services: Service[];
  say(line: string): void;
}

/** What scenarios against the server under test get: it runs, warmed up. */
export interface ServerContext extends BenchContext {
  server: Service;
  /**
   * What one scenario measures and later ones read: the first pages (their sizes give the page
   * lists of the steady runs), the projects whose credentials call the license API.
   */
  shared: { firstPages?: FirstPages; callers?: Promise<AgoraCaller[]> };
}

interface ScenarioBase {
  /** Its name for `--only`. */
  name: string;
  needs: Need[];
}

/**
 * One scenario: registered with one line in bench/run.ts's list, which runs them in its order.
 * `before-server` ones run before the server under test starts (they start processes of their
 * own); `server` ones against it. An `always` one runs whenever the server does, chosen or not,
 * because later scenarios read what it measures; its rows and figures are kept only when chosen.
 */
export type Scenario =
  | (ScenarioBase & { phase: 'before-server'; run(ctx: BenchContext): Promise<Row[]> })
  | (ScenarioBase & { phase: 'server'; always?: boolean; run(ctx: ServerContext): Promise<Row[]> });
