import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MAX_LIMIT } from '../../agora/query.ts';
import { EXIT, nonNegativeInt, parseCommand, positiveInt, resolveKeyPair, UsageError, type CliIo } from '../io.ts';
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

Note: the first poll of a window fixes what the server reports for it, for good.

Options
  --base-url URL      the server as Agora knows it (default AGORA_BASE_URL, else http://127.0.0.1:$PORT or :8080)
  --key K --secret S  the key pair (default: AGORA_API_KEY/AGORA_API_SECRET, AGORA_API_KEYS, DATA_DIR/credentials.json)
  --limit N           send limit=N (Agora leaves it to the server's default)
  --timeout-ms N      per request (default 500, as Agora)
  --retries N         re-sends after a timeout or a 5xx (default 2, as Agora)
  --max-pages N       stop a walk after N pages whatever hasNext says (default 100000)
  --out FILE          write the entries to FILE (CSV, or JSON when FILE ends in .json); "-" for stdout
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
    },
    true,
  );
  const [kind, ...extra] = positionals;
  if (kind !== 'usage' && kind !== 'bill' && kind !== 'license') throw new UsageError('poll what? usage, bill or license');
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  if (values.summary !== 'text' && values.summary !== 'json') throw new UsageError('--summary must be text or json');

  const baseUrl = values['base-url'] ?? io.env.AGORA_BASE_URL ?? `http://127.0.0.1:${io.env.PORT || '8080'}`;
  try {
    new URL(baseUrl);
  } catch {
    throw new UsageError(`--base-url ${baseUrl} is not a URL`);
  }
  const key = resolveKeyPair(io, values);
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
    for (const flag of ['date', 'month', 'from-ts', 'to-ts', 'limit', 'out'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to poll license`);
    }
    const r = await pollLicense(values.customer, common);
    summaryTo.write(`${values.summary === 'json' ? summaryJson(r) : licenseSummary(r)}\n`);
    return r.ok ? EXIT.ok : EXIT.failed;
  }

  const window = pagedWindow(kind, values);
  const format = values.format ?? (values.out?.endsWith('.json') ? 'json' : 'csv');
  if (format !== 'csv' && format !== 'json') throw new UsageError('--format must be csv or json');
  const limit = positiveInt('limit', values.limit, MAX_LIMIT);
  const progress = createProgress(`poll ${kind}`, { stream: io.stderr, enabled: !values.quiet, plain: values.plain, unit: 'pages' });
  if (!values.quiet) io.stderr.write(`polling ${baseUrl} as Agora, signing with ${key.source}\n`);
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
  if (values.out !== undefined) {
    const text = format === 'json' ? entriesJson(r.entries) : entriesCsv(r.entries);
    if (toStdout) io.stdout.write(text);
    else writeFileSync(resolve(io.cwd, values.out), text);
  }
  summaryTo.write(`${values.summary === 'json' ? summaryJson(r) : pagedSummary(r)}\n`);
  if (values.out !== undefined && !toStdout && values.summary === 'text') summaryTo.write(`entries written to ${values.out} (${format})\n`);
  return r.ok ? EXIT.ok : EXIT.failed;
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
