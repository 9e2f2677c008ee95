import { ExitCode } from './apply';
import { run } from './main';

/**
 * Exits with `code` once stdout and stderr have taken every line (those batched for this turn of the
 * event loop first), rather than wait for what the garbage collector started, about a tenth of an
 * unchanged re-apply. Should a stream never confirm, the process still ends by itself.
 */
function exitWhenWritten(code: number): void {
  process.exitCode = code;
  setImmediate(() => process.stdout.write('', () => process.stderr.write('', () => process.exit(code))));
}

// The bundle's entry: the Job runs it through a loader, where `require.main` is the loader.
void run(process.argv, process.env).then(exitWhenWritten, (error: Error) => {
  // What the commands do not catch themselves (a port already taken), in one line as theirs.
  process.stderr.write(`error: ${error.message}\n`);
  exitWhenWritten(ExitCode.ERROR);
});
