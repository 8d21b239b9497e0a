import { readFileSync } from 'node:fs';
import { MIGRATE_USAGE, migrateCommand } from './commands/migrate.ts';
import { POLL_USAGE, pollCommand } from './commands/poll.ts';
import { SERVE_USAGE, serveCommand } from './commands/serve.ts';
import { SIGN_USAGE, signCommand } from './commands/sign.ts';
import { CERTIFICATES_USAGE, certificatesCommand, LICENSE_FILE_USAGE, licenseFileCommand } from './commands/certificates.ts';
import { EXIT, UsageError, type CliIo } from './io.ts';
import { isJsonObject } from '../json.ts';

export const USAGE = `agora-vendor: the Agora extension vendor server and its tools

Usage: agora-vendor <command> [options]      (help for a command: agora-vendor <command> --help)
       agora-vendor --version                (the version of this package)

Commands
  serve                              run the server (configuration from the environment)
  migrate [up|status]                apply the migrations, or list them
  sign --method M --path P [k=v ...] print a request signed as Agora signs it, for curl
  poll usage --date YYYY-MM-DD       poll a day's usage as Agora does and check the contract
  poll bill --month YYYY-MM          poll a month's bill as Agora does and check the contract
  poll license --customer ID         ask for a customer's license and check the answer
  certificates issue|inspect         sign a .lcs certificate package offline, or show one
  license-file verify FILE           check a license file offline: signature, validUntil, grants

Exit status: 0 success, 1 a contract violation or a failed operation, 2 a usage mistake.`;

const COMMANDS = {
  serve: { usage: SERVE_USAGE, run: serveCommand },
  migrate: { usage: MIGRATE_USAGE, run: migrateCommand },
  sign: { usage: SIGN_USAGE, run: signCommand },
  poll: { usage: POLL_USAGE, run: pollCommand },
  certificates: { usage: CERTIFICATES_USAGE, run: certificatesCommand },
  'license-file': { usage: LICENSE_FILE_USAGE, run: licenseFileCommand },
} as const;

/**
 * Runs one command line and returns its exit status; `serve` returns 'running' and the server
 * keeps the process alive. Never calls process.exit, so tests run commands in-process.
 */
/** The version in package.json, read from the package this file belongs to (in a clone or installed). */
export function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const version = isJsonObject(pkg) ? pkg['version'] : undefined;
  return typeof version === 'string' ? version : 'unknown';
}

const isCommand = (name: string): name is keyof typeof COMMANDS => Object.hasOwn(COMMANDS, name);

export async function runCli(argv: string[], io: CliIo): Promise<number | 'running'> {
  const [name, ...args] = argv;
  if ((name === '--version' || name === '-V') && args.length === 0) {
    io.stdout.write(`agora-vendor ${packageVersion()}\n`);
    return EXIT.ok;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? args[0] : undefined;
    const command = topic !== undefined && isCommand(topic) ? COMMANDS[topic] : undefined;
    (name === undefined ? io.stderr : io.stdout).write(`${command ? command.usage : USAGE}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (!isCommand(name)) {
    io.stderr.write(`unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  const command = COMMANDS[name];
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`agora-vendor ${name}: ${err.message}\n\n${command.usage}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`agora-vendor ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}
