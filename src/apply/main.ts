import * as readline from 'readline';
import { ExitCode, runApply } from './apply';
import { USAGE, parseCli } from './cli';
import { StreamsIO, runStreams } from './streams-command';
import { STREAMS_USAGE, parseStreamsCli } from './streams-cli';

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

/** Asks on the terminal (stderr), reading the answer from stdin. */
function askOnTerminal(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const terminal = readline.createInterface({ input: process.stdin, output: process.stderr });
    terminal.question(question, (answer) => {
      terminal.close();
      resolve(/^y(es)?$/i.test(answer.trim()));
    });
    // No answer (stdin closed) is no.
    terminal.once('close', () => resolve(false));
  });
}

/** Lines to the process's stdout and stderr, bytes to stdout, questions on the terminal. */
const CONSOLE: StreamsIO = {
  out: batchedLines(process.stdout), err: batchedLines(process.stderr), write: (bytes) => process.stdout.write(bytes), confirm: askOnTerminal,
};

/** Aborted by Ctrl-C: `streams sub` and `dump` end cleanly on it. */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return controller.signal;
}

/**
 * The program: reads the command line and environment, runs `plan`, `apply`, `repair` or one of
 * the `streams` commands, and returns the exit code. Errors are one line on stderr, never a stack.
 *
 * @param argv the whole command line, as `process.argv`
 * @param stop ends `streams sub` and `dump`; Ctrl-C when unset
 */
export async function run(
  argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: StreamsIO = CONSOLE, stop?: AbortSignal,
): Promise<number> {
  if (argv[2] === 'streams') return runStreamsCli(argv.slice(3), env, io, stop);
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

async function runStreamsCli(args: readonly string[], env: Readonly<Record<string, string | undefined>>, io: StreamsIO, stop?: AbortSignal): Promise<number> {
  let request;
  try {
    request = parseStreamsCli(args, env);
  } catch (error) {
    io.err(`error: ${(error as Error).message} (see streams --help)`);
    return ExitCode.ERROR;
  }
  if ('help' in request) {
    io.out(STREAMS_USAGE);
    return ExitCode.OK;
  }
  return runStreams(request, io, stop ?? interruptSignal());
}
