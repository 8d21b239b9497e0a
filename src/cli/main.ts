import { runCli } from './run.ts';

/** The `agora-vendor` command (bin/agora-vendor.js runs this through tsx). */
const status = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
if (status !== 'running') {
  // Let stdout drain (a piped CSV, say) rather than process.exit() cutting it short.
  process.exitCode = status;
}
