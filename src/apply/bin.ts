import { run } from './main';

// The bundle's entry: the Job runs it through a loader, where `require.main` is the loader.
void run(process.argv, process.env).then((code) => {
  process.exitCode = code;
});
