import { ConfigError, loadConfig } from '../../config.ts';
import { DataDirLockedError } from '../../db/data-dir-lock.ts';
import { EXIT, parseCommand, positiveInt, UsageError, type CliIo } from '../io.ts';

export const SERVE_USAGE = `Usage: agora-vendor serve [--port N] [--host H]

Runs the server, as \`npm start\` does: configuration from the environment (see docs/configuration.md),
migrations applied at start. --port and --host override PORT and HOST.`;

/** Starts the server in this process; it runs until SIGTERM or SIGINT. */
export async function serveCommand(args: string[], io: CliIo): Promise<'running' | number> {
  const { values, positionals } = parseCommand(args, { port: { type: 'string' }, host: { type: 'string' } }, true);
  if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  const env = { ...io.env };
  if (values.port !== undefined) env.PORT = values.port === '0' ? '0' : String(positiveInt('port', values.port, 65_535));
  if (values.host !== undefined) env.HOST = values.host;
  try {
    const config = loadConfig(env);
    // Loaded only now: the other commands never load the server's code.
    const { startServer } = await import('../../server.ts');
    await startServer(config);
  } catch (err) {
    // Reported as `npm start` reports them: every configuration problem (exit status 2), or who holds DATA_DIR.
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof DataDirLockedError) {
      io.stderr.write(`Not started: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
  return 'running';
}
