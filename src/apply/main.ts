import { ApplyIO, ExitCode, runApply } from './apply';
import { USAGE, parseCli } from './cli';

/** Lines to the process's stdout and stderr. */
const CONSOLE: ApplyIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * The program: reads the command line and environment, runs `plan` or `apply`, and returns
 * the exit code. Errors are one line on stderr, never a stack.
 *
 * @param argv the whole command line, as `process.argv`
 */
export async function run(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: ApplyIO = CONSOLE): Promise<ExitCode> {
  let request;
  try {
    request = parseCli(argv.slice(2), env);
  } catch (error) {
    io.err(`error: ${(error as Error).message} (see --help)`);
    return ExitCode.ERROR;
  }
  if (request.help) {
    io.out(USAGE);
    return ExitCode.OK;
  }
  return (await runApply(request.options, io)).exitCode;
}
