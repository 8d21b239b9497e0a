import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MAX_LIMIT } from '../../agora/query.ts';
import { defaultBaseUrl, EXIT, keyLine, nonNegativeInt, parseCommand, positiveInt, resolveKeyPair, UsageError, type CliIo } from '../io.ts';
import { createProgress } from '../progress.ts';
import { dayWindow, monthWindow, pollLicense, pollPaged, type PagedKind, type PagedPollResult } from '../poller/poller.ts';
import { entriesCsv, entriesJson, licenseSummary, pagedSummary, summaryJson } from '../poller/report.ts';

export const POLL_USAGE = `Usage:
  agora-vendor poll usage   --date YYYY-MM-DD        [options]
  agora-vendor poll usage   --from-ts S --to-ts S    [options]   (a window inside one UTC day)
  agora-vendor poll bill    --month YYYY-MM          [options]
  agora-vendor poll license --customer ID            [options]

Polls a vendor server as Agora does: signs every request, walks pageNum from 1 until hasNext is
false, waits --timeout-ms for each answer and re-sends at most --retries times, and checks every
answer against the contract. Prints a summary; exits 1 on any violation.

Note: the first poll of a window fixes what the server reports for it, for good. So poll bill
refuses a month that has not ended yet (by this machine's clock) unless --force is given.

Options
  --base-url URL      the server as Agora knows it (default AGORA_BASE_URL, else http://127.0.0.1:$PORT or :8080)
  --key K --secret S  the key pair (default: AGORA_API_KEY/AGORA_API_SECRET, AGORA_API_KEYS, DATA_DIR/credentials.json)
  --limit N           send limit=N (Agora leaves it to the server's default)
  --timeout-ms N      per request (default 500, as Agora)
  --retries N         re-sends after a timeout or a 5xx (default 2, as Agora)
  --max-pages N       stop a walk after N pages whatever hasNext says (default 100000)
  --out FILE          write the entries to FILE (CSV, or JSON when FILE ends in .json); "-" for stdout.
                      Written only when the poll succeeds: after a failure there is no file
  --force             poll bill: poll a month that has not ended yet (it is fixed then, for good)
  --format csv|json   the format of --out (default: from the file name, else csv)
  --summary text|json the summary's form (default text)
  --quiet             no progress
  --plain             plain progress lines even on a terminal`;

