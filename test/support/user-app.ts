import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { createRequire } from 'module';
import * as path from 'path';

/** What a command printed and how it ended. */
export interface Run {
  readonly command: string;
  readonly cwd: string;
  /** The exit code; `null` when a signal or the timeout ended it. */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** The packed library: its tarball, the paths `tar -tzf` lists, its size and how long `npm pack` took. */
export interface PackedLibrary {
  readonly tarball: string;
  readonly files: string[];
  readonly bytes: number;
  readonly ms: number;
}

// Git variables from an enclosing repository (a hook, a worktree) would point git, and a library
// reading git HEAD, at that repository instead of the app's own.
const INHERITED_GIT_VARIABLES = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_CEILING_DIRECTORIES'];

/** The environment a user's shell would give: ours, without git's repository pointers, plus `extra`. */
export function userEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of INHERITED_GIT_VARIABLES) delete env[name];
  return env;
}

/** Runs a command to its end, never throwing: the caller asserts on the result. */
export function run(
  command: string, args: readonly string[], cwd: string,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Run {
  const started = Date.now();
  const result = spawnSync(command, args, {
    cwd,
    env: options.env ?? userEnvironment(),
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return {
    command: [command, ...args].join(' '),
    cwd,
    status: result.status,
    signal: result.signal,
    stdout: result.stdout ?? '',
    stderr: (result.stderr ?? '') + (result.error ? `\n${result.error.message}` : ''),
    ms: Date.now() - started,
  };
}

/** A run for a failure message: the command, how it ended and everything it printed. */
export function describeRun(result: Run): string {
  const ending = result.status !== null ? `exit ${result.status}` : `killed by ${result.signal ?? 'the timeout'}`;
  return [
    `$ ${result.command}   (in ${result.cwd}, ${ending}, ${result.ms} ms)`,
    '--- stdout ---', result.stdout.trimEnd(),
    '--- stderr ---', result.stderr.trimEnd(),
  ].join('\n');
}

/** Throws with the whole run when it did not exit 0. */
export function expectSuccess(result: Run, what: string): Run {
  if (result.status !== 0) throw new Error(`${what} failed:\n${describeRun(result)}`);
  return result;
}

/**
 * Copies the files of `repo`'s working tree that git tracks or would track (not node_modules/, lib/)
 * into `destination`, and links `repo`'s node_modules. Packing the copy builds lib/ from the sources
 * alone, as a clean checkout does: no stale output of a deleted source is packed, and the repo's own
 * lib/, which other suites read while they run, is left alone.
 */
export function copyWorkingTree(repo: string, destination: string): void {
  const listed = expectSuccess(run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], repo, { env: process.env }), 'git ls-files');
  for (const file of new Set(listed.stdout.split('\0').filter((name) => name !== ''))) {
    const source = path.join(repo, file);
    // A tracked file deleted and not yet committed is gone from the copy too; links (a node_modules
    // link git does not ignore) are left out: the package is regular files.
    if (!fs.existsSync(source) || !fs.lstatSync(source).isFile()) continue;
    fs.mkdirSync(path.dirname(path.join(destination, file)), { recursive: true });
    fs.copyFileSync(source, path.join(destination, file));
  }
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(destination, 'node_modules'), 'dir');
}

/** `npm pack` of the package at `repo` into `destination`, which must be empty; `prepack` builds it. */
export function packLibrary(repo: string, destination: string): PackedLibrary {
  const packed = expectSuccess(run('npm', ['pack', '--pack-destination', destination], repo, { timeoutMs: 280_000 }), 'npm pack');
  const tarballs = fs.readdirSync(destination).filter((file) => file.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack left ${tarballs.length} tarballs in ${destination}: ${tarballs.join(', ')}`);
  const tarball = path.join(destination, tarballs[0]);
  const listing = expectSuccess(run('tar', ['-tzf', tarball], destination), 'tar -tzf');
  return {
    tarball,
    files: listing.stdout.split('\n').filter((line) => line !== '' && !line.endsWith('/')).sort(),
    bytes: fs.statSync(tarball).size,
    ms: packed.ms,
  };
}

/** Writes an app's files: `files` maps a path relative to `dir` to its text. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
}

/** The directory of every installed copy of `name` under `dir`'s node_modules, nested ones included. */
export function installedCopies(dir: string, name: string): string[] {
  const copies: string[] = [];
  const visit = (modules: string): void => {
    if (!fs.existsSync(modules)) return;
    for (const entry of fs.readdirSync(modules).sort()) {
      if (entry.startsWith('.')) continue;
      const packages = entry.startsWith('@')
        ? fs.readdirSync(path.join(modules, entry)).sort().map((inner) => `${entry}/${inner}`)
        : [entry];
      for (const pkg of packages) {
        const pkgDir = path.join(modules, pkg);
        if (pkg === name && fs.existsSync(path.join(pkgDir, 'package.json'))) copies.push(pkgDir);
        visit(path.join(pkgDir, 'node_modules'));
      }
    }
  };
  visit(path.join(dir, 'node_modules'));
  return copies;
}

/** The real path of the file `require(request)` loads from a module in `fromDir`. */
export function resolvedFrom(fromDir: string, request: string): string {
  return fs.realpathSync(createRequire(path.join(fromDir, 'index.js')).resolve(request));
}

/** The synthesized files of the app's `dist/`, by name, as text. */
export function readOutput(dir: string): Map<string, string> {
  const outdir = path.join(dir, 'dist');
  if (!fs.existsSync(outdir)) return new Map();
  return new Map(fs.readdirSync(outdir).sort().map((file) => [file, fs.readFileSync(path.join(outdir, file), 'utf8')]));
}
