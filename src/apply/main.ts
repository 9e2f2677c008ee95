import * as readline from 'readline';
import { ExitCode, runApply } from './apply';
import { USAGE, parseCli } from './cli';
import { StreamsIO, runStreams } from './streams-command';
import { STREAMS_USAGE, parseStreamsCli } from './streams-cli';
import { EVENTS_USAGE, parseEventsCli } from '../events/forward-cli';
import { runForwarder } from '../events/forwarder';

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

/**
 * Asks `question` on `output` and reads the answer from `input`: true for "y" or "yes"; an input
 * that ends without an answer is no.
 */
export function ask(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<boolean> {
  return new Promise((resolve) => {
    const terminal = readline.createInterface({ input, output });
    let answered = false;
    terminal.question(question, (answer) => {
      answered = true;
      resolve(/^y(es)?$/i.test(answer.trim()));
      terminal.close();
    });
    terminal.once('close', () => {
      if (!answered) resolve(false);
    });
  });
}

/** Lines to the process's stdout and stderr, bytes to stdout, questions on the terminal. */
const CONSOLE: StreamsIO = {
  out: batchedLines(process.stdout), err: batchedLines(process.stderr), write: (bytes) => process.stdout.write(bytes),
  confirm: (question) => ask(question, process.stdin, process.stderr),
};

/**
 * Aborted by Ctrl-C, or when whatever reads stdout goes away (`| head`): `streams sub` and `dump`
 * then end cleanly, removing their consumer. Other commands keep Ctrl-C's default: end at once.
 */
function readingStopSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    controller.abort();
  });
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
  if (argv[2] === 'events') return runEventsCli(argv.slice(3), env, io, stop);
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
  const request = readRequest(() => parseStreamsCli(args, env), STREAMS_USAGE, 'streams --help', io);
  if (typeof request === 'number') return request;
  const reads = request.command === 'sub' || request.command === 'dump';
  return runStreams(request, io, stop ?? (reads ? readingStopSignal() : undefined));
}

/** A command's request; the exit code instead when it asked for its usage text or could not be read. */
function readRequest<T extends object>(parse: () => T, usage: string, seeHelp: string, io: StreamsIO): Exclude<T, { readonly help: true }> | number {
  let request;
  try {
    request = parse();
  } catch (error) {
    io.err(`error: ${(error as Error).message} (see ${seeHelp})`);
    return ExitCode.ERROR;
  }
  if ('help' in request) {
    io.out(usage);
    return ExitCode.OK;
  }
  return request as Exclude<T, { readonly help: true }>;
}

/**
 * A grace period after SIGTERM, within the pod's 30 seconds: the forwarder drains for at most 8,
 * waits 5 for a position write in progress, writes its last one (10) and hands the lease over (4).
 */
const FORWARDER_STOP_MS = 28_000;

async function runEventsCli(args: readonly string[], env: Readonly<Record<string, string | undefined>>, io: StreamsIO, stop?: AbortSignal): Promise<number> {
  const request = readRequest(() => parseEventsCli(args, env), EVENTS_USAGE, 'events --help', io);
  if (typeof request === 'number') return request;
  return runForwarder(request, io.out, stop ?? terminationSignal());
}

/** Aborted by SIGTERM (the pod stopping) or SIGINT; a process that does not end within the grace period exits anyway. */
function terminationSignal(): AbortSignal {
  const controller = new AbortController();
  const terminate = () => {
    controller.abort();
    setTimeout(() => process.exit(ExitCode.ERROR), FORWARDER_STOP_MS).unref();
  };
  process.once('SIGTERM', terminate);
  process.once('SIGINT', terminate);
  return controller.signal;
}
