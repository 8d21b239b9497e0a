import { execFileSync } from 'node:child_process';
import os from 'node:os';

export type Verdict = 'ok' | 'MISSED' | 'n/a' | '';

export interface Row {
  scenario: string;
  result: string;
  target: string;
  verdict: Verdict;
}

/** A Markdown table, padded so that it also reads as plain text. */
export function renderTable(rows: Row[]): string {
  const header: Row = { scenario: 'scenario', result: 'result', target: 'target', verdict: '' };
  const all = [header, ...rows];
  const cells = (r: Row) => [r.scenario, r.result, r.target, r.verdict === '' ? '' : r.verdict];
  const widths = [0, 1, 2, 3].map((i) => Math.max(3, ...all.map((r) => [...cells(r)[i]!].length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v + ' '.repeat(widths[i]! - [...v].length)).join(' | ')} |`;
  return [line(cells(header)), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cells(r)))].join('\n');
}

export const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  os: string;
  node: string;
  postgres: string;
  commit: string | null;
}

export function machine(postgresVersion: string, root: string): Machine {
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    if (dirty) commit += ' (with uncommitted changes)';
  } catch {
    commit = null; // not a git checkout: an installed package, say
  }
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: postgresVersion,
    commit,
  };
}

export function machineLine(m: Machine): string {
  return `${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 1024 ** 3).toFixed(0)} GiB, ${m.os}, Node ${m.node}, ${m.postgres.split(' on ')[0]}${m.commit ? `, commit ${m.commit}` : ''}`;
}
