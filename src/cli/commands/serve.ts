import { parseCommand, positiveInt, UsageError, type CliIo } from '../io.ts';

export const SERVE_USAGE = `Usage: agora-vendor serve [--port N] [--host H]

Runs the server, as \`npm start\` does: configuration from the environment (see docs/configuration.md),
migrations applied at start. --port and --host override PORT and HOST.`;

/** Starts the server in this process; it runs until SIGTERM or SIGINT. */
export async function serveCommand(args: string[], io: CliIo): Promise<'running'> {
  const { values, positionals } = parseCommand(args, { port: { type: 'string' }, host: { type: 'string' } }, true);
  if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  if (values.port !== undefined) io.env.PORT = values.port === '0' ? '0' : String(positiveInt('port', values.port, 65_535));
  if (values.host !== undefined) io.env.HOST = values.host;
  // main.ts reads process.env; the overrides go there before it loads.
  if (io.env !== process.env) Object.assign(process.env, io.env);
  await import('../../main.ts');
  return 'running';
}
