import { ApplyIO, ExitCode, runApply } from './apply';
import { USAGE, parseCli } from './cli';

/**
 * Lines to `stream`, gathered until the event loop turns: writes to a pipe (a pod's log) are
 * synchronous on Linux, a system call each, and a plan of thousands of streams prints its lines
 * in one go. They still appear as they happen; stdout and stderr keep their own order.
 */
function batchedLines(stream: NodeJS.WriteStream): (line: string) => void {
  let pending: string[] = [];
  return (line) => {
    if (pending.length === 0) {
      setImmediate(() => {
        stream.write(pending.join(''));
        pending = [];
      });
    }
    pending.push(`${line}\n`);
  };
}

/** Lines to the process's stdout and stderr. */
const CONSOLE: ApplyIO = { out: batchedLines(process.stdout), err: batchedLines(process.stderr) };

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
