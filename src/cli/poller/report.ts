import { csvField } from '../../csv.ts';
import { stringifyExact } from '../../json.ts';
import type { Entry } from './contract.ts';
import { VIOLATION_CODES } from './contract.ts';
import type { LicensePollResult, PagedPollResult, PollSummaryBase } from './poller.ts';

/** The entries as CSV, amounts with exactly their digits. */
export function entriesCsv(entries: Entry[]): string {
  const lines = ['projectId,amount,description'];
  for (const e of entries) lines.push([csvField(e.projectId), e.amount.toFixed(), csvField(e.description)].join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** The entries as a JSON array, amounts as JSON numbers with exactly their digits. */
export function entriesJson(entries: Entry[]): string {
  return `[${entries.map((e) => stringifyExact({ projectId: e.projectId, amount: e.amount, description: e.description })).join(',\n')}]\n`;
}

const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`);
const thousands = (n: number) => n.toLocaleString('en-US');
const utc = (ts: number) => new Date(ts * 1000).toISOString().replace('.000Z', 'Z');

function commonLines(r: PollSummaryBase): [string, string][] {
  const reasons = Object.entries(r.retryReasons)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return [
    ['requests', `${thousands(r.requests)} (retries: ${r.retries}${reasons ? `: ${reasons}` : ''})`],
    ['slowest request', r.slowest ? `${ms(r.slowest.ms)}${r.slowest.pageNum !== undefined ? ` (page ${r.slowest.pageNum})` : ''}` : '-'],
    ['wall time', ms(r.wallMs)],
  ];
}

function violationLines(r: PollSummaryBase): string[] {
  const total = Object.values(r.violationCounts).reduce((a, b) => a + (b ?? 0), 0);
  if (total === 0) return ['contract          OK: every answer keeps the contract'];
  const out = [`contract          VIOLATED: ${total} violation${total > 1 ? 's' : ''}`];
  for (const code of Object.keys(r.violationCounts).filter((k): k is keyof typeof VIOLATION_CODES => Object.hasOwn(VIOLATION_CODES, k))) {
    out.push(`  ${code} × ${r.violationCounts[code]}: ${VIOLATION_CODES[code]}`);
  }
  out.push('first violations:');
  for (const x of r.violations.slice(0, 20)) out.push(`  [${x.code}]${x.pageNum !== undefined ? ` page ${x.pageNum}:` : ''} ${x.message}`);
  if (total > 20) out.push(`  … ${total - 20} more`);
  return out;
}

const table = (rows: [string, string][]) => rows.map(([k, v]) => `${k.padEnd(18)}${v}`);

export function pagedSummary(r: PagedPollResult): string {
  const rows: [string, string][] = [
    ['window', `${utc(r.fromTs)} .. ${utc(r.toTs)} (fromTs=${r.fromTs}, toTs=${r.toTs})`],
    ['pages', `${thousands(r.pages)}${r.pageSize !== null ? ` of ${r.pageSize} entries` : ''}`],
    ['entries', `${thousands(r.entries.length)}${r.totalSize !== null ? ` (totalSize ${thousands(r.totalSize)})` : ''}`],
    ['total', r.total.toFixed()],
    ['total rounded up', `${r.totalRoundedUp.toFixed()} (what Agora records: the sum, rounded up)`],
    ...commonLines(r),
  ];
  return [`poll ${r.kind}`, ...table(rows), ...violationLines(r)].join('\n');
}

export function licenseSummary(r: LicensePollResult): string {
  const l = r.license;
  const rows: [string, string][] = [
    ['customer', r.customerId],
    ['status', l ? `${l.status}${l.statusReason ? ` (${l.statusReason})` : ''}${r.httpStatus === 404 && l.status === 'failed' ? ', HTTP 404: no license for this customer' : ''}` : '-'],
    ['expireDate', l?.expireDate === '' ? '(none: no license activated yet)' : (l?.expireDate ?? '-')],
    ['residueCount', l?.residueCountText ?? '-'],
    ...commonLines(r),
  ];
  return ['poll license', ...table(rows), ...violationLines(r)].join('\n');
}

/** The summary as JSON (`--summary json`): what a script checks. */
export function summaryJson(r: PagedPollResult | LicensePollResult): string {
  const { violations, violationCounts, ok, requests, retries, retryReasons, slowest, wallMs, url } = r;
  const common = { ok, violationCounts, violations, requests, retries, retryReasons, slowest, wallMs, url: url.replace(/signature=[^&]*/, 'signature=…') };
  if (r.kind === 'license') return stringifyExact({ kind: r.kind, customerId: r.customerId, httpStatus: r.httpStatus, license: r.license && { ...r.license, residueCount: r.license.residueCount }, ...common });
  return stringifyExact({
    kind: r.kind,
    fromTs: r.fromTs,
    toTs: r.toTs,
    pages: r.pages,
    pageSize: r.pageSize,
    entries: r.entries.length,
    totalSize: r.totalSize,
    total: r.total,
    totalRoundedUp: r.totalRoundedUp,
    ...common,
  });
}
