import { run } from './main';

// The bundle's entry: the Job runs it through a loader, where `require.main` is the loader.
void run(process.argv, process.env).then((code) => {
  process.exitCode = code;
  // The work is done: exit once stdout and stderr have taken every line (those batched for this turn
  // of the event loop first), rather than wait for what the garbage collector started, about a tenth
  // of an unchanged re-apply. Should a stream never confirm, the process still ends by itself.
  setImmediate(() => process.stdout.write('', () => process.stderr.write('', () => process.exit(code))));
});