export async function pollCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(
    args,
    {
      date: { type: 'string' },
      'from-ts': { type: 'string' },
      'to-ts': { type: 'string' },
      month: { type: 'string' },
      customer: { type: 'string' },
      'base-url': { type: 'string' },
      key: { type: 'string' },
      secret: { type: 'string' },
      limit: { type: 'string' },
      'timeout-ms': { type: 'string' },
      retries: { type: 'string' },
      'max-pages': { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      summary: { type: 'string', default: 'text' },
      quiet: { type: 'boolean', default: false },
      plain: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
    },
    true,
  );
  const [kind, ...extra] = positionals;
  if (kind !== 'usage' && kind !== 'bill' && kind !== 'license') throw new UsageError('poll what? usage, bill or license');
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  if (values.summary !== 'text' && values.summary !== 'json') throw new UsageError('--summary must be text or json');

  const baseUrl = values['base-url'] ?? defaultBaseUrl(io.env);
  try {
    new URL(baseUrl);
  } catch {
    throw new UsageError(`--base-url ${baseUrl} is not a URL`);
  }
  const key = resolveKeyPair(io, values);
  // Always said, even with --quiet: which key signed is what one checks first when Agora's key differs.
  io.stderr.write(`polling ${baseUrl} as Agora, signing with ${keyLine(key)}\n`);
  const common = {
    baseUrl,
    apiKey: key.apiKey,
    apiSecret: key.apiSecret,
    timeoutMs: positiveInt('timeout-ms', values['timeout-ms'], 600_000) ?? 500,
    retries: nonNegativeInt('retries', values.retries, 10) ?? 2,
    ...(io.fetch ? { fetch: io.fetch } : {}),
  };
  const toStdout = values.out === '-';
  // The summary goes to stdout unless the entries do.
  const summaryTo = toStdout ? io.stderr : io.stdout;

  if (kind === 'license') {
    if (!values.customer) throw new UsageError('poll license needs --customer ID');
    if (values.force) throw new UsageError('--force applies to poll bill only');
    for (const flag of ['date', 'month', 'from-ts', 'to-ts', 'limit', 'out'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to poll license`);
    }
    const r = await pollLicense(values.customer, common);
    summaryTo.write(`${values.summary === 'json' ? summaryJson(r) : licenseSummary(r)}\n`);
    return r.ok ? EXIT.ok : EXIT.failed;
  }

  const window = pagedWindow(kind, values);
  if (values.force && kind !== 'bill') throw new UsageError('--force applies to poll bill only');
  if (kind === 'bill') {
    // The month of a bill window ends at the first second of the next month (UTC).
    const from = new Date(window.fromTs * 1000);
    const monthEnd = Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + 1, 1);
    const now = (io.now ?? (() => new Date()))().getTime();
    if (monthEnd > now && !values.force) {
      throw new UsageError(
        `${from.toISOString().slice(0, 7)} has not ended yet: the first bill poll of a month fixes it for good, and usage ` +
          'of the rest of the month would only reach Agora as a correction next month. Poll it once it is over, or give --force.',
      );
    }
    if (monthEnd > now) io.stderr.write(`warning: ${from.toISOString().slice(0, 7)} has not ended yet; --force: its bill is fixed now\n`);
  }
  const format = values.format ?? (values.out?.endsWith('.json') ? 'json' : 'csv');
  if (format !== 'csv' && format !== 'json') throw new UsageError('--format must be csv or json');
  const limit = positiveInt('limit', values.limit, MAX_LIMIT);
  const progress = createProgress(`poll ${kind}`, { stream: io.stderr, enabled: !values.quiet, plain: values.plain, unit: 'pages' });
  let r: PagedPollResult;
  try {
    r = await pollPaged(kind, window, {
      ...common,
      ...(limit !== undefined ? { limit } : {}),
      ...(values['max-pages'] !== undefined ? { maxPages: positiveInt('max-pages', values['max-pages'])! } : {}),
      onPage: (p) => progress.update(p.pageNum, p.expectedPages, `${p.entries.toLocaleString('en-US')} entries`),
    });
  } finally {
    progress.stop();
  }
  // Entries only from a poll that succeeded: a file (or output) from a failed walk would read as
  // "this is the usage" when it is a part of it, or nothing at all.
  if (values.out !== undefined && r.ok) {
    const text = format === 'json' ? entriesJson(r.entries) : entriesCsv(r.entries);
    if (toStdout) io.stdout.write(text);
    else writeAtomically(resolve(io.cwd, values.out), text);
  }
  summaryTo.write(`${values.summary === 'json' ? summaryJson(r) : pagedSummary(r)}\n`);
  if (values.out !== undefined && values.summary === 'text') {
    summaryTo.write(r.ok ? (toStdout ? '' : `entries written to ${values.out} (${format})\n`) : `entries not written${toStdout ? '' : ` to ${values.out}`}: the poll failed\n`);
  }
  return r.ok ? EXIT.ok : EXIT.failed;
}

/** Through a temporary file beside it, renamed into place: a reader never sees half a file. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Never created.
    }
    throw err;
  }
}

function pagedWindow(
  kind: PagedKind,
  v: { date?: string | undefined; month?: string | undefined; 'from-ts'?: string | undefined; 'to-ts'?: string | undefined; customer?: string | undefined },
): { fromTs: number; toTs: number } {
  if (v.customer !== undefined) throw new UsageError(`--customer does not apply to poll ${kind}`);
  const explicit = v['from-ts'] !== undefined || v['to-ts'] !== undefined;
  const given = [v.date !== undefined, v.month !== undefined, explicit].filter(Boolean).length;
  const natural = kind === 'usage' ? '--date YYYY-MM-DD' : '--month YYYY-MM';
  if (given !== 1) throw new UsageError(`poll ${kind} needs one of ${natural} or --from-ts with --to-ts`);
  try {
    if (explicit) {
      const from = v['from-ts'];
      const to = v['to-ts'];
      if (!from || !to || !/^\d{10}$/.test(from) || !/^\d{10}$/.test(to)) throw new UsageError('--from-ts and --to-ts go together, each Unix seconds (10 digits)');
      return { fromTs: Number(from), toTs: Number(to) };
    }
    if (kind === 'usage') {
      if (v.month !== undefined) throw new UsageError('poll usage takes --date, not --month');
      return dayWindow(v.date!);
    }
    if (v.date !== undefined) throw new UsageError('poll bill takes --month, not --date');
    return monthWindow(v.month!);
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
}
