import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { App } from 'cdk8s';
import type { IConstruct } from 'constructs';

/** A file, or a directory of `*.yaml` files, holding the previous manifests instead of git (`kubectl get -o yaml` output too). */
export const PREVIOUS_VARIABLE = 'JETSTREAM_CDK8S_PREVIOUS';
/** The git revision whose committed output directory holds the previous manifests. */
export const PREVIOUS_REF_VARIABLE = 'JETSTREAM_CDK8S_PREVIOUS_REF';
const DEFAULT_REF = 'HEAD';
/** A 10,000-stream store's manifests are some MiB; git's answer may be larger than the default buffer. */
const GIT_MAX_BUFFER = 512 * 1024 * 1024;

/** The manifests a synthesis is compared with, where they were read from, and what could not be read. */
export interface PreviousManifests {
  readonly objects: readonly any[];
  /** Such as `git HEAD:dist/`, or `none: …` when there was nothing to read. */
  readonly source: string;
  readonly warnings: readonly string[];
  /**
   * The text of the output one commit earlier (`HEAD^`), unparsed: what it shows of the stores'
   * generations, so a revert of the output itself still numbers its definitions past them.
   * Empty when the previous manifests are not from git, or the revision has no parent here.
   */
  readonly earlierTexts: readonly string[];
  /** The objects of {@link earlierTexts}, parsed on first call (most syntheses never need them). */
  readonly earlierObjects: () => readonly any[];
}

/** No output older than the previous manifests: they are not from git, or their revision has no parent here. */
export const NO_EARLIER_OUTPUT: Pick<PreviousManifests, 'earlierTexts' | 'earlierObjects'> = { earlierTexts: [], earlierObjects: () => [] };

/** The parsed objects of `texts`, once; a text that is not YAML gives none. */
function lazyObjects(texts: readonly string[]): () => readonly any[] {
  let objects: any[] | undefined;
  return () => (objects ??= texts.flatMap((text) => {
    try {
      return parseObjects(text);
    } catch {
      return [];
    }
  }));
}

/**
 * The manifests the app's previous synthesis wrote: the files `*.yaml` of the
 * output directory as committed at git `HEAD` (`cdk8s synth` empties the directory before the app
 * runs, and what is committed is what a GitOps tool deploys), or what `JETSTREAM_CDK8S_PREVIOUS`
 * names. No repository, or an output directory never committed, is a first synthesis: nothing to compare.
 *
 * @param outdir the app's output directory
 */
export function readPreviousManifests(outdir: string, env: Readonly<Record<string, string | undefined>> = process.env): PreviousManifests {
  const explicit = env[PREVIOUS_VARIABLE];
  return explicit ? readFiles(explicit) : readCommitted(path.resolve(outdir), env[PREVIOUS_REF_VARIABLE] || DEFAULT_REF);
}

/** Per app, the previous manifests, read once: cdk8s validates the app once more for each chart it renders. */
const perApp = new WeakMap<object, PreviousManifests>();

/**
 * The previous manifests of the app `construct` belongs to, read once per app; undefined for a
 * construct tree without an App (a bare Chart in a test), which writes no files.
 */
export function previousManifestsOf(construct: IConstruct): PreviousManifests | undefined {
  const app = construct.node.root as Partial<App>;
  if (typeof app.outdir !== 'string') return undefined;
  let previous = perApp.get(app);
  if (!previous) {
    previous = readPreviousManifests(app.outdir);
    perApp.set(app, previous);
  }
  return previous;
}

function readFiles(location: string): PreviousManifests {
  const files = fs.statSync(location).isDirectory()
    ? fs.readdirSync(location).filter((name) => /\.ya?ml$/.test(name)).sort().map((name) => path.join(location, name))
    : [location];
  return { ...parseFiles(files.map((file) => [file, fs.readFileSync(file, 'utf8')]), `${PREVIOUS_VARIABLE}=${location}`), ...NO_EARLIER_OUTPUT };
}

function readCommitted(outdir: string, ref: string): PreviousManifests {
  const root = repositoryRoot(outdir);
  if (!root) return { objects: [], source: `none: ${outdir} is in no git repository`, warnings: [], ...NO_EARLIER_OUTPUT };
  const relative = path.relative(root, outdir).split(path.sep).join('/');
  const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', maxBuffer: GIT_MAX_BUFFER, stdio: ['ignore', 'pipe', 'pipe'] });
  const yamlFiles = (revision: string) => git('ls-tree', '-r', '--name-only', '-z', revision, '--', `${relative}/`).split('\0')
    .filter((name) => /\.ya?ml$/.test(name)).sort();
  let names: string[];
  try {
    names = yamlFiles(ref);
  } catch {
    // No such revision yet, as in a repository without a commit: a first synthesis.
    return { objects: [], source: `none: git ${ref} does not exist`, warnings: [], ...NO_EARLIER_OUTPUT };
  }
  let earlierTexts: string[] = [];
  try {
    earlierTexts = yamlFiles(`${ref}^`).map((name) => git('show', `${ref}^:${name}`));
  } catch {
    // The first commit, or a shallow clone: no earlier output to look at.
  }
  return { ...parseFiles(names.map((name) => [name, git('show', `${ref}:${name}`)]), `git ${ref}:${relative}/`), earlierTexts, earlierObjects: lazyObjects(earlierTexts) };
}


/** The closest directory at or above `dir` with a `.git`, without running git: most synths (tests) have none. */
function repositoryRoot(dir: string): string | undefined {
  for (let current = dir; ; current = path.dirname(current)) {
    if (fs.existsSync(path.join(current, '.git'))) return current;
    if (path.dirname(current) === current) return undefined;
  }
}

function parseFiles(files: ReadonlyArray<[string, string]>, source: string): Omit<PreviousManifests, 'earlierTexts' | 'earlierObjects'> {
  const objects: any[] = [];
  const warnings: string[] = [];
  for (const [file, text] of files) {
    try {
      objects.push(...parseObjects(text));
    } catch (error) {
      // A broken committed file is not what runs in the cluster either: say so rather than block the fix.
      warnings.push(`warning: ${file} (${source}) is not valid YAML (${(error as Error).message.split('\n')[0]}); its StatefulSets were not compared`);
    }
  }
  return { objects, source, warnings };
}

/** The objects of a multi-document YAML text, a `List` (as `kubectl get -o yaml` writes) as its items. */
export function parseObjects(text: string): any[] {
  // Required here, not imported: the apply program's bundle leaves the YAML parser out (the Job reads
  // none), and the package's command, which reads dist/, finds it among the library's dependencies.
  const { parseAllDocuments } = require('yaml') as typeof import('yaml');
  return parseAllDocuments(text).flatMap((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    const object = document.toJS();
    if (object === null || object === undefined) return [];
    return object.kind === 'List' && Array.isArray(object.items) ? object.items : [object];
  });
}
