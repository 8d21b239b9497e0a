import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadCredentialConfig, type Config } from '../config.ts';
import type { Fetcher } from './poller/poller.ts';
import { isJsonObject } from '../json.ts';

/** Where a command reads and writes; tests pass their own. */
/** stdout or stderr: a terminal shows a progress bar, anything else gets plain lines. */
export type OutStream = NodeJS.WritableStream & { isTTY?: boolean };

export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  /** The poller's HTTP client; unset: `fetch`. */
  fetch?: Fetcher;
  /** Relative output paths are relative to this. */
  cwd: string;
  /** The time now; unset: the real clock. Tests fix it. */
  now?: () => Date;
}

/** The server as Agora knows it, when no --base-url is given: AGORA_BASE_URL, else this host on PORT. */
export function defaultBaseUrl(env: CliIo['env']): string {
  return env.AGORA_BASE_URL || `http://127.0.0.1:${env.PORT || '8080'}`;
}

/** Says on stderr which key pair signs (the apiKey, never the secret) and where it came from. */
export function keyLine(key: KeyPair): string {
  return `apiKey ${key.apiKey} (from ${key.source})`;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake in how a command was called: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `util.parseArgs`, strict, with its errors turned into UsageErrors. */
export function parseCommand<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/, '') : String(err));
  }
}

export function positiveInt(name: string, text: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}`);
  return Number(text);
}

export function nonNegativeInt(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) > max) throw new UsageError(`--${name} must be a whole number from 0 to ${max}`);
  return Number(text);
}

export interface KeyPair {
  apiKey: string;
  apiSecret: string;
  /** Where it came from, said on stderr so nobody wonders which key signed. */
  source: string;
}

/**
 * The key pair to sign with: the flags, else AGORA_API_KEY/AGORA_API_SECRET, else the first pair of
 * AGORA_API_KEYS, else the credentials `npm start` created in DATA_DIR for the embedded database.
 */
export function resolveKeyPair(io: CliIo, flags: { key?: string | undefined; secret?: string | undefined }): KeyPair {
  if (flags.key !== undefined || flags.secret !== undefined) {
    if (!flags.key || !flags.secret) throw new UsageError('--key and --secret go together');
    return { apiKey: flags.key, apiSecret: flags.secret, source: 'the --key and --secret flags' };
  }
  // The server's own parsing of these variables (and of them alone): the same pairs, the same errors.
  let credentials: Pick<Config, 'apiKeys' | 'dataDir'>;
  try {
    credentials = loadCredentialConfig(io.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const first = credentials.apiKeys[0];
  if (first) return { ...first, source: io.env.AGORA_API_KEY ? 'AGORA_API_KEY and AGORA_API_SECRET' : 'the first pair of AGORA_API_KEYS' };
  const file = resolve(io.cwd, credentials.dataDir, 'credentials.json');
  if (existsSync(file)) {
    try {
      const stored: unknown = JSON.parse(readFileSync(file, 'utf8'));
      const apiKey = isJsonObject(stored) ? stored['apiKey'] : undefined;
      const apiSecret = isJsonObject(stored) ? stored['apiSecret'] : undefined;
      if (typeof apiKey === 'string' && typeof apiSecret === 'string') return { apiKey, apiSecret, source: file };
    } catch {
      throw new UsageError(`${file} is not a credentials file; give --key and --secret`);
    }
  }
  throw new UsageError('no key pair: give --key and --secret, or set AGORA_API_KEY and AGORA_API_SECRET');
}

/** Quotes a word for a POSIX shell. */
export const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
